#!/usr/bin/env bash
# Compiles the device's native programs from native/ into static binaries in $ROOT/bin:
#   adbd     the ADB daemon (native/adbd, native/common)
#   toolbox  multi-call helper (native/toolbox): log, screenrecord, apkinfo, input, logbin (logcat -B)
#   app_process  the scrcpy server emulator (native/scrcpy), started like scrcpy's server jar
# Needs gcc and the static C library (apt-get install gcc libc6-dev).
set -euo pipefail
command -v gcc >/dev/null || { echo "gcc not found: apt-get install gcc libc6-dev" >&2; exit 1; }
SRC="$HERE/native"
CFLAGS=(-D_GNU_SOURCE -std=gnu11 -O2 -Wall -Wextra -static -s)
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

gcc "${CFLAGS[@]}" -o "$OUT/adbd" "$SRC"/adbd/*.c "$SRC"/common/*.c ||
  { echo "compiling adbd failed (is libc6-dev installed? static linking needs libc.a)" >&2; exit 1; }
install -m 0755 "$OUT/adbd" "$ROOT/bin/adbd"

if compgen -G "$SRC/toolbox/*.c" >/dev/null; then
  gcc "${CFLAGS[@]}" -o "$OUT/toolbox" "$SRC"/toolbox/*.c "$SRC"/common/*.c
  install -m 0755 "$OUT/toolbox" "$ROOT/bin/toolbox"
  for tool in log screenrecord apkinfo input logbin; do
    rm -f "$ROOT/bin/$tool"
    ln -s toolbox "$ROOT/bin/$tool"
  done
fi

gcc "${CFLAGS[@]}" -pthread -o "$OUT/app_process" "$SRC"/scrcpy/*.c "$SRC"/common/*.c
install -m 0755 "$OUT/app_process" "$ROOT/bin/app_process"
