// Verge "hello" example: a tiny JSON API as a WAGI guest.
//
// Mounted on the route "/api/...", so the host passes SCRIPT_NAME=/api and
// the rest of the path in PATH_INFO ("/hello", "/users", ...). Each request
// runs `_start` once in a fresh instance; this file's top-level code is it.

import { JsonKind, JsonObject, JsonParser, JsonString, uitoa } from "./json";
import { Utf8Builder, isValidUtf8 } from "./utf8";
import { getenv, log, randomBytes, readBody, send } from "./wagi";

/** Largest request body we accept. */
const MAX_BODY = 1 << 20; // 1 MiB

const JSON_TYPE = "application/json";

function sendJson(status: i32, body: Utf8Builder, extraHeaders: string = ""): void {
  send(status, JSON_TYPE, body, extraHeaders);
}

function sendError(status: i32, code: string, message: string, extraHeaders: string = ""): void {
  let body = new Utf8Builder(64 + message.length)
    .text("{\"error\":").json(code)
    .text(",\"message\":").json(message)
    .text("}");
  sendJson(status, body, extraHeaders);
}

function writeUser(out: Utf8Builder, id: string, idIsString: bool, name: string, email: string): void {
  out.text("{\"id\":");
  if (idIsString) out.json(id); else out.text(id);
  out.text(",\"name\":").json(name).text(",\"email\":").json(email).text("}");
}

function listUsers(out: Utf8Builder): void {
  out.text("[");
  writeUser(out, "1", false, "Ada Lovelace", "ada@example.com");
  out.text(",");
  writeUser(out, "2", false, "Alan Turing", "alan@example.com");
  out.text(",");
  writeUser(out, "3", false, "Grace Hopper", "grace@example.com");
  out.text("]");
}

/** 8 random bytes from WASI random_get as 16 lowercase hex characters. */
function randomId(): string {
  let bytes = new Uint8Array(8);
  randomBytes(bytes);
  const digits = "0123456789abcdef";
  let id = "";
  for (let i = 0; i < 8; ++i) {
    let b = <i32>bytes[i];
    id += digits.charAt(b >> 4) + digits.charAt(b & 15);
  }
  return id;
}

/** Returns the field if it is a non-empty string; otherwise sends a 400 and returns null. */
function requireString(obj: JsonObject, field: string): string | null {
  let v = obj.get(field);
  let problem: string;
  if (v == null) {
    problem = "Missing required field '" + field + "'";
  } else if (v.kind != JsonKind.String) {
    problem = "Field '" + field + "' must be a string";
  } else {
    let s = changetype<JsonString>(v).value;
    if (s.trim().length > 0) return s;
    problem = "Field '" + field + "' must not be empty";
  }
  sendError(400, "VALIDATION", problem);
  return null;
}

function createUser(): void {
  let body = readBody(MAX_BODY);
  if (body == null) {
    sendError(413, "PAYLOAD_TOO_LARGE", "Request body exceeds " + uitoa(MAX_BODY) + " bytes");
    return;
  }
  if (!isValidUtf8(body.dataStart, body.length)) {
    sendError(400, "BAD_JSON", "Request body is not valid UTF-8");
    return;
  }
  let parser = new JsonParser(String.UTF8.decodeUnsafe(body.dataStart, body.length));
  let doc = parser.parse();
  if (doc == null) {
    sendError(400, "BAD_JSON", parser.error!);
    return;
  }
  if (doc.kind != JsonKind.Object) {
    sendError(400, "VALIDATION", "Request body must be a JSON object");
    return;
  }
  let obj = changetype<JsonObject>(doc);
  let name = requireString(obj, "name");
  if (name == null) return;
  let email = requireString(obj, "email");
  if (email == null) return;

  let id = randomId();
  log("hello: created user " + id);
  let out = new Utf8Builder(64 + name.length + email.length);
  writeUser(out, id, true, name, email);
  sendJson(201, out);
}

function main(): void {
  let method = getenv("REQUEST_METHOD", "GET");
  let path = getenv("PATH_INFO");

  // Known resources and the methods they allow.
  let allow: string;
  if (path == "/hello" || path == "/health") allow = "GET, HEAD";
  else if (path == "/users") allow = "GET, HEAD, POST";
  else {
    sendError(404, "NOT_FOUND", "No route for " + method + " " + getenv("SCRIPT_NAME") + path);
    return;
  }

  if (method == "GET" || method == "HEAD") {
    let out = new Utf8Builder(256);
    if (path == "/hello") out.text("{\"message\":\"Hello from Wasm!\"}");
    else if (path == "/health") out.text("{\"status\":\"ok\"}");
    else listUsers(out);
    // HEAD gets the GET response: the host drops the body but keeps its
    // length for content-length, as HTTP requires (RFC 9110 9.3.2, 8.6).
    sendJson(200, out);
  } else if (method == "POST" && path == "/users") {
    createUser();
  } else {
    sendError(405, "METHOD_NOT_ALLOWED",
      "Method " + method + " is not allowed on " + getenv("SCRIPT_NAME") + path,
      "allow: " + allow + "\n");
  }
}

main();
