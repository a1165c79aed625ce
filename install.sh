#!/usr/bin/env bash
# Installs (or upgrades in place) the cloudphone agent on a phone server from this checkout/release:
# checks prerequisites, deploys a self-contained copy under --prefix, writes the configuration,
# installs a systemd unit and enrolls the host with the control plane using a one-time token.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PNPM_VERSION=9.15.9

CONTROL_PLANE=""
TOKEN=""
PREFIX="/opt/cloudphone-agent"
CONFIG_DIR="/etc/cloudphone"
DATA_DIR="/var/lib/cloudphone-agent"
USE_SYSTEMD=1
IMAGE=""
NETWORK_MODE=""
SCRCPY_SERVER=""
PRIVILEGED=""
SYSTEMD_UNIT_DIR="${CLOUDPHONE_SYSTEMD_UNIT_DIR:-/etc/systemd/system}"

usage() {
  cat <<'USAGE'
Usage: install.sh --control-plane <url> --token <token> [options]

Installs the cloudphone agent on this phone server, or upgrades an existing installation in place.

Required on first install:
  --control-plane <url>     control plane base URL, e.g. https://cp.example.com:8080
  --token <token>           one-time enrollment token (POST /api/enrollment-tokens);
                            not needed when this host is already enrolled

Options:
  --prefix <dir>            install directory (default /opt/cloudphone-agent)
  --config-dir <dir>        configuration directory, holds agent.json (default /etc/cloudphone)
  --data-dir <dir>          agent state: SQLite database and credentials (default /var/lib/cloudphone-agent)
  --image <image>           Android container image (default: the agent's default, a redroid image)
  --network-mode <mode>     bridge|host, network mode of device containers (default: the agent's default)
  --no-privileged           run device containers unprivileged (redroid normally needs privileged)
  --no-systemd              do not install the systemd unit; print the command to run instead
  --scrcpy-server <file>    the scrcpy server file (scrcpy-server-v<version> from a scrcpy release, Apache-2.0)
                            for live screens; copied to <prefix>/scrcpy-server. Its version must equal the
                            agent's stream.scrcpyVersion (default 4.1). Without it, streams fall back to
                            screenrecord (stream.source=auto).
  -h, --help                show this help

Re-running upgrades in place: the application is replaced, existing configuration values are kept
(only missing keys are filled in) and existing credentials are never touched.
USAGE
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
warn() { echo "install.sh: warning: $*" >&2; }
info() { echo "install.sh: $*"; }

need_value() { [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die "$1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --control-plane) need_value "$@"; CONTROL_PLANE="$2"; shift 2 ;;
    --token) need_value "$@"; TOKEN="$2"; shift 2 ;;
    --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
    --config-dir) need_value "$@"; CONFIG_DIR="$2"; shift 2 ;;
    --data-dir) need_value "$@"; DATA_DIR="$2"; shift 2 ;;
    --image) need_value "$@"; IMAGE="$2"; shift 2 ;;
    --network-mode) need_value "$@"; NETWORK_MODE="$2"; shift 2 ;;
    --no-privileged) PRIVILEGED="false"; shift ;;
    --no-systemd) USE_SYSTEMD=0; shift ;;
    --scrcpy-server) need_value "$@"; SCRCPY_SERVER="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

# ---- validate flags ----------------------------------------------------------------------------
for var in PREFIX CONFIG_DIR DATA_DIR; do
  [[ "${!var}" == /* ]] || die "--$(echo "$var" | tr 'A-Z_' 'a-z-') must be an absolute path, got '${!var}'"
done
if [[ -n "$CONTROL_PLANE" && ! "$CONTROL_PLANE" =~ ^https?://[^[:space:]/]+(/[^[:space:]]*)?$ ]]; then
  die "--control-plane must be an http(s) URL like https://cp.example.com:8080, got '$CONTROL_PLANE'"
fi
if [[ -n "$TOKEN" && ! "$TOKEN" =~ ^[A-Za-z0-9._~+/=-]{16,256}$ ]]; then
  die "--token must be 16-256 characters from the token alphabet (as returned by POST /api/enrollment-tokens)"
fi
if [[ -n "$NETWORK_MODE" && "$NETWORK_MODE" != "bridge" && "$NETWORK_MODE" != "host" ]]; then
  die "--network-mode must be bridge or host, got '$NETWORK_MODE'"
fi
if [[ -n "$SCRCPY_SERVER" && ! -f "$SCRCPY_SERVER" ]]; then
  die "--scrcpy-server must name an existing file, got '$SCRCPY_SERVER'"
fi
if [[ -n "$IMAGE" && ! "$IMAGE" =~ ^[a-z0-9][a-zA-Z0-9._/:@-]*$ ]]; then
  die "--image is not a valid image reference: '$IMAGE'"
fi

CONFIG_FILE="$CONFIG_DIR/agent.json"
CREDENTIALS_FILE="$DATA_DIR/credentials.json"
if [[ ! -f "$CONFIG_FILE" && -z "$CONTROL_PLANE" ]]; then die "--control-plane is required on first install"; fi
if [[ ! -f "$CREDENTIALS_FILE" && -z "$TOKEN" ]]; then
  die "--token is required: this host is not enrolled yet ($CREDENTIALS_FILE missing)"
fi

# ---- prerequisites -----------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required but 'node' is not on PATH (https://nodejs.org, or NodeSource for Debian/Ubuntu)"
NODE_BIN="$(command -v node)"
NODE_MAJOR="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')"
[[ "$NODE_MAJOR" -ge 20 ]] || die "Node.js >= 20 is required, found $("$NODE_BIN" --version)"

if ! command -v adb >/dev/null 2>&1; then
  warn "adb not found: install it (apt-get install adb); the agent talks to each device's adbd through the adb server"
fi
if ! command -v docker >/dev/null 2>&1; then
  warn "docker CLI not found: install Docker (apt-get install docker.io); the agent needs a Docker daemon"
elif ! docker info >/dev/null 2>&1; then
  warn "Docker daemon not reachable (docker info failed): start it (systemctl start docker) before the agent runs devices"
fi

has_binder() {
  [[ -e /dev/binderfs || -e /dev/binder ]] && return 0
  grep -qw binder_linux /proc/modules 2>/dev/null && return 0
  command -v modinfo >/dev/null 2>&1 && modinfo binder_linux >/dev/null 2>&1 && return 0
  return 1
}
if ! has_binder; then
  warn "no binder support found (/dev/binderfs, /dev/binder, binder_linux module): redroid devices will not boot." \
    "See the redroid host prerequisites: modprobe binder_linux devices=\"binder,hwbinder,vndbinder\" (https://github.com/remote-android/redroid-doc)"
fi

# ---- build and deploy the application ----------------------------------------------------------
ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [[ "$(pnpm --version | cut -d. -f1)" == "${PNPM_VERSION%%.*}" ]]; then return; fi
  command -v npm >/dev/null 2>&1 || die "pnpm ${PNPM_VERSION%%.*}.x is needed to install from a checkout (npm i -g pnpm@$PNPM_VERSION)"
  info "installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
}

ensure_pnpm
cd "$SRC_DIR"
# Build when there is no build yet, or when any source is newer than it (an upgrade after a pull).
stale_build() {
  [[ ! -f agent/dist/main.js || ! -f shared-protocol/dist/index.js ]] && return 0
  [[ -n "$(find agent/src shared-protocol/src -newer agent/dist/main.js -print -quit 2>/dev/null)" ]]
}
if stale_build; then
  info "building the agent"
  [[ -d node_modules ]] || pnpm install --frozen-lockfile
  pnpm --filter "@cloudphone/agent..." run build
fi

# `pnpm deploy` copies the agent with its production dependencies (shared-protocol included, native
# modules built) into a self-contained directory; it is staged next to the old one and swapped in.
mkdir -p "$PREFIX/bin"
STAGE="$PREFIX/app.new"
rm -rf "$STAGE"
info "deploying the agent to $PREFIX/app"
pnpm --filter @cloudphone/agent deploy --prod "$STAGE" >"$PREFIX/deploy.log" 2>&1 ||
  { cat "$PREFIX/deploy.log" >&2; die "pnpm deploy failed (log above)"; }
[[ -f "$STAGE/dist/main.js" ]] || die "deployed copy has no dist/main.js (build the agent first)"
# pnpm leaves a hoisted link back to the workspace package itself; drop every link leaving the copy
# so the prefix stays self-contained after the checkout is gone.
while IFS= read -r -d '' link; do
  case "$(readlink -f "$link" || true)" in "$STAGE"/*) ;; *) rm -f "$link" ;; esac
done < <(find "$STAGE" -type l -print0)
(cd "$STAGE" && "$NODE_BIN" -e 'new (require("better-sqlite3"))(":memory:").close()') ||
  die "better-sqlite3 does not load in the deployed copy (native build missing?); see $PREFIX/deploy.log"
if [[ -d "$PREFIX/app" ]]; then mv "$PREFIX/app" "$PREFIX/app.old"; fi
mv "$STAGE" "$PREFIX/app"
rm -rf "$PREFIX/app.old"

# The scrcpy server lives beside app/ (not in it), so an upgrade without the flag keeps it.
if [[ -n "$SCRCPY_SERVER" ]]; then
  install -m 0644 "$SCRCPY_SERVER" "$PREFIX/scrcpy-server.tmp"
  mv "$PREFIX/scrcpy-server.tmp" "$PREFIX/scrcpy-server"
  info "scrcpy server: $PREFIX/scrcpy-server"
fi

WRAPPER="$PREFIX/bin/cloudphone-agent"
cat >"$WRAPPER.tmp" <<WRAP
#!/bin/sh
# cloudphone agent launcher (written by install.sh)
exec "$NODE_BIN" "$PREFIX/app/dist/main.js" "\$@"
WRAP
chmod 0755 "$WRAPPER.tmp"
mv "$WRAPPER.tmp" "$WRAPPER"

# ---- configuration -----------------------------------------------------------------------------
mkdir -p "$CONFIG_DIR" "$DATA_DIR"
chmod 0700 "$DATA_DIR"
# Existing values always win (upgrade keeps what the operator set); flags only fill missing keys.
SCRCPY_PATH="${SCRCPY_SERVER:+$PREFIX/scrcpy-server}" CP_URL="$CONTROL_PLANE" DATA_DIR="$DATA_DIR" IMAGE="$IMAGE" NETWORK_MODE="$NETWORK_MODE" PRIVILEGED="$PRIVILEGED" \
  "$NODE_BIN" - "$CONFIG_FILE" <<'NODE'
const fs = require("node:fs");
const os = require("node:os");
const file = process.argv[2];
const env = process.env;
let existing = {};
if (fs.existsSync(file)) {
  try { existing = JSON.parse(fs.readFileSync(file, "utf8")); }
  catch (e) { console.error(`install.sh: error: ${file} is not valid JSON (${e.message}); fix or remove it`); process.exit(1); }
}
const wanted = { controlPlaneUrl: env.CP_URL || undefined, dataDir: env.DATA_DIR, hostName: os.hostname(), runtime: {} };
if (env.IMAGE) wanted.runtime.image = env.IMAGE;
if (env.NETWORK_MODE) wanted.runtime.networkMode = env.NETWORK_MODE;
if (env.PRIVILEGED) wanted.runtime.privileged = env.PRIVILEGED === "true";
if (env.SCRCPY_PATH) wanted.stream = { scrcpyServerPath: env.SCRCPY_PATH };
const kept = [];
function fill(target, defaults, path) {
  for (const [key, value] of Object.entries(defaults)) {
    if (value === undefined) continue;
    const here = path ? `${path}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) {
      if (target[key] === undefined) target[key] = {};
      fill(target[key], value, here);
    } else if (target[key] === undefined) {
      target[key] = value;
    } else if (JSON.stringify(target[key]) !== JSON.stringify(value) && key !== "hostName") {
      kept.push(`${here}=${JSON.stringify(target[key])} (flag/default ${JSON.stringify(value)} ignored)`);
    }
  }
}
fill(existing, wanted, "");
if (Object.keys(existing.runtime).length === 0) delete existing.runtime;
for (const line of kept) console.log(`install.sh: keeping existing ${line}; edit ${file} to change it`);
fs.writeFileSync(`${file}.tmp`, JSON.stringify(existing, null, 2) + "\n", { mode: 0o640 });
fs.renameSync(`${file}.tmp`, file);
NODE
info "configuration: $CONFIG_FILE"
# The data dir in effect is the configured one (an upgrade keeps it even if --data-dir differs).
DATA_DIR="$("$NODE_BIN" -p 'require(process.argv[1]).dataDir' "$CONFIG_FILE")"
CREDENTIALS_FILE="$DATA_DIR/credentials.json"
if [[ ! -f "$CREDENTIALS_FILE" && -z "$TOKEN" ]]; then die "--token is required: $CREDENTIALS_FILE does not exist"; fi
mkdir -p "$DATA_DIR"
chmod 0700 "$DATA_DIR"

# ---- enrollment --------------------------------------------------------------------------------
if [[ -f "$CREDENTIALS_FILE" ]]; then
  info "already enrolled ($CREDENTIALS_FILE exists): skipping enrollment"
else
  info "enrolling with the control plane"
  "$WRAPPER" enroll --config "$CONFIG_FILE" --token "$TOKEN"
  [[ -f "$CREDENTIALS_FILE" ]] || die "enrollment did not write $CREDENTIALS_FILE"
fi
chmod 0600 "$CREDENTIALS_FILE"

# ---- service -----------------------------------------------------------------------------------
RUN_CMD="$WRAPPER run --config $CONFIG_FILE"
if [[ $USE_SYSTEMD -eq 1 ]]; then
  command -v systemctl >/dev/null 2>&1 || die "systemctl not found: re-run with --no-systemd and start the agent with your own supervisor"
  cat >"$SYSTEMD_UNIT_DIR/cloudphone-agent.service" <<UNIT
[Unit]
Description=cloudphone agent (Android containers on this phone server)
Wants=network-online.target docker.service
After=network-online.target docker.service

[Service]
Type=simple
ExecStart=$RUN_CMD
Restart=always
RestartSec=2
# Only the agent process is signalled on stop/restart: device containers belong to dockerd and keep running.
KillMode=process
TimeoutStopSec=30
Environment=NODE_ENV=production

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable cloudphone-agent.service
  systemctl restart cloudphone-agent.service
  info "installed and (re)started cloudphone-agent.service (journalctl -u cloudphone-agent -f)"
else
  info "systemd unit not installed (--no-systemd). Start the agent with:"
  echo "  $RUN_CMD"
fi
info "done"
