#!/usr/bin/env bash
# The Jetson kit's software on a real aarch64 userland, emulated: `make test-arm64`.
#
# A Debian bullseye arm64 root (Python 3.9, the oldest Python with onnxruntime 1.11.1's aarch64
# wheels on PyPI: cp38 and cp39 only) is built once with debootstrap under build/arm64/rootfs,
# and run through qemu-aarch64 (binfmt_misc). Inside it: onnxruntime 1.11.1 and numpy 1.21.6, the
# runtime's dependencies as aarch64 wheels from PyPI (no torch), and the runtime wheel. Then:
# edgetts doctor --open, edgetts say of three dev sentences with each CPU variant (fp32, int8,
# nano), the normalization tests with the front-end golden file, edgetts serve answering /readyz
# and the OpenAI endpoint on loopback, and jetson/install.sh --dry-run. The WAVs are compared
# with this machine's x86 output afterwards (jetson/arm64_compare.py).
#
# Needs root (chroot, binfmt_misc), and debootstrap and qemu-user-static (installed with apt-get
# where missing). Fails with one line naming what is missing; it never skips.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=$ROOT/build/arm64
FS=$BUILD/rootfs
OUT=$BUILD/out
VOICE=${VOICE:-$ROOT/voices/default}
PY=${PYTHON:-$ROOT/.venv/bin/python}
SUITE=bullseye
START=$(date +%s)
fail() { echo "test-arm64: $*" >&2; exit 1; }
# each stage's header with the seconds spent so far, so that a slow run shows where its time went
stage() { echo "== [$(( $(date +%s) - START )) s] $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (chroot and binfmt_misc): run it as root"
if ! command -v debootstrap > /dev/null || [ ! -e /usr/bin/qemu-aarch64-static ]; then
  command -v apt-get > /dev/null || fail "needs debootstrap and qemu-user-static, and there is no apt-get to install them"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap qemu-user-static > /dev/null \
    || fail "apt-get could not install debootstrap and qemu-user-static"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2> /dev/null || fail "cannot mount binfmt_misc (not a VM with root?)"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  # the F flag opens the interpreter now, so it works inside the chroot too
  printf '%s\n' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
    > /proc/sys/fs/binfmt_misc/register 2> /dev/null || fail "cannot register qemu-aarch64 with binfmt_misc"
fi

if [ ! -e "$FS/.built" ]; then
  stage "debootstrap $SUITE arm64 (once; cached in $FS)"
  rm -rf "$FS"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,python3-dev,gcc,libc6-dev,ca-certificates,libgomp1 \
    "$SUITE" "$FS" http://deb.debian.org/debian > "$BUILD.debootstrap.log" 2>&1 \
    || fail "debootstrap failed (see $BUILD.debootstrap.log)"
  touch "$FS/.built"
fi
cp /etc/resolv.conf "$FS/etc/resolv.conf"
if [ ! -x "$FS/usr/bin/gcc" ]; then  # a userland cached before gcc was part of it
  chroot "$FS" /usr/bin/env -i PATH=/usr/bin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq python3-dev gcc libc6-dev" > /dev/null \
    || fail "apt-get inside the arm64 userland could not install gcc and python3-dev"
fi
# the host's CA bundle, so that pip inside trusts what the host trusts (a proxy's own CA included)
cp "${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" "$FS/etc/ssl/certs/host-ca.crt"
mkdir -p "$FS/src" "$FS/proc" "$FS/dev" "$FS/sys"
cleanup() { umount -l "$FS/src" "$FS/proc" "$FS/dev" "$FS/sys" 2> /dev/null || true; }
trap cleanup EXIT
mount --bind "$ROOT" "$FS/src"
mount -t proc proc "$FS/proc"
mount --bind /dev "$FS/dev"
mount -t sysfs sysfs "$FS/sys"  # ONNX Runtime reads the CPU list there
in_arm() {
  chroot "$FS" /usr/bin/env -i HOME=/root PATH=/opt/venv/bin:/usr/bin:/bin LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}
# the x86 side of the comparison: the Nano job's venv (the same onnxruntime 1.11.1) where it exists
X86=${X86_PYTHON:-$ROOT/.venv-nano/bin/python}
[ -x "$X86" ] || X86=$PY
stage "$(in_arm uname -m), $(in_arm python3 --version)"

# the runtime wheel from this checkout, then the venv (rebuilt when the requirements change)
rm -rf "$BUILD/wheel" && mkdir -p "$BUILD/wheel"
"$PY" -m pip wheel -q --no-deps -w "$BUILD/wheel" ./runtime 2> /dev/null
REQS=$(cat jetson/runtime-requirements.txt | sha256sum | cut -c1-16)
if [ "$(cat "$FS/opt/venv/.reqs" 2> /dev/null)" != "$REQS" ]; then
  stage "venv: onnxruntime 1.11.1, numpy 1.21.6, the runtime's dependencies (aarch64 wheels)"
  rm -rf "$FS/opt/venv"
  in_arm python3 -m venv /opt/venv
  in_arm pip install -q --upgrade "pip<25" > /dev/null
  in_arm pip install -q --only-binary=:all: onnxruntime==1.11.1 numpy==1.21.6 pytest \
    || fail "pip could not install onnxruntime 1.11.1 and numpy 1.21.6 on aarch64"
  # as jetson/install.sh does: what has no aarch64 wheel (pyahocorasick, under wetext) is built
  # from source, which python3-dev and gcc allow, as JetPack's do
  in_arm pip install -q -r /src/jetson/runtime-requirements.txt \
    || fail "pip could not install the runtime's dependencies on aarch64"
  echo "$REQS" > "$FS/opt/venv/.reqs"
fi
WHEEL=$(basename "$(ls "$BUILD"/wheel/*.whl)")
in_arm pip install -q --no-deps --force-reinstall "/src/build/arm64/wheel/$WHEEL" > /dev/null
rm -rf "$OUT" && mkdir -p "$OUT"
mkdir -p "$FS/opt/voice" && cp "$VOICE"/voice.json "$VOICE"/*.onnx "$FS/opt/voice/"

stage "edgetts doctor --open"
in_arm edgetts doctor --voice /opt/voice --open --provider cpu

stage "edgetts say (the command line), then 3 dev sentences x fp32, int8, nano (one process per variant)"
head -3 tests/data/dev_sentences_zh.txt > "$OUT/sentences.txt"
t0=$(date +%s)
in_arm edgetts say "$(head -1 "$OUT/sentences.txt")" --voice /opt/voice --provider cpu -o /src/build/arm64/out/say.wav \
  || fail "edgetts say failed on aarch64"
echo "edgetts say, whole process: $(( $(date +%s) - t0 )) s"
in_arm python /src/jetson/arm64_say.py /opt/voice /src/build/arm64/out || fail "synthesis failed on aarch64"

stage "the normalization tests and the front-end golden file"
in_arm sh -c "cd /src && python -m pytest -q -p no:cacheprovider tests/test_normalize.py"

stage "edgetts serve: /readyz and the OpenAI endpoint on loopback"
in_arm python /src/jetson/arm64_serve_check.py || fail "serve did not answer on aarch64"

stage "jetson/install.sh --dry-run"
# no /etc/nv_tegra_release here: the script takes JetPack 4.6, which needs the Jetson Zoo's wheel named
in_arm sh -c "cd /src && bash jetson/install.sh --dry-run --voice /opt/voice --ort-wheel onnxruntime_gpu-1.11.0-cp38-cp38-linux_aarch64.whl" \
  > "$OUT/install_dry_run.txt" || fail "install.sh --dry-run failed on aarch64"
tail -3 "$OUT/install_dry_run.txt"

stage "against this machine's x86 output"
"$PY" jetson/arm64_compare.py --voice "$VOICE" --out "$OUT" --x86-python "$X86"
echo "test-arm64: passed in $(( $(date +%s) - START )) s"
