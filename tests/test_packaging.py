"""Packaging rules: the runtime never imports torch and keeps to Python 3.8."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIME = os.path.join(ROOT, "runtime", "edgetts")
RUNTIME_FILES = sorted(
    os.path.join(d, f) for d, _, fs in os.walk(RUNTIME) for f in fs if f.endswith(".py")
)
FORBIDDEN = {"torch", "tensorflow", "onnx", "edgetts.exporter", "edgetts.models", "edgetts.distill"}


def _imports(path):
    """Every module a file imports: import statements, and string imports
    (``importlib.import_module("x")``, ``__import__("x")``, ``find_spec`` is not an import)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Call) and _call_name(node.func) in ("import_module", "__import__"):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value
            else:  # a computed name could be anything: name it, so a reviewer looks
                yield "<computed import at line %d>" % node.lineno


def _call_name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_string_imports_are_seen(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import importlib\nT = importlib.import_module('edgetts.exporter.reference')\n"
                 "U = __import__('torch')\n")
    assert list(_imports(str(f)))[1:] == ["edgetts.exporter.reference", "torch"]


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_runtime_module_imports_no_torch(path):
    bad = [m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
           or m.startswith("<computed")]
    assert bad == [], "%s imports %s; the runtime must stay numpy + onnxruntime" % (path, bad)


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_runtime_module_parses_as_python38(path):
    ast.parse(open(path, encoding="utf-8").read(), path, feature_version=(3, 8))


def test_runtime_needs_at_most_python38():
    """vermin also catches library calls and annotations newer than 3.8 (str.removeprefix, ...)."""
    pytest.importorskip("vermin")
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys; from vermin import main; sys.argv = ['vermin'] + sys.argv[1:]; sys.exit(main())",
         "-t=3.8-", "--no-tips", "--eval-annotations",
         "--backport", "dataclasses", "--no-parse-comments", "--violations", RUNTIME],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_importing_the_whole_runtime_loads_no_torch():
    mods = ["edgetts." + os.path.splitext(os.path.relpath(p, RUNTIME))[0].replace(os.sep, ".")
            for p in RUNTIME_FILES if not p.endswith(("__init__.py", "__main__.py"))]
    code = (
        "import importlib, sys\n"
        "for m in %r: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'onnx')]\n"
        "assert not bad, bad\n" % mods
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


def test_torch_is_pinned_everywhere_it_is_installed():
    py = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    make = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    assert '"torch==2.13.0"' in py
    assert "torch==2.13.0" in make
    for line in py.splitlines():
        if '"torch' in line:
            assert "torch==2.13.0" in line, line


def test_runtime_dependencies_have_no_torch():
    reqs = [ln.strip() for ln in open(os.path.join(ROOT, "runtime", "requirements.txt"), encoding="utf-8")
            if ln.strip() and not ln.startswith("#")]
    assert "numpy>=1.21" in reqs
    assert not [d for d in reqs if d.lower().startswith(("torch", "tensorflow", "onnx>", "onnx="))]


def test_the_runtime_wheel_holds_the_runtime_alone(tmp_path):
    """The runtime distribution (runtime/pyproject.toml: the Jetson kit's and the images' wheel)
    carries every runtime module and none of the torch side."""
    import zipfile

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path), os.path.join(ROOT, "runtime")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    (whl,) = [f for f in os.listdir(str(tmp_path)) if f.endswith(".whl")]
    names = zipfile.ZipFile(os.path.join(str(tmp_path), whl)).namelist()
    want = {"edgetts/" + os.path.relpath(p, RUNTIME).replace(os.sep, "/") for p in RUNTIME_FILES}
    assert want <= set(names) and "edgetts/engine/data/probe.onnx" in names
    assert not [n for n in names if n.startswith(("edgetts/exporter", "edgetts/models", "edgetts/distill"))]
