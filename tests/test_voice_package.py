"""Voices without torch: a bundle packed as a wheel and found through its entry point, from any
folder; a bundle archive unpacked into the user's voices, verified, with nothing written outside
them. The Nano job runs this file too (Python 3.8, ONNX Runtime 1.11, no torch)."""

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest
from click.testing import CliRunner

from edgetts.cli import main
from edgetts.errors import BundleError
from edgetts.engine.voice_package import install, pack


@pytest.fixture(scope="module")
def wheel(default_bundle, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("wheel"))
    return pack(default_bundle, out, "default", ["fp32"])


def test_an_installed_voice_wheel_speaks_from_any_folder(wheel, tmp_path):
    """pip installs the wheel (into a folder of its own here, put on the path as a venv's
    site-packages would be); `edgetts say` with no --voice, from a folder with no voices/ and an
    empty home, finds it through the entry point."""
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site), HOME=str(tmp_path / "home"))
    env.pop("EDGETTS_VOICE", None)
    r = subprocess.run([sys.executable, "-m", "edgetts.cli", "say", "你好，世界。", "-o", "hello.wav", "-v"],
                       cwd=str(work), env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "(fp32 on CPUExecutionProvider)" in r.stderr and (work / "hello.wav").stat().st_size > 24000
    r = subprocess.run([sys.executable, "-m", "edgetts.cli", "voices"], cwd=str(work), env=env,
                       capture_output=True, text=True, timeout=300)
    assert "package default" in r.stdout and "variants fp32" in r.stdout
    r = subprocess.run([sys.executable, "-c", "import edgetts.cli, sys; sys.exit('torch' in sys.modules)"],
                       cwd=str(work), env=env, timeout=300)
    assert r.returncode == 0


def test_the_wheel_holds_the_variants_asked_for_and_a_manifest_of_them(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    m = json.loads(zipfile.ZipFile(wheel).read("edgetts_voice_default/voice.json"))
    assert sorted(m["graphs"]) == ["fp32"]
    assert {n.split("/")[-1] for n in names if n.endswith(".onnx")} == {g["file"] for g in m["graphs"]["fp32"].values()}
    assert "[edgetts.voices]\ndefault = edgetts_voice_default" in \
        zipfile.ZipFile(wheel).read([n for n in names if n.endswith("entry_points.txt")][0]).decode()


def test_pack_names_what_is_wrong(default_bundle, tmp_path):
    with pytest.raises(BundleError, match="no fp64 graphs"):
        pack(default_bundle, str(tmp_path), "default", ["fp64"])
    with pytest.raises(BundleError, match="voice name"):
        pack(default_bundle, str(tmp_path), "../x")


def _archive(bundle, path, files=None, extra=()):
    with tarfile.open(path, "w:gz") as t:
        for f in files or os.listdir(bundle):
            t.add(os.path.join(bundle, f), arcname="voice/" + f)
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_installs_into_the_users_voices_and_is_found_by_name(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    arc = _archive(tiny_bundle, str(tmp_path / "v.tar.gz"))
    r = CliRunner().invoke(main, ["voices", "install", arc, "--name", "tiny"])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "home" / ".local" / "share" / "edgetts" / "voices" / "tiny"
    assert (folder / "voice.json").exists()
    r = CliRunner().invoke(main, ["say", "你好", "--voice", "tiny", "--provider", "cpu", "-o", str(tmp_path / "x.wav")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["voices", "install", arc, "--name", "tiny"])
    assert r.exit_code == 1 and "already installed" in r.output


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "voice/../../evil.txt"])
def test_an_archive_that_reaches_outside_is_refused(tiny_bundle, tmp_path, member):
    arc = _archive(tiny_bundle, str(tmp_path / "bad.tar.gz"), extra=[(member, b"x")])
    with pytest.raises(BundleError, match="outside the archive"):
        install(arc, "bad", into=str(tmp_path / "voices"))
    assert not os.path.exists(str(tmp_path / "evil.txt")) and not os.path.exists(str(tmp_path / "voices" / "bad"))


def test_an_archive_with_a_link_or_a_corrupt_graph_is_refused(tiny_bundle, tmp_path):
    arc = str(tmp_path / "link.tar")
    with tarfile.open(arc, "w") as t:
        info = tarfile.TarInfo("voice/voice.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        t.addfile(info)
    with pytest.raises(BundleError, match="not a plain file"):
        install(arc, "link", into=str(tmp_path / "voices"))
    m = json.load(open(os.path.join(tiny_bundle, "voice.json")))
    graph = m["graphs"]["fp32"]["decoder_step"]["file"]
    corrupt = str(tmp_path / "corrupt.zip")
    with zipfile.ZipFile(corrupt, "w") as z:
        for f in os.listdir(tiny_bundle):
            data = open(os.path.join(tiny_bundle, f), "rb").read()
            z.writestr(f, data[:-10] + b"0" * 10 if f == graph else data)
    with pytest.raises(BundleError, match=graph.replace(".", r"\.")):
        install(corrupt, "corrupt", into=str(tmp_path / "voices"))
    assert not os.path.exists(str(tmp_path / "voices" / "corrupt"))


def test_a_name_that_is_not_installed_says_what_is(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    r = CliRunner().invoke(main, ["say", "你好", "--voice", "nosuchvoice", "-o", str(tmp_path / "x.wav")])
    assert r.exit_code == 1 and "neither a folder nor an installed voice" in r.output
