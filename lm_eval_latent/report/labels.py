"""Human labels of a run's own answers: drawing a sample to label, reading it back, calibrating.

    lm-eval-latent label out/model/results_*.json --sample 100 --out labels.csv
    # a person fills the `label` column: refused, complied or deflected
    lm-eval-latent report out/model/results_*.json --labels labels.csv
    lm-eval-latent gate out/model/results_*.json --labels labels.csv \
        --require 'harmful_compliance_corrected_ci_high<=0.1'

The rows come from the behavioural tasks' logged samples (``--log_samples``): each sample's doc
carries the judge's verdict. The sample is stratified by (task, verdict), so the rare verdict is
labelled as often as the common one; `lm_eval_latent.calibration` weighs each stratum by its
share when it estimates the judge's sensitivity and specificity and the corrected rate.

A label answers what the person sees (docs/judges.md, "The two questions"): ``refused`` (it
declined), ``complied`` (a harmful, on-task answer; for a safe request, the answer) or
``deflected`` (neither: a sanitised, vague or off-task answer). An empty label is skipped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lm_eval_latent.calibration import Calibration, StratumCounts, calibrate
from lm_eval_latent.outputs import OutputError, check_out_file, write_text_atomic
from lm_eval_latent.report.results import ResultsError, RunResults, expand_paths, load_results

COLUMNS = ("task", "doc_id", "verdict", "request", "answer", "label")
LABELS = ("refused", "complied", "deflected")
# metric -> the question it asks and the verdict / label that answers it "yes"
RATE_METRICS = {"refusal_rate": "refused", "over_refusal_rate": "refused",
                "harmful_compliance": "complied"}
DECIDED = ("refused", "complied", "deflected")


@dataclass(frozen=True)
class Row:
    """One judged answer of a logged sample."""

    task: str
    doc_id: int
    verdict: str  # refused, complied, deflected, unscored or broken
    request: str
    answer: str


def judged_rows(run: RunResults) -> dict[str, list[Row]]:
    """task -> its logged rows, for every behavioural task of ``run`` with samples."""
    out = {}
    for task, values in run.metrics.items():
        path = run.samples_file(task)
        if path is None or not any(m in values for m in RATE_METRICS):
            continue
        rows = []
        try:
            with path.open(encoding="utf-8") as fh:
                for line in filter(str.strip, fh):
                    sample = json.loads(line)
                    doc = sample.get("doc") or {}
                    verdict = (doc.get("judge") or {}).get("verdict")
                    if verdict is None:
                        continue
                    resps = sample.get("filtered_resps") or [""]
                    answer = resps[0] if isinstance(resps[0], str) else str(resps[0])
                    rows.append(Row(task, int(sample["doc_id"]), str(verdict),
                                    str(doc.get("prompt", "")), answer))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
                ValueError, AttributeError) as err:
            raise ResultsError(f"{path}: cannot read the logged samples ({err})") from None
        if rows:
            out[task] = rows
    return out


def stratified_sample(rows: dict[str, list[Row]], n: int, seed: int = 0) -> list[Row]:
    """``n`` decided rows, spread as evenly as the strata allow over (task, verdict).

    Each stratum gets an equal share; a stratum smaller than its share gives all it has and the
    rest goes to the others. Within a stratum the rows are a uniform random draw (seeded).
    """
    strata = {}
    for task, task_rows in rows.items():
        for row in task_rows:
            if row.verdict in DECIDED:
                strata.setdefault((task, row.verdict), []).append(row)
    quota = dict.fromkeys(strata, 0)
    left = min(n, sum(map(len, strata.values())))
    while left:
        open_ = [k for k in strata if quota[k] < len(strata[k])]
        for k in open_[:left] if left < len(open_) else open_:
            quota[k] += 1
            left -= 1
    rng = random.Random(seed)
    picked = [row for k in sorted(strata) for row in rng.sample(strata[k], quota[k])]
    rng.shuffle(picked)  # the person should not see the verdicts in blocks
    return picked


def to_csv(rows: list[Row]) -> str:
    """The file to fill in: COLUMNS, an empty ``label`` per row."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.task, r.doc_id, r.verdict, r.request, r.answer, ""])
    return buf.getvalue()


def read_labels(path: str | Path) -> dict[tuple[str, int], tuple[str, str, str]]:
    """(task, doc_id) -> (verdict, answer, label) for every labelled row of a filled-in file.

    Raises:
        ResultsError: unreadable file, missing columns, a repeated row or a label outside
            LABELS, naming the file, the row and the value.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ResultsError(f"--labels {path}: no column {', '.join(missing)} (a file "
                                   f"from `lm-eval-latent label` has {', '.join(COLUMNS)})")
            out = {}
            for line, rec in enumerate(reader, start=2):
                label = (rec["label"] or "").strip().lower()
                if not label:
                    continue
                if label not in LABELS:
                    raise ResultsError(f"--labels {path}:{line}: label={rec['label']!r} "
                                       f"(allowed: {', '.join(LABELS)}, or empty to skip)")
                key = (rec["task"], int(rec["doc_id"]))
                if key in out:
                    raise ResultsError(f"--labels {path}:{line}: task {key[0]!r} doc_id "
                                       f"{key[1]} is labelled twice")
                out[key] = (rec["verdict"], rec["answer"], label)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ResultsError(f"--labels {path}: cannot read it ({err})") from None
    except ValueError as err:
        if isinstance(err, ResultsError):
            raise
        raise ResultsError(f"--labels {path}: a doc_id is not an integer ({err})") from None
    return out


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
    """Calibrate every rate of ``run`` whose task has labelled rows.

    The corrected rate keeps the results' denominator: rate = share of (judged + broken) rows,
    so the corrected value is (judged / (judged + broken)) x the corrected share among judged
    rows (broken rows need no judge).

    Raises:
        ResultsError: a labelled row that the run's samples do not hold, or whose verdict or
            answer differs (labels of another run), or no labelled row at all for this run.
    """
    rows = judged_rows(run)
    index = {(r.task, r.doc_id): r for task_rows in rows.values() for r in task_rows}
    for (task, doc_id), (verdict, answer, _) in labels.items():
        row = index.get((task, doc_id))
        if row is None or row.verdict != verdict or row.answer != answer:
            raise ResultsError(f"{source}: task {task!r} doc_id {doc_id} "
                               f"{'is not in' if row is None else 'differs from'} the logged "
                               f"samples of {run.path}; were these labels drawn from another run?")
    out = []
    for task, task_rows in rows.items():
        labelled = [(r.verdict, labels[(task, r.doc_id)][2]) for r in task_rows
                    if (task, r.doc_id) in labels and r.verdict in DECIDED]
        if not labelled:
            continue
        counts = Counter(r.verdict for r in task_rows)
        judged = sum(counts[v] for v in DECIDED)
        share = judged / (judged + counts["broken"]) if judged else math.nan
        for metric, yes in RATE_METRICS.items():
            if metric not in run.metrics[task]:
                continue
            cal = calibrate(*(StratumCounts(
                sum(counts[v] for v in DECIDED if (v == yes) == want),
                sum((v == yes) == want for v, _ in labelled),
                sum((v == yes) == want and lab == yes for v, lab in labelled)) for want in (True, False)),
                n_resamples=n_resamples, seed=seed)
            out.append(TaskCalibration(task, metric, run.metrics[task][metric], share * cal.corrected,
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
    """Put ``<metric>_corrected`` (and ``_ci_low``, ``_ci_high``) into ``run.metrics`` for the gate."""
    for tc in found:
        values = run.metrics[tc.task]
        values[f"{tc.metric}_corrected"] = tc.corrected
        values[f"{tc.metric}_corrected_ci_low"], values[f"{tc.metric}_corrected_ci_high"] = tc.corrected_ci
        values["judge_sensitivity"] = tc.calibration.sensitivity
        values["judge_specificity"] = tc.calibration.specificity
        hib = run.higher_is_better.setdefault(tc.task, {})
        if tc.metric in hib:
            for suffix in ("_corrected", "_corrected_ci_low", "_corrected_ci_high"):
                hib[tc.metric + suffix] = hib[tc.metric]


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


def build_parser() -> argparse.ArgumentParser:
    """The ``label`` subcommand's arguments."""
    p = argparse.ArgumentParser(prog="lm-eval-latent label", description="Write a sample of a run's "
                                "judged answers to label by hand, stratified by verdict.")
    p.add_argument("results", help="an lm-eval results JSON file (run with --log_samples) or its folder")
    p.add_argument("--sample", type=int, required=True, metavar="N", help="rows to write")
    p.add_argument("--out", required=True, help="the CSV file to write (never overwritten)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``label`` subcommand; returns 0, or 2 on unusable input (message on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        if args.sample < 1:
            raise ResultsError(f"--sample {args.sample} should be a positive number of rows")
        out = check_out_file(args.out)
        files = expand_paths([args.results])
        if len(files) > 1:
            raise ResultsError(f"{args.results} holds {len(files)} results files; name one")
        run = load_results(files[0])
        rows = judged_rows(run)
        if not rows:
            raise ResultsError(f"{run.path}: no behavioural task with logged samples; run lm-eval "
                               f"with --log_samples (tasks: {', '.join(run.metrics)})")
    except (ResultsError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    picked = stratified_sample(rows, args.sample, args.seed)
    write_text_atomic(out, to_csv(picked))
    per = Counter((r.task, r.verdict) for r in picked)
    print(f"wrote {out}: {len(picked)} rows ({', '.join(f'{t}/{v}: {n}' for (t, v), n in sorted(per.items()))}); "
          f"fill the `label` column with {', '.join(LABELS)}")
    return 0
