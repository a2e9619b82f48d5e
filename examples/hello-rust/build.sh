#!/bin/sh
# Builds target/wasm32-wasi/release/hello-rust.wasm (the path verge.toml uses) offline with
# Debian's toolchain (std only, no crates); see sdk/rust/build-wasi.sh for how the toolchain is
# chosen.
here=$(dirname "$0")
exec sh "$here/../../sdk/rust/build-wasi.sh" "$here" hello-rust "" "" "$@"
