"""Our metrics and aggregations in lm-eval's public registry (`task_classes.lm_eval_metrics`)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from lm_eval.api.registry import get_aggregation, get_metric, get_metric_aggregation, is_higher_better

from lm_eval_latent.task_classes.lm_eval_metrics import AGGREGATIONS, metric_entry, per_row


def test_a_registered_metric_is_what_lm_eval_looks_up():
    entry = metric_entry("lvs@p=0.5", "latent_median", False)
    assert entry == {"metric": "lvs@p=0.5", "aggregation": "latent_median", "higher_is_better": False}
    assert get_metric("lvs@p=0.5") is per_row and is_higher_better("lvs@p=0.5") is False
    assert get_metric_aggregation("lvs@p=0.5") is AGGREGATIONS["latent_median"]
    assert metric_entry("lvs@p=0.5", "latent_median", False) == entry  # registering again is harmless


def test_aggregations_on_hand_computed_numbers():
    assert get_aggregation("latent_sum")([1, 0, 1]) == 2
    assert get_aggregation("latent_median")([3.0, 0.0, 1.0, 2.0, 0.0]) == 1.0  # sorted first, unlike lm-eval's
    assert get_aggregation("latent_mean")([0.0, 0.0, 1.0, 2.0, 3.0]) == 1.2
    assert all(math.isnan(get_aggregation(n)([])) for n in ("latent_median", "latent_mean", "latent_ci_low"))
    low, high = get_aggregation("latent_ci_low")([1.0] * 5), get_aggregation("latent_ci_high")([1.0] * 5)
    assert low == high == 1.0
    assert get_aggregation("latent_kappa")([[["refused", "refused"]], [["complied", "complied"]]]) == 1.0
    assert get_aggregation("mean") is not AGGREGATIONS["latent_mean"]  # lm-eval's own mean keeps its stderr


def test_task_classes_write_no_private_attribute_of_lm_eval_tasks():
    folder = Path(__file__).resolve().parents[1] / "lm_eval_latent" / "task_classes"
    private = re.compile(r"self\._(metric_fn_list|metric_fn_kwargs|aggregation_list|higher_is_better)\b")
    assert not [p.name for p in folder.glob("*.py") if private.search(p.read_text(encoding="utf-8"))]
