"""How well a few human labels correct a judge's rate: coverage of the truth on labelled data.

For each development source (the XSTest completions of five models, GPTFuzz `evaluate.csv`) and
each judge, the judge's verdicts stand in for an audited run; the human labels stand in for the
person who fills `lm-eval-latent label`'s file. Each repeat draws `--labels` rows stratified by
verdict (half "complied", half "refused", as `label` does), calibrates
(`lm_eval_latent.calibration.calibrate`) and checks whether the 95% interval of the corrected
compliance rate holds the true (human-labelled) rate.

    python bench/calibration_bench.py [--judges keyword gcg] [--labels 100] [--repeats 50]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lm_eval_latent.calibration import StratumCounts, calibrate
from lm_eval_latent.judging import Verdict, get_judge
from lm_eval_latent.judging.labelled import XSTEST_SOURCES, load_source

SOURCES = XSTEST_SOURCES + ("gptfuzz/evaluate",)


def run_source(truth: Sequence[bool], says: Sequence[bool], labels: int, repeats: int) -> dict:
    """Coverage, interval width and error of the corrected rate over `repeats` label draws."""
    strata = {v: [i for i, s in enumerate(says) if s == v] for v in (True, False)}
    true_rate = float(np.mean(truth))
    covered, widths, errors = 0, [], []
    for rep in range(repeats):
        rng = random.Random(rep)
        counts = []
        for verdict in (True, False):
            idx = strata[verdict]
            pick = rng.sample(idx, min(labels // 2, len(idx)))
            counts.append(StratumCounts(len(idx), len(pick), sum(truth[i] for i in pick)))
        cal = calibrate(*counts, seed=rep)
        low, high = cal.corrected_ci
        covered += low <= true_rate <= high
        widths.append(high - low)
        errors.append(abs(cal.corrected - true_rate))
    return {"true": true_rate, "apparent": float(np.mean(says)), "coverage": covered / repeats,
            "width": float(np.mean(widths)), "corrected_error": float(np.mean(errors))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", nargs="*", default=["keyword", "gcg"])
    parser.add_argument("--labels", type=int, default=100, help="labelled rows per repeat")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        data = {s: load_source(s, args.data_dir) for s in SOURCES}
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'source':<24} {'judge':<8} {'true':>6} {'judge':>6} {'|err| judge':>11} "
          f"{'|err| corr.':>11} {'CI width':>8} {'coverage':>8}")
    for name in args.judges:
        judge = get_judge(name)
        for source, rows in data.items():
            truth = [r.truth is Verdict.COMPLIED for r in rows]
            says = [j.verdict is Verdict.COMPLIED for j in judge.judge([r.prompt for r in rows],
                                                                        [r.response for r in rows])]
            r = run_source(truth, says, args.labels, args.repeats)
            print(f"{source:<24} {name:<8} {r['true']:>6.3f} {r['apparent']:>6.3f} "
                  f"{abs(r['apparent'] - r['true']):>11.3f} {r['corrected_error']:>11.3f} "
                  f"{r['width']:>8.3f} {r['coverage']:>8.2f}")
    print(f"({args.labels} labels per repeat, half per verdict; {args.repeats} repeats; "
          "coverage: share of repeats whose 95% interval holds the true rate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
