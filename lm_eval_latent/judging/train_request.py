"""Train the request model (`request_harm.py`): is a request unsafe? (a script, run by hand).

    python -m lm_eval_latent.judging.train_request [--data-dir DIR] [--out PATH]

Training requests, from the shared datasets folder, deduplicated by text:
- ``splits``: ``splits/harmful_train.json`` (260 unsafe instructions pooled from AdvBench,
  HarmBench, JailbreakBench and others) and ``splits/harmless_val.json`` (6,264 safe Alpaca
  instructions); the ``*_test`` files and ``harmful_val.json`` are never read;
- ``xstest``: XSTest's 250 safe prompts (made to look unsafe) and 200 unsafe contrasts, from the
  completion files' prompts;
- ``gptfuzz``: the 80 questions of GPTFuzz ``train.csv`` (all unsafe; never ``evaluate.csv``'s).

Each (group, label) cell gets the same total weight, then each label the same total, so neither
Alpaca's size nor XSTest's few hundred prompts sets the boundary alone. The fit (liblinear, C as
the `ngram` judge's) is deterministic: the same data give the same file.
`bench/judge_bench.py --harm` fits the model per fold with `request_examples` and `fit`, from the
fold's labelled rows only.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lm_eval_latent.judging.labelled import LabelledAnswer, add_data_dir_argument, shared_datasets_dir
from lm_eval_latent.judging.request_harm import REQUEST_WEIGHTS, RequestFeatures, RequestModel
from lm_eval_latent.judging.train_ngram import C, TRAIN_SOURCES, load_sources
from lm_eval_latent.outputs import write_bytes_atomic

SPLITS = {"harmful_train.json": True, "harmless_val.json": False}  # file: unsafe


@dataclass(frozen=True)
class RequestExample:
    """One training request: its text, whether it is unsafe, and its group (weighting cell)."""

    text: str
    unsafe: bool
    group: str


def split_requests(data_dir: Path | str | None = None) -> list[RequestExample]:
    """The refusal-direction instruction splits named in `SPLITS`.

    Raises:
        FileNotFoundError: a split file is missing, naming the path.
        ValueError: a file is not a JSON list of objects with an ``instruction`` string.
    """
    folder = (shared_datasets_dir() if data_dir is None else Path(data_dir)) / "splits"
    out = []
    for name, unsafe in SPLITS.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"request split {path} not found; pass the shared datasets "
                                    "folder as data_dir or set LM_EVAL_LATENT_SHARED")
        records = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(records, list) or not all(
                isinstance(r, dict) and isinstance(r.get("instruction"), str) for r in records):
            raise ValueError(f"{path} should be a JSON list of objects with an 'instruction' string")
        out += [RequestExample(r["instruction"], unsafe, "splits") for r in records]
    return out


def request_examples(rows: Sequence[LabelledAnswer], splits: Sequence[RequestExample]) -> list[RequestExample]:
    """`splits` plus the labelled rows' requests (group: the source's family), deduplicated by
    text (first kept); rows without a request are skipped."""
    drawn = list(splits) + [RequestExample(r.prompt, r.unsafe_request, r.source.split("/")[0])
                            for r in rows if r.prompt.strip()]
    seen, out = set(), []
    for e in drawn:
        if e.text not in seen:
            seen.add(e.text)
            out.append(e)
    return out


def example_weights(examples: Sequence[RequestExample]) -> np.ndarray:
    """Each (group, label) cell the same total, then each label the same total; mean 1."""
    cells = Counter((e.group, e.unsafe) for e in examples)
    per_label = Counter(unsafe for _, unsafe in cells)  # cells per label
    w = np.array([1.0 / (cells[(e.group, e.unsafe)] * per_label[e.unsafe]) for e in examples])
    return w * len(w) / w.sum()


def fit(examples: Sequence[RequestExample], features: RequestFeatures | None = None,
        c: float = C) -> RequestModel:
    """A logistic regression over `features` of the requests, label `unsafe`.

    Raises:
        ValueError: when the examples do not hold both labels.
    """
    from sklearn.linear_model import LogisticRegression

    features = RequestFeatures() if features is None else features
    y = np.array([e.unsafe for e in examples])
    if y.all() or not y.any():
        raise ValueError(f"training requests should hold both labels, got {len(examples)} of one")
    model = LogisticRegression(C=c, solver="liblinear", max_iter=2000, random_state=0)
    model.fit(features.transform([e.text for e in examples]), y, sample_weight=example_weights(examples))
    return RequestModel(features, model.coef_[0].astype(np.float32), float(model.intercept_[0]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--out", type=Path, default=REQUEST_WEIGHTS,
                        help="default: the shipped request_weights.npz")
    args = parser.parse_args(argv)
    try:
        examples = request_examples(load_sources(TRAIN_SOURCES, args.data_dir), split_requests(args.data_dir))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model = fit(examples)
    buffer = io.BytesIO()
    model.save(buffer)
    write_bytes_atomic(args.out, buffer.getvalue())  # a failed run leaves the old weights in place
    counts = Counter((e.group, "unsafe" if e.unsafe else "safe") for e in examples)
    print(f"trained on {len(examples)} requests ("
          + ", ".join(f"{g} {label}: {n}" for (g, label), n in sorted(counts.items())) + ")")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
