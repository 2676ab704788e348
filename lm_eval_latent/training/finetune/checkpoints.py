"""Resumable fine-tuning state on disk: ``out/checkpoint-K`` and ``out/final``, written atomically.

Each checkpoint directory holds what ``save_pretrained`` writes (a PEFT adapter, or the full model
and tokenizer) plus ``trainer_state.pt``: the step, the optimizer state, the RNG states and the
data order. ``out/run.json`` records the run's settings, so a rerun can tell whether it continues
the same run. A directory appears under its final name only once it is complete (temporary
sibling + ``os.replace``), so an interrupted write never leaves a half checkpoint.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from lm_eval_latent.outputs import check_out_dir, replace_dir, write_dir_atomic

STATE_FILE = "trainer_state.pt"
RUN_FILE = "run.json"
FINAL = "final"
PREFIX = "checkpoint-"


def checkpoints(out: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``out`` as ``(step, dir)``, by step; ``final`` comes last, with
    its step, unless a ``checkpoint-K`` of the same step exists."""
    out = Path(out)
    found: dict[int, Path] = {}
    for d in out.glob(f"{PREFIX}*"):
        if d.is_dir() and d.name[len(PREFIX):].isdigit() and (d / STATE_FILE).is_file():
            found[int(d.name[len(PREFIX):])] = d
    final = out / FINAL
    if (final / STATE_FILE).is_file():
        step = int(torch.load(final / STATE_FILE, map_location="cpu", weights_only=False)["step"])
        found.setdefault(step, final)
    return sorted(found.items())


def latest(out: str | Path) -> tuple[int, Path] | None:
    """The checkpoint with the highest step, or None."""
    found = checkpoints(out)
    return found[-1] if found else None


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(target: Path, *, step: int, model: Any, tokenizer: Any, optimizer: Any, order: list[int],
         full: bool) -> Path:
    """Write one checkpoint (weights + trainer state) atomically at ``target``."""

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        if full:
            tokenizer.save_pretrained(tmp)
        torch.save({"step": step, "optimizer": optimizer.state_dict(), "rng": rng_state(),
                    "order": order}, tmp / STATE_FILE)

    return write_dir_atomic(target, write)


def load_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint directory."""
    return torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)


def read_run(out: Path) -> dict[str, Any] | None:
    path = out / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_run(out: Path, settings: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True))
    tmp.replace(out / RUN_FILE)


def check_adapter_fits(adapter_dir: str | Path, model: torch.nn.Module, model_name: str) -> None:
    """Refuse an adapter whose LoRA matrices do not fit ``model``, naming both bases.

    Raises:
        ValueError: the adapter's recorded base, ``model_name`` and the first module that differs.
    """
    from safetensors import safe_open

    adapter_dir = Path(adapter_dir)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    recorded = cfg.get("base_model_name_or_path")
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        return
    modules = dict(model.named_modules())
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            if ".lora_A." not in key:
                continue
            name = key.split(".lora_A.")[0].removeprefix("base_model.model.")
            module = modules.get(name)
            shape = f.get_slice(key).get_shape()
            fits = module is not None and getattr(module, "in_features", shape[1]) == shape[1]
            if not fits:
                what = "no such module" if module is None else (
                    f"in_features {module.in_features}, adapter has {shape[1]}")
                raise ValueError(
                    f"adapter {str(adapter_dir)!r} was trained on base {recorded!r} and does not fit "
                    f"model {model_name!r} ({name}: {what}); give the model the adapter was trained on")


def prepare_run_dir(out_arg: str | Path, settings: dict[str, Any], *, overwrite: bool = False,
                    resume: bool = False) -> tuple[Path, Path | None]:
    """Decide where the run writes. Returns ``(run_dir, replace)``: ``replace`` is the existing
    ``out`` that a finished ``--overwrite`` run will replace (None otherwise).

    - no ``out`` (or an empty one): a fresh run there;
    - a run of ours without ``final`` and the same settings: continued (``--resume`` or a rerun);
    - anything else is refused unless ``--overwrite``; then the new run trains in a staging
      sibling, and the old directory is replaced only when the new run has finished, so a
      finished artifact is never destroyed by an unfinished one.
    """
    out = check_out_dir(out_arg)
    if not out.exists() or not any(out.iterdir()):
        if resume:
            raise FileNotFoundError(f"--resume: {str(out)!r} holds no run to continue; drop --resume to start one")
        return out, None
    run = read_run(out)
    finished = (out / FINAL).is_dir()
    if overwrite and run is None:
        # --overwrite replaces a run this command wrote (run.json is its mark), never any folder.
        raise FileExistsError(f"--out {str(out)!r} exists and is not a fine-tuning run (no {RUN_FILE}); "
                              "--overwrite only replaces a run written by `attack finetune`, so choose another --out")
    if overwrite:
        staging = out.with_name(f".{out.name}.overwrite")
        run_staged = read_run(staging) if staging.is_dir() else None
        if staging.exists() and run_staged != settings:
            shutil.rmtree(staging)
        return staging, out
    if run is None:
        raise FileExistsError(f"--out {str(out)!r} exists and is not a fine-tuning run; choose another --out")
    if finished:
        raise FileExistsError(f"--out {str(out)!r} holds a finished run ({out / FINAL}); it is kept. "
                              "Choose another --out, or pass --overwrite to train anew (the finished run is "
                              "replaced only once the new one has finished)")
    diff = {k: (run.get(k), v) for k, v in settings.items() if run.get(k) != v}
    if diff:
        shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(diff.items()))
        raise FileExistsError(f"--out {str(out)!r} holds an unfinished run with other settings ({shown}); "
                              "rerun with the same settings to continue it, or pass --overwrite")
    return out, None


def finish_run(run_dir: Path, replace: Path | None) -> Path:
    """The final checkpoint; a staged ``--overwrite`` run first takes the place of ``replace``."""
    if replace is None:
        return run_dir / FINAL
    return replace_dir(run_dir, replace) / FINAL
