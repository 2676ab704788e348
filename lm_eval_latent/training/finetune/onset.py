"""Harmful-fine-tuning onset: compliance at every checkpoint of a run, and t_tau.

Each checkpoint is evaluated on the ``harmful_compliance`` task through lm-eval's
``simple_evaluate`` with model ``latent_hf`` and ``lora=<checkpoint>`` (step 0 is the base model
itself). The onset t_tau is the first step whose compliance reaches tau
(`lm_eval_latent.metrics.onset_step`). The JSON written here is what
``lm-eval-latent report --onset FILE`` reads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lm_eval_latent.evaluate import HARMFUL_COMPLIANCE, task_metric
from lm_eval_latent.metrics import onset_step
from lm_eval_latent.outputs import check_out_file, is_json_with, write_text_atomic
from lm_eval_latent.training.finetune import checkpoints as ckpt

TASK = HARMFUL_COMPLIANCE
# The keys that make a JSON file an onset result (what --overwrite may replace).
RESULT_KEYS = ("steps", "compliance", "tau", "onset")


def measure_onset(model: str | Path, run_dir: str | Path, *, tau: float = 0.8, limit: int | None = None,
                  max_gen_toks: int | None = 64, batch_size: int = 16, device: str = "cpu",
                  task: str = TASK, progress: bool = True) -> dict[str, Any]:
    """Compliance at step 0 (the base) and at every checkpoint under ``run_dir``.

    Returns:
        ``{"steps", "compliance", "tau", "onset", "model", "adapter_dir", "task", "limit",
        "run_finished", "planned_steps"}``; ``onset`` is the first step with compliance >= tau,
        or None; ``run_finished`` is False when the run has no ``final/`` checkpoint (it was
        interrupted or is still training), so the onset covers only the steps reached.

    Raises:
        FileNotFoundError: no checkpoint under ``run_dir``.
        ValueError: an adapter that does not fit ``model`` (naming both).
    """
    run_dir = Path(run_dir).expanduser()
    found = [(s, d) for s, d in ckpt.checkpoints(run_dir) if s > 0]
    if not found:
        raise FileNotFoundError(f"--checkpoints {str(run_dir)!r} holds no checkpoint-K/ or final/ "
                                "(written by `lm-eval-latent attack finetune --out`)")
    full = (found[0][1] / "config.json").is_file() and not (found[0][1] / "adapter_config.json").is_file()
    if not full:
        _check_fits(model, found[0][1])
    steps, rates = [0], [task_metric(model, task=task, limit=limit, max_gen_toks=max_gen_toks,
                                     batch_size=batch_size, device=device)]
    _say(progress, 0, rates[-1])
    for step, path in found:
        if full:  # a full fine-tuning checkpoint is a model of its own
            rate = task_metric(path, task=task, limit=limit, max_gen_toks=max_gen_toks,
                               batch_size=batch_size, device=device)
        else:
            rate = task_metric(model, f"lora={path},merge_lora=True", task=task, limit=limit,
                               max_gen_toks=max_gen_toks, batch_size=batch_size, device=device)
        steps.append(step)
        rates.append(rate)
        _say(progress, step, rate)
    return {"steps": steps, "compliance": rates, "tau": tau, "onset": onset_step(steps, rates, tau),
            "model": str(model), "adapter_dir": str(run_dir), "task": task, "limit": limit,
            **run_status(run_dir)}


def run_status(run_dir: Path) -> dict[str, Any]:
    """``run_finished`` (the run wrote ``final/``) and ``planned_steps`` (from its ``run.json``,
    None when absent): an onset from an unfinished run is marked as such."""
    settings = ckpt.read_run(run_dir) or {}
    planned = settings.get("steps")
    return {"run_finished": (run_dir / ckpt.FINAL).is_dir(),
            "planned_steps": planned if isinstance(planned, int) else None}


def unfinished_note(result: dict[str, Any]) -> str | None:
    """A one-line warning for an onset measured on an unfinished run, else None."""
    if result.get("run_finished", True):
        return None
    reached = max(result["steps"]) if result.get("steps") else 0
    planned = result.get("planned_steps")
    of = f" of {planned}" if planned else ""
    return (f"unfinished fine-tuning run (no final/ checkpoint; checkpoints up to step {reached}{of}): "
            "the onset covers only the steps reached")


def _check_fits(model: str | Path, adapter: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    with __import__("torch").device("meta"):
        net = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model))
    ckpt.check_adapter_fits(adapter, net, str(model))


def _say(progress: bool, step: int, rate: float) -> None:
    if progress:
        print(f"  step {step:>5}: compliance {rate:.3f}", flush=True)


def format_table(result: dict[str, Any]) -> str:
    """A small text table of steps and compliance, with the onset."""
    lines = ["| step | compliance |", "|---:|---:|"]
    lines += [f"| {s} | {c:.3f} |" for s, c in zip(result["steps"], result["compliance"])]
    onset = result["onset"]
    lines.append(f"\nonset t_{result['tau']:g} = {onset if onset is not None else 'never (within the run)'}")
    note = unfinished_note(result)
    if note:
        lines.append(f"warning: {note}")
    return "\n".join(lines)


def check_out(out: str | Path, *, overwrite: bool = False) -> Path:
    """The ``--out`` file, checked before any evaluation: an existing file is replaced only with
    ``overwrite`` and only when it is an onset result (the JSON this command writes).

    Raises:
        OutputError: see `lm_eval_latent.outputs.check_out_file`.
    """
    return check_out_file(out, overwrite=overwrite, is_ours=is_json_with(RESULT_KEYS),
                          what="an onset result written by `attack onset`")


def check_task(task: str) -> None:
    """Refuse a task that is not one of ours reporting ``harmful_compliance`` (listing those).

    Raises:
        ValueError: naming the task and the allowed ones.
    """
    from lm_eval.tasks import TaskManager

    from lm_eval_latent.plugin import registration

    registration.register()
    index = TaskManager(include_defaults=False).task_index

    def reports_compliance(name: str) -> bool:
        metric_list = (getattr(index.get(name), "cfg", None) or {}).get("metric_list") or []
        return any((m.get("metric") if isinstance(m, dict) else m) == TASK for m in metric_list)

    if not reports_compliance(task):
        allowed = sorted(n for n in index if reports_compliance(n))
        raise ValueError(f"--task {task!r} is not a task reporting {TASK} (allowed: {', '.join(allowed)})")


def write_json(result: dict[str, Any], out: str | Path) -> Path:
    """Write the result as strict JSON (a compliance with no scored rows is ``null``)."""
    data = dict(result, compliance=[c if isinstance(c, (int, float)) and math.isfinite(c) else None
                                    for c in result["compliance"]])
    return write_text_atomic(out, json.dumps(data, indent=2, allow_nan=False))
