"""Every example of the README and the docs that is marked runnable runs, against the real default
voice, as written: a fenced ``sh`` or ``python`` block right after the line ``<!-- runnable -->``
(or ``<!-- runnable: serve -->`` for one that talks to a running ``edgetts serve``, which this
test starts on free ports and points the example's ``127.0.0.1:8080`` and ``:10200`` at). Examples
cannot drift from the code again."""

import os
import re
import subprocess
import sys
import time

import pytest

from test_wyoming import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                              if f.endswith(".md"))
MARK = re.compile(r"^<!-- runnable(?:: (serve))? -->\n```(sh|python)\n(.*?)^```", re.M | re.S)


def _examples():
    out = []
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
        for m in MARK.finditer(text):
            line = text[:m.start()].count("\n") + 2
            out.append(pytest.param(m.group(2), m.group(3), bool(m.group(1)), id="%s:%d" % (doc, line)))
    return out


EXAMPLES = _examples()


def test_the_docs_have_runnable_examples():
    kinds = {(p.values[0], p.values[2]) for p in EXAMPLES}
    assert {("sh", False), ("python", False), ("sh", True), ("python", True)} <= kinds


@pytest.fixture(scope="module")
def service(default_bundle):
    """`edgetts serve` with the default voice and Wyoming, on free ports: → (HTTP port, Wyoming port)."""
    http, wy = free_port(), free_port()
    p = subprocess.Popen([sys.executable, "-m", "edgetts.cli", "serve", "--voice", default_bundle, "--port", str(http),
                          "--wyoming", "tcp://127.0.0.1:%d" % wy, "--provider", "cpu"],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in p.stderr:
        if "serving" in line:
            break
        assert time.time() < deadline, "serve did not start"
    import threading

    threading.Thread(target=p.stderr.read, daemon=True).start()
    yield http, wy
    p.terminate()
    p.wait(timeout=60)


@pytest.mark.parametrize("lang,code,needs_server", EXAMPLES)
def test_example_runs(lang, code, needs_server, default_bundle, tmp_path, request):
    env = dict(os.environ, EDGETTS_VOICE=default_bundle, HOME=str(tmp_path / "home"))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if needs_server:
        http, wy = request.getfixturevalue("service")
        code = code.replace("127.0.0.1:8080", "127.0.0.1:%d" % http)
        code = code.replace("10200", str(wy))
    if lang == "sh":
        cmd = ["bash", "-euo", "pipefail", "-c", code]
    else:
        cmd = [sys.executable, "-c", code]
    r = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "\n".join([code, "--- stdout", r.stdout[-2000:], "--- stderr", r.stderr[-3000:]])
    assert "Traceback" not in r.stderr
