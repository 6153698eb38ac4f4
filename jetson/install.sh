#!/usr/bin/env bash
# Install edgetts as a systemd service on an NVIDIA Jetson (JetPack 4.6, 5.x or 6.x).
#
#   sudo ./install.sh [--voice DIR] [--ort-wheel FILE_OR_URL]      # install or update
#   sudo ./install.sh --uninstall                                  # remove what it installed
#
# Run it from the kit that `make jetson-kit` writes on a PC (dist/edgetts-jetson: the edgetts
# wheel, the voice bundle and these files; no torch, no venv), or from an edgetts checkout.
# What it does:
#   1. checks the L4T release and picks Python: 3.8 from apt on JetPack 4.6 (Ubuntu 18.04),
#      the system Python 3 on JetPack 5 (3.8) and 6 (3.10);
#   2. creates /opt/edgetts/venv and installs ONNX Runtime with the CUDA/TensorRT providers:
#      JetPack 4.6 and 5 need the Jetson Zoo wheel (--ort-wheel, e.g. onnxruntime_gpu-1.11.0-
#      cp38-cp38-linux_aarch64.whl for JetPack 4.6); JetPack 6 can use the jetson-ai-lab index;
#   3. installs edgetts itself without letting pip replace that wheel with the CPU-only one;
#   4. creates the system user `edgetts` (groups video, audio), copies the voice bundle's own
#      files to /var/lib/edgetts/voices/default, writes /etc/default/edgetts if absent, opens
#      the voice with the installed ONNX Runtime and the variant the service will use, and stops
#      with the reason if that fails; then installs and starts edgetts.service;
#   5. waits for /readyz on the port set in /etc/default/edgetts (the first start builds
#      TensorRT engines: several minutes on a Nano).
set -euo pipefail

usage() {
    sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    cat <<'USAGE'

Options:
  --voice DIR          voice bundle folder (required unless one is already installed)
  --ort-wheel PATH|URL ONNX Runtime GPU wheel for this JetPack (required on JetPack 4.6 / 5)
  --ort-index URL      pip index with Jetson ONNX Runtime wheels (JetPack 6 default:
                       https://pypi.jetson-ai-lab.io/jp6/cu126)
  --prefix DIR         install prefix (default /opt/edgetts)
  --no-start           install everything but do not enable or start the service
  --uninstall          stop the service and remove everything the installer wrote
  --dry-run            print the commands instead of running them
  -h, --help           this help
USAGE
}

VOICE=""
ORT_WHEEL=""
ORT_INDEX=""
PREFIX=/opt/edgetts
START=1
DRY=0
UNINSTALL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --voice) VOICE="${2:?--voice needs a folder}"; shift 2 ;;
        --ort-wheel) ORT_WHEEL="${2:?--ort-wheel needs a file or URL}"; shift 2 ;;
        --ort-index) ORT_INDEX="${2:?--ort-index needs a URL}"; shift 2 ;;
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --no-start) START=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
STATE=/var/lib/edgetts
CACHE=/var/cache/edgetts
DEFAULTS=/etc/default/edgetts
UNIT=/etc/systemd/system/edgetts.service

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
run() {
    if [ "$DRY" = 1 ]; then
        printf '+ %s\n' "$*"
    else
        "$@"
    fi
}

if [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "needs root: sudo $0 $*"
fi

# -- uninstall: everything this script wrote, nothing else ------------------------------------------
if [ "$UNINSTALL" = 1 ]; then
    say "removing edgetts"
    run systemctl disable --now edgetts || true
    run rm -f "$UNIT"
    run systemctl daemon-reload
    # the venv, the voice and TensorRT engines, the phrase cache, the settings file and the
    # token folder the guide puts tokens in
    run rm -rf "$PREFIX" "$STATE" "$CACHE" "$DEFAULTS" /etc/edgetts
    if [ "$DRY" = 1 ] || id edgetts >/dev/null 2>&1; then
        run userdel edgetts
    fi
    say "edgetts removed"
    exit 0
fi

# What to install: the wheel in a kit made by `make jetson-kit`, or the checkout around this script.
PKG="$(find "$HERE" -maxdepth 1 -name 'edgetts-*.whl' | sort | tail -n 1)"
if [ -z "$PKG" ]; then
    PKG="$(dirname "$HERE")/runtime"
    [ -f "$PKG/pyproject.toml" ] || die "no edgetts wheel beside me and no checkout around me: run me from the kit 'make jetson-kit' writes"
fi
# The voice: a folder given with --voice, else the voice wheel in the kit, else loose files in an
# older kit's voice/ folder.
VOICE_WHEEL=""
if [ -z "$VOICE" ]; then
    VOICE_WHEEL="$(find "$HERE" -maxdepth 1 -name 'edgetts_voice_*.whl' | sort | tail -n 1)"
fi
if [ -z "$VOICE" ] && [ -z "$VOICE_WHEEL" ] && [ -f "$HERE/voice/voice.json" ]; then
    VOICE="$HERE/voice"
fi

# -- 1. which JetPack ----------------------------------------------------------------------------
L4T="unknown"
if [ -r /etc/nv_tegra_release ]; then
    L4T="$(sed -n 's/^# R\([0-9]*\).*/\1/p' /etc/nv_tegra_release)"
fi
case "$L4T" in
    32) JETPACK=4; PY=python3.8 ;;
    35) JETPACK=5; PY=python3 ;;
    36) JETPACK=6; PY=python3 ;;
    *)
        [ "$DRY" = 1 ] || die "no supported L4T release found in /etc/nv_tegra_release (got '$L4T'); this script is for Jetson JetPack 4.6, 5 or 6"
        JETPACK=4; PY=python3.8 ;;
esac
say "JetPack $JETPACK (L4T R$L4T), Python: $PY"

if [ "$JETPACK" != 6 ] && [ -z "$ORT_WHEEL" ]; then
    die "JetPack $JETPACK needs --ort-wheel: download the ONNX Runtime GPU wheel for your JetPack and Python from the Jetson Zoo (https://elinux.org/Jetson_Zoo#ONNX_Runtime), e.g. onnxruntime_gpu-1.11.0-cp38-cp38-linux_aarch64.whl for JetPack 4.6"
fi
if [ -z "$VOICE" ] && [ -z "$VOICE_WHEEL" ] && [ ! -f "$STATE/voices/default/voice.json" ]; then
    die "--voice is required: build the bundle on a PC with 'make export' and copy voices/default here (or use the kit 'make jetson-kit' writes, which carries the voice)"
fi
if [ -n "$VOICE" ] && [ ! -f "$VOICE/voice.json" ]; then
    die "$VOICE is not a voice bundle (no voice.json)"
fi

# -- 2. system packages and the venv ---------------------------------------------------------------
say "system packages"
run apt-get update -q
if [ "$JETPACK" = 4 ]; then
    run apt-get install -y -q python3.8 python3.8-venv python3.8-dev libsndfile1 curl
else
    run apt-get install -y -q python3 python3-venv python3-dev libsndfile1 curl
fi

say "virtual environment in $PREFIX/venv"
run mkdir -p "$PREFIX"
run "$PY" -m venv "$PREFIX/venv"
PIP="$PREFIX/venv/bin/pip"
run "$PIP" install -q --upgrade pip wheel

say "ONNX Runtime with the CUDA and TensorRT providers"
if [ -n "$ORT_WHEEL" ]; then
    run "$PIP" install -q "$ORT_WHEEL"
else
    run "$PIP" install -q onnxruntime-gpu --index-url "${ORT_INDEX:-https://pypi.jetson-ai-lab.io/jp6/cu126}"
fi

# -- 3. edgetts ------------------------------------------------------------------------------------
say "edgetts (runtime only: numpy, soundfile, click and the Chinese front-end)"
# --no-deps: on aarch64 pip would otherwise add the CPU-only `onnxruntime` next to the GPU wheel;
# the other dependencies come from runtime-requirements.txt (runtime/requirements.txt, less ONNX Runtime).
run "$PIP" install -q --no-deps "$PKG"
run "$PIP" install -q -r "$HERE/runtime-requirements.txt"
VOICE_REF="$STATE/voices/default"  # what the service opens (the unit's EDGETTS_VOICE)
if [ -n "$VOICE_WHEEL" ]; then
    # the voice as a package in the venv; an older voice folder would take precedence, so it goes
    run "$PIP" install -q --no-deps --force-reinstall "$VOICE_WHEEL"
    run rm -rf "$STATE/voices/default"
    VOICE_REF=default
fi
run mkdir -p "$PREFIX/jetson"
run cp "$HERE/README.md" "$PREFIX/jetson/README.md"

# -- 4. user, voice, unit -------------------------------------------------------------------------
say "service user and voice"
if ! id edgetts >/dev/null 2>&1; then
    run useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin --user-group edgetts
fi
run usermod -a -G video,audio edgetts
run mkdir -p "$STATE/voices"
if [ -n "$VOICE" ]; then
    # only the bundle's own files: voice.json and the graphs it names (no engine caches, no venv)
    run rm -rf "$STATE/voices/default.new"
    run mkdir -p "$STATE/voices/default.new"
    run cp "$VOICE/voice.json" "$VOICE"/*.onnx "$STATE/voices/default.new/"
    run rm -rf "$STATE/voices/default"
    run mv "$STATE/voices/default.new" "$STATE/voices/default"
fi
run chown -R edgetts:edgetts "$STATE"

if [ ! -f "$DEFAULTS" ]; then
    say "settings in $DEFAULTS"
    if [ "$DRY" = 1 ]; then
        printf '+ write %s (EDGETTS_HOST=127.0.0.1, EDGETTS_PORT=8080, EDGETTS_ARGS=)\n' "$DEFAULTS"
    else
        cat > "$DEFAULTS" <<'DEFAULTS_FILE'
# edgetts.service settings (read by the unit and by install.sh). Restart after a change:
#   sudo systemctl restart edgetts
EDGETTS_HOST=127.0.0.1
EDGETTS_PORT=8080
# Other `edgetts serve` options, e.g. "--token-file /etc/edgetts/token --max-batch 4"
EDGETTS_ARGS=
# A user lexicon (word<TAB>pinyin or word<TAB>=alias lines), readable by the edgetts user
#EDGETTS_LEXICON=/etc/edgetts/lexicon.tsv
DEFAULTS_FILE
    fi
fi
# The port the unit will listen on: the same file, read the same way.
HOST=127.0.0.1
PORT=8080
setting() {  # the value of $1 in $DEFAULTS (a shell-style KEY=value file, as systemd reads it), or $2
    (
        # shellcheck source=/dev/null
        . "$DEFAULTS" >/dev/null 2>&1
        v="${!1:-}"
        printf '%s' "${v:-$2}"
    )
}
if [ -f "$DEFAULTS" ]; then
    HOST="$(setting EDGETTS_HOST 127.0.0.1)"
    PORT="$(setting EDGETTS_PORT 8080)"
    case " $(setting EDGETTS_ARGS '') " in
        *" --port"*|*" --host"*) die "$DEFAULTS sets --port or --host in EDGETTS_ARGS: use EDGETTS_PORT / EDGETTS_HOST instead" ;;
    esac
fi
case "$HOST" in 0.0.0.0|::) HOST=127.0.0.1 ;; esac

say "opening the voice with the installed ONNX Runtime, as the service will"
# Fails fast (exit 78, the reason printed) instead of a service that cannot start.
if ! run runuser -u edgetts -- "$PREFIX/venv/bin/edgetts" doctor --voice "$VOICE_REF" --open; then
    die "the voice does not open here (reason above); the service was not enabled"
fi

run install -m 0644 "$HERE/edgetts.service" "$UNIT"
run systemctl daemon-reload
if [ "$START" = 0 ]; then
    say "installed; start it with: sudo systemctl enable --now edgetts"
    exit 0
fi
run systemctl enable --now edgetts

# -- 5. ready? -------------------------------------------------------------------------------------
say "waiting for the service (the first start builds TensorRT engines; a Nano takes minutes)"
if [ "$DRY" = 0 ]; then
    for _ in $(seq 1 180); do
        if curl -fsS "http://$HOST:$PORT/readyz" >/dev/null 2>&1; then
            curl -fsS "http://$HOST:$PORT/readyz"; echo
            say "ready. Try: curl -s $HOST:$PORT/v1/tts -d '{\"text\":\"你好\"}' -o hello.wav"
            exit 0
        fi
        if ! systemctl is-active --quiet edgetts; then
            journalctl -u edgetts -n 30 --no-pager >&2 || true
            die "the service stopped; its log is above"
        fi
        sleep 5
    done
    die "not ready after 15 minutes; see: journalctl -u edgetts"
fi
