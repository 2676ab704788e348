"""Hooks named by the task YAMLs in this folder (`!function utils.*`); lm-eval loads this file by path.

Kept thin on purpose: data loading lives in `lm_eval_latent.task_classes.data`, judging and
metrics in `lm_eval_latent.task_classes.safety_task`.
"""

from lm_eval_latent import SafetyTask, load_prompts

__all__ = ["SafetyTask", "load_prompts"]
