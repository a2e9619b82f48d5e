// verge-sdk for AssemblyScript: WAGI request/response helpers and the verge:v1 host ABI
// (key-value stores, outbound HTTP, PostgreSQL, Redis, variables, logging). See ../README.md and docs/abi.md.
//
//   import { Request, Response, Store, log, getVariable, jsonString } from "<path>/sdk/assemblyscript/assembly";

export { ErrorCode, Result, errorName, errorMessage, isUnavailable, ok, err } from "./errors";
export { Request, Response, percentDecode, reasonPhrase } from "./http";
export { Store } from "./kv";
export { Redis, RedisValue, RedisValueKind } from "./redis";
export { FetchRequest, FetchResponse } from "./fetch";
export { NEXT_ORIGIN, callNext, nextRequest, relay } from "./next";
export { getVariable, getVariableOr } from "./variables";
export { Connection, Value, Rows, Column, DbError, Kind } from "./pg";
export { jsonString, jsonError } from "./json";

import * as log from "./log";
export { log };
