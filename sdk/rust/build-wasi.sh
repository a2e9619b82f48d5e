#!/bin/sh
# Builds a Rust crate for wasm32-wasi (WASI preview1) to target/wasm32-wasi/release/NAME.wasm,
# offline, the way every Rust example here builds:
#
#   sh sdk/rust/build-wasi.sh CRATE_DIR NAME "CRATES" "APT_PACKAGES" [cargo build args...]
#
# CRATES are the packaged crates the build needs from Debian's registry (/usr/share/cargo/registry,
# see the crate's .cargo/config.toml), APT_PACKAGES the Debian packages that provide them; a
# missing one is reported with the apt-get line rather than cargo's "no matching package".
#
# Prefers Debian's toolchain (/usr/bin/cargo + /usr/bin/rustc with libstd-rust-dev-wasm32),
# because a rustup toolchain earlier on PATH may lack the WASI target. Falls back to the `cargo`
# on PATH, using wasm32-wasip1 (the target's name since Rust 1.78) when wasm32-wasi is absent.
set -eu
dir=$1 name=$2 crates=$3 apt=$4
shift 4
cd "$dir"
OUT=target/wasm32-wasi/release/$name.wasm

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
build: no Rust toolchain with a WASI preview1 target (wasm32-wasi or wasm32-wasip1) found.
  Debian/Ubuntu: apt-get install rustc cargo libstd-rust-dev-wasm32 $apt
  rustup:        rustup target add wasm32-wasip1
MSG
  exit 1
fi

for crate in $crates; do
  if ! ls -d /usr/share/cargo/registry/"$crate"-[0-9]* >/dev/null 2>&1; then
    cat >&2 <<MSG
build: the crate $crate is not in /usr/share/cargo/registry (Debian's packaged crates).
  apt-get install $apt
MSG
    exit 1
  fi
done

"$cargo" build --release --target "$target" "$@"

if [ "$target" != wasm32-wasi ]; then
  mkdir -p "$(dirname "$OUT")"
  cp "target/$target/release/$name.wasm" "$OUT"
fi
echo "build: built $dir/$OUT ($target)" >&2
