/**
 * The NATS client's entry points, for code that loads them on first use (with `await import` of
 * this module). One module of ours imported lazily keeps the packages' named exports the same in
 * node and in any bundle (esbuild's split ES chunks gave an `await import()`ed CommonJS package
 * only a default export); in the bundle the packages themselves are a file of their own,
 * vendor-nats.cjs (scripts/bundle.ts).
 */
export { connect, credsAuthenticator } from '@nats-io/transport-node';
export { jetstream, jetstreamManager } from '@nats-io/jetstream';
export { Kvm } from '@nats-io/kv';
