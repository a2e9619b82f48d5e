// Middleware (docs/composition.md): a route's middleware passes its request on by calling
// http://next.verge.internal, which runs what comes after it on the route, and answers with what
// it likes — that response, changed or not, or one of its own (a 401, a 429, a cached page).
//
//   let req = Request.fromEnv();
//   if (req.header("authorization") == null) Response.text(401, "sign in\n").send();
//   else {
//     let passed = nextRequest(req, ["cookie"]).header("x-user", "ada").send();
//     if (!passed.ok) Response.json(502, jsonError("NEXT_FAILED", passed.message)).send();
//     else relay(passed.value, ["x-internal"]).header("x-served-by", "gate").send();
//   }

import { Result } from "./errors";
import { FetchRequest, FetchResponse } from "./fetch";
import { Request, Response } from "./http";

/** Where a middleware passes its request on. */
export const NEXT_ORIGIN = "http://next.verge.internal";

// Headers Verge frames itself: an outbound request may not carry them (docs/manifest.md).
const NOT_FORWARDED: Array<string> = [
  "host", "connection", "content-length", "transfer-encoding", "upgrade", "te", "trailer", "keep-alive", "expect", "http2-settings",
];
// What the ingress sets on every response itself.
const NOT_RELAYED: Array<string> = ["content-length", "transfer-encoding", "connection", "x-request-id"];

function listed(name: string, lists: Array<string>, more: Array<string>): bool {
  let n = name.toLowerCase();
  if (lists.includes(n) || n.startsWith("proxy-")) return true;
  for (let i = 0; i < more.length; ++i) if (more[i].toLowerCase() == n) return true;
  return false;
}

/**
 * The incoming request as a request to what comes next: its method, path and query
 * (REQUEST_URI), headers and body. Headers named in `without` stay behind; add more with
 * `.header()`, or replace the body, before `send()`.
 */
export function nextRequest(req: Request, without: Array<string> = []): FetchRequest {
  let target = req.env("REQUEST_URI");
  let next = new FetchRequest(req.method, NEXT_ORIGIN + (target == null ? req.path : target));
  for (let i = 0; i < req.headerNames.length; ++i) {
    let name = req.headerNames[i];
    if (!listed(name, NOT_FORWARDED, without)) next.header(name, req.headerValues[i]);
  }
  return next.body(req.body);
}

/** Passes the request on unchanged; the response is what came back. */
export function callNext(req: Request): Result<FetchResponse> {
  return nextRequest(req).send();
}

/** A response carrying what `res` carried (status, headers but those in `without`, body), to change and send. */
export function relay(res: FetchResponse, without: Array<string> = []): Response {
  let out = new Response(res.status);
  for (let i = 0; i < res.headerNames.length; ++i) {
    let name = res.headerNames[i];
    if (!listed(name, NOT_RELAYED, without)) out.header(name, res.headerValues[i]);
  }
  return out.body(res.body);
}
