/**
 * The PostgreSQL capability's data as it crosses between a worker and the main thread (plain,
 * structured-cloneable), shared by both bindings: parameters the guest sends, the result the
 * main thread answers, and the host call itself.
 */
import type { StatusName } from '../abi.js';

/**
 * How a value is typed for the guest. One per PostgreSQL type family: int2, int4 and int8 are
 * `int`; float4 and float8 `float`; text, varchar, bpchar, name and char `text`; json and jsonb
 * `json`. A type Verge has no kind for arrives as its text form (`other`).
 */
export type PgKind =
  | 'bool'
  | 'int'
  | 'float'
  | 'text'
  | 'bytes'
  | 'numeric'
  | 'uuid'
  | 'json'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'interval'
  | 'other';

/**
 * A parameter: NULL, or a kind and a value. Dates and times are ISO 8601 text (`2024-05-01`,
 * `13:45:00.5`, `2024-05-01T13:45:00`, `2024-05-01T13:45:00Z`), numeric its decimal text, json
 * its JSON text. An array's elements are parameters (NULL included).
 */
export type PgParam =
  | null
  | { kind: 'bool'; value: boolean }
  | { kind: 'int'; value: bigint }
  | { kind: 'float'; value: number }
  | { kind: 'bytes'; value: Uint8Array }
  | { kind: 'text' | 'numeric' | 'uuid' | 'json' | 'date' | 'time' | 'timestamp' | 'timestamptz' | 'interval'; value: string }
  | { kind: 'array'; value: PgParam[] };

/**
 * A result cell, typed by its column: bool → boolean, int → bigint, float → number, bytes →
 * Uint8Array, an array type → an array of cells (nested for more dimensions), every other kind
 * → its text (ISO 8601 for dates and times, UTC with `Z` for timestamptz).
 */
export type PgCell = null | boolean | bigint | number | string | Uint8Array | PgCell[];

export interface PgColumn {
  name: string;
  /** The PostgreSQL type: `int4`, `text[]`, or `oid 16385` for one Verge does not name. */
  type: string;
  kind: PgKind;
  /** An array type: each cell is an array of `kind` cells. */
  array: boolean;
}

/** Where a connection goes: a database named in verge.toml, or a postgres:// address the guest names. */
export type PgTarget = { kind: 'named'; name: string } | { kind: 'url'; url: string; ca?: string | undefined };

/** What a worker asks of the main thread; `conn` is the guest's connection, unique within its request. */
export type PgCall =
  | { action: 'open'; conn: number; target: PgTarget }
  | { action: 'query' | 'execute'; conn: number; target: PgTarget; statement: string; params: PgParam[] }
  | { action: 'begin' | 'commit' | 'rollback' | 'close'; conn: number; target: PgTarget };

/** A failure PostgreSQL reported, or one of Verge's refusals. */
export interface PgFailure {
  ok: false;
  /** The verge:v1 status the guest gets. */
  status: StatusName;
  /** PostgreSQL's SQLSTATE, when the database reported the error. */
  sqlstate?: string | undefined;
  severity?: string | undefined;
  message: string;
  detail?: string | undefined;
  /**
   * What failed, for spin:postgres's error variants: Verge refused the call (a grant, a limit,
   * malformed input), the connection (cannot connect, lost, circuit open), the statement
   * (PostgreSQL's error), or a parameter PostgreSQL could not take.
   */
  cause: 'refused' | 'connection' | 'query' | 'parameter';
}

export type PgReply =
  | { ok: true; kind: 'opened' | 'done' }
  | { ok: true; kind: 'rows'; columns: PgColumn[]; rows: PgCell[][] }
  | { ok: true; kind: 'affected'; rows: bigint }
  | PgFailure;
