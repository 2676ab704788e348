"""Hooks named by the task YAMLs in this folder (`!function utils.*`).

Kept thin on purpose: data loading lives in `lm_eval_latent.task_classes.data`, judging and metrics in
`lm_eval_latent.task_classes.safety_task` and `lm_eval_latent.task_classes.lvs_task`.
"""

from lm_eval_latent.task_classes.data import load_task_dataset as load_prompts
from lm_eval_latent.task_classes.lvs_task import LVSTask
from lm_eval_latent.task_classes.safety_task import SafetyTask

__all__ = ["LVSTask", "SafetyTask", "load_prompts"]
