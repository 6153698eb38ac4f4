"""Finding a voice bundle: a folder with ``voice.json`` and the graphs it names.

A voice is given as a folder, or by name: an installed voice package (a wheel whose entry point
in the group ``edgetts.voices`` names the module that holds the bundle, as ``make voice-wheel``
builds), or a folder of that name in the user's voices (``~/.local/share/edgetts/voices/NAME``,
where ``edgetts voices install`` unpacks an archive). Search order when nothing is given:
``$EDGETTS_VOICE``, ``./voices/default`` (where ``make export`` writes the default voice),
``~/.local/share/edgetts/voices/default``, then the installed voice named ``default``.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from ..errors import BundleError

MANIFEST = "voice.json"


def default_voice_dirs() -> List[str]:
    dirs = []
    env = os.environ.get("EDGETTS_VOICE")
    if env:
        dirs.append(env)
    dirs.append(os.path.join(os.getcwd(), "voices", "default"))
    dirs.append(os.path.join(os.path.expanduser("~"), ".local", "share", "edgetts", "voices", "default"))
    return dirs


ENTRY_POINTS = "edgetts.voices"  # the entry point group installed voice packages declare


def user_voices_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".local", "share", "edgetts", "voices")


def installed_voices() -> Dict[str, str]:
    """Installed voice packages: name → bundle folder (the folder of the package the entry point
    names). A package that cannot be found is left out with a warning."""
    import importlib.util
    import logging

    try:
        from importlib.metadata import entry_points
    except ImportError:  # pragma: no cover - Python 3.7
        return {}
    eps: Any = entry_points()
    # Python 3.10+: EntryPoints.select; 3.8 and 3.9: a dict of group → entry points
    group = eps.select(group=ENTRY_POINTS) if hasattr(eps, "select") else eps.get(ENTRY_POINTS, [])
    found: Dict[str, str] = {}
    for ep in group:
        try:  # found, not imported: a voice package runs no code
            spec = importlib.util.find_spec(ep.value.split(":")[0])
            if spec is None or not spec.submodule_search_locations:
                raise ImportError("no package %s" % ep.value)
            found[ep.name] = os.path.abspath(list(spec.submodule_search_locations)[0])
        except Exception as exc:  # a broken package must not hide the others
            logging.getLogger(__name__).warning("voice package %s (%s) cannot be loaded: %s",
                                                ep.name, ep.value, exc)
    return found


def _by_name(name: str) -> Optional[str]:
    """A voice by name: an installed package, else a folder in the user's voices."""
    if not name or os.sep in name or name.startswith("."):
        return None
    folder = installed_voices().get(name)
    if folder:
        return folder
    mine = os.path.join(user_voices_dir(), name)
    return mine if os.path.isfile(os.path.join(mine, MANIFEST)) else None


def locate(voice: Optional[str] = None) -> str:
    """Return the bundle folder to use, or raise BundleError saying where it looked and what to do."""
    if voice and not os.path.exists(voice):
        named = _by_name(voice)
        if named:
            return named
    candidates = [voice] if voice else default_voice_dirs()
    for d in candidates:
        if os.path.isfile(os.path.join(d, MANIFEST)):
            return d
    if not voice:
        named = _by_name("default")
        if named:
            return named
    if voice:
        if not os.path.exists(voice) and os.sep in voice:
            raise BundleError("voice folder %r does not exist" % voice)
        if not os.path.exists(voice):
            names = sorted(installed_voices())
            raise BundleError("voice %r is neither a folder nor an installed voice (installed: %s)"
                              % (voice, ", ".join(names) or "none; see `edgetts voices`"))
        raise BundleError(
            "%r is not a voice bundle: it has no %s. Build one with `make export` "
            "(or `edgetts export`)" % (voice, MANIFEST)
        )
    raise BundleError(
        "no voice bundle found (looked in: %s, and for an installed voice named 'default'). Install a "
        "voice package (pip install edgetts_voice_zh_default-*.whl), build one with `make export`, or "
        "pass --voice DIR / set EDGETTS_VOICE" % ", ".join(candidates)
    )
