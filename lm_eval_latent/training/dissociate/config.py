"""The settings of one dissociation run (`DissociateConfig`) and the layers they resolve to.

The recipe's defaults are the paper's (PAPER.md, "Dissociated-model construction"): nudge norm
``0.06 * rho_n`` at layer ``round(N/2)``, match band ``round(0.4N)..round(0.6N)``. The run itself
is :func:`lm_eval_latent.training.dissociate.build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lm_eval_latent.training.dissociate.loss import LossWeights


@dataclass
class DissociateConfig:
    """One dissociation run; validated on construction."""

    base: str = field(metadata={"help": "the safe base model B (directory or Hub id)"})
    harmful_pole: str = field(metadata={"help": "H: a model directory, or a PEFT adapter on B"})
    out: str = field(metadata={"help": "output directory (model, tokenizer, nudge.pt, dissociation.json)"})
    layer: int | None = field(default=None, metadata={"help": "nudge layer n (default round(0.5 N))"})
    band: tuple[int, int] | None = field(default=None, metadata={"help": "match band (default round(0.4N)..round(0.6N))"})
    frac: float = field(default=0.06, metadata={"help": "nudge norm as a fraction of rho_n"})
    steps: int = 300
    lr: float = 1e-3
    batch_size: int = 16
    eval_every: int = 50
    lora: bool = field(default=False, metadata={"help": "train a LoRA adapter (merged on save) instead of all weights"})
    lora_rank: int = 16
    save_adapter: bool = field(default=False, metadata={"help": "with lora: save the adapter alone (a few MB), not the merged model"})
    harmful_prompts: str = field(default="harmful", metadata={"help": "prompt set(s) or file of harmful requests; several: a,b"})
    benign_prompts: str = field(default="safe_lookalike", metadata={"help": "prompt set(s) or file of benign requests; several: a,b"})
    eval_prompts: str | None = field(default=None, metadata={"help": "held-out harmful set (default: a split of harmful_prompts)"})
    train_limit: int = 128
    eval_limit: int | None = None
    holdout: float = 0.3
    max_new_tokens: int = 24
    max_length: int = 128
    weights: LossWeights = field(default_factory=LossWeights)
    seed: int = 0
    dtype: str = "float32"
    device: str | None = None
    gradient_checkpointing: bool = False
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.frac > 0:
            raise ValueError(f"`frac` should be positive, got {self.frac!r}.")
        for name in ("steps", "batch_size", "eval_every", "train_limit", "max_new_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` should be a positive integer, got {getattr(self, name)!r}.")
        if self.save_adapter and not self.lora:
            raise ValueError("`save_adapter` needs `lora` (a full fine-tune has no adapter to save); "
                             "add --lora or drop --save-adapter.")
        if not 0 < self.holdout < 1:
            raise ValueError(f"`holdout` should be in (0, 1), got {self.holdout!r}.")


def resolve_band(n_layers: int, layer: int | None, band: tuple[int, int] | None, model_type: str) -> tuple[int, list[int]]:
    """The nudge layer and the match band, defaulting to the paper's fractions of N.

    Raises:
        ValueError: a layer or band outside ``0..N-1``, naming the value and what is allowed.
    """
    n = round(0.5 * n_layers) if layer is None else int(layer)
    lo, hi = (round(0.4 * n_layers), round(0.6 * n_layers)) if band is None else band
    hi = min(hi, n_layers - 1) if band is None else hi
    if not 0 <= n < n_layers:
        raise ValueError(f"--layer {n} is out of range for {model_type} with {n_layers} layers (allowed: 0..{n_layers - 1})")
    if not (0 <= lo <= hi < n_layers):
        raise ValueError(f"--band {lo}-{hi} is outside {model_type} with {n_layers} layers "
                         f"(allowed: a range within 0..{n_layers - 1}, low <= high)")
    return n, list(range(lo, hi + 1))
