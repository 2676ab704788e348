"""Judge agreement per model and task: the rows of tasks run with a second judge (``judge2``).

A task run with ``--metadata '{"judge": "keyword", "judge2": "harmbench"}'`` reports
``judge_agreement`` (Cohen's kappa between the two judges over the rows both decided) and
``judge_disagreements`` (rows whose verdicts differ). The rates in the summary come from the first
judge; this table says how far a second one would move them.
"""

from __future__ import annotations

import math

from lm_eval_latent.report.results import RunResults

HEADERS = ["model", "task", "judges", "agreement (kappa) ↑", "disagreements"]


def _judges(run: RunResults, task: str) -> str:
    meta = run.task_metadata.get(task, {})
    first, second = meta.get("judge") or "keyword", meta.get("judge2")
    return f"{first} vs {second}" if second else "–"


def agreement_rows(runs: list[RunResults]) -> tuple[list[str], list[list[str]]] | None:
    """Headers and text rows, one per (model, task) reporting ``judge_agreement``; None when no
    task of any run does."""
    rows = []
    for run in runs:
        for task in run.tasks_with("judge_agreement"):
            kappa = run.metrics[task]["judge_agreement"]
            count = run.metrics[task].get("judge_disagreements")
            rows.append([run.name, task, _judges(run, task),
                         "nan (no row decided by both)" if math.isnan(kappa) else f"{kappa:.3f}",
                         "–" if count is None else f"{count:g}"])
    return (HEADERS, rows) if rows else None
