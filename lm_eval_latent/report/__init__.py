"""The audit report from lm-eval results files (`lm-eval-latent report`, read in `lm_eval_latent.commands.report`).

    lm-eval-latent report out/base/results_*.json out/tuned/results_*.json \
        --baseline base --out report/ --html --png [--onset onset.json]

Prints a table of behavioural and latent metrics per model and the audit gap of each model against
the baseline; writes PNG figures (``--png``) and a self-contained HTML page (``--html``) to
``--out``. Reads results files only: no torch, no model wrapper (matplotlib only for figures).
Here: the figures (`make_figures`) and how a file is known as the report's (`written_by_report`).
"""

from __future__ import annotations

from pathlib import Path

from lm_eval_latent.report.results import RunResults

FIGURES = {  # title -> PNG file name
    "LVS by layer": "lvs_by_layer.png",
    "Attack success vs budget": "asr_by_budget.png",
    "Fine-tuning onset": "onset.png",
}


def written_by_report(path: Path) -> bool:
    """Whether ``path`` is a file this command wrote (its generator mark is in the first 8 KB)."""
    from lm_eval_latent.report.html import GENERATOR

    try:
        with path.open("rb") as fh:
            return GENERATOR.encode() in fh.read(8192)
    except OSError:
        return False


def make_figures(runs: list[RunResults], onset: str | dict | None) -> tuple[dict[str, bytes], dict[str, str]]:
    """(title -> PNG bytes, title -> why skipped) for every figure of the report; ``onset`` is
    an onset file or its data (`plots.load_onset`)."""
    from lm_eval_latent.report import plots

    figures: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    makers = {"LVS by layer": lambda: plots.lvs_by_layer(runs),
              "Attack success vs budget": lambda: plots.asr_by_budget(runs)}
    if onset:
        data = plots.load_onset(onset) if not isinstance(onset, dict) else onset
        makers["Fine-tuning onset"] = lambda: plots.onset_curve(data)
    else:
        skipped["Fine-tuning onset"] = "no --onset file given"
    for title, make in makers.items():
        try:
            figures[title] = make()
        except plots.PlotSkipped as why:
            skipped[title] = str(why)
    return figures, skipped


__all__ = ["FIGURES", "make_figures", "written_by_report"]
