"""Plain-text tables for the terminal: the per-model summary and the audit gaps."""

from __future__ import annotations

import math

from lm_eval_latent.report.gap import Gap
from lm_eval_latent.report.results import RunResults
from lm_eval_latent.report.summary import COLUMNS, model_row, sources

HEADERS = {
    "refusal_rate": "refusal ↑", "harmful_compliance": "compliance ↓",
    "over_refusal_rate": "over-refusal ↓", "refusal_clean": "refusal_clean ↑",
    "lvs": "LVS [95% CI] ↓", "asr_attack": "ASR attack ↓", "asr_random": "ASR random",
    "unscored": "unscored",
}


def render(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces, a rule under the header."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def summary_rows(runs: list[RunResults]) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of the summary table (one row per model)."""
    headers = ["model", *(HEADERS[c] for c in [*COLUMNS, "unscored"])]
    rows = []
    for run in runs:
        cells = model_row(run)
        texts = [c.text(ci=(name == "lvs")) for name, c in cells.items()]
        unscored = cells["unscored"].value
        texts[-1] = "–" if unscored is None else f"{unscored:g}"  # a count
        rows.append([run.name, *texts])
    return headers, rows


def summary_table(runs: list[RunResults]) -> str:
    """The summary table with a footnote naming the task behind each column."""
    headers, rows = summary_rows(runs)
    notes = [f"{col} from {', '.join(tasks)}" for col, tasks in sources(runs).items()]
    text = render(headers, rows)
    return text + ("\n(" + "; ".join(notes) + ")" if notes else "")


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "inf"
    return "nan" if math.isnan(x) else (f"{x:+.3f}" if signed else f"{x:.3f}")


def _ratio(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "n/a"  # no LVS, or both LVS 0
    return "inf" if math.isinf(x) else f"{x:.2f}x"


def _ci(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–"


def gap_rows(gap_list: list[Gap]) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of the audit-gap table."""
    headers = ["model", "vs baseline", "Δ refusal", "Δ refusal CI", "Δ LVS", "Δ LVS CI",
               "LVS ratio", "LVS model [CI]", "LVS baseline [CI]"]
    rows = [[g.model, g.baseline, _num(g.d_refusal, True), _ci(g.d_refusal_ci),
             _num(g.d_lvs, True), _ci(g.d_lvs_ci),
             _ratio(g.lvs_ratio),
             g.lvs_model.text(ci=True), g.lvs_base.text(ci=True)] for g in gap_list]
    return headers, rows


def gap_table(gap_list: list[Gap]) -> str:
    """The audit-gap table: (Δ refusal, Δ LVS) per model, with the LVS ratio and the CIs."""
    return render(*gap_rows(gap_list))
