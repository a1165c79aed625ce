#!/usr/bin/env bash
# Builds the cloudphone test device image (a redroid stand-in) with `docker import` of a busybox rootfs.
# Idempotent: skips the build when the existing image carries the same input hash in its label.
# Usage: test/device-image/build.sh [--force]   (env CLOUDPHONE_TEST_IMAGE overrides the tag)
set -euo pipefail

IMAGE="${CLOUDPHONE_TEST_IMAGE:-cloudphone/test-device:dev}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
HASH_LABEL="io.cloudphone.test-image.inputs"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

die() { echo "device-image: $*" >&2; exit 1; }

[[ -x "$BUSYBOX" ]] || die "$BUSYBOX not found: install busybox-static (apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install busybox-static (apt-get install busybox-static)"
fi
command -v docker >/dev/null || die "docker CLI not found"

# Hash of every input: rootfs files (names, modes, contents), the C sources of the native programs,
# the layer scripts, this script and the busybox binary.
inputs_hash() {
  (
    cd "$HERE"
    find rootfs layers.d native build.sh -type f -print0 | sort -z | xargs -0 stat -c '%n %a'
    find rootfs layers.d native build.sh -type f -print0 | sort -z | xargs -0 sha256sum
    find rootfs -type l -printf '%p -> %l\n' | sort
    sha256sum < "$BUSYBOX"
  ) | sha256sum | cut -c1-32
}

HASH="$(inputs_hash)"
CURRENT="$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$IMAGE" 2>/dev/null || true)"
if [[ $FORCE -eq 0 && "$CURRENT" == "$HASH" ]]; then
  echo "device-image: $IMAGE is up to date ($HASH)"
  exit 0
fi

OLD_ID="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/rootfs"
mkdir -p "$ROOT"/{bin,sbin,data,run,tmp,proc,sys,dev,etc,system,vendor}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ -e "$ROOT/bin/$applet" ]] || ln -s busybox "$ROOT/bin/$applet"
done
cp -a "$HERE/rootfs/." "$ROOT/"
# Android keeps its shell and tools in /system/bin; health checks written for redroid use that path.
ln -s ../bin "$ROOT/system/bin"
chmod 1777 "$ROOT/tmp"
# Extra layers (e.g. an adbd or scrcpy emulator and what it needs) add files to $ROOT.
for layer in "$HERE"/layers.d/*.sh; do
  [[ -f "$layer" ]] || continue
  ROOT="$ROOT" HERE="$HERE" bash "$layer" || die "layer $(basename "$layer") failed"
done
echo "root:x:0:0:root:/:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"

tar -C "$ROOT" --numeric-owner --owner=0 --group=0 -cf "$WORK/rootfs.tar" .
docker import \
  --change 'ENTRYPOINT ["/init"]' \
  --change 'ENV PATH=/bin:/sbin' \
  --change "LABEL $HASH_LABEL=$HASH" \
  --change 'LABEL org.opencontainers.image.title=cloudphone-test-device' \
  "$WORK/rootfs.tar" "$IMAGE" >/dev/null
# The previous build is now untagged; drop it unless a container still uses it.
if [[ -n "$OLD_ID" && "$OLD_ID" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]]; then
  docker image rm "$OLD_ID" >/dev/null 2>&1 || true
fi
echo "device-image: built $IMAGE ($HASH)"
