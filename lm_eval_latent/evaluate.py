"""One lm-eval run through `latent_hf` from our own commands (onset, demo): the one place that
calls ``lm_eval.simple_evaluate``.

Our tasks only, so lm-eval's built-in task index is skipped (``include_defaults=False``); the
model path goes into the task metadata too (the LVS layer profile reads its layer count there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
