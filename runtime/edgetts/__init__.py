"""edgetts: autoregressive Chinese text-to-speech on edge devices with ONNX Runtime.

    from edgetts import Voice, SynthesisOptions, write_wav

    voice = Voice.load()                      # ./voices/default, ~/.local/share/edgetts/voices/default
    write_wav("out.wav", voice.synthesize("今天天气很好。", SynthesisOptions(speed=1.2)),
              voice.config.sample_rate)

The runtime imports numpy, onnxruntime and the front-end libraries only, never torch, and keeps
to Python 3.8 syntax so that it runs on a Jetson Nano (JetPack 4.6). The public names load on
first use, so ``import edgetts`` (and the CLI's start-up) stays cheap.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["AudioChunk", "EdgeTTSError", "EngineOptions", "Lexicon", "Mark", "SynthesisOptions",
           "Voice", "VoiceConfig", "write_wav", "write_wav_stream"]


def __getattr__(name: str) -> Any:
    """The public names, imported on first use."""
    if name == "Voice":
        from .engine.voice import Voice
        return Voice
    if name in ("AudioChunk", "write_wav", "write_wav_stream"):
        from .engine import audio
        return getattr(audio, name)
    if name in ("SynthesisOptions", "EngineOptions", "VoiceConfig"):
        from . import config
        return getattr(config, name)
    if name == "Lexicon":
        from .text.lexicon import Lexicon
        return Lexicon
    if name == "Mark":
        from .engine.marks import Mark
        return Mark
    if name == "EdgeTTSError":
        from .errors import EdgeTTSError
        return EdgeTTSError
    raise AttributeError("module 'edgetts' has no attribute %r" % (name,))
