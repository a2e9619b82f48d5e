#!/bin/sh
# Builds target/wasm32-wasi/release/image-resize.wasm (the path verge.toml uses).
# Same toolchain choice as examples/hello-rust/build.sh; the crates (image and its png,
# jpeg-decoder dependencies) come from Debian's packaged registry, see .cargo/config.toml.
#
# Prefers Debian's toolchain (/usr/bin/cargo + /usr/bin/rustc with the
# libstd-rust-dev-wasm32 package), because a rustup toolchain earlier on PATH
# may lack the WASI target. Falls back to the `cargo` on PATH, using
# wasm32-wasip1 (the target's name since Rust 1.78) when wasm32-wasi is absent.
set -eu
cd "$(dirname "$0")"

OUT=target/wasm32-wasi/release/image-resize.wasm

# Prints the first of wasm32-wasi / wasm32-wasip1 whose std is installed for rustc $1.
wasi_target() {
  sysroot=$("$1" --print sysroot 2>/dev/null) || return 1
  for t in wasm32-wasi wasm32-wasip1; do
    if ls "$sysroot/lib/rustlib/$t/lib/"libstd-*.rlib >/dev/null 2>&1; then
      echo "$t"
      return 0
    fi
  done
  return 1
}

if [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && target=$(wasi_target /usr/bin/rustc); then
  export RUSTC=/usr/bin/rustc
  cargo=/usr/bin/cargo
elif command -v cargo >/dev/null 2>&1 && target=$(wasi_target "${RUSTC:-rustc}"); then
  cargo=cargo
else
  cat >&2 <<MSG
build.sh: no Rust toolchain with a WASI preview1 target (wasm32-wasi or wasm32-wasip1) found.
  Debian/Ubuntu: apt-get install rustc cargo libstd-rust-dev-wasm32 librust-image-dev
  rustup:        rustup target add wasm32-wasip1
MSG
  exit 1
fi

# Crates are taken offline from Debian's registry only (.cargo/config.toml): say which packages
# to install rather than let cargo fail with "no matching package".
for crate in image png jpeg-decoder; do
  if ! ls -d /usr/share/cargo/registry/"$crate"-[0-9]* >/dev/null 2>&1; then
    cat >&2 <<MSG
build.sh: the crate $crate is not in /usr/share/cargo/registry (Debian's packaged crates).
  apt-get install librust-image-dev
MSG
    exit 1
  fi
done

"$cargo" build --release --target "$target" "$@"

if [ "$target" != wasm32-wasi ]; then
  mkdir -p "$(dirname "$OUT")"
  cp "target/$target/release/image-resize.wasm" "$OUT"
fi
echo "build.sh: built $OUT ($target)" >&2
