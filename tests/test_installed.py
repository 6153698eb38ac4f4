"""The installed `edgetts` console script as a user runs it, on the real default voice, with the
default variant choice: `say`, and `serve` answering the OpenAI speech endpoint. CI runs this
file under Python 3.11 with the current ONNX Runtime and under Python 3.8 with ONNX Runtime
1.11.1, the Jetson Nano's versions, in a venv with the runtime alone."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EDGETTS = os.path.join(os.path.dirname(sys.executable), "edgetts")
DEV = os.path.join(ROOT, "tests", "data", "dev_sentences_zh.txt")


def _speech_like(audio, sr, min_seconds):
    assert sr == 24000 and len(audio) / sr >= min_seconds
    assert np.sqrt(np.mean(audio ** 2)) > 0.01 and np.abs(audio).max() < 1.0


def test_say_speaks_the_dev_sentences_with_the_default_variant(default_bundle, tmp_path):
    with open(DEV, encoding="utf-8") as f:
        text = f.read()
    out = str(tmp_path / "dev.wav")
    r = subprocess.run([EDGETTS, "say", "--voice", default_bundle, "-o", out, "-v"], input=text,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "(fp32 on CPUExecutionProvider)" in r.stderr  # the default on a CPU, 3.8 + ORT 1.11 too
    audio, sr = sf.read(out, dtype="float32")
    chars = sum(len(line.strip()) for line in text.splitlines())
    _speech_like(audio, sr, min_seconds=chars * 0.12)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_serve_answers_the_openai_speech_endpoint(default_bundle):
    port = _free_port()
    p = subprocess.Popen([EDGETTS, "serve", "--voice", default_bundle, "--port", str(port)],
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            assert p.poll() is None, "serve exited with %s" % p.returncode
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:  # not listening yet, or 503 while warming up
                pass
            assert time.time() < deadline, "/readyz never answered 200"
            time.sleep(0.2)
        body = json.dumps({"model": "tts-1", "input": "您的订单已发货，预计三天内送达。",
                           "voice": "alloy", "response_format": "wav"}).encode()
        req = urllib.request.Request("http://127.0.0.1:%d/v1/audio/speech" % port, data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("audio/")
            audio, sr = sf.read(io.BytesIO(r.read()), dtype="float32")
        _speech_like(audio, sr, min_seconds=1.5)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0


def test_serve_on_a_busy_port_says_so_in_one_line_and_exits_69(tiny_bundle):
    """69 (EX_UNAVAILABLE) is in the unit's RestartPreventExitStatus: no restart loop."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        port = s.getsockname()[1]
        r = subprocess.run([EDGETTS, "serve", "--voice", tiny_bundle, "--port", str(port),
                            "--provider", "cpu"], capture_output=True, text=True, timeout=120)
    finally:
        s.close()
    assert r.returncode == 69
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert errors == ["Error: 127.0.0.1:%d is already in use (another edgetts, or another service;"
                      " pick another with --port)" % port]


def test_serve_with_a_voice_that_cannot_open_exits_78(tmp_path):
    (tmp_path / "voice.json").write_text("{oops")
    r = subprocess.run([EDGETTS, "serve", "--voice", str(tmp_path), "--port", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 78 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr
