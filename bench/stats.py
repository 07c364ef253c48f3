"""Small statistics over latency samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def p95(values: Sequence[float]) -> float:
    """95th percentile, nearest-rank method (with 15 samples: the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summarise(values: Sequence[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "median_s": round(statistics.median(values), 6),
        "p95_s": round(p95(values), 6),
        "min_s": round(min(values), 6),
        "max_s": round(max(values), 6),
        "samples_s": [round(v, 6) for v in values],
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 3)
