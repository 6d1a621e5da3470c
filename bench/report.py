"""The comparison: pick each side's figure, compute ratios, print the table, write the JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from load import Figures

GOAL_THROUGHPUT_RATIO = 0.5


def best(rounds: list[Figures]) -> Figures:
    """The round with the highest throughput (the least disturbed by the machine's noise)."""
    return max(rounds, key=lambda figures: figures.rps)


def ratios(service: Figures, baseline: Figures) -> dict[str, float]:
    """service / baseline: throughput (higher is better) and latencies (lower is better)."""
    return {
        "throughput": round(service.rps / baseline.rps, 3),
        "p50": round(service.p50_ms / baseline.p50_ms, 3),
        "p99": round(service.p99_ms / baseline.p99_ms, 3),
    }


def table(service: Figures, baseline: Figures) -> str:
    """A fixed-width table of the chosen figures plus the ratio row."""
    ratio = ratios(service, baseline)
    rows = [
        f"{'':<22}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}",
        f"{'service (GET /items)':<22}{service.rps:>12,.0f}{service.p50_ms:>10.2f}{service.p99_ms:>10.2f}",
        f"{'baseline (bare)':<22}{baseline.rps:>12,.0f}{baseline.p50_ms:>10.2f}{baseline.p99_ms:>10.2f}",
        f"{'service / baseline':<22}{ratio['throughput']:>12.2f}{ratio['p50']:>10.2f}{ratio['p99']:>10.2f}",
    ]
    verdict = "met" if ratio["throughput"] >= GOAL_THROUGHPUT_RATIO else "NOT met"
    rows.append(f"throughput goal service/baseline >= {GOAL_THROUGHPUT_RATIO}: {verdict}")
    return "\n".join(rows)


def write_json(path: Path, meta: dict[str, Any], rounds: dict[str, list[Figures]]) -> dict[str, Any]:
    """Write the full result (settings, every round, chosen figures, ratios) to `path`; return it."""
    service, baseline = best(rounds["service"]), best(rounds["baseline"])
    result = {
        **meta,
        "selection": "best round by requests/s, per side",
        "service": service.as_dict(),
        "baseline": baseline.as_dict(),
        "ratio_service_over_baseline": ratios(service, baseline),
        "goal_throughput_ratio": GOAL_THROUGHPUT_RATIO,
        "rounds": {side: [figures.as_dict() for figures in runs] for side, runs in rounds.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result
