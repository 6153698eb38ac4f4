"""The command line: ``edgetts say | frontend | doctor | serve | triton | bench`` (``main``), and
the benchmark worker (``edgetts.cli.bench``)."""

from .main import main

__all__ = ["main"]
