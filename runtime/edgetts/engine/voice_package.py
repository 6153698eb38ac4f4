"""Voices as packages: a bundle packed into a wheel of its own, and a bundle archive unpacked into
the user's voices. Neither needs torch, a build backend or a network.

    edgetts voices pack voices/default -o dist/     # → edgetts_voice_default-0.1.0-py3-none-any.whl
    pip install dist/edgetts_voice_default-*.whl    # `--voice default`, or no --voice at all
    edgetts voices install voice.tar.gz --name zh   # → ~/.local/share/edgetts/voices/zh

A voice wheel holds one module, ``edgetts_voice_NAME``, whose folder is the bundle (``voice.json``
and the graphs of the variants packed), and declares it in the entry point group
``edgetts.voices`` under NAME, where ``bundle.locate`` finds it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from typing import List, Optional, Sequence, Tuple

from .. import __version__
from ..errors import BundleError
from . import manifest
from .bundle import ENTRY_POINTS, MANIFEST, user_voices_dir

NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,40}")
MAX_ARCHIVE_BYTES = 2 << 30  # unpacked: a voice is tens of MB; far more is not one


def module_name(name: str) -> str:
    return "edgetts_voice_" + name


def pack(bundle: str, out_dir: str, name: str = "default", variants: Optional[Sequence[str]] = None,
         version: str = __version__) -> str:
    """Write the bundle (all its variants, or `variants`) as a voice wheel into `out_dir`; return
    its path. The bundle is verified first (every graph and its checksum)."""
    if not NAME.fullmatch(name):
        raise BundleError("voice name %r: use lower-case letters, digits and _ (like zh_default)" % name)
    config = manifest.load(bundle)
    chosen = list(variants) if variants else sorted(config.graphs)
    missing = [v for v in chosen if v not in config.graphs]
    if missing:
        raise BundleError("voice %r has no %s graphs (it has: %s)"
                          % (bundle, ", ".join(missing), ", ".join(sorted(config.graphs))))
    kept = dataclasses.replace(config, graphs={v: config.graphs[v] for v in chosen})
    files = sorted({g.file for v in chosen for g in config.graphs[v].values()})
    mod, dist = module_name(name), module_name(name)
    info = "%s-%s.dist-info" % (dist, version)
    entries: List[Tuple[str, bytes]] = [
        ("%s/__init__.py" % mod, ('"""The edgetts voice %r (%s): this folder is its bundle."""\n'
                                  % (name, config.name)).encode()),
        ("%s/%s" % (mod, MANIFEST), manifest.dumps(kept).encode("utf-8")),
    ]
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s-%s-py3-none-any.whl" % (dist, version))
    meta = [
        ("%s/METADATA" % info, ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: the edgetts voice %s "
                                "(%s, %s; variants %s)\nRequires-Dist: edgetts>=%s\n"
                                % (dist.replace("_", "-"), version, name, config.name, config.language,
                                   ", ".join(chosen), __version__)).encode()),
        ("%s/WHEEL" % info, b"Wheel-Version: 1.0\nGenerator: edgetts voices pack\nRoot-Is-Purelib: true\n"
                            b"Tag: py3-none-any\n"),
        ("%s/entry_points.txt" % info, ("[%s]\n%s = %s\n" % (ENTRY_POINTS, name, mod)).encode()),
    ]
    record = []
    with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in entries + meta:
            z.writestr(arc, data)
            record.append(_record(arc, data))
        for f in files:
            with open(os.path.join(bundle, f), "rb") as fh:
                data = fh.read()
            z.writestr("%s/%s" % (mod, f), data)
            record.append(_record("%s/%s" % (mod, f), data))
        record.append("%s/RECORD,," % info)
        z.writestr("%s/RECORD" % info, "\n".join(record) + "\n")
    os.replace(path + ".tmp", path)
    return path


def _record(arc: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arc, digest, len(data))


def install(archive: str, name: str = "default", into: Optional[str] = None, replace: bool = False) -> str:
    """Unpack a bundle archive (tar, tar.gz, zip) into the user's voices as `name`; return the
    folder. Members must be plain files inside the archive (no absolute paths, no ``..``, no
    links or devices); the bundle is verified, checksums included, before it is put in place."""
    if not NAME.fullmatch(name):
        raise BundleError("voice name %r: use lower-case letters, digits and _ (like zh_default)" % name)
    target = os.path.join(into or user_voices_dir(), name)
    if os.path.exists(target) and not replace:
        raise BundleError("a voice %r is already installed in %s (give --replace to overwrite it)"
                          % (name, target))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    work = tempfile.mkdtemp(prefix=".install-", dir=os.path.dirname(target))
    try:
        _unpack(archive, work)
        found = [d for d, _, fs in os.walk(work) if MANIFEST in fs]
        if len(found) != 1:
            raise BundleError("%s holds %s voice.json; a voice archive holds one bundle"
                              % (archive, "no" if not found else "more than one"))
        manifest.load(found[0])  # every graph there and matching its checksum
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(found[0], target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _safe(member: str) -> bool:
    parts = member.replace("\\", "/").split("/")
    return not (member.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member) or ".." in parts)


def _unpack(archive: str, dest: str) -> None:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _check_members(archive, [(m.filename, m.file_size, (m.external_attr >> 16) & 0o170000 != 0o120000)
                                         for m in z.infolist()])
                z.extractall(dest)
            return
        with tarfile.open(archive) as t:
            members = t.getmembers()
            _check_members(archive, [(m.name, m.size, m.isfile() or m.isdir()) for m in members])
            for m in members:
                t.extract(m, dest)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise BundleError("cannot unpack %s: %s" % (archive, exc))


def _check_members(archive: str, members: List[Tuple[str, int, bool]]) -> None:
    """(name, size, is a plain file or folder) of every member: each inside the archive and
    plain, all of them within MAX_ARCHIVE_BYTES."""
    for name, _, plain in members:
        if not _safe(name) or not plain:
            raise BundleError("%s: member %r points outside the archive or is not a plain file" % (archive, name))
    if sum(size for _, size, _ in members) > MAX_ARCHIVE_BYTES:
        raise BundleError("%s unpacks to more than %d MiB: not a voice" % (archive, MAX_ARCHIVE_BYTES >> 20))
