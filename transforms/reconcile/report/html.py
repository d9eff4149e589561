"""A self-contained HTML reconciliation report: no scripts, no network, inline SVG."""

from __future__ import annotations

import datetime as dt
from typing import Optional, Sequence

from transforms.reconcile.report import sections
from transforms.reconcile.compare import Reconciliation
from transforms.reconcile.report.charts import bars, esc, histogram
from transforms.reconcile.copies import duplicates_sentence

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.muted{color:#667} .ok{color:#17743b;font-weight:600} .bad{color:#b42318;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #dde;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:24px;font-weight:650} table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eef;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f7fb} td.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:11px system-ui,sans-serif;fill:#445} code{font-size:13px}
"""


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
        card("excerpts", f"{totals['excerpts']:,}", None),
        card("truncated", f"{totals['truncated']:,}", None),
        card("discrepancies", f"{result.discrepancies.num_rows:,}", None),
    ]) + "</div>" + _duplicates_note(totals)


def _duplicates_note(totals: dict) -> str:
    sentence = duplicates_sentence(totals["duplicates"], totals["duplicate_hours"], False,
                                   totals.get("excerpts", 0), totals.get("excerpt_hours", 0.0))
    return f'<p class="muted">{esc(sentence.capitalize())}.</p>' if sentence else ""


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
        rows.append(f"<tr><td>{esc(run['run_id'])}</td>" + "".join(f"<td class=n>{esc(c)}</td>" for c in cells)
                    + "</tr>")
        previous = run
    return ("<table><tr><th>run</th><th>videos</th><th>Δ</th><th>hours</th><th>Δ h</th><th>errors</th>"
            "<th>new</th><th>changed</th><th>removed</th><th>newly failing</th><th>newly fixed</th></tr>"
            + "".join(reversed(rows)) + "</table>")


def render_html(result: Reconciliation, history: Sequence[dict] = (), index_dir: str = "") -> str:
    by_day = result.breakdowns["by_day"]
    day_chart = bars([row["group"] for row in by_day],
                     [("expected", "#adb5bd", [row["expected_hours"] for row in by_day]),
                      ("indexed", "#2f9e44", [row["indexed_hours"] for row in by_day])], "h")
    breakdown = ""
    for name in ("by_device", "by_officer"):
        items = result.breakdowns[name]
        if items:
            breakdown += (f"<h2>Totals {name.replace('_', ' ')}</h2><table><tr><th>{name[3:]}</th>"
                          "<th>expected clips</th><th>indexed clips</th><th>expected h</th><th>indexed h</th></tr>"
                          + "".join(f"<tr><td>{esc(r['group'])}</td><td class=n>{r['expected_clips']}</td>"
                                    f"<td class=n>{r['indexed_clips']}</td><td class=n>{r['expected_hours']:.3f}</td>"
                                    f"<td class=n>{r['indexed_hours']:.3f}</td></tr>" for r in items)
                          + "</table>")
    root = (result.run.get("options_key") or {}).get("archive_root") or ""
    verdict = ('<span class="ok">RECONCILED</span>' if result.reconciled
               else '<span class="bad">NOT RECONCILED</span>')
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clipindex reconciliation {esc(result.run['run_id'])}</title>
<style>{_STYLE}</style></head><body>
<h1>Reconciliation: {verdict}</h1>
<p class="muted">index {esc(index_dir)} · run {esc(result.run['run_id'])} finished {esc(result.run['finished_at'])}
· report generated {generated}</p>
{_cards(result)}
<h2>Hours per day ({esc(result.settings.get("tz", "UTC"))})</h2>{day_chart}
<h2>Counts</h2>{sections.identity(result)}
<h2>Clip durations ({esc(result.settings.get("basis", "video"))})</h2>{histogram(result.durations_s)}
<h2>Discrepancies ({result.discrepancies.num_rows:,})</h2>{sections.discrepancy_table(result.discrepancies, root=root)}
<h2>Ambiguous matches</h2>{sections.ambiguous(result)}
<h2>Duplicates and excerpts</h2>{sections.copy_groups(result)}
<h2>Picture problems</h2>{sections.picture_problems(result, root)}
<h2>Night over night</h2>{_history(history)}
{breakdown}
</body></html>
"""
