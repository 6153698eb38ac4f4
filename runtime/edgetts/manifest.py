"""Reading and verifying ``voice.json`` before any session is opened.

Every problem found is reported together, each with what to do about it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List

from .compat import MEANT_FOR, min_onnxruntime
from .config import CacheLayout, GraphInfo, VoiceConfig
from .errors import BundleError
from .symbols import SYMBOLS

SUPPORTED_FORMAT = 1
ROLES = ("text_encoder", "decoder_step", "vocoder")


def sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(bundle: str, check_files: bool = True) -> VoiceConfig:
    path = os.path.join(bundle, "voice.json")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise BundleError("%s is missing: %r is not a voice bundle (build one with `make export`)"
                          % (path, bundle)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError("%s is not valid JSON (%s): the bundle is corrupt, rebuild it with "
                          "`make export`" % (path, exc)) from None
    if not isinstance(m, dict):
        raise BundleError("%s must hold a JSON object" % path)
    version = m.get("format_version")
    if version != SUPPORTED_FORMAT:
        raise BundleError(
            "%s has format_version %r, this edgetts reads version %d: %s" % (
                path, version, SUPPORTED_FORMAT,
                "upgrade edgetts (pip install -U edgetts)" if isinstance(version, int)
                and version > SUPPORTED_FORMAT else "re-export the voice with this edgetts"))
    problems: List[str] = []
    required = ("name", "language", "sample_rate", "hop", "mel_bins", "reduction_factor",
                "d_model", "symbols", "graphs", "cache", "vocoder", "decoding")
    missing = [k for k in required if k not in m]
    if missing:
        raise BundleError("%s lacks %s: re-export the voice" % (path, ", ".join(missing)))
    if m["symbols"] != SYMBOLS:
        problems.append("its symbol table differs from this front-end's 219 Baker symbols "
                        "(a voice for another front-end)")
    graphs: Dict[str, Dict[str, GraphInfo]] = {}
    for variant, roles in m["graphs"].items():
        graphs[variant] = {}
        for role in ROLES:
            g = roles.get(role)
            if g is None:
                problems.append("variant %s has no %s graph" % (variant, role))
                continue
            opset = int(g["opset"])
            ir = int(g.get("ir_version", 7 if opset <= 13 else 8))
            info = GraphInfo(g["file"], g["sha256"], g["precision"], opset, g.get("cache"), ir,
                             str(g.get("min_onnxruntime") or min_onnxruntime(opset, ir)),
                             tuple(g.get("providers") or MEANT_FOR.get(variant, ())))
            graphs[variant][role] = info
            if not check_files:
                continue
            fp = os.path.join(bundle, info.file)
            if not os.path.isfile(fp):
                problems.append("%s (%s %s) is missing" % (info.file, variant, role))
            elif sha256(fp) != info.sha256:
                problems.append("%s does not match its sha256 in voice.json (corrupt or replaced)"
                                % info.file)
    if problems:
        raise BundleError("voice bundle %r is not usable:\n  - %s\nRe-export it with `make export`."
                          % (bundle, "\n  - ".join(problems)))
    c, d = m["cache"], m["decoding"]
    return VoiceConfig(
        name=m["name"], language=m["language"], sample_rate=int(m["sample_rate"]),
        hop=int(m["hop"]), mel_bins=int(m["mel_bins"]), reduction_factor=int(m["reduction_factor"]),
        d_model=int(m["d_model"]), symbols=list(m["symbols"]), graphs=graphs,
        cache=CacheLayout(int(c["layers"]), int(c["heads"]), int(c["head_dim"]), int(c["max_steps"]),
                          c["past_key"], c["past_value"], c["present_key"], c["present_value"]),
        context_frames=int(m["vocoder"]["context_frames"]), min_frames=int(m["vocoder"]["min_frames"]),
        speed=float(d["speed"]), max_frames_per_symbol=int(d["max_frames_per_symbol"]),
        first_chunk_frames=int(d["first_chunk_frames"]), chunk_frames=int(d["chunk_frames"]),
    )
