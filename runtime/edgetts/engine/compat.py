"""Which graphs the installed ONNX Runtime can open, and which variant of a voice to use.

A graph records the ONNX opset and IR version it was written with; an ONNX Runtime release reads
graphs up to the opset and IR version it implements and refuses newer ones ("official support
for domain ai.onnx is till opset 16"). The exporter writes, for every graph, the oldest release
that reads it (``min_onnxruntime``) using the table below, and the runtime compares that with the
installed release before it opens a session, so a Jetson Nano with the Jetson Zoo's 1.11 picks
the graphs it can run instead of failing on the first one it cannot.

This module is the one definition of that table: the exporter imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from ..config import GraphInfo
from .variants import MEANT_FOR, PREFERENCE  # noqa: F401  (the variant table; read here)

# (release, newest ai.onnx opset it implements, newest IR version it reads), oldest first, from
# ONNX Runtime's versioning table (docs/Versioning.md). Checked here: 1.11.1 opens opset-16 /
# IR-8 graphs and refuses opset 17 (tests/test_compat.py runs that check on 1.11 in CI).
ORT_RELEASES: Tuple[Tuple[Tuple[int, int], int, int], ...] = (
    ((1, 6), 13, 7),
    ((1, 8), 14, 7),
    ((1, 10), 15, 8),
    ((1, 11), 16, 8),
    ((1, 12), 17, 8),
    ((1, 14), 18, 8),
    ((1, 15), 19, 9),
    ((1, 17), 20, 9),
    ((1, 18), 21, 10),
    ((1, 20), 22, 10),
)

def parse_version(text: str) -> Tuple[int, int]:
    """'1.11.1' → (1, 11); '1.20.0.dev2024' → (1, 20)."""
    parts = []
    for p in text.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


def format_version(v: Tuple[int, int]) -> str:
    return "%d.%d" % v


def min_onnxruntime(opset: int, ir_version: int) -> str:
    """The oldest ONNX Runtime release that reads a graph of this ai.onnx opset and IR version."""
    for release, max_opset, max_ir in ORT_RELEASES:
        if opset <= max_opset and ir_version <= max_ir:
            return format_version(release)
    raise ValueError("no known ONNX Runtime release reads opset %d / IR version %d; extend "
                     "compat.ORT_RELEASES" % (opset, ir_version))


@dataclass(frozen=True)
class VariantStatus:
    """Whether one variant of a voice can be opened here, and why not."""

    variant: str
    loads: bool
    reason: str                 # "" when it loads
    meant_for: Tuple[str, ...]  # providers (short names) it was built for


def variant_status(graphs: Dict[str, GraphInfo], variant: str, ort_version: str) -> VariantStatus:
    """``graphs``: role → GraphInfo of one variant."""
    worst = max(graphs.values(), key=lambda g: parse_version(g.min_onnxruntime))
    needs = parse_version(worst.min_onnxruntime)
    meant = next((g.providers for g in graphs.values() if g.providers), ())
    if parse_version(ort_version) < needs:
        reason = ("needs onnxruntime >= %s (%s is opset %d), this is %s"
                  % (format_version(needs), worst.file, worst.opset, ort_version))
        return VariantStatus(variant, False, reason, meant)
    return VariantStatus(variant, True, "", meant)


def statuses(all_graphs: Dict[str, Dict[str, GraphInfo]], ort_version: str) -> List[VariantStatus]:
    return [variant_status(g, v, ort_version) for v, g in sorted(all_graphs.items())]


def candidates(all_graphs: Dict[str, Dict[str, GraphInfo]], device: str, ort_version: str,
               ) -> Tuple[List[str], List[VariantStatus]]:
    """Variants to try on ``device`` ('cpu' or 'gpu'), best first, that this runtime can open;
    and the status of every variant (for error messages and ``edgetts doctor``)."""
    st = {s.variant: s for s in statuses(all_graphs, ort_version)}
    order: Sequence[str] = PREFERENCE[device]
    known = [v for v in order if v in st] + sorted(v for v in st if v not in order)
    return [v for v in known if st[v].loads], [st[v] for v in known]
