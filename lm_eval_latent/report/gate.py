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
The checks are here; the command (its arguments, output and exit status) is `lm_eval_latent.commands.gate`.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from lm_eval_latent.report.results import RunResults

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


if __name__ == "__main__":  # the old way to run it: name the command
    import sys

    print("lm_eval_latent.report.gate holds the gate's checks; run `lm-eval-latent gate ...` "
          "(lm_eval_latent.commands.gate)", file=sys.stderr)
    sys.exit(2)
