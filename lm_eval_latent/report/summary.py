"""One row of headline numbers per model: behavioural and latent metrics side by side.

Each column names the task it prefers (``refusal_rate`` from the task ``refusal_rate``, the LVS
from ``refusal_lvs``) and falls back to any other task reporting that metric, so a custom task or
an AdvBench variant fills the column when the default task was not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lm_eval_latent.metrics import HIGH_CONTROL
from lm_eval_latent.report.results import RunResults, base_metric

# column -> (metric, preferred tasks)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "refusal_rate": ("refusal_rate", ("refusal_rate",)),
    "harmful_compliance": ("harmful_compliance", ("harmful_compliance",)),
    "over_refusal_rate": ("over_refusal_rate", ("over_refusal",)),
    "refusal_clean": ("refusal_clean", ("refusal_lvs",)),
    "lvs": ("lvs", ("refusal_lvs",)),
    "asr_attack": ("asr_attack", ("refusal_lvs",)),
    "asr_random": ("asr_random", ("refusal_lvs",)),
}


@dataclass(frozen=True)
class Cell:
    """One metric of one model: value, 95% CI (when known) and the task it came from."""

    value: float | None
    low: float | None = None
    high: float | None = None
    task: str | None = None
    se: float | None = None  # lm-eval's standard error, for the rates

    def text(self, ci: bool = False) -> str:
        """``0.213`` or ``0.213 [0.101, 0.330]``; ``–`` when absent, ``nan`` when not finite."""
        if self.value is None:
            return "–"
        out = _fmt(self.value)
        if ci and self.low is not None and self.high is not None:
            out += f" [{_fmt(self.low)}, {_fmt(self.high)}]"
        return out


def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.3f}"


def cell(run: RunResults, column: str) -> Cell:
    """The `Cell` of ``column`` (a key of `COLUMNS`) for ``run``.

    The LVS carries its bootstrap CI (``lvs_ci_low``/``lvs_ci_high`` of the same task); a rate
    carries a normal-approximation CI from lm-eval's standard error, clipped to [0, 1].
    """
    metric, prefer = COLUMNS[column]
    found = run.find(metric, prefer)
    if found is None:
        return Cell(None)
    task, value = found
    if metric == "lvs":
        return Cell(value, run.value(task, "lvs_ci_low"), run.value(task, "lvs_ci_high"), task)
    se = run.stderr.get(task, {}).get(metric)
    if se is None or not math.isfinite(se):
        return Cell(value, task=task)
    return Cell(value, max(0.0, value - 1.96 * se), min(1.0, value + 1.96 * se), task, se)


def unscored_total(run: RunResults) -> Cell:
    """Rows left unscored, summed over every task and setting of the file (a count)."""
    counts = [v for metrics in run.metrics.values() for n, v in metrics.items()
              if base_metric(n) == "unscored" and math.isfinite(v)]
    return Cell(float(sum(counts)) if counts else None)


def model_row(run: RunResults) -> dict[str, Cell]:
    """Every column of `COLUMNS` plus ``unscored`` for one model."""
    row = {column: cell(run, column) for column in COLUMNS}
    row["unscored"] = unscored_total(run)
    return row


def sources(runs: list[RunResults]) -> dict[str, list[str]]:
    """column -> the distinct tasks its values came from (for a footnote)."""
    out: dict[str, list[str]] = {}
    for run in runs:
        for column, c in model_row(run).items():
            if c.task and c.task not in out.setdefault(column, []):
                out[column].append(c.task)
    return out


def control_warnings(runs: list[RunResults]) -> list[str]:
    """One line per run, task and setting whose random control complied on more than
    :data:`~lm_eval_latent.metrics.HIGH_CONTROL` of prompts: there the budget measures noise."""
    out = []
    for run in runs:
        for task, values in sorted(run.metrics.items()):
            for name, value in sorted(values.items()):
                if base_metric(name) == "asr_random" and math.isfinite(value) and value > HIGH_CONTROL:
                    out.append(f"{run.name}: {task} {name} = {value:.3f} > {HIGH_CONTROL}: a random push of this "
                               "budget breaks the model too, so its LVS and attack success measure noise, not "
                               "latent fragility; rerun with a smaller budget")
    return out
