"""The command line through click's runner (and once as a real installed console script)."""

import json
import os
import sys
import shutil
import subprocess

from click.testing import CliRunner

from edgetts.cli import main


def run(args, input=None, env=None):
    return CliRunner().invoke(main, args, input=input, env=env)


def test_help_lists_commands():
    r = run(["--help"])
    assert r.exit_code == 0
    for cmd in ("say", "frontend", "doctor"):
        assert cmd in r.output


def test_frontend_prints_spoken_form_pinyin_and_ids():
    r = run(["frontend", "会议于2026年11月22日下午3点开始，票价128.5元。"])
    assert r.exit_code == 0, r.output
    assert "会议于二零二六年十一月二十二日下午三点开始" in r.output
    assert "票价一百二十八点五元" in r.output
    assert "ids:     1 19 101 2 14 86" in r.output


def test_frontend_json_and_stdin():
    r = run(["frontend", "--json"], input="你好，世界".encode("utf-8"))
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [d["spoken"] for d in data] == ["你好", "世界"]
    assert data[0]["ids"][0] == 1 and data[0]["ids"][-1] == 218


def test_frontend_invalid_utf8_on_stdin_is_named():
    r = run(["frontend"], input=b"\xff\xfe\xfa")
    assert r.exit_code != 0
    assert "not valid UTF-8" in r.output


def test_frontend_empty_text_is_an_error():
    r = run(["frontend", "   "])
    assert r.exit_code == 1 and "empty" in r.output


def test_frontend_strict_names_characters():
    r = run(["frontend", "--unknown", "strict", "你好😀"])
    assert r.exit_code == 1 and "GRINNING FACE" in r.output


def test_say_without_voice_says_what_is_missing(tmp_path, monkeypatch):
    # Away from ./voices/default and ~/.local/share (a `make demo` leaves a voice there).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    r = run(["say", "你好", "-o", str(tmp_path / "x.wav")], env={"EDGETTS_VOICE": str(tmp_path / "none")})
    assert r.exit_code == 1
    assert "no voice bundle found" in r.output and "make export" in r.output
    assert not (tmp_path / "x.wav").exists()


def test_say_with_explicit_missing_voice(tmp_path):
    r = run(["say", "你好", "--voice", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_doctor_reports_providers_honestly():
    r = run(["doctor"])
    assert r.exit_code == 0, r.output
    assert "onnxruntime" in r.output and "cpu        loads" in r.output
    # On a machine without a GPU the CUDA line must say why it does not load, not claim it does.
    from edgetts.engine.providers import probe

    cuda = probe("cuda")
    assert ("cuda       loads" in r.output) == cuda.loads


def test_console_script_is_installed():
    # The script sits beside the interpreter of the venv the package is installed in.
    exe = shutil.which("edgetts", path=os.path.dirname(sys.executable)) or shutil.which("edgetts")
    assert exe, "the edgetts console script is not on PATH (pip install -e .)"
    out = subprocess.run([exe, "frontend", "你好"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ni3 hao3" in out.stdout
