/**
 * Types for the example's own interfaces (wit/deps/acme-*), as ComponentizeJS binds them: a
 * `result<T, E>` function returns T and throws on an error, with E in the thrown value's `payload`.
 */
declare module 'acme:auth/verify@0.1.0' {
  // The auth component implements the interface with these very types (components/auth/jwt.ts).
  export type ErrorCode = import('./auth/jwt.js').ErrorCode;
  export type Refusal = import('./auth/jwt.js').Refusal;
  export type Claims = import('./auth/jwt.js').Claims;

  /** Throws a WasiError<Refusal> when the token is refused. */
  export function verify(token: string): Claims;
}

declare module 'acme:data/records@0.1.0' {
  export interface Entry {
    id: number;
    text: string;
    createdAt: number;
  }

  /** Both throw a WasiError<string> with the store's refusal or the limit broken. */
  export function fetchRecords(subject: string, limit: number): Entry[];
  export function addRecord(subject: string, text: string): Entry;
}
