/**
 * The NATS client's entry points, for code that loads them on first use (with `await import` of
 * this module). An `await import()` of the packages themselves works in node but not in the
 * bundle: esbuild makes a CommonJS package imported that way a module with only a default export,
 * so `connect` came out undefined. Re-exported statically, they are named in both.
 */
export { connect, credsAuthenticator } from '@nats-io/transport-node';
export { jetstream, jetstreamManager } from '@nats-io/jetstream';
export { Kvm } from '@nats-io/kv';
