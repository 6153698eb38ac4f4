"""The page that ``edgetts serve`` shows at ``GET /``: try the voice in a browser.

Plain HTML, CSS and JavaScript in ``page/`` (package data): no build step, no CDN, so it works
on a device with no internet. It streams ``POST /v1/tts`` with ``"stream": true, "marks": true``
(NDJSON: PCM chunks with the timestamps of their characters), plays the chunks with Web Audio as
they arrive, lights the characters up as they are spoken, and can stop (the request is aborted,
so the service cancels the synthesis) and save the audio as a WAV.

Served with a Content-Security-Policy that allows only the page's own origin and no inline
script; the page writes the service's text with ``textContent``, never as HTML. The page and its
files need no token; when the service has one, the page asks for it once and keeps it in the
tab's session storage. ``edgetts serve --no-ui`` leaves all of it out.
"""

from __future__ import annotations

import os
from typing import Dict, Tuple

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
FILES: Dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_cache: Dict[str, bytes] = {}


def read(name: str) -> Tuple[bytes, str]:
    """(bytes, content type) of one of ``FILES``."""
    if name not in _cache:
        with open(os.path.join(PAGE_DIR, name), "rb") as f:
            _cache[name] = f.read()
    return _cache[name], FILES[name]
