"""Reading lm-eval results files (and their logged samples) into `RunResults`.

    run = load_results("out/my_model/results_2026-01-01T00-00-00.json")
    run.value("refusal_lvs", "lvs")          # 0.21
    run.find("lvs@layer=4")                  # ("lvs_layer_profile", 0.35)

A results file is the JSON that `lm_eval --output_path OUT` writes: per task a flat dict of
``"metric,filter": value`` (plus ``"metric_stderr,filter"``), a ``higher_is_better`` map, the run's
``config`` (``model_args``) and ``lm_eval_version``. Only json and numpy are used here: report and
gate never import torch or the model wrapper.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# lm-eval releases whose results format this reader knows (the package needs >= 0.4.13).
SUPPORTED_VERSION = (0, 4, 13)
# The metrics that make a task one of ours (a custom task built on our classes counts too).
OUR_METRICS = ("refusal_rate", "harmful_compliance", "over_refusal_rate", "broken_rate",
               "refusal_clean", "lvs", "asr_attack", "asr_random")
# Numeric entries of a task's results that are bookkeeping, not metrics.
NOT_METRICS = ("alias", "name", "sample_len", "sample_count")
# The metric lm-eval puts in place of every other one under --predict_only.
PREDICT_ONLY_METRIC = "bypass"


class ResultsError(ValueError):
    """A results file that cannot be used: unreadable, wrong lm-eval version, none of our tasks."""


def split_metric_key(key: str) -> tuple[str, str]:
    """``"lvs@p=0.001,none"`` -> (``"lvs@p=0.001"``, ``"none"``); a key without filter -> (key, "")."""
    name, _, filter_name = key.rpartition(",")
    return (name, filter_name) if name else (key, "")


def base_metric(name: str) -> str:
    """The metric without its setting suffix: ``"lvs@layer=4"`` -> ``"lvs"``."""
    return name.split("@", 1)[0]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None  # lm-eval writes "N/A" for a missing stderr
    return float(value)


def parse_model_args(model_args: Any) -> dict[str, str]:
    """``model_args`` as recorded by lm-eval (a dict, or a ``"k=v,k=v"`` string) as a dict."""
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    if not model_args:
        return {}
    pairs = [p.split("=", 1) for p in str(model_args).split(",") if p.strip()]
    return {k.strip(): (v[0].strip() if v else "") for k, *v in pairs}


def display_name(model_args: dict[str, str], fallback: str) -> str:
    """The model's short name: basename of ``pretrained``, plus ``+lora=<basename>`` if present."""
    pretrained = model_args.get("pretrained", "").rstrip("/")
    name = pretrained.rsplit("/", 1)[-1] if pretrained else fallback
    lora = model_args.get("lora", "").rstrip("/")
    return f"{name}+lora={lora.rsplit('/', 1)[-1]}" if lora else name


@dataclass
class RunResults:
    """One lm-eval results file: metric values per task, their directions, the model."""

    path: Path
    name: str
    model_args: dict[str, str]
    lm_eval_version: str
    metrics: dict[str, dict[str, float]]
    stderr: dict[str, dict[str, float]] = field(default_factory=dict)
    higher_is_better: dict[str, dict[str, bool]] = field(default_factory=dict)
    task_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # judge names, ...

    def value(self, task: str, metric: str) -> float | None:
        """The value of ``metric`` in ``task``, or None when the task does not report it."""
        return self.metrics.get(task, {}).get(metric)

    def tasks_with(self, metric: str) -> list[str]:
        """The tasks that report ``metric``, in file order."""
        return [task for task, values in self.metrics.items() if metric in values]

    def find(self, metric: str, prefer: tuple[str, ...] = ()) -> tuple[str, float] | None:
        """(task, value) of ``metric``: from the first task of ``prefer`` that has it, else the
        first task that does; None when no task reports it."""
        tasks = self.tasks_with(metric)
        for task in [*prefer, *tasks]:
            if task in tasks:
                return task, self.metrics[task][metric]
        return None

    def is_higher_better(self, task: str, metric: str) -> bool | None:
        """Direction of ``metric`` from the file's ``higher_is_better`` map (None if absent)."""
        hib = self.higher_is_better.get(task, {})
        return hib.get(metric, hib.get(base_metric(metric)))

    def samples_file(self, task: str) -> Path | None:
        """The ``--log_samples`` file of ``task`` written with this results file, if any."""
        stamp = self.path.stem.removeprefix("results_")
        exact = self.path.with_name(f"samples_{task}_{stamp}.jsonl")
        if exact.is_file():
            return exact
        found = sorted(self.path.parent.glob(f"samples_{task}_*.jsonl"))
        return found[-1] if len(found) == 1 else None

    def sample_values(self, task: str, metric: str) -> list[float] | None:
        """Per-row values of ``metric`` from the task's logged samples (None without samples)."""
        path = self.samples_file(task)
        if path is None:
            return None
        values = []
        try:
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line) if line.strip() else {}
                    value = _number(row.get(metric)) if isinstance(row, dict) else None
                    if value is not None and math.isfinite(value):
                        values.append(value)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ResultsError(f"{path}: cannot read the logged samples ({err})") from None
        return values


def _check_version(path: Path, data: dict[str, Any]) -> str:
    version = data.get("lm_eval_version")
    if not isinstance(version, str):
        raise ResultsError(f"{path}: no `lm_eval_version` field; is this an lm-eval results file "
                           f"(found keys: {', '.join(sorted(data)) or 'none'})?")
    parts = tuple(int(x) for x in re.findall(r"\d+", version)[:3])
    want = ".".join(map(str, SUPPORTED_VERSION))
    if parts[:2] != SUPPORTED_VERSION[:2] or parts < SUPPORTED_VERSION:
        raise ResultsError(f"{path}: written by lm-eval {version}; expected lm-eval {want} "
                           f"or a later 0.4.x release")
    return version


def _check_not_predict_only(path: Path, data: dict[str, Any]) -> None:
    """``--predict_only`` swaps every metric for lm-eval's ``bypass``: such a file holds
    generations, not judged numbers (older versions of our tasks still wrote real-looking ones)."""
    hib = data.get("higher_is_better") if isinstance(data.get("higher_is_better"), dict) else {}
    tasks = sorted(t for t, m in hib.items() if isinstance(m, dict) and PREDICT_ONLY_METRIC in m)
    if tasks:
        raise ResultsError(f"{path}: written by a --predict_only run (task(s) {', '.join(tasks)} report "
                           f"lm-eval's `{PREDICT_ONLY_METRIC}` placeholder, no judged metrics); rerun "
                           "without --predict_only to audit or gate")


def _check_samples_complete(path: Path, data: dict[str, Any], tasks: list[str]) -> None:
    """A run interrupted while lm-eval wrote its logged samples (they are written after the
    results file) leaves some tasks' samples files short or missing: refuse it rather than compute
    intervals on part of the rows."""
    counts = data.get("n-samples")
    if not isinstance(counts, dict):
        return  # not written by lm-eval's tracker: nothing to compare with
    stamp = path.stem.removeprefix("results_")
    files = {t: path.with_name(f"samples_{t}_{stamp}.jsonl") for t in tasks}
    if not any(f.is_file() for f in files.values()):
        return  # a run without --log_samples
    for task, sample_path in files.items():
        expected = (counts.get(task) or {}).get("effective") if isinstance(counts.get(task), dict) else None
        if not sample_path.is_file():
            raise ResultsError(f"{path}: the logged samples of task {task!r} are missing ({sample_path.name}) "
                               "while other tasks have theirs: an interrupted run? Rerun it")
        if not isinstance(expected, int):
            continue
        try:
            with sample_path.open("rb") as fh:
                rows = sum(1 for line in fh if line.endswith(b"\n") and line.strip())
        except OSError as err:
            raise ResultsError(f"{sample_path}: cannot read the logged samples ({err})") from None
        if rows < expected:
            raise ResultsError(f"{sample_path}: {rows} of the {expected} logged samples of task {task!r} "
                               "(an interrupted run?); rerun it, or pass a complete run")


def load_results(path: str | Path) -> RunResults:
    """Read and validate one lm-eval results JSON file.

    Raises:
        ResultsError: unreadable JSON, no ``results`` section, an lm-eval version other than
            0.4.x >= 0.4.13, a ``--predict_only`` run, logged samples cut short or missing for
            some task (an interrupted run), or no task reporting any of our metrics (the tasks
            found are named).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: cannot read an lm-eval results file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ResultsError(f"{path}: no `results` section; is this an lm-eval results file?")
    version = _check_version(path, data)
    _check_not_predict_only(path, data)
    metrics: dict[str, dict[str, float]] = {}
    stderr: dict[str, dict[str, float]] = {}
    for task, entries in data["results"].items():
        for key, raw in (entries or {}).items():
            name, _ = split_metric_key(key)
            value = _number(raw)
            if value is None or name in NOT_METRICS:
                continue
            if name.endswith("_stderr"):
                stderr.setdefault(task, {})[name.removesuffix("_stderr")] = value
            else:
                metrics.setdefault(task, {})[name] = value
    ours = {t: m for t, m in metrics.items() if any(base_metric(n) in OUR_METRICS for n in m)}
    if not ours:
        found = "; ".join(f"{t} [{', '.join(m) or 'no metrics'}]" for t, m in metrics.items())
        raise ResultsError(f"{path}: no task with lm_eval_latent metrics "
                           f"({', '.join(OUR_METRICS)}); found: {found or 'no tasks'}")
    _check_samples_complete(path, data, list(ours))
    config = data.get("config") or {}
    model_args = parse_model_args(config.get("model_args"))
    hib = {t: {k: bool(v) for k, v in (m or {}).items()}
           for t, m in (data.get("higher_is_better") or {}).items()}
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
    task_metadata = {t: dict(c.get("metadata") or {}) for t, c in configs.items()
                     if t in ours and isinstance(c, dict) and isinstance(c.get("metadata"), dict)}
    return RunResults(path=path, name=display_name(model_args, path.parent.name or path.stem),
                      model_args=model_args, lm_eval_version=version, metrics=ours,
                      stderr={t: s for t, s in stderr.items() if t in ours}, higher_is_better=hib,
                      task_metadata=task_metadata)


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Results files from files and folders (a folder: every ``results_*.json`` below it)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.rglob("results_*.json"))
            if not found:
                raise ResultsError(f"{p}: folder holds no results_*.json file")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ResultsError(f"{p}: no such file or folder")
    unique = {path.resolve(): path for path in reversed(out)}  # one file named twice counts once
    return [path for path in out if unique.get(path.resolve()) is path]


def load_runs(paths: list[str | Path]) -> list[RunResults]:
    """Load several results files, one per model.

    Raises:
        ResultsError: as `load_results`, or two files for the same model (equal ``model_args``),
            naming both files.
    """
    runs: list[RunResults] = []
    for path in expand_paths(paths):
        run = load_results(path)
        for other in runs:
            if other.model_args == run.model_args:
                raise ResultsError(
                    f"{other.path} and {run.path} are results of the same model "
                    f"(model_args {run.model_args}); pass one results file per model")
        runs.append(run)
    names = [r.name for r in runs]
    for run in runs:  # two different models with the same basename: tell them apart
        if names.count(run.name) > 1:
            run.name = f"{run.name} ({run.path.parent.name}/{run.path.name})"
    return runs
