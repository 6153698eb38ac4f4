"""Inside the emulated arm64 userland (jetson/arm64_check.sh): `edgetts serve` answers /readyz
and OpenAI's speech endpoint on loopback."""
import json
import subprocess
import sys
import time
import urllib.request

p = subprocess.Popen(["edgetts", "serve", "--voice", "/opt/voice", "--provider", "cpu", "--variant", "fp32",
                      "--port", "18080", "--no-ui"], stderr=subprocess.DEVNULL)
try:
    t0 = time.time()
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:18080/readyz", timeout=5) as r:
                print("readyz %s after %.0f s" % (r.read().decode().strip(), time.time() - t0))
                break
        except OSError:
            if p.poll() is not None or time.time() - t0 > 900:
                sys.exit("serve exited or never became ready")
            time.sleep(1)
    req = urllib.request.Request("http://127.0.0.1:18080/v1/audio/speech",
                                 data=json.dumps({"model": "tts-1", "input": "你好。", "voice": "alloy"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        body = r.read()
    if body[:4] != b"RIFF" or len(body) < 1000:
        sys.exit("the OpenAI endpoint answered %r" % body[:100])
    print("OpenAI endpoint: %d bytes of WAV" % len(body))
finally:
    p.terminate()
    p.wait(timeout=60)
