"""`edgetts triton` on loopback through `tritonclient`: real speech over HTTP and streamed gRPC,
Triton's dynamic batching visible in its own metrics, and bad input as Triton errors with the
HTTP service's messages. Runs in the Triton venv (`make test-triton`, part of `make test`)."""

import queue
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.http as th
from tritonclient.utils import InferenceServerException

from edgetts.serving.phrase_cache import PhraseCache
from edgetts.serving.scheduler import Scheduler
from edgetts.serving.service import Service
from edgetts.serving.triton import MODEL, STREAM_MODEL, serve_triton
from edgetts.engine.voice import Voice

# Same text, same audio as Voice.synthesize, within 1e-3 (the float rounding of batched
# matmuls fed back through the autoregressive decoder, as over HTTP) plus one int16 step.
TOL = 1e-3 + 1 / 32767

TEXTS = ["你好，世界。", "今天天气很好。", "请注意，列车即将进站。", "前方五百米右转。", "欢迎光临！",
         "现在是上午十点。", "电梯正在上行，请稍候。", "谢谢你的帮助。"]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def voice(default_bundle):
    return Voice.load(default_bundle, provider="cpu", variant="fp32")


@pytest.fixture(scope="module")
def server(voice):
    http, grpc, metrics = free_ports(3)
    svc = Service(voice, "default", PhraseCache(0), Scheduler(voice, batching=True, max_batch=16),
                  max_text_chars=500)
    triton = serve_triton(svc, http_port=http, grpc_port=grpc, metrics_port=metrics, max_batch=16,
                          queue_delay_us=20000, blocking=False)
    yield {"http": "127.0.0.1:%d" % http, "grpc": "127.0.0.1:%d" % grpc, "metrics": metrics, "svc": svc}
    triton.stop()
    triton.bridge.close()
    svc.scheduler.close()


def text_input(module, text, speed=None, **controls):
    """TEXT, and SPEED and the prosody inputs (PITCH=, EMOTION= ...) where given."""
    inputs = [module.InferInput("TEXT", [1, 1], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([[text.encode("utf-8")]], dtype=object))
    for name, value in dict(SPEED=speed, **controls).items():
        if value is None:
            continue
        if isinstance(value, str):
            inputs.append(module.InferInput(name, [1, 1], "BYTES"))
            inputs[-1].set_data_from_numpy(np.array([[value.encode("utf-8")]], dtype=object))
        else:
            inputs.append(module.InferInput(name, [1, 1], "FP32"))
            inputs[-1].set_data_from_numpy(np.array([[value]], np.float32))
    return inputs


def audio_of(result):
    n = int(result.as_numpy("AUDIO_LENGTH").reshape(-1)[0])
    assert int(result.as_numpy("SAMPLE_RATE").reshape(-1)[0]) == 24000
    return result.as_numpy("AUDIO")[0, :n].astype(np.float32) / 32767.0


def metric(port, name, model):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and 'model="%s"' % model in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("%s for %s not in Triton's metrics" % (name, model))


def test_health_and_model_metadata(server):
    c = th.InferenceServerClient(server["http"])
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(MODEL)
    meta = c.get_model_metadata(MODEL)
    assert {i["name"] for i in meta["inputs"]} == {"TEXT", "SPEED", "SSML", "PITCH", "PITCH_RANGE",
                                                   "ENERGY", "EMOTION"}
    assert {o["name"] for o in meta["outputs"]} == {"AUDIO", "AUDIO_LENGTH", "SAMPLE_RATE"}


def test_concurrent_http_requests_are_batched_and_equal_the_library(server, voice):
    """32 requests from 16 clients: each gets the audio of its own text, and Triton's own
    metrics show fewer executions than requests (the dynamic batcher joined them)."""
    ref = {t: voice.synthesize_array(t) for t in TEXTS}
    before_req = metric(server["metrics"], "nv_inference_request_success", MODEL)
    before_exec = metric(server["metrics"], "nv_inference_exec_count", MODEL)

    def one(text):
        c = th.InferenceServerClient(server["http"])
        return text, audio_of(c.infer(MODEL, text_input(th, text)))

    with ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, [TEXTS[i % len(TEXTS)] for i in range(32)]))
    for text, audio in results:
        assert len(audio) == len(ref[text]) and np.abs(audio - ref[text]).max() < TOL, text
    requests = metric(server["metrics"], "nv_inference_request_success", MODEL) - before_req
    execs = metric(server["metrics"], "nv_inference_exec_count", MODEL) - before_exec
    assert requests == 32 and execs < requests, (requests, execs)


def test_speed_input(server, voice):
    c = th.InferenceServerClient(server["http"])
    slow = audio_of(c.infer(MODEL, text_input(th, "前方五百米右转。", speed=0.5)))
    normal = audio_of(c.infer(MODEL, text_input(th, "前方五百米右转。")))
    assert len(slow) > 1.6 * len(normal)


def test_prosody_inputs_equal_the_library_and_a_bad_one_names_itself(server, voice):
    from edgetts.config import SynthesisOptions

    c = th.InferenceServerClient(server["http"])
    text = "前方五百米右转。"
    got = audio_of(c.infer(MODEL, text_input(th, text, PITCH=2.0, PITCH_RANGE=1.3, EMOTION="平静")))
    ref = voice.synthesize_array(text, SynthesisOptions(pitch=2.0, pitch_range=1.3, emotion="平静"))
    assert len(got) == len(ref) and np.abs(got - ref).max() < TOL
    for controls, message in (({"PITCH": 30.0}, "bad_control: pitch must be between"),
                              ({"EMOTION": "angry"}, "bad_control: emotion 'angry'")):
        with pytest.raises(InferenceServerException) as e:
            c.infer(MODEL, text_input(th, text, **controls))
        assert message in str(e.value)


def test_grpc_stream_sends_chunks_as_they_are_made(server, voice):
    """The decoupled model over gRPC streaming: several responses, the final flag, and the
    chunks joined equal the whole synthesis."""
    text = "今天天气很好，我们一起去公园散步吧。请注意，列车即将进站。"
    got: "queue.Queue" = queue.Queue()
    c = tg.InferenceServerClient(server["grpc"])
    c.start_stream(callback=lambda result, error: got.put((result, error)))
    try:
        c.async_stream_infer(STREAM_MODEL, text_input(tg, text), enable_empty_final_response=True)
        chunks = []
        while True:
            result, error = got.get(timeout=60)
            assert error is None, error
            final = result.get_response().parameters.get("triton_final_response")
            if result.as_numpy("AUDIO") is not None and result.as_numpy("AUDIO").size:
                chunks.append(audio_of(result))
            if final is not None and final.bool_param:
                break
    finally:
        c.stop_stream()
    ref = voice.synthesize_array(text)
    audio = np.concatenate(chunks)
    assert len(chunks) > 1
    assert len(audio) == len(ref) and np.abs(audio - ref).max() < TOL


@pytest.mark.parametrize("text,speed,message", [
    ("", None, "unsayable_text: text is empty"),
    ("😀🎉", None, "unsayable_text"),
    ("好" * 501, None, "text_too_long: the text has 501 characters, the limit is 500"),
    ("你好", 9.0, "bad_speed: SPEED must be a number from 0.25 to 4.0"),
])
def test_bad_input_is_a_triton_error_with_the_http_message(server, text, speed, message):
    c = th.InferenceServerClient(server["http"])
    with pytest.raises(InferenceServerException) as e:
        c.infer(MODEL, text_input(th, text, speed))
    assert message in str(e.value)
    assert c.is_server_ready() and len(audio_of(c.infer(MODEL, text_input(th, "你好")))) > 0


def test_bad_input_on_the_stream_is_an_error_response(server):
    got: "queue.Queue" = queue.Queue()
    c = tg.InferenceServerClient(server["grpc"])
    c.start_stream(callback=lambda result, error: got.put((result, error)))
    try:
        c.async_stream_infer(STREAM_MODEL, text_input(tg, ""))
        result, error = got.get(timeout=60)
        assert error is not None and "unsayable_text" in str(error)
    finally:
        c.stop_stream()


def test_concurrent_grpc_streams_run_together(server, voice):
    """Four streams at once on the one decoupled instance: each equals its text's synthesis,
    and the scheduler decoded them in shared waves (a batch larger than one)."""
    texts = ["今天天气很好，我们一起去公园散步吧。", "请系好安全带，我们即将起飞。",
             "电梯正在上行，请稍候。", "您的订单已发货，预计三天内送达。"]
    server["svc"].scheduler.batch_sizes.clear()
    got = {t: queue.Queue() for t in texts}
    clients = []
    for t in texts:
        c = tg.InferenceServerClient(server["grpc"])
        c.start_stream(callback=partial(lambda q, result, error: q.put((result, error)), got[t]))
        clients.append(c)
    try:
        for c, t in zip(clients, texts):
            c.async_stream_infer(STREAM_MODEL, text_input(tg, t), enable_empty_final_response=True)
        for t in texts:
            chunks = []
            while True:
                result, error = got[t].get(timeout=60)
                assert error is None, error
                if result.as_numpy("AUDIO") is not None and result.as_numpy("AUDIO").size:
                    chunks.append(audio_of(result))
                final = result.get_response().parameters.get("triton_final_response")
                if final is not None and final.bool_param:
                    break
            ref = voice.synthesize_array(t)
            audio = np.concatenate(chunks)
            assert len(audio) == len(ref) and np.abs(audio - ref).max() < TOL
    finally:
        for c in clients:
            c.stop_stream()
    assert max(server["svc"].scheduler.batch_sizes) > 1


def test_ssml_input(server):
    """SSML=true reads the markup (a 600 ms break lengthens the audio); absent, a leading
    <speak> is detected the same way."""
    c = th.InferenceServerClient(server["http"])
    plain = audio_of(c.infer(MODEL, text_input(th, "你好世界")))
    markup = '<speak>你好<break time="600ms"/>世界</speak>'
    inputs = text_input(th, markup)
    flag = th.InferInput("SSML", [1, 1], "BOOL")
    flag.set_data_from_numpy(np.array([[True]]))
    with_flag = audio_of(c.infer(MODEL, inputs + [flag]))
    detected = audio_of(c.infer(MODEL, text_input(th, markup)))
    assert len(with_flag) == len(detected) and len(with_flag) > len(plain) + 0.4 * 24000
