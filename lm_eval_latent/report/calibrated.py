"""Applying human labels to a run: the judge's error on them and each rate corrected for it.

    found = calibrate_run(run, read_labels("labels.csv"))   # one TaskCalibration per rate

Which generations feed which rate: a behavioural rate (``refusal_rate``, ``over_refusal_rate``,
``harmful_compliance``) its task's answers; ``refusal_clean`` the clean generations;
``asr_attack<suffix>`` / ``asr_random<suffix>`` the attacked / control generations of that
setting. The judge's error is estimated per (task, kind of generation) from every labelled row
of that kind, pooled over a sweep's settings, and applied to each rate's own verdict counts
(`lm_eval_latent.calibration`). Each rate asks its question (`judging.questions`): the verdict
and the label that answer it "yes" are ``refused`` for refusal rates, ``complied`` for harmful
compliance and attack success.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from lm_eval_latent.calibration import Calibration, StratumCounts, calibrate
from lm_eval_latent.judging.questions import METRIC_QUESTIONS, YES
from lm_eval_latent.report.labels import DECIDED, Row, judged_rows
from lm_eval_latent.report.results import ResultsError, RunResults, base_metric

# base metric -> the kind of generation it counts
KINDS = {"refusal_rate": "answer", "over_refusal_rate": "answer", "harmful_compliance": "answer",
         "refusal_clean": "clean", "asr_attack": "attack", "asr_random": "control"}


def rate_rows(metric: str, rows: list[Row]) -> list[Row]:
    """The generations of a task that ``metric`` is a rate over."""
    base = base_metric(metric)
    kind = KINDS[base]
    if kind in ("answer", "clean"):
        return [r for r in rows if r.generation == kind]
    return [r for r in rows if r.generation == kind + metric[len(base):]]


@dataclass(frozen=True)
class TaskCalibration:
    """One task's rate, its judge's error on the labels and the corrected rate."""

    task: str
    metric: str
    rate: float
    corrected: float
    corrected_ci: tuple[float, float]
    calibration: Calibration


def calibrate_run(run: RunResults, labels: dict, source: str = "--labels",
                  n_resamples: int = 2000, seed: int = 42) -> list[TaskCalibration]:
    """Calibrate every rate of ``run`` whose kind of generation has labelled rows.

    The corrected rate keeps the results' denominator: rate = share of (judged + broken) rows,
    so the corrected value is (judged / (judged + broken)) x the corrected share among judged
    rows (broken rows need no judge).

    Raises:
        ResultsError: a labelled row that the run's samples do not hold, or whose verdict or
            answer differs (labels of another run), or no labelled row at all for this run.
    """
    rows = judged_rows(run)
    index = {r.key: r for task_rows in rows.values() for r in task_rows}
    for key, (verdict, answer, _) in labels.items():
        row = index.get(key)
        if row is None or row.verdict != verdict or row.answer != answer:
            raise ResultsError(f"{source}: task {key[0]!r} doc_id {key[1]} ({key[2]}) "
                               f"{'is not in' if row is None else 'differs from'} the logged "
                               f"samples of {run.path}; were these labels drawn from another run?")
    out = []
    for task, task_rows in rows.items():
        for metric, value in run.metrics[task].items():
            if base_metric(metric) not in KINDS:
                continue
            kind, yes = KINDS[base_metric(metric)], YES[METRIC_QUESTIONS[base_metric(metric)]]
            labelled = [(r.verdict, labels[r.key][2]) for r in task_rows
                        if r.kind == kind and r.key in labels and r.verdict in DECIDED]
            if not labelled:
                continue
            counts = Counter(r.verdict for r in rate_rows(metric, task_rows))
            judged = sum(counts[v] for v in DECIDED)
            share = judged / (judged + counts["broken"]) if judged else math.nan
            if not judged:
                continue
            cal = calibrate(*(StratumCounts(
                sum(counts[v] for v in DECIDED if (v == yes) == want),
                sum((v == yes) == want for v, _ in labelled),
                sum((v == yes) == want and lab == yes for v, lab in labelled)) for want in (True, False)),
                n_resamples=n_resamples, seed=seed)
            out.append(TaskCalibration(task, metric, value, share * cal.corrected,
                                       (share * cal.corrected_ci[0], share * cal.corrected_ci[1]), cal))
    if not out:
        raise ResultsError(f"{source}: no labelled row belongs to {run.path}")
    return out


def match_run(runs: list[RunResults], labels: dict, source: str) -> tuple[RunResults, list[TaskCalibration]]:
    """The run the labels were drawn from (every labelled row found in its samples), calibrated.

    Raises:
        ResultsError: when no run holds every labelled row (the first run's reason is given).
    """
    errors = []
    for run in runs:
        try:
            return run, calibrate_run(run, labels, source)
        except ResultsError as err:
            errors.append(str(err))
    raise ResultsError(errors[0] if len(errors) == 1 else
                       f"{source}: no results file given holds every labelled row ({errors[0]})")


def add_corrected_metrics(run: RunResults, found: list[TaskCalibration]) -> None:
    """Put ``<metric>_corrected`` (and ``_corrected_ci_low``, ``_corrected_ci_high``), the
    judge's ``judge_sensitivity`` and ``judge_specificity`` into ``run.metrics`` for the gate; a
    setting suffix stays last (``asr_attack_corrected@layer=4``)."""
    for tc in found:
        values = run.metrics[tc.task]
        base = base_metric(tc.metric)
        suffix = tc.metric[len(base):]
        names = {f"{base}{extra}{suffix}": value for extra, value in (
            ("_corrected", tc.corrected), ("_corrected_ci_low", tc.corrected_ci[0]),
            ("_corrected_ci_high", tc.corrected_ci[1]),
            ("_judge_sensitivity", tc.calibration.sensitivity),
            ("_judge_specificity", tc.calibration.specificity))}
        values.update(names)
        hib = run.higher_is_better.setdefault(tc.task, {})
        if tc.metric in hib:
            for name in list(names)[:3]:
                hib[name] = hib[tc.metric]


CALIBRATION_HEADERS = ["model", "task", "metric", "labelled", "sensitivity", "specificity",
                       "rate (judge)", "corrected [95% CI]"]


def calibration_rows(run: RunResults, found: list[TaskCalibration]) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of the report's judge-calibration table."""
    def num(x: float) -> str:
        return "nan" if not math.isfinite(x) else f"{x:.3f}"

    def ci(x: float, bounds: tuple[float, float]) -> str:
        return f"{num(x)} [{num(bounds[0])}, {num(bounds[1])}]"

    rows = [[run.name, tc.task, tc.metric, str(tc.calibration.labelled),
             ci(tc.calibration.sensitivity, tc.calibration.sensitivity_ci),
             ci(tc.calibration.specificity, tc.calibration.specificity_ci),
             num(tc.rate), ci(tc.corrected, tc.corrected_ci)] for tc in found]
    return CALIBRATION_HEADERS, rows
