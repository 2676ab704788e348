"""Judges on your own labelled answers: harm balanced accuracy with its standard error, and speed.

    python bench/judge_labelled.py FILE --label-column COL --harmful VALUE [VALUE ...]
        [--request-column prompt] [--answer-column response]
        [--judges ngram ngram_request keyword gcg] [--judge-option NAME.KEY=VALUE] [--out FILE.json]

FILE is a CSV (a header row) or a JSON-lines file (one object per line) of labelled answers,
such as a held-out set of jailbreak answers with human labels. The question is the harm question,
"did it give a harmful, on-task answer?": a row is harmful when its label is one of `--harmful`
(compared as text, so 1 and "1" match), not harmful otherwise; an empty label is an error. Only
a `complied` verdict says harmful (`refused` and `deflected` say not harmful) and an `unscored`
verdict counts as wrong, as in `judge_bench.py --harm`. Judges are built by `get_judge` with
their options (`--judge-option cross.fetch=true`); each is timed over every row, after one
warm-up call, in this process (run with OMP_NUM_THREADS=1 for one thread).

Unusable input (a missing file or column, an empty label, an unknown judge) prints one line and
exits 2. No judge is fitted here: the numbers are the shipped judges' on answers they never saw,
as long as the file is not one of the development sources (docs/judges.md).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jsonlines

from judge_bench import Timer, harm_score, judge_options, write_results  # bench/ is on sys.path
from lm_eval_latent.judging import Verdict, get_judge
from lm_eval_latent.judging.labelled import LabelledAnswer

DEFAULT_JUDGES = ("ngram", "ngram_request", "keyword", "gcg")


def read_rows(path: Path | str, request_column: str, answer_column: str, label_column: str,
              harmful: Sequence[str]) -> list[LabelledAnswer]:
    """The file's rows as `LabelledAnswer`s (truth complied = harmful; `detail` the label).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a column is missing (naming it and the columns there), a label is empty
            (naming the row), or the file has no row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labelled file {path} not found")
    if path.suffix == ".jsonl":
        with jsonlines.open(path) as reader:  # a line that is not JSON: InvalidLineError, a ValueError
            records = list(reader)
        for i, rec in enumerate(records, start=1):
            if not isinstance(rec, dict):
                raise ValueError(f"{path}: line {i} is not a JSON object")
        first_row = 1
    else:
        with path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's BOM
            records = list(csv.DictReader(f))
        first_row = 2
    if not records:
        raise ValueError(f"{path} holds no labelled row")
    for column in (request_column, answer_column, label_column):
        if column not in records[0]:
            raise ValueError(f"{path} has no column {column!r} (columns: {', '.join(map(str, records[0]))}); "
                             "name it with --request-column, --answer-column or --label-column")
    wanted = {str(v).strip() for v in harmful}
    out = []
    for i, rec in enumerate(records, start=first_row):
        label = "" if rec.get(label_column) is None else str(rec[label_column]).strip()
        if not label:
            raise ValueError(f"{path}: row {i} has an empty {label_column!r}; every row needs a label")
        truth = Verdict.COMPLIED if label in wanted else Verdict.REFUSED
        out.append(LabelledAnswer(path.name, str(rec.get(request_column) or ""), rec.get(answer_column),
                                  truth, label))
    return out


def measure(rows: Sequence[LabelledAnswer], judges: dict) -> dict:
    """{judge name: harm score dict (`judge_bench.harm_score`) plus "answers/s"}."""
    results = {}
    for name, judge in judges.items():
        judge.judge(["warm-up"], ["I cannot help with that."])  # imports, lazy loading
        timer = Timer()
        results[name] = harm_score(rows, timer.verdicts(judge, rows))
        results[name]["answers/s"] = timer.rate
    return results


def format_results(results: dict, rows: Sequence[LabelledAnswer]) -> str:
    harmful = sum(r.harmful for r in rows)
    header = (f"{'judge':<16}| {'harm bal_acc':>12} {'se':>6} | {'harmful found':>13} "
              f"{'harmless kept':>13} | {'unscored':>8} | {'answers/s':>9}")
    lines = [f"{len(rows)} answers: {harmful} harmful, {len(rows) - harmful} not", header, "-" * len(header)]
    for name, r in results.items():
        lines.append(f"{name:<16}| {r['balanced_accuracy']:>12.3f} {r['se']:>6.3f} | "
                     f"{r['compliance_recall']:>13.3f} {r['refusal_recall']:>13.3f} | "
                     f"{r['unscored']:>8} | {r['answers/s']:>9.0f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a .csv (header row) or .jsonl file of labelled answers")
    parser.add_argument("--label-column", required=True, help="the column holding each answer's label")
    parser.add_argument("--harmful", nargs="+", required=True, metavar="VALUE",
                        help="label values meaning 'a harmful, on-task answer' (every other value: not)")
    parser.add_argument("--request-column", default="prompt", help="default: prompt")
    parser.add_argument("--answer-column", default="response", help="default: response")
    parser.add_argument("--judges", nargs="+", default=list(DEFAULT_JUDGES),
                        help=f"registered judges (default: {' '.join(DEFAULT_JUDGES)})")
    parser.add_argument("--judge-option", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="an option for a judge (value parsed as JSON when it is); repeatable")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        options = judge_options(args.judge_option)
        rows = read_rows(args.file, args.request_column, args.answer_column, args.label_column, args.harmful)
        judges = {name: get_judge(name, **options.get(name, {})) for name in args.judges}
    except (FileNotFoundError, ValueError, TypeError) as err:  # TypeError: an option a judge lacks
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = measure(rows, judges)
    print(format_results(results, rows))
    print(f"(harm question: only 'complied' says harmful; unscored counts as wrong; "
          f"{time.perf_counter() - start:.0f} s)")
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
