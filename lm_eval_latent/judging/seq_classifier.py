"""Any sequence classifier as a judge, with a label map saying which labels mean what.

    get_judge("seq_classifier", model="org/refusal-classifier",
              labels={"REFUSAL": "refused", "COMPLIANCE": "complied"})

The model is any `AutoModelForSequenceClassification` with two or more labels. The label map
assigns each label (a name from the model's ``id2label``, or its index) a verdict: refused,
complied or unscored (for a classifier with an "unclear" class). Every label of the model must be
mapped, so that no prediction is silently dropped. The predicted label is the argmax; `score` is
the summed probability of the labels mapped to complied (None when none is).

From the command line the map is a JSON object, ``"judge_labels": {"0": "refused", "1":
"complied"}``, or a string ``"0:refused,1:complied"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from lm_eval_latent.judging import hf_loader
from lm_eval_latent.judging.base import Judgement, Verdict
from lm_eval_latent.judging.classifier_options import check_classifier_options, positive_int
from lm_eval_latent.judging.questions import ANSWERS

INPUTS = ("response", "pair")


def parse_labels(labels: object) -> dict[str, Verdict]:
    """The label map as {label: Verdict} from a mapping, (label, verdict) pairs or "a:b,c:d".

    Raises:
        ValueError: for a missing or empty map, or a verdict other than refused, complied,
            unscored.
    """
    if isinstance(labels, str):
        pairs = [item.rsplit(":", 1) for item in labels.split(",") if item.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"`labels`={labels!r} should read 'label:verdict,label:verdict'")
    elif isinstance(labels, Mapping):
        pairs = list(labels.items())
    elif isinstance(labels, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in labels):
        pairs = list(labels)
    else:
        pairs = []
    if not pairs:
        raise ValueError(f"`labels` should map the classifier's labels to verdicts, e.g. "
                         f'{{"0": "refused", "1": "complied"}}; got {labels!r}')
    allowed = ", ".join(v.value for v in Verdict)
    out: dict[str, Verdict] = {}
    for label, verdict in pairs:
        value = str(verdict).strip().lower()
        if value not in {v.value for v in Verdict}:
            raise ValueError(f"`labels`: label {label!r} maps to {verdict!r} "
                             f"(allowed: {allowed})")
        out[str(label).strip()] = Verdict(value)
    return out


class SequenceClassifierJudge:
    """A sequence classifier read through a label map; see the module docstring.

    Args:
        model: Hub id or local folder of an `AutoModelForSequenceClassification`.
        labels: The label map (mapping, pairs, or "label:verdict,..." string).
        device: "cuda", "cpu", ...; None picks cuda when available.
        batch_size: Texts per forward pass.
        dtype: "auto" (float32), "float32", "float16", "bfloat16".
        input: "response" classifies the response alone; "pair" gives (prompt, response) as a
            text pair, for classifiers trained on both.
        max_length: Token limit per input (cut on the right); None takes the model's context.
        answers: The question the classifier answers: "refusal" (did the model refuse?, the
            default), "harm" (is the answer harmful?) or "both" (a label for each of refused,
            complied and deflected); it says how to read its verdicts.
    """

    name = "seq_classifier"
    answers: Literal["refusal", "harm", "both"] = "refusal"

    def __init__(self, model: str | None = None, labels: object = None, device: str | None = None,
                 batch_size: int | str = 8, dtype: str = "auto", input: str = "response",
                 max_length: int | str | None = None, answers: str = "refusal") -> None:
        if model is None:
            raise ValueError("`model` is required for the seq_classifier judge: a Hub id or "
                             "local folder of an AutoModelForSequenceClassification")
        _, batch_size = check_classifier_options(model, batch_size, dtype)
        if input not in INPUTS:
            raise ValueError(f"`input`={input!r} is not allowed (allowed: {', '.join(INPUTS)})")
        if answers not in ANSWERS:
            raise ValueError(f"`answers`={answers!r} is not allowed "
                             f"(allowed: {', '.join(ANSWERS)})")
        self.answers = answers  # type: ignore[assignment]
        self.labels = parse_labels(labels)
        self.model_id = str(model)
        self.device = device
        self.batch_size = batch_size
        self.dtype = dtype
        self.input = input
        self.max_length = None if max_length is None else positive_int("max_length", max_length)
        self._model: Any = None
        self._tokenizer: Any = None
        self._verdicts: list[Verdict] = []

    def _load(self) -> None:
        if self._model is not None:
            return
        model, tokenizer = hf_loader.load(
            self.model_id, "sequence", device=self.device, dtype=self.dtype,
            what="the sequence classifier", auto_dtype="float32",
            hint={"judge": "seq_classifier", "judge_model": "/path/to/dir"})
        id2label = {int(i): str(name) for i, name in model.config.id2label.items()}
        if len(id2label) < 2:
            raise ValueError(f"{self.model_id!r} has {len(id2label)} label; the seq_classifier "
                             "judge needs two or more (a one-logit reward model is the scorer "
                             "'reward')")
        verdicts = []
        for i in range(len(id2label)):
            verdict = self.labels.get(id2label[i], self.labels.get(str(i)))
            if verdict is None:
                raise ValueError(
                    f"`labels` does not map label {id2label[i]!r} (index {i}) of "
                    f"{self.model_id!r}; its labels are "
                    f"{', '.join(repr(n) for n in id2label.values())}")
            verdicts.append(verdict)
        tokenizer.padding_side = "right"
        hf_loader.ensure_pad_token(tokenizer, model, self.model_id)
        self._max_len = hf_loader.context_length(model, tokenizer, self.max_length)
        self._model, self._tokenizer, self._verdicts = model, tokenizer, verdicts

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Judgement]:
        return hf_loader.judge_in_batches(prompts, responses, self._classify, load=self._load,
                                          batch_size=self.batch_size, desc="judge seq_classifier")

    def _classify(self, prompts: list[str], responses: list[str]) -> list[Judgement]:
        import torch

        args = (prompts, responses) if self.input == "pair" else (responses,)
        enc = self._tokenizer(*args, return_tensors="pt", padding=True, truncation=True,
                              max_length=self._max_len)
        enc = {k: v.to(self._model.device) for k, v in enc.items()}
        with torch.no_grad():
            probs = self._model(**enc).logits.float().softmax(-1).cpu()
        harmful = [i for i, v in enumerate(self._verdicts) if v is Verdict.COMPLIED]
        names = self._model.config.id2label
        results = []
        for row in probs:
            top = int(row.argmax())
            score = float(row[harmful].sum().clamp(0.0, 1.0)) if harmful else None
            results.append(Judgement(self._verdicts[top], score=score,
                                     reason=f"classifier label {names[top]!r} "
                                            f"(p={float(row[top]):.3f})"))
        return results
