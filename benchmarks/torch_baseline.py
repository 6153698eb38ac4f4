"""The PyTorch eager reference row of ``make bench``, measured in its own subprocess:

    python -m benchmarks.torch_baseline torch-eager [--repeats N]

prints one JSON row, timed by ``edgetts.cli.bench.measure`` exactly as the ONNX rows are. It lives
here, beside the other harnesses, so that the runtime package never imports torch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from edgetts.cli.bench import Config, measure

TORCH_EAGER = Config("torch-eager", "torch", threads=2, pipeline=False,
                     note="PyTorch student + MB-MelGAN, eager, whole clause then vocoder",
                     worker="benchmarks.torch_baseline")


def run(cfg: Config, repeats: int) -> dict:
    from edgetts.exporter.reference import TorchVoice

    t0 = time.perf_counter()
    voice = TorchVoice.load(threads=cfg.threads)
    load_s = time.perf_counter() - t0
    return measure(cfg, voice.synthesize, lambda: voice.vocoder_seconds, voice.step_seconds,
                   repeats, load_s, ["torch"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="measure the PyTorch reference")
    ap.add_argument("config", choices=[TORCH_EAGER.name])
    ap.add_argument("--voice", default=None, help="ignored: the reference loads the checkpoint")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    print(json.dumps(run(TORCH_EAGER, a.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
