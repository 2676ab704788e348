"""Human-labelled answers for measuring and training refusal judges, read from a folder.

Two public sources, in the layout of the shared datasets folder (never copied into the package):

- **XSTest completions** (`xstest_completions/xstest_v2_completions_<model>.csv`): five models'
  answers to XSTest's 250 safe and 200 unsafe prompts, two annotators each. `final_label`
  1_full_compliance -> complied; 2_full_refusal -> refused; 3_partial_refusal -> refused (XSTest
  uses it for answers that refuse and offer something else or a sanitised version; see
  docs/judges.md for why that is a refusal under our definition).
- **GPTFuzz** (`gptfuzz/train.csv`, `gptfuzz/evaluate.csv`): gpt-3.5-turbo answers to harmful
  questions wrapped in jailbreak templates; `label` 1 -> complied, 0 -> refused. The two files
  cover different questions; develop on train, report on evaluate.

One definition of "complied" serves both (docs/judges.md): the answer delivers on-task content
for the request (for a harmful request, the harmful content), whatever disclaimers surround it.
`LabelledAnswer.harmful` answers the harm question: on-task content for an unsafe request (XSTest
marks its 200 contrast prompts unsafe; every GPTFuzz question is harmful).

    rows = load_source("xstest/gpt4", data_dir)      # list[LabelledAnswer]
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from lm_eval_latent.judging.base import Verdict

XSTEST_LABELS = {
    "1_full_compliance": Verdict.COMPLIED,
    "2_full_refusal": Verdict.REFUSED,
    "3_partial_refusal": Verdict.REFUSED,
}
GPTFUZZ_LABELS = {"1": Verdict.COMPLIED, "0": Verdict.REFUSED}
XSTEST_MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")
XSTEST_SOURCES = tuple(f"xstest/{m}" for m in XSTEST_MODELS)
GPTFUZZ_SOURCES = ("gptfuzz/train", "gptfuzz/evaluate")
SOURCES = XSTEST_SOURCES + GPTFUZZ_SOURCES


@dataclass(frozen=True)
class LabelledAnswer:
    """One human-labelled answer.

    Attributes:
        source: Where it comes from ("xstest/gpt4", "gptfuzz/evaluate", ...).
        prompt: The request as the model saw it (XSTest) or the bare question (GPTFuzz, whose
            jailbreak template is not kept with the answer).
        response: The model's answer.
        truth: Verdict.COMPLIED or Verdict.REFUSED.
        detail: The source's own label ("3_partial_refusal", "1", ...).
        unsafe_request: Whether the source marks the request unsafe (XSTest's contrast prompts;
            every GPTFuzz question). Default True.
    """

    source: str
    prompt: str
    response: str
    truth: Verdict
    detail: str
    unsafe_request: bool = True

    @property
    def harmful(self) -> bool:
        """The harm question's truth: on-task content (complied) for an unsafe request.

        An on-task answer to one of XSTest's safe prompts is not harmful; a GPTFuzz answer is
        harmful exactly when it is labelled jailbroken.
        """
        return self.truth is Verdict.COMPLIED and self.unsafe_request


def shared_datasets_dir() -> Path:
    """The shared datasets folder: $LM_EVAL_LATENT_SHARED, else <repo>/../shared/datasets."""
    override = os.environ.get("LM_EVAL_LATENT_SHARED")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "datasets"


def add_data_dir_argument(parser) -> None:
    """The training scripts' ``--data-dir`` option (an `argparse` parser)."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the shared datasets folder (default: $LM_EVAL_LATENT_SHARED, "
                             "else <repo>/../shared/datasets)")


def load_source(source: str, data_dir: Path | str | None = None) -> list[LabelledAnswer]:
    """All labelled answers of one source.

    Raises:
        ValueError: for an unknown source (listing the known ones) or an unknown label (naming
            the file and row).
        FileNotFoundError: when the source's file is missing, naming the path.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown labelled source {source!r} (known: {', '.join(SOURCES)})")
    data_dir = shared_datasets_dir() if data_dir is None else Path(data_dir)
    kind, name = source.split("/")
    if kind == "xstest":
        path = data_dir / "xstest_completions" / f"xstest_v2_completions_{name}.csv"
        return [
            LabelledAnswer(source, rec["prompt"], rec["completion"],
                           _label(XSTEST_LABELS, rec["final_label"], path, i), rec["final_label"],
                           unsafe_request=rec["type"].startswith("contrast"))
            for i, rec in _rows(path)
        ]
    path = data_dir / "gptfuzz" / f"{name}.csv"
    questions = {rec["index"]: rec["text"] for _, rec in _rows(data_dir / "gptfuzz" / "question_list.csv")}
    return [
        LabelledAnswer(source, questions.get(rec["question"], ""), rec["Response"],
                       _label(GPTFUZZ_LABELS, rec["label"], path, i), rec["label"])
        for i, rec in _rows(path)
    ]


def _rows(path: Path):
    if not path.is_file():
        raise FileNotFoundError(
            f"labelled data file {path} not found; pass the shared datasets folder as data_dir "
            "or set LM_EVAL_LATENT_SHARED"
        )
    with path.open(newline="", encoding="utf-8") as f:
        yield from enumerate(csv.DictReader(f), start=2)


def _label(labels: dict[str, Verdict], value: str, path: Path, row: int) -> Verdict:
    try:
        return labels[value.strip()]
    except KeyError:
        raise ValueError(f"{path}:{row}: label {value!r} is not one of {sorted(labels)}") from None
