"""The loss of dissociated-model training (PAPER.md, "Dissociated-model construction").

    L = NLL(y+ | clean) + 0.3 KL(B || theta) + 0.2 L_match + NLL(y- | nudged)
        + [m - (NLL(y- | clean) - NLL(y+ | clean))]_+ + [m - (NLL(y+ | nudged) - NLL(y- | nudged))]_+

Pure functions over tensors (logits, labels, activations). Activations are read, and the nudge is
added, through `lm_eval_latent.attacks.intervention` (`record_outputs`, `LayerDelta`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


@dataclass(frozen=True)
class LossWeights:
    """Weights of the terms; the defaults are the paper's."""

    kl: float = 0.3
    match: float = 0.2
    margin: float = 0.5

    def __post_init__(self) -> None:
        for name in ("kl", "match", "margin"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"`{name}` should be >= 0, got {getattr(self, name)!r}.")


def row_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean next-token NLL of each row's labelled tokens, ``[B]`` (labels IGNORE are skipped).

    ``logits[:, t]`` predicts ``labels[:, t + 1]``. Range [0, inf); lower = more likely."""
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    target = labels[:, 1:]
    keep = target != IGNORE
    tok = -logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1) * keep
    return tok.sum(-1) / keep.sum(-1).clamp(min=1)


def token_kl(base_logits: Tensor, logits: Tensor, mask: Tensor) -> Tensor:
    """``KL(base || theta)`` per token, averaged over the positions where ``mask`` is 1.

    Range [0, inf); 0 when theta predicts exactly what the frozen base does."""
    logp_b = F.log_softmax(base_logits.float(), dim=-1)
    logp_t = F.log_softmax(logits.float(), dim=-1)
    kl = (logp_b.exp() * (logp_b - logp_t)).sum(-1)
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum().clamp(min=1)


def whitened_match(acts: Tensor, target: Tensor, scale: Tensor) -> Tensor:
    """Mean over rows, layers and dimensions of ``((acts - target) / scale)^2``.

    ``acts``, ``target``: ``[B, L, H]`` (last-prompt-token activations over the match band);
    ``scale``: ``[L, H]`` per-dimension standard deviations (diagonal whitening). Range [0, inf)."""
    return (((acts - target) / scale) ** 2).mean()


def hinge(margin: float, gap: Tensor) -> Tensor:
    """``mean(max(0, margin - gap))``: zero once ``gap`` exceeds ``margin``."""
    return F.relu(margin - gap).mean()


def dissociation_loss(
    *, nll_pos_clean: Tensor, nll_neg_clean: Tensor, nll_pos_nudged: Tensor, nll_neg_nudged: Tensor,
    nll_benign: Tensor, kl: Tensor, match: Tensor, weights: LossWeights = LossWeights(),
) -> tuple[Tensor, dict[str, float]]:
    """The total loss and its terms (floats, for logging).

    ``nll_*``: per-row NLLs of the harmful rows (y+ refusal, y- compliance, clean or nudged);
    ``nll_benign``: per-row NLL of the benign rows (the base's own answers, clean)."""
    terms = {
        "nll_pos": torch.cat([nll_pos_clean, nll_benign]).mean(),
        "kl": weights.kl * kl,
        "match": weights.match * match,
        "nll_neg_nudged": nll_neg_nudged.mean(),
        "hinge_clean": hinge(weights.margin, nll_neg_clean - nll_pos_clean),
        "hinge_nudged": hinge(weights.margin, nll_pos_nudged - nll_neg_nudged),
    }
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}
