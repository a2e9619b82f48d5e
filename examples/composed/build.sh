#!/bin/sh
# Builds one of the example's Rust handlers, services/target/wasm32-wasi/release/NAME.wasm (the
# path verge.toml uses), offline with Debian's toolchain and crates (see services/.cargo/config.toml
# and sdk/rust/build-wasi.sh):
#
#   sh build.sh users|images|watermark
here=$(dirname "$0")
name=${1:?usage: sh build.sh users|images|watermark}
exec sh "$here/../../sdk/rust/build-wasi.sh" "$here/services" "$name" "image png jpeg-decoder serde_json" "librust-image-dev librust-png-dev librust-serde-json-dev" --bin "$name"
