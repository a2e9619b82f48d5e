// A middleware on the AssemblyScript verge-sdk (docs/composition.md): in front of /members/...,
// it answers 401 itself unless the request carries the members' token, and otherwise passes the
// request on to the counter — without the authorization header, with x-member added — and marks
// the counter's answer on the way back.

import { Request, Response, jsonError, nextRequest, relay } from "../../assembly";

const TOKEN = "Bearer letmein";

let req = Request.fromEnv();
if (req.header("authorization") != TOKEN) {
  Response.json(401, jsonError("UNAUTHORIZED", "members only")).header("www-authenticate", "Bearer").send();
} else {
  let passed = nextRequest(req, ["authorization"]).header("x-member", "yes").send();
  if (!passed.ok) Response.json(502, jsonError("NEXT_FAILED", passed.message)).send();
  else relay(passed.value).header("x-gate", "passed").send();
}
