"""Where the time goes: ONNX Runtime's profiler over one synthesis, summarized by graph and operator.

    python -m benchmarks.profile_ort [--voice voices/default] [--variant fp32] [--text ...]

Every session of the voice is reopened with profiling on (same thread layout as the runtime),
the text is synthesized once to warm up and once measured, and the profiler's per-node events
are summed by graph and by operator type, with the provider that ran each node. Session-level
time that no node accounts for (feeding and fetching, the Python loop) shows as the gap
between "run" and the node sum.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys

from edgetts.engine.voice import Voice


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--text", default="前方五百米右转进入辅路，请注意减速慢行。")
    ap.add_argument("--out", default="build/profile")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    v = Voice.load(a.voice, provider="cpu", variant=a.variant)
    v.synthesize_array(a.text)

    def profiled(role, so):
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(a.out, "%s.%s" % (role, a.variant))

    v.reopen(profiled)  # same thread layout as the runtime, now with the profiler on
    sessions = v.sessions
    audio = v.synthesize_array(a.text)
    audio_s = len(audio) / v.config.sample_rate
    print("%s, %s: %.2f s of audio" % (a.voice, a.variant, audio_s))
    for role, s in sessions.items():
        trace = json.load(open(s.end_profiling()))
        runs = [e for e in trace if e.get("name") == "model_run"]
        nodes = [e for e in trace if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
        by_op = collections.Counter()
        providers = collections.Counter()
        for e in nodes:
            by_op[e["args"]["op_name"]] += e["dur"]
            providers[e["args"].get("provider", "?")] += 1
        run_us = sum(e["dur"] for e in runs)
        node_us = sum(by_op.values())
        print("\n%s: %d runs, %.1f ms in run (%.1f ms in nodes, %.1f ms outside nodes); nodes ran on %s"
              % (role, len(runs), run_us / 1e3, node_us / 1e3, (run_us - node_us) / 1e3,
                 ", ".join("%s x%d" % kv for kv in providers.items())))
        for op, us in by_op.most_common(8):
            print("  %-22s %7.1f ms  %4.1f %%" % (op, us / 1e3, 100.0 * us / max(node_us, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
