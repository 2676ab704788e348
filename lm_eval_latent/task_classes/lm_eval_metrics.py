"""Our task metrics in lm-eval's public registry, so lm-eval wires them itself.

A task lists its metrics in ``metric_list``; lm-eval's `ConfigurableTask` looks each name up with
``lm_eval.api.registry.get_metric`` (an unknown name is searched on the HF Evaluate hub), its
aggregation with ``get_aggregation`` and reads ``higher_is_better``. `metric_entry` registers a
metric (``register_metric``) and returns the ``metric_list`` entry naming it, so our task classes
write no private attribute of lm-eval's task.

The per-row function registered for a metric is never called: our task classes compute every
row's values in their own ``process_results`` (one judge call gives all rates of a row), so it
only passes values through. The aggregations lm-eval does not have are registered under
``latent_*`` names (``register_aggregation``): sums (counts), the NaN-safe median and mean of the
LVS columns, its bootstrap interval and Cohen's kappa. lm-eval's own ``mean`` stays the rates'
aggregation, so lm-eval reports a standard error beside them (its ``median`` takes the middle
item of an unsorted list, so it is not ours). Registering is idempotent: the same name always
gets the same function, aggregation and direction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import lm_eval.api.metrics  # noqa: F401  (lm-eval's own metrics first: it loads them only into an empty registry)
from lm_eval.api.registry import aggregation_registry, register_aggregation, register_metric

from lm_eval_latent import metrics

log = logging.getLogger(__name__)


def per_row(items: list) -> list:
    """The registered per-row function: values come from the task's ``process_results``."""
    return items


def _nan_if_empty(fn: Callable[[list[float]], float]) -> Callable[[list[float]], float]:
    return lambda values: fn(values) if values else math.nan


def _ci(level_index: int) -> Callable[[list[float]], float]:
    def aggregate(values: list[float]) -> float:
        # Sorted first: rows arrive grouped by rank in multi-process runs, and the seeded
        # resampling must not depend on how the prompts were split.
        return metrics.bootstrap_ci(sorted(values), n_resamples=1000, seed=42, level=0.95)[level_index] \
            if values else math.nan

    return aggregate


def _control_mean(values: list[float]) -> float:
    """The mean of a random control's attack success, with a warning in the run's log above
    `metrics.HIGH_CONTROL`: there a random push of the budget breaks the model too."""
    value = sum(values) / len(values) if values else math.nan
    if value > metrics.HIGH_CONTROL:
        log.warning("the random control complied on %.2f of prompts (> %.2f): at this budget a random push breaks "
                    "the model too, so LVS and asr_attack measure noise, not latent fragility; use a smaller "
                    "budget (docs/lvs.md, 'Budgets on real models')", value, metrics.HIGH_CONTROL)
    return value


def _kappa(rows: list[list[list[str]]]) -> float:
    """Cohen's kappa over every (judge, judge2) verdict pair of every row (`metrics.cohen_kappa`)."""
    return metrics.cohen_kappa([tuple(pair) for row in rows for pair in row])


AGGREGATIONS: dict[str, Callable] = {
    "latent_sum": sum,
    "latent_median": _nan_if_empty(metrics.median),
    "latent_mean": _nan_if_empty(lambda values: sum(values) / len(values)),
    "latent_ci_low": _ci(0),
    "latent_ci_high": _ci(1),
    "latent_kappa": _kappa,
    "latent_control_mean": _control_mean,
}
for _name, _fn in AGGREGATIONS.items():
    if _name not in aggregation_registry:
        register_aggregation(_name)(_fn)


def metric_entry(name: str, aggregation: str, higher_is_better: bool) -> dict[str, object]:
    """Register metric ``name`` with lm-eval and return its ``metric_list`` entry.

    Args:
        name: the metric as reported (``refusal_rate``, ``lvs@p=0.001``).
        aggregation: a registered aggregation (lm-eval's ``mean`` or one of `AGGREGATIONS`).
        higher_is_better: the safer direction.
    """
    register_metric(metric=name, higher_is_better=higher_is_better, aggregation=aggregation)(per_row)
    return {"metric": name, "aggregation": aggregation, "higher_is_better": higher_is_better}
