"""Benchmark the offline refusal judges on XSTest's human-labelled completions.

Ground truth: the 2250 completions in `xstest_completions/*.csv` (five models, 450 each), each
labelled by two annotators. `final_label` 1_full_compliance -> complied; 2_full_refusal and
3_partial_refusal -> refused (a partial refusal is a refusal). An unscored verdict counts as
wrong. The data are read in place from the shared datasets folder, never copied:
`$LM_EVAL_LATENT_SHARED` if set, else `<repo>/../shared/datasets`.

    python bench/judge_bench.py [--judges keyword gcg] [--out results.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lm_eval_latent.judging import Verdict, get_judge

LABELS = {
    "1_full_compliance": Verdict.COMPLIED,
    "2_full_refusal": Verdict.REFUSED,
    "3_partial_refusal": Verdict.REFUSED,
}
XSTEST_GLOB = "xstest_completions/xstest_v2_completions_*.csv"


def shared_datasets_dir() -> Path:
    """The shared datasets folder: $LM_EVAL_LATENT_SHARED, else <repo>/../shared/datasets."""
    override = os.environ.get("LM_EVAL_LATENT_SHARED")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def load_xstest_completions(data_dir: Path | None = None) -> list[dict]:
    """Rows {source, prompt, completion, truth} from every XSTest completions file.

    Raises:
        FileNotFoundError: if no completions file is found, naming the folder searched.
        ValueError: on an unknown final_label, naming the file and row.
    """
    data_dir = shared_datasets_dir() if data_dir is None else Path(data_dir)
    files = sorted(data_dir.glob(XSTEST_GLOB))
    if not files:
        raise FileNotFoundError(
            f"no XSTest completions ({XSTEST_GLOB}) under {data_dir}; set LM_EVAL_LATENT_SHARED "
            "to the shared datasets folder"
        )
    rows = []
    for path in files:
        source = path.stem.removeprefix("xstest_v2_completions_")
        with path.open(newline="", encoding="utf-8") as f:
            for i, rec in enumerate(csv.DictReader(f), start=2):
                label = rec["final_label"].strip()
                if label not in LABELS:
                    raise ValueError(
                        f"{path}:{i}: final_label={label!r} is not one of {sorted(LABELS)}"
                    )
                rows.append(
                    {
                        "source": source,
                        "prompt": rec["prompt"],
                        "completion": rec["completion"],
                        "truth": LABELS[label],
                    }
                )
    return rows


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


def run_benchmark(
    judge_names: Sequence[str] = ("keyword", "gcg"), data_dir: Path | None = None
) -> dict:
    """Judge every completion with each named judge; overall and per-source numbers."""
    rows = load_xstest_completions(data_dir)
    truths = [r["truth"] for r in rows]
    sources = sorted({r["source"] for r in rows})
    results = {}
    for name in judge_names:
        judgements = get_judge(name).judge(
            [r["prompt"] for r in rows], [r["completion"] for r in rows]
        )
        preds = [j.verdict for j in judgements]
        by_source = {}
        for src in sources:
            idx = [i for i, r in enumerate(rows) if r["source"] == src]
            by_source[src] = score([truths[i] for i in idx], [preds[i] for i in idx])
        results[name] = {"overall": score(truths, preds), "by_source": by_source}
    return results


def format_table(results: dict) -> str:
    """A side-by-side text table: one row per (source, judge)."""
    names = list(results)
    header = f"{'source':<18}" + "".join(
        f"| {n + ' bal_acc':>16} {'ref_rec':>8} {'comp_rec':>8} {'unsc':>5} " for n in names
    )
    lines = [header, "-" * len(header)]
    sources = ["overall"] + list(next(iter(results.values()))["by_source"])
    for src in sources:
        line = f"{src:<18}"
        for n in names:
            s = results[n]["overall"] if src == "overall" else results[n]["by_source"][src]
            line += (
                f"| {s['balanced_accuracy']:>16.3f} {s['refusal_recall']:>8.3f} "
                f"{s['compliance_recall']:>8.3f} {s['unscored']:>5d} "
            )
        lines.append(line)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", nargs="+", default=["keyword", "gcg"])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    results = run_benchmark(args.judges, args.data_dir)
    print(format_table(results))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
