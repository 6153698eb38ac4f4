"""``voice.json``, the voice manifest: one schema for the exporter that writes it and the
runtime that reads it. ``to_dict``/``from_dict`` map ``config.VoiceConfig`` to and from the JSON
(one ``FORMAT_VERSION``); ``write`` stores it, ``load`` reads it and verifies every graph's
checksum before any session is opened. Every problem found is reported with what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Iterable, List

from .compat import MEANT_FOR, min_onnxruntime
from .prosody import ProsodySpec
from ..config import CacheLayout, GraphInfo, VoiceConfig
from ..errors import BundleError
from ..text.symbols import SYMBOLS

FORMAT_VERSION = 1  # what this edgetts writes and reads
ROLES = ("text_encoder", "decoder_step", "vocoder")
# Roles a variant may add. A runtime that predates one ignores it: the voice still works there.
# vocoder_stream: the stateful streaming vocoder (CPU variants); prosody: embeds the edited
# pitch and energy (voices with prosody controls, whose text encoder predicts them)
OPTIONAL_ROLES = ("vocoder_stream", "prosody")
REQUIRED = ("name", "language", "sample_rate", "hop", "mel_bins", "reduction_factor", "d_model",
            "symbols", "graphs", "cache", "vocoder", "decoding")


def sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the schema: VoiceConfig <-> voice.json, one definition for the exporter and the runtime --------

def to_dict(config: VoiceConfig) -> dict:
    """The manifest of `config`, as the exporter writes it."""
    c = config.cache
    return {
        "format_version": FORMAT_VERSION,
        "name": config.name, "language": config.language, "sample_rate": config.sample_rate,
        "hop": config.hop, "mel_bins": config.mel_bins, "reduction_factor": config.reduction_factor,
        "d_model": config.d_model, "symbols": list(config.symbols),
        "graphs": {v: {role: _graph_to_dict(g) for role, g in roles.items()}
                   for v, roles in config.graphs.items()},
        "cache": {"layers": c.layers, "heads": c.heads, "head_dim": c.head_dim, "max_steps": c.max_steps,
                  "past_key": c.past_key, "past_value": c.past_value,
                  "present_key": c.present_key, "present_value": c.present_value},
        "vocoder": dict({"context_frames": config.context_frames, "min_frames": config.min_frames},
                        **({"stream_first_frames": config.stream_first_frames}
                           if config.stream_first_frames else {})),
        "decoding": {"speed": config.speed, "max_frames_per_symbol": config.max_frames_per_symbol,
                     "first_chunk_frames": config.first_chunk_frames, "chunk_frames": config.chunk_frames},
        "validation": config.validation,
        "provenance": config.provenance,
        **({"prosody": config.prosody.to_dict()} if config.prosody is not None else {}),
    }


def _graph_to_dict(g: GraphInfo) -> dict:
    out = {"file": g.file, "sha256": g.sha256, "precision": g.precision, "opset": g.opset,
           "ir_version": g.ir_version, "min_onnxruntime": g.min_onnxruntime,
           "providers": list(g.providers), "inputs": g.inputs, "outputs": g.outputs}
    if g.cache is not None:
        out["cache"] = g.cache
    return out


def from_dict(m: dict, where: str = "voice.json") -> VoiceConfig:
    """Parse a manifest (raises BundleError naming what is wrong and what to do)."""
    if not isinstance(m, dict):
        raise BundleError("%s must hold a JSON object" % where)
    version = m.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            "%s has format_version %r, this edgetts reads version %d: %s" % (
                where, version, FORMAT_VERSION,
                "upgrade edgetts (pip install -U edgetts)" if isinstance(version, int)
                and version > FORMAT_VERSION else "re-export the voice with this edgetts"))
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        raise BundleError("%s lacks %s: re-export the voice" % (where, ", ".join(missing)))
    problems: List[str] = []
    if m["symbols"] != SYMBOLS:
        problems.append("its symbol table differs from this front-end's 219 Baker symbols "
                        "(a voice for another front-end)")
    graphs: Dict[str, Dict[str, GraphInfo]] = {}
    try:
        _graphs(m, graphs, problems)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError("%s has an unusable graphs %s; re-export the voice with `make export`"
                          % (where, _field_error(exc)))
    with_prosody = [v for v, roles in graphs.items() if "prosody" in roles]
    if ("prosody" in m) != bool(with_prosody) or with_prosody and len(with_prosody) != len(graphs):
        problems.append("its prosody section and prosody graphs do not match (section %s, graphs "
                        "in %s of %d variants)" % ("present" if "prosody" in m else "absent",
                                                   len(with_prosody), len(graphs)))
    if problems:
        raise BundleError("%s describes an unusable voice:\n  - %s\nRe-export it with `make export`."
                          % (where, "\n  - ".join(problems)))
    try:
        return _config(m, graphs)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError("%s has an unusable %s; re-export the voice with `make export`"
                          % (where, _field_error(exc)))


def _graphs(m: dict, graphs: Dict[str, Dict[str, GraphInfo]], problems: List[str]) -> None:
    for variant, roles in m["graphs"].items():
        graphs[variant] = {}
        for role in ROLES + OPTIONAL_ROLES:
            g = roles.get(role)
            if g is None:
                if role in ROLES:
                    problems.append("variant %s has no %s graph" % (variant, role))
                continue
            where_g = "graphs.%s.%s" % (variant, role)
            opset = _get(g, "opset", int) if isinstance(g, dict) else _get({}, where_g, int)
            ir = int(g.get("ir_version", 7 if opset <= 13 else 8))
            graphs[variant][role] = GraphInfo(
                g["file"], g["sha256"], g["precision"], opset, g.get("cache"), ir,
                str(g.get("min_onnxruntime") or min_onnxruntime(opset, ir)),
                tuple(g.get("providers") or MEANT_FOR.get(variant, ())),
                dict(g.get("inputs") or {}), dict(g.get("outputs") or {}))


class _Field(ValueError):
    """A manifest field of the wrong type: its dotted name and what it holds."""


def _field_error(exc: BaseException) -> str:
    if isinstance(exc, _Field):
        return str(exc)
    if isinstance(exc, KeyError):
        return "structure: field %s is missing" % exc
    return "structure (%s)" % exc


def _get(m: dict, dotted: str, kind, default=None):
    """``m``'s field at `dotted` ("vocoder.min_frames") converted by `kind` (int, float, str)."""
    value: object = m
    for part in dotted.split("."):
        if not isinstance(value, dict) or (part not in value and default is None):
            raise _Field("%s: missing" % dotted)
        value = value.get(part, default)
    if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
        raise _Field("%s: %r is not a number" % (dotted, value))
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise _Field("%s: %r is not %s" % (dotted, value, "a number" if kind in (int, float) else "text"))


def _config(m: dict, graphs: Dict[str, Dict[str, GraphInfo]]) -> VoiceConfig:
    def i(name, default=None):
        return _get(m, name, int, default)

    def t(name):
        return _get(m, name, str)

    return VoiceConfig(
        name=t("name"), language=t("language"), sample_rate=i("sample_rate"),
        hop=i("hop"), mel_bins=i("mel_bins"), reduction_factor=i("reduction_factor"),
        d_model=i("d_model"), symbols=list(m["symbols"]), graphs=graphs,
        cache=CacheLayout(i("cache.layers"), i("cache.heads"), i("cache.head_dim"), i("cache.max_steps"),
                          t("cache.past_key"), t("cache.past_value"), t("cache.present_key"),
                          t("cache.present_value")),
        context_frames=i("vocoder.context_frames"), min_frames=i("vocoder.min_frames"),
        speed=_get(m, "decoding.speed", float), max_frames_per_symbol=i("decoding.max_frames_per_symbol"),
        first_chunk_frames=i("decoding.first_chunk_frames"), chunk_frames=i("decoding.chunk_frames"),
        validation=dict(m.get("validation") or {}), provenance=dict(m.get("provenance") or {}),
        stream_first_frames=i("vocoder.stream_first_frames", 0),
        prosody=ProsodySpec.from_dict(m["prosody"]) if "prosody" in m else None,
    )


# -- files --------------------------------------------------------------------------------------

def dumps(config: VoiceConfig) -> str:
    """``voice.json``'s text for `config`."""
    return json.dumps(to_dict(config), indent=1, ensure_ascii=False)


def write(bundle: str, config: VoiceConfig) -> str:
    """Write `config` as ``bundle/voice.json`` (atomically: a reader never sees half a file)."""
    path = os.path.join(bundle, "voice.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(dumps(config))
    os.replace(path + ".tmp", path)
    return path


def load(bundle: str, check_files: bool = True, checksums: bool = True) -> VoiceConfig:
    """Read and verify ``bundle/voice.json``; with `check_files`, every graph must exist and
    (with `checksums`) match its checksum. Every problem found is reported together. A
    runtime that opens a few of the graphs checks existence here and the checksums of what it
    opens with ``verify`` (hashing a whole bundle costs more than opening a variant)."""
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
    config = from_dict(m, path)
    problems = []
    for variant, roles in (config.graphs.items() if check_files else ()):
        for role, info in roles.items():
            if not os.path.isfile(os.path.join(bundle, info.file)):
                problems.append("%s (%s %s) is missing" % (info.file, variant, role))
    _raise(bundle, problems)
    if check_files and checksums:
        verify(bundle, [g for roles in config.graphs.values() for g in roles.values()])
    return config


def verify(bundle: str, graphs: Iterable[GraphInfo]) -> None:
    """Every graph's file matches its sha256 (files hashed in parallel: hashlib releases the
    GIL); raises BundleError naming each one that does not."""
    from concurrent.futures import ThreadPoolExecutor

    infos = list({g.file: g for g in graphs}.values())
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(infos)))) as pool:
        sums = list(pool.map(lambda g: sha256(os.path.join(bundle, g.file)), infos))
    _raise(bundle, ["%s does not match its sha256 in voice.json (corrupt or replaced)" % g.file
                    for g, got in zip(infos, sums) if got != g.sha256])


def _raise(bundle: str, problems: List[str]) -> None:
    if problems:
        raise BundleError("voice bundle %r is not usable:\n  - %s\nRe-export it with `make export`."
                          % (bundle, "\n  - ".join(problems)))
