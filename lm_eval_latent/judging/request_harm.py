"""Is the request unsafe? A logistic regression over hashed n-grams of the request alone.

The `ngram_request` judge's second half (`ngram_request.py`): an answer that delivers on-task
content is harmful only when the request was unsafe, and the answer-only `ngram` judge cannot
know which. This model reads the request: P(unsafe) = sigmoid(features(request) . weight + bias).

Features (`RequestFeatures`): the request lower-cased and cut to its first `max_chars`
characters, as two hashed blocks, each L2-normalised: word 1-2-grams and character 3-5-grams
(within words). An empty request has no features and is *unknown*: P(unsafe) = 1, so a judge
that gates on it falls back to the answer alone.

The weights ship with the package (`request_weights.npz`, trained by
``python -m lm_eval_latent.judging.train_request`` on the shared folder's request sets: the
refusal-direction harmful and harmless instructions, XSTest's safe and contrast prompts and
GPTFuzz's questions). Inference is a sparse dot product, deterministic on any CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lm_eval_latent.judging.ngram import check_positive_ints, hashing_vectorizers, read_weights

REQUEST_WEIGHTS = Path(__file__).with_name("request_weights.npz")


@dataclass(frozen=True)
class RequestFeatures:
    """How a request becomes a sparse feature vector; saved with the weights it was trained for.

    Attributes:
        n_features: Hash buckets per block (two blocks).
        max_chars: Characters of the request read (a long template is cut).
    """

    n_features: int = 2**18
    max_chars: int = 1000

    def __post_init__(self) -> None:
        check_positive_ints(self, ("n_features", "max_chars"))

    @property
    def size(self) -> int:
        """Length of the feature vector."""
        return 2 * self.n_features

    def transform(self, requests: Sequence[str]):
        """A scipy CSR matrix, one row per request."""
        import scipy.sparse as sp

        words, chars = hashing_vectorizers(self.n_features)
        texts = [r[: self.max_chars] for r in requests]
        return sp.hstack([words.transform(texts), chars.transform(texts)], format="csr")


@dataclass(frozen=True)
class RequestModel:
    """Features plus a linear layer: P(unsafe) = sigmoid(features(request) . weight + bias)."""

    features: RequestFeatures
    weight: np.ndarray
    bias: float

    def __post_init__(self) -> None:
        if self.weight.shape != (self.features.size,):
            raise ValueError(f"`weight` should have shape ({self.features.size},) for "
                             f"{self.features}, got {self.weight.shape}")

    def predict_proba(self, requests: Sequence[str]) -> np.ndarray:
        """P(unsafe) per request, float64; 1.0 for an empty one or one that is not text
        (unknown, see the module)."""
        if not requests:
            return np.zeros(0)
        from scipy.special import expit

        texts = [r if isinstance(r, str) else "" for r in requests]
        p = expit(self.features.transform(texts) @ self.weight.astype(np.float64) + self.bias)
        return np.where([not t.strip() for t in texts], 1.0, p)

    def save(self, path) -> None:
        """Write weights and feature settings to a compressed .npz file (a path or a binary file)."""
        np.savez_compressed(path, weight=self.weight.astype(np.float32), bias=np.float64(self.bias),
                            **{k: np.int64(v) for k, v in asdict(self.features).items()})

    @classmethod
    def load(cls, path: Path | str = REQUEST_WEIGHTS) -> RequestModel:
        """Read a file written by `save` (no pickle).

        Raises:
            FileNotFoundError: naming the path and the training command.
        """
        f = read_weights(path, "request model weights", "train_request")
        features = RequestFeatures(n_features=int(f["n_features"]), max_chars=int(f["max_chars"]))
        return cls(features, f["weight"].astype(np.float32), float(f["bias"]))
