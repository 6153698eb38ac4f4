"""Inside the emulated arm64 userland (jetson/arm64_check.sh): the dev sentences with each CPU
variant, the voice loaded once per variant, so the figures are the synthesis and not the
emulated start-up. Writes OUT/<variant>/<n>.wav and OUT/arm_timing.json (seconds, RTF)."""
import json
import os
import sys
import time

from edgetts import Voice, write_wav

voice_dir, out = sys.argv[1], sys.argv[2]
with open(os.path.join(out, "sentences.txt"), encoding="utf-8") as f:
    sentences = [s.strip() for s in f if s.strip()]
timing = []
for variant in ("fp32", "int8", "nano"):
    t0 = time.perf_counter()
    v = Voice.load(voice_dir, provider="cpu", variant=variant)
    load_s = time.perf_counter() - t0
    os.makedirs(os.path.join(out, variant), exist_ok=True)
    for n, text in enumerate(sentences):
        t0 = time.perf_counter()
        audio_s = write_wav(os.path.join(out, variant, "%d.wav" % n), v.synthesize(text), v.config.sample_rate)
        took = time.perf_counter() - t0
        timing.append({"variant": variant, "sentence": n, "load_s": round(load_s, 2), "seconds": round(took, 2),
                       "audio_s": round(audio_s, 2), "rtf": round(took / audio_s, 2)})
        print("%-5s %d  %.1f s for %.2f s of audio: emulated RTF %.2f" % (variant, n, took, audio_s, took / audio_s))
with open(os.path.join(out, "arm_timing.json"), "w") as f:
    json.dump(timing, f, indent=1)
