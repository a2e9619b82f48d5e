# workerd peer for `npm run bench`. The harness copies the module under test to
# bench/.work/hello.wasm and overrides the socket address with --socket-addr http=127.0.0.1:PORT.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .helloWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8080", http = (), service = "main") ],
);

const helloWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "workerd-worker.js"),
    # ES modules syntax takes a Wasm module as a `wasm` module (the `wasmModule` binding is
    # service-worker syntax only); either way it is compiled once, when the worker loads.
    (name = "hello.wasm", wasm = embed "../.work/hello.wasm"),
  ],
  compatibilityDate = "2025-01-01",
);
