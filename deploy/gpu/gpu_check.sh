#!/usr/bin/env bash
# The GPU check of edgetts in one command, run from the repository root:
#
#   bash deploy/gpu/gpu_check.sh          on a machine without network: the kit of `make gpu-kit`
#                                         (build/gpu-kit/chunks) is put back together and installed
#   bash deploy/gpu/gpu_check.sh --local  on your own GPU machine: this checkout's .venv and voice
#   bash deploy/gpu/gpu_check.sh --dry    anywhere: the same steps with the provider forced to the
#                                         CPU, so the harness is tested (make gpu-check-dry, CI)
#
# Steps: doctor (is CUDA really used), the GPU-marked tests (tests/test_gpu.py: FP16 on the device
# against FP32 on the CPU per graph, the bound static cache at batch 1 and 8, streaming = whole,
# the service, NVML), bench rows, and the dev sentences written as WAVs for the judge. Everything
# goes to $OUT (default build/gpu-check): gpu_check.json (one summary) and gpu_check.log.
set -uo pipefail
MODE=kit
case "${1:-}" in
  --dry) MODE=dry ;;
  --local) MODE=local ;;
  "") ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "gpu_check.sh: unknown option $1 (--dry, --local)" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUT:-$ROOT/build/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
KIT=$ROOT/build/gpu-kit
START=$(date +%s)

if [ "$MODE" = kit ]; then
  PY=${PYTHON:-python3}
  VOICE=$KIT/voice
  if [ ! -d "$KIT/wheels" ]; then
    ls "$KIT"/chunks/kit.part-* > /dev/null 2>&1 || { echo "gpu_check: no kit in $KIT/chunks: run make gpu-kit and carry its chunks (deploy/gpu/README.md)"; exit 1; }
    if [ -f "$KIT/manifest.json" ]; then
      "$PY" - "$KIT" <<'EOF' || exit 1
import hashlib, json, os, sys
kit = sys.argv[1]
m = json.load(open(os.path.join(kit, "manifest.json")))
for p in m["parts"]:
    path = os.path.join(kit, "chunks", os.path.basename(p["file"]))
    if not os.path.exists(path):
        sys.exit("gpu_check: chunk %s is missing: carry it again" % os.path.basename(path))
    if hashlib.sha256(open(path, "rb").read()).hexdigest() != p["sha256"]:
        sys.exit("gpu_check: chunk %s is damaged (SHA-256 differs): carry it again" % os.path.basename(path))
print("gpu_check: %d chunks verified" % len(m["parts"]))
EOF
    fi
    cat "$KIT"/chunks/kit.part-* | tar -x -C "$KIT" || { echo "gpu_check: the chunks do not make a tar"; exit 1; }
  fi
  SITE=$KIT/site
  if [ ! -d "$SITE/edgetts" ]; then
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$KIT"/wheels/*.whl || exit 1
  fi
  export PYTHONPATH=$SITE
  PROVIDER=cuda
  CONFIGS=cuda-fp16,cuda-fp16-iobinding,ort-fp32-t2
  BASELINE=ort-fp32-t2
elif [ "$MODE" = local ]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  VOICE=${VOICE:-$ROOT/voices/default}
  PROVIDER=cuda
  CONFIGS=cuda-fp16,cuda-fp16-iobinding,ort-fp32-t2
  BASELINE=ort-fp32-t2
else
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  VOICE=${VOICE:-$ROOT/voices/default}
  PROVIDER=cpu
  CONFIGS=ort-fp32-t2,cuda-fp16
  BASELINE=ort-fp32-t2
  export EDGETTS_GPU_DRY=1
fi
export EDGETTS_TEST_DEFAULT_BUNDLE=$VOICE
# on a GPU machine the GPU tests must run: where CUDA does not load they fail with the reason
[ "$MODE" = dry ] || export EDGETTS_GPU_REQUIRED=1
echo "gpu_check: mode $MODE, python $("$PY" -c 'import sys; print(sys.version.split()[0])'), voice $VOICE"

FAILED=0
step() {  # name, command...: run it, keep going, remember a failure
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "== $name: ok"; else echo "== $name: FAILED ($?)"; FAILED=$((FAILED + 1)); fi
}

step doctor "$PY" -m edgetts.cli doctor --voice "$VOICE" --open --provider "$PROVIDER"
step tests "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py --junitxml "$OUT/tests.xml"
step bench "$PY" -m edgetts.cli bench --voice "$VOICE" --configs "$CONFIGS" --baseline "$BASELINE" \
  --repeats "${REPEATS:-3}" --json "$OUT/bench.json"
step wavs "$PY" - "$VOICE" "$PROVIDER" "$OUT/wavs" "$MODE" <<'EOF'
import os, sys
from edgetts import Voice, write_wav
voice_dir, provider, out, mode = sys.argv[1:5]
path = os.path.join("tests", "data", "dev_sentences_zh.txt")
sentences = [s.strip() for s in open(path, encoding="utf-8") if s.strip()]
if mode == "dry":
    sentences = sentences[:2]  # the harness, not the figures
v = Voice.load(voice_dir, provider=provider, variant="fp16")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "manifest.tsv"), "w", encoding="utf-8") as man:
    for i, s in enumerate(sentences):
        wav = os.path.join(out, "%02d.wav" % i)
        write_wav(wav, v.synthesize(s), v.config.sample_rate)
        man.write("%s\t%s\n" % (os.path.basename(wav), s))
print("wrote %d WAVs (fp16 on %s) to %s for the judge" % (len(sentences), v.providers[0], out))
EOF

"$PY" - "$OUT" "$MODE" "$FAILED" "$START" <<'EOF'
import json, os, sys, time, xml.etree.ElementTree as ET
out, mode, failed, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
summary = {"mode": mode, "failed_steps": failed, "seconds": round(time.time() - start)}
try:
    suite = ET.parse(os.path.join(out, "tests.xml")).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    summary["tests"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    summary["tests"]["cases"] = {c.get("name"): ("failed" if c.find("failure") is not None or c.find("error") is not None
                                                 else "skipped" if c.find("skipped") is not None else "passed")
                                 for c in suite.iter("testcase")}
except (OSError, ET.ParseError, IndexError) as exc:
    summary["tests"] = {"error": str(exc)}
try:
    summary["bench"] = json.load(open(os.path.join(out, "bench.json")))
except (OSError, ValueError) as exc:
    summary["bench"] = {"error": str(exc)}
with open(os.path.join(out, "gpu_check.json"), "w") as f:
    json.dump(summary, f, indent=1)
t = summary["tests"]
print("gpu_check: %s mode, %s steps failed, tests %s, %d s -> %s" % (
    mode, failed, "%(tests)s run, %(failures)s failed, %(errors)s errors, %(skipped)s skipped" % t
    if "tests" in t else t, summary["seconds"], os.path.join(out, "gpu_check.json")))
EOF
exit $(( FAILED > 0 ))
