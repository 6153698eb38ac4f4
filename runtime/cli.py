"""The ``edgetts`` command line."""

from __future__ import annotations

import json
import logging
import platform
import sys
from typing import Optional

import click

from . import __version__
from .errors import EdgeTTSError

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)


def _read_text(text: Optional[str]) -> str:
    if text is None or text == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give the text as an argument, or pipe it on stdin")
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.BadParameter(
                "stdin is not valid UTF-8 (byte %d): %s" % (exc.start, exc.reason), param_hint="TEXT"
            )
    return text


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
@click.option("--unknown", type=click.Choice(["spell", "skip", "strict"]), default="spell",
              show_default=True, help="What to do with characters the voice cannot say.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def frontend(text: Optional[str], unknown: str, as_json: bool) -> None:
    """Show how TEXT is read: spoken form, pinyin, symbols and ids of every utterance."""
    from .frontend import Frontend, FrontendOptions

    fe = Frontend(FrontendOptions(unknown=unknown))
    try:
        utts = fe(_read_text(text))
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps([
            {"spoken": u.spoken, "pinyin": u.pinyin, "symbols": u.symbols, "ids": u.ids,
             "pause_after": u.pause_after, "skipped": u.skipped} for u in utts
        ], ensure_ascii=False, indent=1))
        return
    for n, u in enumerate(utts, 1):
        click.echo("[%d] %s   (pause %.2f s)" % (n, u.spoken, u.pause_after))
        click.echo("    pinyin:  %s" % " ".join(u.pinyin))
        click.echo("    symbols: %s" % " ".join(u.symbols))
        click.echo("    ids:     %s" % " ".join(str(i) for i in u.ids))
        if u.skipped:
            click.echo("    skipped: %s" % " ".join(repr(c) for c in u.skipped))


@main.command(context_settings=CONTEXT)
@click.argument("text", required=False)
@click.option("-o", "--output", default="out.wav", show_default=True,
              help="WAV file to write; '-' writes the WAV to stdout.")
@click.option("--raw", is_flag=True, help="Write raw 16-bit PCM to stdout, flushed per chunk.")
@click.option("--voice", "voice", default=None, help="Voice bundle folder (default: see doctor).")
@click.option("--provider", type=click.Choice(["auto", "tensorrt", "cuda", "cpu"]), default="auto",
              show_default=True, help="ONNX Runtime execution provider.")
@click.option("--unknown", type=click.Choice(["spell", "skip", "strict"]), default="spell",
              show_default=True, help="What to do with characters the voice cannot say.")
def say(text, output, raw, voice, provider, unknown) -> None:
    """Speak TEXT (or stdin) into a WAV file."""
    from .bundle import locate

    _read_text(text)
    try:
        locate(voice)
    except EdgeTTSError as exc:
        raise click.ClickException(str(exc))
    raise click.ClickException(
        "a voice bundle was found, but this version of edgetts has no synthesis engine yet: "
        "the acoustic runtime is not implemented"
    )


@main.command(context_settings=CONTEXT)
@click.option("--voice", "voice", default=None, help="Voice bundle folder to check.")
def doctor(voice: Optional[str]) -> None:
    """Check this machine: Python, ONNX Runtime, which providers really load, the voice."""
    from . import normalize
    from .bundle import locate
    from .providers import AUTO_ORDER, onnxruntime_version, probe

    click.echo("edgetts       %s" % __version__)
    click.echo("python        %s (%s, %s)" % (platform.python_version(), platform.machine(),
                                              platform.system()))
    ver = onnxruntime_version()
    if ver is None:
        click.echo("onnxruntime   NOT INSTALLED: pip install onnxruntime-gpu (or onnxruntime)")
    else:
        import onnxruntime as ort

        click.echo("onnxruntime   %s, device %s" % (ver, ort.get_device()))
        click.echo("  built with: %s" % ", ".join(ort.get_available_providers()))
        for name in AUTO_ORDER:
            r = probe(name)
            click.echo("  %-9s  %s" % (name, "loads" if r.loads else "no: " + r.detail))
    try:
        click.echo("text norm     %s" % normalize.backend())
    except Exception as exc:
        click.echo("text norm     BROKEN: %s" % exc)
    try:
        click.echo("voice         %s" % locate(voice))
    except EdgeTTSError as exc:
        click.echo("voice         %s" % exc)


if __name__ == "__main__":
    main()
