"""A self-contained HTML reconciliation report: no scripts, no network, inline SVG."""

from __future__ import annotations

import datetime as dt
import html
from typing import Optional, Sequence

from transforms.reconcile import Reconciliation
from transforms.summarize import duplicates_sentence

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.muted{color:#667} .ok{color:#17743b;font-weight:600} .bad{color:#b42318;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #dde;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:24px;font-weight:650} table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eef;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f7fb} td.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:11px system-ui,sans-serif;fill:#445}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _bars(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]], unit: str,
          width: int = 1040, height: int = 220) -> str:
    """A grouped bar chart as inline SVG. series: (name, colour, values)."""
    if not labels:
        return '<p class="muted">no data</p>'
    top = max((v for _, _, values in series for v in values), default=0) or 1.0
    left, bottom, plot_h = 50, 40, height - 60
    slot = (width - left - 10) / len(labels)
    bar = max(1.0, slot * 0.8 / len(series))
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for tick in range(5):
        value = top * tick / 4
        y = height - bottom - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, (name, colour, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{_e(label)} {name}: {value:.3f} {unit}'
                         f'</title></rect>')
        if len(labels) <= 40 or i % max(1, len(labels) // 20) == 0:
            parts.append(f'<text x="{x0 + slot * 0.4:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                         f'{_e(label[-5:])}</text>')
    legend_x = left
    for name, colour, _ in series:
        parts.append(f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="{height - 7}">{_e(name)} ({unit})</text>')
        legend_x += 150
    parts.append("</svg>")
    return "".join(parts)


def _histogram(durations_s: Sequence[float], bins: int = 24) -> str:
    if not durations_s:
        return '<p class="muted">no clips</p>'
    low, high = min(durations_s), max(durations_s)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in durations_s:
        counts[min(bins - 1, int((value - low) / step))] += 1
    labels = [f"{low + i * step:.0f}s" for i in range(bins)]
    return _bars(labels, [("clips", "#4c6ef5", counts)], "clips")


def _cards(result: Reconciliation) -> str:
    totals = result.totals
    expected = {c["name"]: c for c in result.checks}
    def card(title: str, value: str, check: Optional[dict]) -> str:
        note = ""
        if check:
            css = "ok" if check["ok"] else "bad"
            shown = f"{check['expected']:.3f}" if isinstance(check["expected"], float) else check["expected"]
            note = f'<div class="{css}">expected {shown}</div>'
        return f'<div class="card"><div class="muted">{title}</div><div class="v">{value}</div>{note}</div>'
    hours_check = expected.get("hours") or expected.get("manifest hours")
    videos_check = expected.get("videos") or expected.get("manifest videos")
    return '<div class="cards">' + "".join([
        card("videos", f"{totals['videos']:,}", videos_check),
        card("hours", f"{totals['hours']:.3f}", hours_check),
        card("bytes", f"{totals['bytes'] / 1e9:.3f} GB", None),
        card("unreadable", f"{totals['errors']:,}", None),
        card("duplicates", f"{totals['duplicates']:,}", None),
        card("truncated", f"{totals['truncated']:,}", None),
        card("discrepancies", f"{len(result.discrepancies):,}", None),
    ]) + "</div>" + _duplicates_note(totals)


def _duplicates_note(totals: dict) -> str:
    sentence = duplicates_sentence(totals["duplicates"], totals["duplicate_hours"], included=False)
    return f'<p class="muted">{html.escape(sentence.capitalize())}.</p>' if sentence else ""


def _change_count(changes: dict, name: str) -> int:
    value = changes.get(name)
    if isinstance(value, dict):
        return value.get("count", 0)
    return len(value or [])


def _history(history: Sequence[dict]) -> str:
    if not history:
        return '<p class="muted">first run</p>'
    rows = []
    previous = None
    for run in history:
        delta_v = "" if previous is None else f"{run['indexed'] - previous['indexed']:+d}"
        delta_h = "" if previous is None else f"{run['total_hours'] - previous['total_hours']:+.3f}"
        counts = [_change_count(run.get("changes") or {}, name)
                  for name in ("new", "changed", "removed", "newly_failing", "newly_fixed")]
        cells = [run["indexed"], delta_v, f"{run['total_hours']:.3f}", delta_h, run["errors"], *counts]
        rows.append(f"<tr><td>{_e(run['run_id'])}</td>" + "".join(f"<td class=n>{_e(c)}</td>" for c in cells)
                    + "</tr>")
        previous = run
    return ("<table><tr><th>run</th><th>videos</th><th>Δ</th><th>hours</th><th>Δ h</th><th>errors</th>"
            "<th>new</th><th>changed</th><th>removed</th><th>newly failing</th><th>newly fixed</th></tr>"
            + "".join(reversed(rows)) + "</table>")


def render_html(result: Reconciliation, history: Sequence[dict] = (), index_dir: str = "") -> str:
    by_day = result.breakdowns["by_day"]
    day_chart = _bars([row["group"] for row in by_day],
                      [("expected", "#adb5bd", [row["expected_hours"] for row in by_day]),
                       ("indexed", "#2f9e44", [row["indexed_hours"] for row in by_day])], "h")
    rows = "".join(
        f"<tr><td>{_e(d.kind)}</td><td>{_e(d.uri or d.clip_id)}</td><td class=n>"
        f"{'' if d.expected_duration_s is None else f'{d.expected_duration_s:.3f}'}</td><td class=n>"
        f"{'' if d.indexed_duration_s is None else f'{d.indexed_duration_s:.3f}'}</td><td>{_e(d.detail)}</td></tr>"
        for d in result.discrepancies)
    breakdown = ""
    for name in ("by_device", "by_officer"):
        items = result.breakdowns[name]
        if items:
            breakdown += (f"<h2>Totals {name.replace('_', ' ')}</h2><table><tr><th>{name[3:]}</th>"
                          "<th>expected clips</th><th>indexed clips</th><th>expected h</th><th>indexed h</th></tr>"
                          + "".join(f"<tr><td>{_e(r['group'])}</td><td class=n>{r['expected_clips']}</td>"
                                    f"<td class=n>{r['indexed_clips']}</td><td class=n>{r['expected_hours']:.3f}</td>"
                                    f"<td class=n>{r['indexed_hours']:.3f}</td></tr>" for r in items)
                          + "</table>")
    verdict = ('<span class="ok">RECONCILED</span>' if result.reconciled
               else '<span class="bad">NOT RECONCILED</span>')
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clipindex reconciliation {_e(result.run['run_id'])}</title>
<style>{_STYLE}</style></head><body>
<h1>Reconciliation: {verdict}</h1>
<p class="muted">index {_e(index_dir)} · run {_e(result.run['run_id'])} finished {_e(result.run['finished_at'])}
· report generated {generated}</p>
{_cards(result)}
<h2>Hours per day</h2>{day_chart}
<h2>Clip durations</h2>{_histogram(result.durations_s)}
<h2>Discrepancies ({len(result.discrepancies)})</h2>
<table><tr><th>kind</th><th>clip</th><th>expected s</th><th>indexed s</th><th>detail</th></tr>{rows}</table>
<h2>Night over night</h2>{_history(history)}
{breakdown}
</body></html>
"""
