"""The report's figures as PNG bytes: LVS by layer, attack success vs budget, onset curve.

matplotlib is imported lazily with the Agg backend (no display needed). A figure whose data is
missing raises `PlotSkipped` with the reason, so the report can say why it left the plot out.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from lm_eval_latent.report.results import ResultsError, RunResults

LAYER_PREFIX = "lvs@layer="


class PlotSkipped(Exception):
    """A figure left out of the report; the message says which data it lacked."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    from lm_eval_latent.report.html import GENERATOR

    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": GENERATOR})
    _pyplot().close(fig)
    return buf.getvalue()


def _layer_key(label: str) -> tuple[int, int]:
    return (-1, 0) if label == "embedding" else (0, int(label)) if label.lstrip("-").isdigit() \
        else (1, 0)


def layer_series(run: RunResults) -> list[tuple[str, float, float | None, float | None]]:
    """(layer, LVS, CI low, CI high) per layer from the ``lvs@layer=...`` metrics, embedding first.

    Prefers the task ``lvs_layer_profile``; any other task with layer metrics serves otherwise.
    """
    tasks = [t for t, m in run.metrics.items() if any(n.startswith(LAYER_PREFIX) for n in m)]
    if not tasks:
        return []
    task = "lvs_layer_profile" if "lvs_layer_profile" in tasks else tasks[0]
    out = []
    for name, value in run.metrics[task].items():
        if name.startswith(LAYER_PREFIX):
            suffix = name.removeprefix("lvs")
            out.append((name.removeprefix(LAYER_PREFIX), value,
                        run.value(task, "lvs_ci_low" + suffix), run.value(task, "lvs_ci_high" + suffix)))
    return sorted(out, key=lambda row: _layer_key(row[0]))


def budget_series(run: RunResults) -> list[tuple[str, float, float | None, float | None]]:
    """(budget kind, budget, ASR attack, ASR random) per budget from ``asr_attack@k=v`` metrics.

    Prefers the task ``lvs_budget_sweep``; rows are sorted by budget.
    """
    def is_budget(name: str) -> bool:
        return name.startswith("asr_attack@") and not name.startswith("asr_attack@layer=")

    tasks = [t for t, m in run.metrics.items() if any(is_budget(n) for n in m)]
    if not tasks:
        return []
    task = "lvs_budget_sweep" if "lvs_budget_sweep" in tasks else tasks[0]
    out = []
    for name, value in run.metrics[task].items():
        if is_budget(name):
            setting = name.split("@", 1)[1]
            kind, _, budget = setting.partition("=")
            try:
                out.append((kind, float(budget), value, run.value(task, "asr_random@" + setting)))
            except ValueError:
                continue
    return sorted(out, key=lambda row: (row[0], row[1]))


def _missing(runs: list[RunResults], what: str) -> str:
    return f"no {what} in {', '.join(str(r.path) for r in runs)}"


def lvs_by_layer(runs: list[RunResults]) -> bytes:
    """LVS (median, with its CI band) by layer, one line per model."""
    data = {run.name: layer_series(run) for run in runs}
    if not any(data.values()):
        raise PlotSkipped(_missing(runs, "lvs_layer_profile metrics (lvs@layer=...)"))
    plt = _pyplot()
    labels = sorted({row[0] for rows in data.values() for row in rows}, key=_layer_key)
    x_of = {label: i for i, label in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in data.items():
        if not rows:
            continue
        xs = [x_of[r[0]] for r in rows]
        ax.plot(xs, [r[1] for r in rows], marker="o", label=name)
        if all(r[2] is not None and r[3] is not None for r in rows):
            ax.fill_between(xs, [r[2] for r in rows], [r[3] for r in rows], alpha=0.15)
    ax.set_xticks(range(len(labels)), ["emb" if lb == "embedding" else lb for lb in labels])
    ax.set(xlabel="layer", ylabel="LVS (median, 95% CI)", title="LVS by layer")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def asr_by_budget(runs: list[RunResults]) -> bytes:
    """Attack success (solid) and random-control success (dashed) vs budget, per model."""
    data = {run.name: budget_series(run) for run in runs}
    if not any(data.values()):
        raise PlotSkipped(_missing(runs, "lvs_budget_sweep metrics (asr_attack@p=...)"))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    kinds = sorted({r[0] for rows in data.values() for r in rows})
    for i, (name, rows) in enumerate(data.items()):
        if not rows:
            continue
        color = f"C{i}"
        xs = [r[1] for r in rows]
        ax.plot(xs, [r[2] for r in rows], marker="o", color=color, label=f"{name} attack")
        if all(r[3] is not None for r in rows):
            ax.plot(xs, [r[3] for r in rows], marker="x", ls="--", color=color,
                    label=f"{name} random")
    if all(r[1] > 0 for rows in data.values() for r in rows):
        ax.set_xscale("log")
    ax.set(xlabel="budget " + "/".join(kinds), ylabel="attack success rate", ylim=(-0.05, 1.05),
           title="Attack success vs budget")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def load_onset(path: str | Path) -> dict[str, Any]:
    """Read an onset JSON (what `attack onset` writes): ``{"steps": [...], "compliance": [...],
    "tau": 0.8, "onset": 10}``. Steps are numbers, compliances numbers in [0, 1] (``null`` for a
    checkpoint with no scored row), ``tau`` in [0, 1], ``onset`` a step or ``null``.

    Raises:
        ResultsError: a missing, unreadable, truncated or malformed file, or a value of the
            wrong kind (named with its key and position): the report stops before writing.
    """
    where = f"--onset {path}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{where}: cannot read an onset JSON ({err})") from None
    shape = 'expected {"steps": [...], "compliance": [...], "tau": 0.8, "onset": 10} as written by `attack onset`'
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: {shape}; found a JSON {type(data).__name__}")
    steps, comp = data.get("steps"), data.get("compliance")
    if not isinstance(steps, list) or not isinstance(comp, list) or len(steps) != len(comp) or not steps:
        raise ResultsError(f"{where}: needs equal-length non-empty lists `steps` and `compliance` "
                           f"(found keys: {', '.join(sorted(data))}); {shape}")

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    for i, (step, rate) in enumerate(zip(steps, comp, strict=True)):
        if not number(step):
            raise ResultsError(f"{where}: steps[{i}]={step!r} is not a number (allowed: finite numbers)")
        if rate is not None and not (number(rate) and 0 <= rate <= 1):
            raise ResultsError(f"{where}: compliance[{i}]={rate!r} is not allowed (allowed: a number in [0, 1] or null)")
    tau = data.get("tau", 0.8)
    if not (number(tau) and 0 <= tau <= 1):
        raise ResultsError(f"{where}: tau={tau!r} is not allowed (allowed: a number in [0, 1])")
    if data.get("onset") is not None and not number(data["onset"]):
        raise ResultsError(f"{where}: onset={data['onset']!r} is not allowed (allowed: a step number or null)")
    return {**data, "tau": tau, "compliance": [math.nan if r is None else r for r in comp]}


def onset_curve(onset: dict[str, Any]) -> bytes:
    """Compliance vs fine-tuning step, the threshold tau and the onset step t_tau."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(onset["steps"], onset["compliance"], marker="o", label="compliance")
    tau = onset.get("tau", 0.8)
    ax.axhline(tau, color="grey", ls=":", label=f"tau = {tau:g}")
    step = onset.get("onset")
    if isinstance(step, (int, float)) and math.isfinite(step):
        ax.axvline(step, color="C3", ls="--", label=f"onset t = {step:g}")
    title = "Harmful fine-tuning onset"
    if onset.get("run_finished") is False:  # `attack onset` on an interrupted run marks it
        planned = onset.get("planned_steps")
        title += f"\n(unfinished run: to step {max(onset['steps']):g}{f' of {planned}' if planned else ''})"
    ax.set(xlabel="fine-tuning step", ylabel="compliance", ylim=(-0.05, 1.05), title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)
