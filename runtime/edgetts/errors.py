"""Errors the runtime raises. Every message names the input or file at fault and how to fix it."""

from __future__ import annotations

from typing import List, Tuple


class EdgeTTSError(Exception):
    """Base class of every error edgetts raises on purpose."""


class FrontendError(EdgeTTSError, ValueError):
    """The text cannot be turned into symbols."""


class EmptyTextError(FrontendError):
    """Nothing sayable is left in the text (empty, whitespace, or only unsayable characters)."""


class UnsupportedTextError(FrontendError):
    """Strict mode met characters the voice cannot say.

    ``characters`` lists ``(index, character, unicode_name)`` for each of them, index into the input.
    """

    def __init__(self, characters: List[Tuple[int, str, str]]):
        self.characters = characters
        shown = ", ".join(
            "%r (U+%04X %s) at %d" % (c, ord(c), name, i) for i, c, name in characters[:8]
        )
        more = "" if len(characters) <= 8 else " and %d more" % (len(characters) - 8)
        super().__init__(
            "the voice cannot say %s%s; remove them, or use unknown='skip' (CLI: --unknown skip) "
            "to drop them with a warning" % (shown, more)
        )


class BundleError(EdgeTTSError):
    """A voice bundle is missing, incomplete, corrupt or of an unsupported version."""


class ProviderError(EdgeTTSError):
    """An execution provider was asked for but cannot run here."""


class SSMLError(FrontendError):
    """SSML that is malformed, too large or too deep, or an attribute value we cannot use;
    the message names the element and the problem."""


class LexiconError(EdgeTTSError, ValueError):
    """A user lexicon that cannot be read; the message names the file and line."""


class ControlError(EdgeTTSError, ValueError):
    """A prosody control (pitch, pitch_range, energy, emotion) that cannot be used: a bad value,
    or one the voice does not have."""


class BindError(EdgeTTSError, OSError):
    """A listening address cannot be bound (in use, not allowed); ``where`` names it."""

    def __init__(self, where: str, exc: OSError):
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.where = where
