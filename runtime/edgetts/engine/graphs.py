"""The graph contract that the exporter writes and the runtime reads: tensor names, in one place.

Tensor names follow the ecosystem (onnxruntime-genai, optimum): ``past_key_values.{i}.key`` /
``.value`` in, ``present.{i}.key`` / ``.value`` out, ``[batch, heads, time, head_dim]``. The
cache templates are also written into each voice's manifest (``CacheLayout``), so a bundle
says what it holds. This module is torch-free: ``exporter/student_graphs.py`` imports it.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

PAST_KEY = "past_key_values.{i}.key"
PAST_VALUE = "past_key_values.{i}.value"
PRESENT_KEY = "present.{i}.key"
PRESENT_VALUE = "present.{i}.value"

ENCODER_INPUTS = ["phoneme_ids", "phoneme_lengths"]   # [1, S] int64, [1] int64
ENCODER_OUTPUTS = ["memory", "log_durations"]         # [1, S, D], [1, S]
# A voice with prosody: the encoder also predicts per-symbol pitch (semitones above 100 Hz) and
# energy, and the prosody graph embeds the (edited) values into the states the decoder reads.
PROSODY_OUTPUTS = ["pitch", "energy"]                  # [1, S], [1, S]: after ENCODER_OUTPUTS
PROSODY_INPUTS = ["memory", "pitch", "energy"]         # [1, S, D], [1, S], [1, S]
PROSODY_STATES = ["text_states"]                       # [1, S, D]
STEP_INPUTS = ["prev_frames", "text_context", "phone_progress", "position"]
STEP_OUTPUTS = ["frames"]                             # [B, r, mel_bins]
VOCODER_INPUTS = ["mel"]                              # [1, mel_bins, T]
VOCODER_OUTPUTS = ["audio"]                           # [1, T * hop]

# The stateful streaming vocoder (CPU): the frames new since the last call, whether this call
# ends the utterance, and one state per convolution (length 0 on the first call); out come the
# audio samples now final and the next states (models/stream_vocoder.py has the contract).
VOCODER_STREAM_INPUTS = ["mel", "final"]              # [1, mel_bins, n] float32, [1] int64
VOCODER_STREAM_OUTPUTS = ["audio"]                    # [1, samples] float32
STREAM_STATE = "state.{i}"
NEXT_STREAM_STATE = "next_state.{i}"


def cache_names(layers: int) -> Tuple[List[str], List[str]]:
    """Past (input) and present (output) cache tensor names, key then value per layer."""
    past: List[str] = []
    present: List[str] = []
    for i in range(layers):
        past += [PAST_KEY.format(i=i), PAST_VALUE.format(i=i)]
        present += [PRESENT_KEY.format(i=i), PRESENT_VALUE.format(i=i)]
    return past, present


def stream_state_names(count: int) -> Tuple[List[str], List[str]]:
    """The streaming vocoder's state inputs and the matching outputs, in order."""
    return ([STREAM_STATE.format(i=i) for i in range(count)],
            [NEXT_STREAM_STATE.format(i=i) for i in range(count)])


# Dynamic axes: what may vary between calls (ONNX export names them; TensorRT profiles cover them).
ENCODER_AXES = {"phoneme_ids": {0: "batch", 1: "symbols"}, "phoneme_lengths": {0: "batch"},
                "memory": {0: "batch", 1: "symbols"}, "log_durations": {0: "batch", 1: "symbols"}}
PROSODY_AXES = {"memory": {0: "batch", 1: "symbols"}, "pitch": {0: "batch", 1: "symbols"},
                "energy": {0: "batch", 1: "symbols"}, "text_states": {0: "batch", 1: "symbols"}}
VOCODER_AXES = {"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}}


def step_axes(layers: int, static: bool) -> Dict[str, Dict[int, str]]:
    """The decoder step's dynamic axes: the batch everywhere, and the cache length unless the
    cache is static (fixed at max_steps)."""
    past, present = cache_names(layers)
    axes = {n: {0: "batch"} for n in STEP_INPUTS + STEP_OUTPUTS}
    for n in past:
        axes[n] = {0: "batch"} if static else {0: "batch", 2: "past_steps"}
    for n in present:
        axes[n] = {0: "batch"} if static else {0: "batch", 2: "total_steps"}
    return axes


def vocoder_stream_axes(count: int, state_rank: int) -> Dict[str, Dict[int, str]]:
    """The streaming vocoder's dynamic axes: the batch, the frames and samples of a call, and
    every state's length (0 on a first call)."""
    ins, outs = stream_state_names(count)
    axes = {"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}}
    for i, (a, b) in enumerate(zip(ins, outs)):
        axes[a] = {0: "batch", state_rank - 1: "state_length_%d" % i}
        axes[b] = {0: "batch", state_rank - 1: "next_state_length_%d" % i}
    return axes
