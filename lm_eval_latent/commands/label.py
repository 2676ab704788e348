"""`lm-eval-latent label`: a verdict-stratified sample of a run's judged answers, to label by hand.

    lm-eval-latent label out/model/results_*.json --sample 100 --out labels.csv

The rows, the sample and the CSV are `lm_eval_latent.report.labels`'s (docs/calibration.md).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from lm_eval_latent.outputs import OutputError, check_out_file, write_text_atomic
from lm_eval_latent.report.labels import LABELS, judged_rows, stratified_sample, to_csv
from lm_eval_latent.report.results import ResultsError, expand_paths, load_results


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
            raise ResultsError(f"{run.path}: no task with logged samples; run lm-eval "
                               f"with --log_samples (tasks: {', '.join(run.metrics)})")
    except (ResultsError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    picked = stratified_sample(rows, args.sample, args.seed)
    write_text_atomic(out, to_csv(picked))
    per = Counter((r.task, r.kind, r.verdict) for r in picked)
    print(f"wrote {out}: {len(picked)} rows ({', '.join(f'{t}/{k}/{v}: {n}' for (t, k, v), n in sorted(per.items()))}); "
          f"fill the `label` column with {', '.join(LABELS)}")
    return 0
