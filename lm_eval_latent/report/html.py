"""A self-contained HTML page of the report: inline CSS, PNGs embedded as base64, no URLs.

The page opens from disk or an e-mail attachment with nothing else at hand: every figure is a
``data:image/png;base64,...`` URI and the page loads no script, font or stylesheet.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

# Marks the files the report writes (this page's <meta name="generator">, the PNGs' Software
# field): `report --overwrite` replaces only files that carry it.
GENERATOR = "lm-eval-latent report"

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f2f2f2; }
td.num { font-variant-numeric: tabular-nums; }
.note { color: #666; font-size: 0.85em; }
.skipped { color: #8a4b00; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i else ""}">{html.escape(c)}</td>'
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(title: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(title)
    return (f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{alt}</figcaption></figure>")


def render_page(
    summary: tuple[list[str], list[list[str]]],
    summary_note: str,
    gaps: tuple[list[str], list[list[str]]] | None,
    baseline: str | None,
    figures: dict[str, bytes],
    skipped: dict[str, str],
    sources: list[str],
    judges: tuple[list[str], list[list[str]]] | None = None,
    calibration: tuple[list[str], list[list[str]]] | None = None,
) -> str:
    """The report page.

    Args:
        summary: Headers and rows of the per-model table.
        summary_note: Which task each column came from.
        gaps: Headers and rows of the audit-gap table (None with a single model).
        baseline: The baseline's display name.
        figures: Figure title -> PNG bytes.
        skipped: Figure title -> why it was left out.
        sources: The results files read.
        judges: Headers and rows of the judge-agreement table (None when no task had judge2).
        calibration: Headers and rows of the judge-calibration table (None without --labels).
    """
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="{GENERATOR}">',
        "<title>lm-eval-latent audit report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Latent safety audit</h1>",
        f'<p class="note">Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from: '
        + ", ".join(f"<code>{html.escape(s)}</code>" for s in sources) + "</p>",
        "<h2>Behavioural and latent metrics</h2>",
        _table(*summary),
        f'<p class="note">{html.escape(summary_note)}</p>',
    ]
    if gaps is not None:
        parts += [f"<h2>Audit gap against {html.escape(baseline or '')}</h2>", _table(*gaps),
                  '<p class="note">Δ refusal &lt; 0: refuses less than the baseline; Δ LVS &gt; 0: '
                  "more latently fragile. Similar refusal with a higher LVS is the audit gap.</p>"]
    if judges is not None:
        parts += ["<h2>Judge agreement</h2>", _table(*judges),
                  '<p class="note">Cohen\'s kappa between the two judges over the rows both '
                  "decided (1: full agreement, 0: chance); disagreements count rows whose "
                  "verdicts differ. The rates above use the first judge.</p>"]
    if calibration is not None:
        parts += ["<h2>Judge calibration</h2>", _table(*calibration),
                  '<p class="note">The judge\'s sensitivity and specificity on human labels of '
                  "this run's answers, and each rate corrected for them (Rogan-Gladen); the "
                  "corrected rate's 95% interval includes the judge's error.</p>"]
    if figures or skipped:
        parts.append("<h2>Figures</h2>")
    parts += [_figure(title, png) for title, png in figures.items()]
    parts += [f'<p class="skipped">{html.escape(t)} skipped: {html.escape(why)}</p>'
              for t, why in skipped.items()]
    parts.append("</body></html>")
    return "\n".join(parts)
