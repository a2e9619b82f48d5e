#!/bin/sh
# Builds target/wasm32-wasi/release/image-resize.wasm (the path verge.toml uses) offline with
# Debian's toolchain; the image crate and its png and jpeg-decoder dependencies come from
# Debian's packaged registry (see .cargo/config.toml and sdk/rust/build-wasi.sh).
here=$(dirname "$0")
exec sh "$here/../../sdk/rust/build-wasi.sh" "$here" image-resize "image png jpeg-decoder" "librust-image-dev" "$@"
