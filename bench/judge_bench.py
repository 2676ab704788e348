"""Benchmark refusal judges on human-labelled answers they were not fitted on: judge x source.

Sources (read in place from the shared datasets folder, never copied: `--data-dir`, else
`$LM_EVAL_LATENT_SHARED`, else `<repo>/../shared/datasets`): the XSTest completions of five
models (450 each) and GPTFuzz `evaluate.csv` (1540 answers to 20 questions that `train.csv`
does not cover). Labels follow `lm_eval_latent.judging.labelled` (XSTest partial refusal ->
refused). An unscored verdict counts as wrong.

The learned judge (`ngram`) is measured leave-one-source-out: for each XSTest model, weights
fitted on the other four and `gptfuzz/train`; for GPTFuzz evaluate, fitted on all five XSTest
files and `gptfuzz/train` (the shipped weights' recipe). Rule and model judges run as built by
`get_judge`. A model judge joins with `--model-judge NAME=PATH` (built as
`get_judge(NAME, model=PATH, **options)`; options from `--judge-option NAME.KEY=VALUE`).

    python bench/judge_bench.py [--judges keyword gcg] [--no-learned]
        [--model-judge harmbench=/path/to/HarmBench-Llama-2-13b-cls]
        [--judge-option harmbench.device=cuda] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lm_eval_latent.judging import Verdict, get_judge
from lm_eval_latent.judging.labelled import XSTEST_SOURCES, load_source
from lm_eval_latent.judging.ngram import NgramFeatures, NgramJudge
from lm_eval_latent.judging.train_ngram import TRAIN_SOURCES, fit

REPORT_SOURCES = XSTEST_SOURCES + ("gptfuzz/evaluate",)
LEARNED = "ngram (LOSO)"


def score(truths: Sequence[Verdict], predictions: Sequence[Verdict]) -> dict:
    """Balanced accuracy and per-class recall; an unscored prediction counts as wrong."""
    per_class = {}
    for cls in (Verdict.REFUSED, Verdict.COMPLIED):
        idx = [i for i, t in enumerate(truths) if t == cls]
        hits = sum(predictions[i] == cls for i in idx)
        per_class[cls] = hits / len(idx) if idx else float("nan")
    refusal, compliance = per_class[Verdict.REFUSED], per_class[Verdict.COMPLIED]
    return {
        "balanced_accuracy": (refusal + compliance) / 2,
        "refusal_recall": refusal,
        "compliance_recall": compliance,
        "unscored": sum(p == Verdict.UNSCORED for p in predictions),
        "n": len(truths),
    }


def _verdicts(judge, rows) -> list[Verdict]:
    return [j.verdict for j in judge.judge([r.prompt for r in rows], [r.response for r in rows])]


def loso_verdicts(data: dict[str, list], features: NgramFeatures | None = None) -> dict:
    """The learned judge's verdicts on each report source, from weights never fitted on it."""
    import scipy.sparse as sp

    features = NgramFeatures() if features is None else features
    # Featurise each source once; the folds only restack rows.
    matrices = {s: features.transform([r.response for r in data[s]]) for s in data}
    out = {}
    for held_out in REPORT_SOURCES:
        train = [s for s in TRAIN_SOURCES if s != held_out]
        rows = [r for s in train for r in data[s]]
        model = fit(rows, features, matrix=sp.vstack([matrices[s] for s in train], format="csr"))
        out[held_out] = _verdicts(NgramJudge(model), data[held_out])
    return out


def run_benchmark(
    judges: Sequence[str] = ("keyword", "gcg"),
    learned: bool = True,
    model_judges: dict[str, str] | None = None,
    judge_options: dict[str, dict] | None = None,
    data_dir: Path | None = None,
) -> dict:
    """{judge: {source: score dict}} over REPORT_SOURCES (see the module docstring)."""
    sources = sorted(set(REPORT_SOURCES) | (set(TRAIN_SOURCES) if learned else set()))
    data = {s: load_source(s, data_dir) for s in sources}
    judge_options = judge_options or {}
    built = {name: get_judge(name, **judge_options.get(name, {})) for name in judges}
    for name, path in (model_judges or {}).items():
        built[name] = get_judge(name, model=path, **judge_options.get(name, {}))
    results = {}
    for name, judge in built.items():
        results[name] = {}
        for s in REPORT_SOURCES:
            results[name][s] = score([r.truth for r in data[s]], _verdicts(judge, data[s]))
    if learned:
        verdicts = loso_verdicts(data)
        results[LEARNED] = {s: score([r.truth for r in data[s]], verdicts[s])
                            for s in REPORT_SOURCES}
    return results


def format_table(results: dict) -> str:
    """Rows: sources, then the worst source; columns: each judge's bal_acc, recalls, unscored."""
    names = list(results)
    width = max(16, *(len(n) + 1 for n in names))
    header = f"{'source':<24}" + "".join(
        f"| {n:>{width}} {'ref_rec':>7} {'comp_rec':>8} {'unsc':>5} " for n in names
    )
    lines = [header, "-" * len(header)]
    for src in REPORT_SOURCES:
        line = f"{src:<24}"
        for n in names:
            s = results[n][src]
            line += (f"| {s['balanced_accuracy']:>{width}.3f} {s['refusal_recall']:>7.3f} "
                     f"{s['compliance_recall']:>8.3f} {s['unscored']:>5d} ")
        lines.append(line)
    line = f"{'worst source':<24}"
    for n in names:
        worst = min(results[n][s]["balanced_accuracy"] for s in REPORT_SOURCES)
        line += f"| {worst:>{width}.3f} {'':>7} {'':>8} {'':>5} "
    lines.append(line)
    return "\n".join(lines)


def _key_values(items: Sequence[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"error: {flag} {item!r} should look like KEY=VALUE")
        pairs.append((key, value))
    return pairs


def _parse_value(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", nargs="*", default=["keyword", "gcg"],
                        help="registered judges to run as built (default: keyword gcg)")
    parser.add_argument("--no-learned", action="store_true",
                        help="skip the learned judge's leave-one-source-out folds")
    parser.add_argument("--model-judge", action="append", default=[], metavar="NAME=PATH",
                        help="a model judge from a local folder; repeatable")
    parser.add_argument("--judge-option", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="an option for a judge (value parsed as JSON when it is); repeatable")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    options: dict[str, dict] = {}
    for key, value in _key_values(args.judge_option, "--judge-option"):
        name, dot, option = key.partition(".")
        if not dot or not option:
            raise SystemExit(f"error: --judge-option {key!r} should look like NAME.KEY=VALUE")
        options.setdefault(name, {})[option] = _parse_value(value)
    start = time.perf_counter()
    try:
        results = run_benchmark(args.judges, not args.no_learned,
                                dict(_key_values(args.model_judge, "--model-judge")),
                                options, args.data_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(results))
    print(f"(bal_acc per judge; unscored counts as wrong; {time.perf_counter() - start:.0f} s)")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
