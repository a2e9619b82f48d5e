// A visit counter on the AssemblyScript verge-sdk: kv increment, a variable, Redis and logging.
//
//   GET /count    -> {"count":N}           (atomic increment of "count" in the "default" store)
//   GET /greeting -> {"greeting":"..."}    (the variable "greeting")
//   GET /visits   -> {"visits":N}          (INCR "visits" on the Redis connection "cache")
//   GET /flush    -> 403 ACCESS_DENIED     (FLUSHALL is not a command guests may run)
//   store failing -> 503 {"error":"STORE_UNAVAILABLE",...} with retry-after: 1
//   /members/count, /members/greeting -> the same, behind the gate middleware (assembly/gate.ts)

import {
  Request, Response, Store, Redis, ErrorCode, errorMessage, errorName, getVariable, isUnavailable, jsonError, jsonString, log,
} from "../../assembly";

function storeError(code: i32): Response {
  if (isUnavailable(code)) {
    return Response.json(503, jsonError("STORE_UNAVAILABLE", errorMessage(code))).header("retry-after", "1");
  }
  log.error("counter: " + errorMessage(code));
  return Response.json(500, jsonError("STORE_ERROR", errorMessage(code)));
}

function count(): Response {
  let store = Store.open("default");
  if (!store.ok) return storeError(store.code);
  let n = store.value.increment("count", 1);
  if (!n.ok) return storeError(n.code);
  log.info("count is now " + n.value.toString());
  return Response.json(200, "{\"count\":" + n.value.toString() + "}");
}

function greeting(): Response {
  let g = getVariable("greeting");
  if (!g.ok) {
    log.warn("greeting: " + errorMessage(g.code));
    return Response.json(g.code == ErrorCode.AccessDenied ? 403 : 500, jsonError("VARIABLE_ERROR", errorMessage(g.code)));
  }
  let value = g.value;
  return Response.json(200, "{\"greeting\":" + jsonString(value == null ? "Hello" : value) + "}");
}

function redisError(code: i32): Response {
  let status = code == ErrorCode.AccessDenied ? 403 : isUnavailable(code) ? 503 : 500;
  return Response.json(status, jsonError(errorName(code), errorMessage(code)));
}

function redis(path: string): Response {
  let cache = Redis.open("cache");
  if (!cache.ok) return redisError(cache.code);
  if (path == "/flush") {
    let r = cache.value.executeStrings("FLUSHALL", []);
    return r.ok ? Response.json(200, "{}") : redisError(r.code);
  }
  let n = cache.value.incr("visits");
  if (!n.ok) return redisError(n.code);
  return Response.json(200, "{\"visits\":" + n.value.toString() + "}");
}

function handle(req: Request): Response {
  // Below its route: /count is /count at the root and /members/count behind the gate.
  let path = req.pathInfo;
  if (path == "/visits" || path == "/flush") return redis(path);
  if (path != "/count" && path != "/greeting") {
    return Response.json(404, jsonError("NOT_FOUND", "No route for " + req.method + " " + path));
  }
  if (req.method != "GET" && req.method != "HEAD") {
    return Response.json(405, jsonError("METHOD_NOT_ALLOWED", "Use GET")).header("allow", "GET, HEAD");
  }
  return path == "/count" ? count() : greeting();
}

handle(Request.fromEnv()).send();
