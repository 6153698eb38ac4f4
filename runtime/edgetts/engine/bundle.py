"""Finding a voice bundle: a folder with ``voice.json`` and the graphs it names.

Search order when no folder is given: ``$EDGETTS_VOICE``, ``./voices/default`` (where
``make export`` writes the default voice), then ``~/.local/share/edgetts/voices/default``.
"""

from __future__ import annotations

import os
from typing import List, Optional

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


def locate(voice: Optional[str] = None) -> str:
    """Return the bundle folder to use, or raise BundleError saying where it looked and what to do."""
    candidates = [voice] if voice else default_voice_dirs()
    for d in candidates:
        if os.path.isfile(os.path.join(d, MANIFEST)):
            return d
    if voice:
        if not os.path.exists(voice):
            raise BundleError("voice folder %r does not exist" % voice)
        raise BundleError(
            "%r is not a voice bundle: it has no %s. Build one with `make export` "
            "(or `edgetts export`)" % (voice, MANIFEST)
        )
    raise BundleError(
        "no voice bundle found (looked in: %s). The default voice is built by `make export`; "
        "or pass --voice DIR / set EDGETTS_VOICE" % ", ".join(candidates)
    )
