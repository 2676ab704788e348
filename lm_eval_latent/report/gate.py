"""`lm-eval-latent gate`: pass/fail checks on an lm-eval results file, for CI.

    lm-eval-latent gate out/model/results_*.json \
        --require 'lvs<=0.3' --require 'refusal_rate>=0.95' \
        --baseline base/results_*.json --max-regression lvs=0.05

Each ``--require`` is ``[TASK:]METRIC[@SETTING] OP NUMBER`` with OP one of ``<= >= < > ==``
(``refusal_lvs:lvs<=0.3``, ``lvs@layer=4<0.5``). A bare metric is looked up in every task of the
file (or only in ``--task``); a metric reported by two tasks must be qualified. With ``--labels
FILE.csv`` (human labels of this run's answers, `report/calibrated.py`) the judge-corrected rates
join the metrics: ``harmful_compliance_corrected``, ``..._corrected_ci_high`` (a conservative
bound), ... (docs/calibration.md). ``--max-regression METRIC=AMOUNT`` compares with a baseline
file: regression = candidate - baseline for a metric whose ``higher_is_better`` is false,
baseline - candidate otherwise; it fails above AMOUNT.

Exit status: 0 every check holds, 1 some check fails (a NaN value fails), 2 unusable input.
"""

from __future__ import annotations

import argparse
import math
import operator
import re
import sys
from pathlib import Path
from dataclasses import dataclass

from lm_eval_latent.report.results import ResultsError, RunResults, expand_paths, load_results

GRAMMAR = "[TASK:]METRIC[@SETTING] (<=|>=|<|>|==) NUMBER, e.g. 'lvs<=0.3', " \
          "'refusal_rate>=0.95', 'lvs_layer_profile:lvs@layer=4<0.5'"
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
REQUIRE = re.compile(
    r"^\s*(?:(?P<task>[A-Za-z0-9_.\-]+):)?(?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:@[A-Za-z_]+=[^\s<>=]+)?)"
    rf"\s*(?P<op><=|>=|==|<|>)\s*(?P<bound>{NUMBER})\s*$")
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}


class GateInputError(ValueError):
    """Unusable gate input: a malformed check, a missing or ambiguous metric (exit status 2)."""


@dataclass(frozen=True)
class Requirement:
    """One parsed ``--require``: optional task, metric (with setting), operator, bound."""

    task: str | None
    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse ``[TASK:]METRIC[@SETTING] OP NUMBER``; GateInputError shows the grammar."""
        m = REQUIRE.match(text)
        if not m:
            raise GateInputError(f"--require {text!r} is malformed (accepted: {GRAMMAR})")
        return cls(m["task"], m["metric"], m["op"], float(m["bound"]))


@dataclass(frozen=True)
class Check:
    """One evaluated check: what, where, value, bound and whether it holds."""

    label: str
    task: str
    value: float
    bound: str
    ok: bool

    def line(self) -> str:
        """``PASS  refusal_lvs:lvs = 0.210  (bound <= 0.3)``."""
        value = "nan" if math.isnan(self.value) else f"{self.value:.4g}"
        return f"{'PASS' if self.ok else 'FAIL'}  {self.label} = {value}  (bound {self.bound})"


def lookup(run: RunResults, metric: str, task: str | None) -> tuple[str, float]:
    """(task, value) of ``metric`` in ``run``, in ``task`` when given.

    Raises:
        GateInputError: the task or metric is missing (the present ones are listed), or a bare
            metric is reported by several tasks (they are listed).
    """
    if task is not None:
        if task not in run.metrics:
            raise GateInputError(f"{run.path}: no task {task!r} (tasks: {', '.join(run.metrics)})")
        if metric not in run.metrics[task]:
            raise GateInputError(f"{run.path}: task {task!r} has no metric {metric!r} "
                                 f"(metrics: {', '.join(run.metrics[task])})")
        return task, run.metrics[task][metric]
    tasks = run.tasks_with(metric)
    if not tasks:
        present = sorted({n for m in run.metrics.values() for n in m})
        raise GateInputError(f"{run.path}: no task reports {metric!r} "
                             f"(metrics present: {', '.join(present)})")
    if len(tasks) > 1:
        raise GateInputError(f"{run.path}: {metric!r} is reported by several tasks "
                             f"({', '.join(tasks)}); write TASK:{metric} or pass --task")
    return tasks[0], run.metrics[tasks[0]][metric]


def check_requirement(run: RunResults, req: Requirement, task: str | None) -> Check:
    """Evaluate one `Requirement`; a NaN value fails (no evidence is not a pass)."""
    found_task, value = lookup(run, req.metric, req.task or task)
    ok = not math.isnan(value) and OPS[req.op](value, req.bound)
    return Check(f"{found_task}:{req.metric}", found_task, value, f"{req.op} {req.bound:g}", ok)


def parse_regression(text: str) -> dict[str, float]:
    """``"lvs=0.05,refusal_rate=0.02"`` -> {"lvs": 0.05, "refusal_rate": 0.02}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, amount = part.rpartition("=")
        if not sep or not name or not re.fullmatch(NUMBER, amount.strip()):
            raise GateInputError(f"--max-regression {text!r} is malformed "
                                 "(accepted: [TASK:]METRIC=AMOUNT[,...], e.g. lvs=0.05)")
        out[name.strip()] = float(amount)
    return out


def check_regression(run: RunResults, base: RunResults, name: str, amount: float,
                     task: str | None) -> Check:
    """Regression of ``name`` from ``base`` to ``run``, against the allowed ``amount``."""
    task_name, _, metric = name.rpartition(":")
    found_task, value = lookup(run, metric, task_name or task)
    _, base_value = lookup(base, metric, found_task if found_task in base.metrics else task)
    higher = run.is_higher_better(found_task, metric)
    if higher is None:
        raise GateInputError(f"{run.path}: no higher_is_better entry for {found_task}:{metric}; "
                             "cannot tell which direction is a regression")
    regression = base_value - value if higher else value - base_value
    ok = not math.isnan(regression) and regression <= amount
    label = f"{found_task}:{metric} regression vs baseline ({base_value:.4g})"
    return Check(label, found_task, regression, f"<= {amount:g}", ok)


def build_parser() -> argparse.ArgumentParser:
    """The ``gate`` subcommand's arguments."""
    p = argparse.ArgumentParser(prog="lm-eval-latent gate",
                                description="Pass/fail checks on an lm-eval results file.")
    p.add_argument("results", help="the candidate's lm-eval results JSON file, or the --output_path folder holding one")
    p.add_argument("--require", action="append", default=[], metavar="CHECK",
                   help=f"a check: {GRAMMAR} (repeatable)")
    p.add_argument("--task", help="look bare metric names up in this task only")
    p.add_argument("--baseline", help="a baseline results JSON file for --max-regression")
    p.add_argument("--labels", metavar="FILE.csv", help="human labels of the candidate's answers "
                   "(`lm-eval-latent label`, filled in): adds METRIC_corrected, "
                   "METRIC_corrected_ci_low/_ci_high, METRIC_judge_sensitivity/_specificity")
    p.add_argument("--max-regression", action="append", default=[], metavar="METRIC=AMOUNT",
                   help="allowed worsening against --baseline, e.g. lvs=0.05 (repeatable)")
    return p


def run_checks(args: argparse.Namespace) -> list[Check]:
    """Every check of the command line, in order; GateInputError/ResultsError on bad input."""
    if not args.require and not args.max_regression:
        raise GateInputError("nothing to check: pass --require and/or --max-regression")
    reqs = [Requirement.parse(r) for r in args.require]
    limits = {k: v for text in args.max_regression for k, v in parse_regression(text).items()}
    if limits and not args.baseline:
        raise GateInputError("--max-regression needs --baseline BASE.json")
    if args.baseline and not limits:
        # A baseline with no bound would be read and then ignored: the gate would pass silently.
        raise GateInputError("--baseline needs --max-regression METRIC=AMOUNT (the worsening allowed, "
                             "e.g. lvs=0.05); without one the baseline would not be checked")
    run = load_results(_one_file(args.results))
    if args.labels:
        from lm_eval_latent.report import calibrated, labels

        calibrated.add_corrected_metrics(run, calibrated.calibrate_run(
            run, labels.read_labels(args.labels), args.labels))
    checks = [check_requirement(run, req, args.task) for req in reqs]
    if limits:
        base = load_results(_one_file(args.baseline))
        checks += [check_regression(run, base, n, a, args.task) for n, a in limits.items()]
    return checks


def _one_file(path: str) -> Path:
    """A results file, or the single ``results_*.json`` below a folder (lm-eval's --output_path)."""
    files = expand_paths([path])
    if len(files) > 1:
        raise GateInputError(f"{path} holds {len(files)} results files ({', '.join(map(str, files))}); "
                             "name the one to gate")
    return files[0]


def main(argv: list[str] | None = None) -> int:
    """Run the ``gate`` subcommand; returns 0 (all hold), 1 (some fail) or 2 (unusable input)."""
    args = build_parser().parse_args(argv)
    try:
        checks = run_checks(args)
    except (GateInputError, ResultsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for check in checks:
        print(check.line())
    failed = sum(not c.ok for c in checks)
    print(f"gate: {len(checks) - failed}/{len(checks)} checks hold" + (" - FAILED" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
