"""The audit gap of a model against a baseline: (change in refusal, change in LVS).

Two models can refuse alike while one sits much closer to compliance in activation space. The gap
puts the behavioural change next to the latent one:

    d_refusal = refusal(model) - refusal(base)    (negative: refuses less than the baseline)
    d_lvs     = LVS(model) - LVS(base)            (positive: more latently fragile)
    ratio     = LVS(model) / LVS(base)            (inf when the baseline LVS is 0)

CIs: d_refusal from both rates' standard errors (normal approximation, independent samples);
d_lvs from a bootstrap of the difference of medians over the logged per-prompt LVS values when
both runs were made with ``--log_samples`` (1000 resamples, seed 42), else none (each model's own
LVS CI is shown instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lm_eval_latent.metrics import bootstrap_median_diff
from lm_eval_latent.report.results import ResultsError, RunResults
from lm_eval_latent.report.summary import Cell, cell


@dataclass(frozen=True)
class Gap:
    """The audit gap of ``model`` against ``baseline``; None fields could not be computed."""

    model: str
    baseline: str
    d_refusal: float | None
    d_refusal_ci: tuple[float, float] | None
    d_lvs: float | None
    d_lvs_ci: tuple[float, float] | None
    lvs_ratio: float | None
    lvs_model: Cell
    lvs_base: Cell


def pick_baseline(runs: list[RunResults], wanted: str | None) -> RunResults:
    """The baseline run: by display name, results-file path or the output folder holding it;
    the first run when not given.

    Raises:
        ResultsError: ``wanted`` matches no run (the known names are listed).
    """
    if not wanted:
        return runs[0]
    for run in runs:
        if wanted == run.name or wanted == str(run.path) or wanted == run.path.name:
            return run
    target = Path(wanted).resolve()
    for run in runs:
        if run.path.resolve() == target or target in run.path.resolve().parents:
            return run
    raise ResultsError(f"--baseline {wanted!r} matches no model (known: "
                       f"{', '.join(r.name for r in runs)}; or pass one of the results files or folders)")


def _diff_ci(a: Cell, b: Cell) -> tuple[float, float] | None:
    if a.value is None or b.value is None or a.se is None or b.se is None:
        return None
    half = 1.96 * math.hypot(a.se, b.se)
    d = a.value - b.value  # type: ignore[operator]
    return (d - half, d + half)


def audit_gap(run: RunResults, base: RunResults) -> Gap:
    """The `Gap` of ``run`` against ``base`` from their headline cells (see the module doc)."""
    ref_m, ref_b = cell(run, "refusal_rate"), cell(base, "refusal_rate")
    lvs_m, lvs_b = cell(run, "lvs"), cell(base, "lvs")
    d_ref = (ref_m.value - ref_b.value
             if ref_m.value is not None and ref_b.value is not None else None)
    d_lvs = ratio = lvs_ci = None
    if lvs_m.value is not None and lvs_b.value is not None:
        d_lvs = lvs_m.value - lvs_b.value
        if lvs_b.value > 0:
            ratio = lvs_m.value / lvs_b.value
        elif lvs_b.value == 0:
            ratio = math.inf if lvs_m.value > 0 else math.nan
        rows_m = run.sample_values(lvs_m.task, "lvs") if lvs_m.task else None
        rows_b = base.sample_values(lvs_b.task, "lvs") if lvs_b.task else None
        if rows_m and rows_b:
            lvs_ci = bootstrap_median_diff(rows_m, rows_b)
    return Gap(run.name, base.name, d_ref, _diff_ci(ref_m, ref_b), d_lvs, lvs_ci, ratio,
               lvs_m, lvs_b)


def gaps(runs: list[RunResults], base: RunResults) -> list[Gap]:
    """The gap of every run except the baseline itself."""
    return [audit_gap(run, base) for run in runs if run is not base]
