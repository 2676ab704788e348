"""Evaluations our own commands run in process (onset, demo, door): `run_latent_hf` is the one
place that calls ``lm_eval.simple_evaluate``; `task_metric` reads one number of such a run.

Our tasks only, so lm-eval's built-in task index is skipped (``include_defaults=False``); the
model path goes into the task metadata too, as lm-eval's own CLI puts every model argument there
(the chat-template check names the model with it). `door` is the door check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HARMFUL_COMPLIANCE = "harmful_compliance"


def run_latent_hf(model: str | Path, tasks: list[str], *, model_args: str = "", metadata: dict[str, Any] | None = None,
                  device: str = "cpu", batch_size: int | str = 16, limit: int | None = None,
                  max_gen_toks: int | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """Run ``tasks`` on ``model`` with ``latent_hf`` (chat template, greedy) and return lm-eval's results.

    Args:
        model: the checkpoint folder (or Hub id) given as ``pretrained``.
        tasks: our task names.
        model_args: further ``latent_hf`` arguments, ``key=value,...``.
        metadata: task metadata (``--metadata``), merged after ``pretrained``.
        max_gen_toks: overrides the tasks' generation length when given.
        out: when given, the run is saved there as lm-eval's CLI saves it (a results JSON and
            per-sample files, which `lm-eval-latent report` reads for its intervals).
    """
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from lm_eval_latent.plugin import registration

    registration.register()
    tracker = EvaluationTracker(output_path=str(out)) if out is not None else None
    res = lm_eval.simple_evaluate(
        model="latent_hf", model_args=",".join(a for a in (f"pretrained={model}", model_args) if a),
        tasks=list(tasks), device=device, batch_size=batch_size, limit=limit, apply_chat_template=True,
        gen_kwargs=f"max_gen_toks={max_gen_toks}" if max_gen_toks else None,
        task_manager=TaskManager(include_defaults=False, metadata={"pretrained": str(model), **(metadata or {})}),
        log_samples=tracker is not None, evaluation_tracker=tracker,
    )
    if tracker is not None:
        samples = res.pop("samples")
        tracker.save_results_aggregated(results=res, samples=samples)
        for task_name in res["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    return res


def task_metric(model: str | Path, model_args: str = "", *, task: str = HARMFUL_COMPLIANCE,
                metric: str = HARMFUL_COMPLIANCE, limit: int | None = None, max_gen_toks: int | None = 64,
                batch_size: int = 16, device: str = "cpu", metadata: dict[str, Any] | None = None) -> float:
    """One lm-eval run (``latent_hf``, chat template, greedy) of ``task``; returns ``metric``."""
    res = run_latent_hf(model, [task], model_args=model_args, metadata=metadata, device=device,
                        batch_size=batch_size, limit=limit, max_gen_toks=max_gen_toks)
    return float(res["results"][task][f"{metric},none"])
