// The AssemblyScript SDK's pg module against a real PostgreSQL (test/e2e/sdks.test.ts builds and
// serves it): typed values both ways, a duplicate key with its SQLSTATE, a rolled-back transaction.
import { Connection, Kind, Request, Response, Value, errorName, jsonString } from "../../../assembly";

function fail(db: Connection, code: i32): Response {
  let e = db.lastError();
  let sqlstate = e == null ? "" : e.sqlstate;
  return Response.json(500, "{\"error\":" + jsonString(errorName(code)) + ",\"sqlstate\":" + jsonString(sqlstate) + "}");
}

function handle(req: Request): Response {
  let opened = Connection.open("main");
  if (!opened.ok) return Response.json(500, "{\"error\":" + jsonString(errorName(opened.code)) + "}");
  let db = opened.value;
  if (req.pathInfo == "/types") {
    let r = db.query(
      "SELECT $1::int8 AS n, $2::text AS t, $3::float8 AS f, $4::bool AS b, $5::bytea AS raw, $6::numeric AS d, NULL::text AS z, $7::int4[] AS a",
      [Value.integer(-9000000000), Value.text(req.query("t")!), Value.number(2.5), Value.boolean(true), Value.binary(Uint8Array.wrap(String.UTF8.encode("hi"))), Value.numeric("10.05"), Value.array([Value.integer(1), Value.null()])],
    );
    if (!r.ok) return fail(db, r.code);
    let rows = r.value;
    let a = rows.get(0, "a")!;
    return Response.json(200,
      "{\"n\":" + rows.get(0, "n")!.int.toString() +
      ",\"t\":" + jsonString(rows.get(0, "t")!.text) +
      ",\"f\":" + rows.get(0, "f")!.float.toString() +
      ",\"b\":" + (rows.get(0, "b")!.bool ? "true" : "false") +
      ",\"raw\":" + rows.get(0, "raw")!.bytes.length.toString() +
      ",\"d\":" + jsonString(rows.get(0, "d")!.text) +
      ",\"z\":" + (rows.get(0, "z")!.isNull ? "null" : "\"?\"") +
      ",\"a\":[" + a.items[0].int.toString() + "," + (a.items[1].kind == Kind.Null ? "null" : "?") + "]" +
      ",\"types\":" + jsonString(rows.columns[0].typeName + " " + rows.columns[7].typeName) + "}");
  }
  if (req.pathInfo == "/insert") {
    let r = db.execute("INSERT INTO emails (email) VALUES ($1)", [Value.text(req.query("email")!)]);
    if (!r.ok) return fail(db, r.code);
    return Response.json(201, "{\"inserted\":" + r.value.toString() + "}");
  }
  if (req.pathInfo == "/rolled-back") {
    let rc = db.begin();
    if (rc < 0) return fail(db, rc);
    let r = db.execute("INSERT INTO emails (email) VALUES ($1)", [Value.text("in-a-transaction@example.com")]);
    if (!r.ok) return fail(db, r.code);
    rc = db.rollback();
    if (rc < 0) return fail(db, rc);
    let count = db.query("SELECT count(*) AS n FROM emails WHERE email = $1", [Value.text("in-a-transaction@example.com")]);
    if (!count.ok) return fail(db, count.code);
    return Response.json(200, "{\"count\":" + count.value.get(0, "n")!.int.toString() + "}");
  }
  return Response.json(404, "{\"error\":\"NOT_FOUND\"}");
}

handle(Request.fromEnv()).send();
