"""``make bench``: every configuration side by side, with the PyTorch eager reference as the
baseline row (``edgetts bench`` is the same table without it, for machines without torch).

    python -m benchmarks.bench --voice voices/default [--configs a,b] [--repeats 3] [--json F]
        [--baseline NAME] [--against OLD/runtime OLD_VOICE]
"""

from __future__ import annotations

import argparse
import sys

from edgetts.cli import bench as b

from .torch_baseline import TORCH_EAGER


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--configs", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", dest="json_path", default=None)
    ap.add_argument("--baseline", default=None,
                    help="configuration the ratio columns compare with (default: the PyTorch reference)")
    ap.add_argument("--against", nargs=2, metavar=("OLD_RUNTIME", "OLD_VOICE"), default=None,
                    help="another checkout's runtime folder and a bundle it exported: every ONNX "
                         "configuration also runs on that build, just before this one ('old: NAME')")
    a = ap.parse_args(argv)
    names = [TORCH_EAGER.name] + [c.name for c in b.CONFIGS] if not a.configs else \
        [n.strip() for n in a.configs.split(",") if n.strip()]
    known = set(b.BY_NAME) | {TORCH_EAGER.name}
    bad = [n for n in names if n not in known]
    if bad:
        ap.error("unknown configuration(s) %s; choose from %s" % (", ".join(bad), ", ".join(sorted(known))))
    if a.baseline is not None and a.baseline not in names and not (
            a.against and a.baseline.startswith("old: ") and a.baseline[5:] in names):
        ap.error("--baseline %s is not among the configurations run" % a.baseline)
    rows = b.run_all(names, a.voice, a.repeats, echo=lambda m: print(m, file=sys.stderr),
                     extra=[TORCH_EAGER], against=tuple(a.against) if a.against else None)
    b.report(rows, a.voice, a.repeats, a.json_path, note=lambda m: print(m, file=sys.stderr),
             baseline=a.baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
