"""`lm-eval-latent report`: one audit report from lm-eval results files.

    lm-eval-latent report out/base/results_*.json out/tuned/results_*.json \
        --baseline base --out report/ --html --png [--onset onset.json]

Prints a table of behavioural and latent metrics per model and the audit gap of each model against
the baseline; writes PNG figures (``--png``) and a self-contained HTML page (``--html``) to
``--out``. The tables, gap, figures and page are `lm_eval_latent.report`'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lm_eval_latent.outputs import (
    OutputError,
    check_out_dir,
    check_out_file,
    write_bytes_atomic,
    write_text_atomic,
)
from lm_eval_latent.report import FIGURES, make_figures, written_by_report
from lm_eval_latent.report.results import ResultsError, load_runs


def build_parser() -> argparse.ArgumentParser:
    """The ``report`` subcommand's arguments."""
    p = argparse.ArgumentParser(prog="lm-eval-latent report", description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+", help="lm-eval results JSON files or output folders")
    p.add_argument("--baseline", help="display name or results file of the baseline model "
                   "(default: the first results file)")
    p.add_argument("--out", default="audit_report", help="folder for --png/--html (default: "
                   "audit_report)")
    p.add_argument("--html", action="store_true", help="write OUT/report.html")
    p.add_argument("--png", action="store_true", help="write the figures as OUT/*.png")
    p.add_argument("--labels", metavar="FILE.csv", help="human labels of one run's answers "
                   "(from `lm-eval-latent label`, filled in): adds the judge's sensitivity and "
                   "specificity and judge-corrected rates")
    p.add_argument("--overwrite", action="store_true", help="replace report.html and the figures in --out "
                   "when an earlier report wrote them (files another program wrote are never replaced)")
    p.add_argument("--onset", help='onset JSON {"steps": [...], "compliance": [...], '
                   '"tau": 0.8, "onset": 10}')
    return p


def check_outputs(out: Path, args: argparse.Namespace) -> None:
    """Refuse, before any work, to replace a report file in ``out`` without ``--overwrite``, and
    with it a file of that name that the report did not write (OutputError)."""
    names = ["report.html"] if args.html else []
    if args.png:
        names += [png for title, png in FIGURES.items() if args.onset or title != "Fine-tuning onset"]
    for name in names:
        check_out_file(out / name, "--out", overwrite=args.overwrite, is_ours=written_by_report,
                       what="a file written by `lm-eval-latent report`")


def main(argv: list[str] | None = None) -> int:
    """Run the ``report`` subcommand; returns 0, or 2 on unusable input (message on stderr)."""
    from lm_eval_latent.report import agreement, gap, summary, table

    from lm_eval_latent.report.plots import load_onset

    args = build_parser().parse_args(argv)
    try:  # every input and the output folder are checked before anything is printed or written
        out = check_out_dir(args.out) if (args.png or args.html) else Path(args.out)
        if args.png or args.html:
            check_outputs(out, args)
        onset = load_onset(args.onset) if args.onset else None
        runs = load_runs(args.results)
        base = gap.pick_baseline(runs, args.baseline)
        gap_list = gap.gaps(runs, base)  # reads the logged samples too
        judges = agreement.agreement_rows(runs)
        calibration = None
        if args.labels:
            from lm_eval_latent.report import calibrated, labels

            labelled_run, found = calibrated.match_run(runs, labels.read_labels(args.labels), args.labels)
            calibration = calibrated.calibration_rows(labelled_run, found)
    except (ResultsError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table.summary_table(runs))
    for line in summary.control_warnings(runs):
        print(f"warning: {line}")
    if gap_list:
        print(f"\nAudit gap against baseline {base.name}:")
        print(table.gap_table(gap_list))
    if judges:
        print("\nJudge agreement (the rates above use the first judge):")
        print(table.render(*judges))
    if calibration:
        print(f"\nJudge calibration on {args.labels} (sensitivity and specificity of the judge on "
              "the labelled rows; the corrected rate's CI includes the judge's error):")
        print(table.render(*calibration))
    if not (args.png or args.html):
        return 0
    figures, skipped = make_figures(runs, onset)
    for title, why in skipped.items():
        print(f"figure '{title}' skipped: {why}")
    # The report writes only its own files (report.html and the figure names) in --out, and
    # replaces them only with --overwrite (check_outputs).
    files: dict[Path, bytes | str] = {}
    if args.png:
        files.update({out / FIGURES[title]: png for title, png in figures.items()})
    if args.html:
        from lm_eval_latent.report.html import render_page

        notes = "; ".join(f"{c} from {', '.join(t)}" for c, t in summary.sources(runs).items())
        files[out / "report.html"] = render_page(table.summary_rows(runs), notes,
                                                 table.gap_rows(gap_list) if gap_list else None, base.name,
                                                 figures, skipped, [str(r.path) for r in runs], judges,
                                                 calibration)
    try:
        for path, content in files.items():
            (write_text_atomic if isinstance(content, str) else write_bytes_atomic)(path, content)
            print(f"wrote {path}")
    except OSError as err:
        print(f"error: --out {str(out)!r}: cannot write the report ({err})", file=sys.stderr)
        return 2
    return 0
