"""Adding a delta to one module's output during a forward or a generate call.

This is the only package that touches nnsight or forward hooks. Two backends do the same thing:

- ``nnsight`` (default): wraps the loaded model once in
  ``nnsight.modeling.transformers.TransformersModel`` and edits ``<layer>.output`` in a trace.
- ``hooks``: a plain ``register_forward_hook`` that is always removed afterwards. It is the
  reference the nnsight path is tested against.

A delta is one vector (``[H]``, or ``[B, 1, H]`` one per row) added at every position of every
call with ``positions="all"`` or at the prompt forward only with ``positions="prompt"``; or one
vector per prompt position ``[B, T, H]``, added to the prompt forward only (the generated tokens
see it through the KV cache, as in the paper's latent attack). A direction can also be projected
out (ablation) before anything is added.

The package is the only place that touches layers, in four modules:

- `delta`: `LayerDelta` (what to add or project out, and where) and the tensor-or-tuple outputs;
- `backends`: the nnsight and hooks backends, `get_backend`;
- `readout`: reading a layer's output (`capture`, `record_outputs`, `output_width`);
- `split`: `split_at`, forwards that skip the layers below the perturbed one.
"""

from lm_eval_latent.attacks.intervention.backends import (
    BACKENDS,
    Backend,
    BackendName,
    HookBackend,
    NNsightBackend,
    get_backend,
)
from lm_eval_latent.attacks.intervention.delta import POSITIONS, LayerDelta, Positions, hidden_of, with_hidden
from lm_eval_latent.attacks.intervention.readout import (
    capture,
    output_width,
    position_ids,
    record_outputs,
    run_until,
)
from lm_eval_latent.attacks.intervention.split import SplitForward, split_at

__all__ = [
    "BACKENDS", "Backend", "BackendName", "HookBackend", "NNsightBackend", "get_backend",
    "POSITIONS", "LayerDelta", "Positions", "hidden_of", "with_hidden",
    "capture", "output_width", "position_ids", "record_outputs", "run_until",
    "SplitForward", "split_at",
]
