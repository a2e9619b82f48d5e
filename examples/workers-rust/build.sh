#!/bin/sh
# Builds target/wasm32-wasi/release/workers-rust.wasm (the path verge.toml uses) offline with
# Debian's toolchain; serde, serde_derive and serde_json come from Debian's packaged registry (see
# .cargo/config.toml and sdk/rust/build-wasi.sh).
here=$(dirname "$0")
exec sh "$here/../../sdk/rust/build-wasi.sh" "$here" workers-rust "serde serde_derive serde_json" "librust-serde-dev librust-serde-derive-dev librust-serde-json-dev" "$@"
