"""Train the n-gram judge's weights on human-labelled answers (a script, run by hand).

    python -m lm_eval_latent.judging.train_ngram [--data-dir DIR] [--out PATH] [--pair]

Trains on every labelled source except `gptfuzz/evaluate` (kept for reporting): the five XSTest
completion files and `gptfuzz/train`, and writes the weights the package ships
(`lm_eval_latent/judging/ngram_weights.npz`). Each (source, class) cell gets the same total
weight, so neither the largest source nor the majority class sets the decision boundary. The
fit (scikit-learn's liblinear logistic regression) is deterministic: the same data give the
same file. `bench/judge_bench.py` uses `fit` for its leave-one-source-out folds. With `--pair`
the model also reads the request (`request_overlap.py`) and the default output is the
`ngram_pair` judge's `ngram_pair_weights.npz`.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lm_eval_latent.judging.base import Verdict
from lm_eval_latent.judging.labelled import (
    GPTFUZZ_SOURCES,
    XSTEST_SOURCES,
    LabelledAnswer,
    add_data_dir_argument,
    load_source,
)
from lm_eval_latent.judging.ngram import PAIR_WEIGHTS, WEIGHTS, NgramFeatures, NgramModel
from lm_eval_latent.judging.request_overlap import overlap_features
from lm_eval_latent.outputs import write_bytes_atomic

TRAIN_SOURCES = XSTEST_SOURCES + ("gptfuzz/train",)
HELD_OUT_SOURCE = GPTFUZZ_SOURCES[1]
# Inverse L2 strength; 10 beat 1 on XSTest leave-one-out and a question-grouped split of
# gptfuzz/train (gptfuzz/evaluate was not looked at to choose it).
C = 10.0


def cell_weights(rows: Sequence[LabelledAnswer]) -> np.ndarray:
    """Per-row weights giving every (source, truth) cell the same total; mean 1."""
    counts = Counter((r.source, r.truth) for r in rows)
    w = np.array([1.0 / counts[(r.source, r.truth)] for r in rows])
    return w * len(rows) / w.sum()


def fit(rows: Sequence[LabelledAnswer], features: NgramFeatures | None = None,
        c: float = C, matrix=None, pair: bool = False) -> NgramModel:
    """A logistic regression over `features` of the responses, labels from `truth`.

    Args:
        rows: The labelled answers.
        features: Feature settings (default `NgramFeatures()`).
        c: Inverse L2 strength.
        matrix: `features.transform` of the rows' responses, when the caller already has it.
        pair: Also fit weights for the request-overlap features (the `ngram_pair` judge).

    Raises:
        ValueError: when the rows do not hold both classes.
    """
    from sklearn.linear_model import LogisticRegression

    features = NgramFeatures() if features is None else features
    y = np.array([r.truth is Verdict.COMPLIED for r in rows])
    if y.all() or not y.any():
        raise ValueError(f"training rows should hold both classes, got {len(rows)} rows of one")
    x = features.transform([r.response for r in rows]) if matrix is None else matrix
    if pair:
        import scipy.sparse as sp

        dense = overlap_features([r.prompt for r in rows], [r.response for r in rows])
        x = sp.hstack([x, sp.csr_matrix(dense)], format="csr")
    model = LogisticRegression(C=c, solver="liblinear", max_iter=2000, random_state=0)
    model.fit(x, y, sample_weight=cell_weights(rows))
    coef = model.coef_[0]
    request = coef[features.size:].astype(np.float64) if pair else None
    return NgramModel(features, coef[:features.size].astype(np.float32), float(model.intercept_[0]),
                      request)


def load_sources(sources: Sequence[str], data_dir: Path | str | None = None) -> list[LabelledAnswer]:
    """The rows of several sources, in order."""
    return [row for source in sources for row in load_source(source, data_dir)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="default: the shipped ngram_weights.npz (ngram_pair_weights.npz with --pair)")
    parser.add_argument("--pair", action="store_true",
                        help="read the request too: the ngram_pair judge's weights")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = PAIR_WEIGHTS if args.pair else WEIGHTS
    try:
        rows = load_sources(TRAIN_SOURCES, args.data_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model = fit(rows, pair=args.pair)
    buffer = io.BytesIO()
    model.save(buffer)
    write_bytes_atomic(args.out, buffer.getvalue())  # a failed run leaves the old weights in place
    counts = Counter(r.source for r in rows)
    print(f"trained on {len(rows)} answers ({', '.join(f'{s}: {n}' for s, n in counts.items())})")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
