"""`lm-eval-latent gate`: pass/fail checks on an lm-eval results file, for CI.

    lm-eval-latent gate out/model/results_*.json --require 'lvs<=0.3' \
        --baseline base/results_*.json --max-regression lvs=0.05

The checks (their grammar, lookup and regression rule) are `lm_eval_latent.report.gate`'s.
Exit status: 0 every check holds, 1 some check fails (a NaN value fails), 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lm_eval_latent.report.gate import (
    GRAMMAR,
    Check,
    GateInputError,
    Requirement,
    check_regression,
    check_requirement,
    parse_regression,
)
from lm_eval_latent.report.results import ResultsError, expand_paths, load_results


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
