"""A self-contained HTML reconciliation report: no scripts, no network, inline SVG."""

from __future__ import annotations

import datetime as dt
from typing import Optional, Sequence

from transforms.reconcile.report import sections
from transforms.reconcile.compare import Reconciliation
from transforms.manifest.times import get_zone
from transforms.reconcile.report.charts import bars, esc, histogram, hours_text
from transforms.reconcile.copies import duplicates_sentence

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1d2330}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde}
.muted{color:#667} .ok{color:#17743b;font-weight:600} .bad{color:#b42318;font-weight:600}
.cards{display:flex;gap:10px;flex-wrap:wrap}
.card{border:1px solid #dde;border-radius:8px;padding:8px 12px;min-width:128px;flex:1 1 128px}
.card .v{font-size:22px;font-weight:650;white-space:nowrap;font-variant-numeric:tabular-nums}
.card .s{font-size:12px} .card.bad{border-color:#f1aeb5}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eef;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f7fb} td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.id,.num{white-space:nowrap} .path{overflow-wrap:anywhere} td.detail{overflow-wrap:anywhere;min-width:12em}
table.discrepancies tr.main td{border-bottom:none} tr.more td{padding-top:0;color:#445}
svg.chart{width:100%;height:auto;max-width:1040px;display:block}
svg text{font:11px system-ui,sans-serif;fill:#445} code{font-size:13px;overflow-wrap:anywhere}
"""


def _kinds(result: Reconciliation) -> dict:
    return result.discrepancy_counts()


def _cards(result: Reconciliation) -> str:
    totals, kinds = result.totals, _kinds(result)
    expected = {c["name"]: c for c in result.checks}

    def card(title: str, value: str, note: str = "", check: Optional[dict] = None, bad: bool = False) -> str:
        if check:
            css = "ok" if check["ok"] else "bad"
            shown = (hours_text(check["expected"]) if isinstance(check["expected"], float)
                     else f"{check['expected']:,}")
            note = (f'<span class="{css}">expected <span class="num">{shown}</span></span>'
                    + (f"<br>{note}" if note else ""))
        return (f'<div class="card{" bad" if bad else ""}"><div class="muted">{title}</div><div class="v">{value}</div>'
                f'<div class="s muted">{note}</div></div>')
    copies = totals["duplicates"] + totals["excerpts"]
    excludes = (f"excludes {_plural(totals['duplicates'], 'duplicate')}"
                + (f" and {_plural(totals['excerpts'], 'excerpt')}" if totals["excerpts"] else "")
                if copies else "each footage once")
    minutes = int(round(totals["hours"] * 60))
    cards = [
        card("videos", f"{totals['videos']:,}", excludes, expected.get("videos") or expected.get("manifest videos")),
        card("hours", f"{minutes // 60}:{minutes % 60:02d}", f"{totals['hours']:.3f} h; {excludes}",
             expected.get("hours") or expected.get("manifest hours")),
        card("missing", f"{kinds.get('missing', 0):,}", "listed, not found", bad=bool(kinds.get("missing"))),
        card("unexpected", f"{kinds.get('unexpected', 0):,}", "found, not listed", bad=bool(kinds.get("unexpected"))),
        card("unreadable", f"{totals['errors']:,}", _errors_by_kind(result.run), bad=bool(totals["errors"])),
        card("duplicates", f"{totals['duplicates']:,}", f"{totals['duplicate_hours']:.3f} h, not in the totals"),
    ]
    others = {k: v for k, v in kinds.items() if k not in ("missing", "unexpected", "unreadable", "duplicate")}
    line = ", ".join(f"{k.replace('_', ' ')} <span class=num>{v:,}</span>" for k, v in others.items())
    return ('<div class="cards">' + "".join(cards) + "</div>"
            + (f'<p>Also: {line}.</p>' if line else "") + _duplicates_note(totals))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _errors_by_kind(run: dict) -> str:
    kinds = run.get("error_kinds") or {}
    return ", ".join(f"{esc(k)} <span class=num>{v:,}</span>" for k, v in kinds.items()) or "none"


def _duplicates_note(totals: dict) -> str:
    sentence = duplicates_sentence(totals["duplicates"], totals["duplicate_hours"], False,
                                   totals.get("excerpts", 0), totals.get("excerpt_hours", 0.0))
    return f'<p class="muted">{esc(sentence.capitalize())}.</p>' if sentence else ""


def _change_count(changes: dict, name: str) -> int:
    value = changes.get(name)
    if isinstance(value, dict):
        return value.get("count", 0)
    return len(value or [])


def _history(history: Sequence[dict], zone) -> str:
    if not history:
        return '<p class="muted">first run</p>'
    rows = []
    previous = None
    for run in history:
        delta_v = "" if previous is None else f" ({run['indexed'] - previous['indexed']:+d})"
        changes = run.get("changes") or {}
        counts = [_change_count(changes, name) for name in ("new", "changed", "removed", "newly_failing",
                                                             "newly_fixed")]
        cells = [f"{run['indexed']}{delta_v}", hours_text(run['total_hours'], ''), run["errors"],
                 *counts]
        reread = changes.get("full_reindex_reason") if changes.get("full_reindex_changes") else ""
        note = f'<br><span class="muted">read all again: {esc(reread)}</span>' if reread else ""
        rows.append(f"<tr><td><span class=id>{esc(_local(run.get('finished_at'), zone))}</span>{note}</td>"
                    + "".join(f"<td class=n>{esc(c)}</td>" for c in cells) + "</tr>")
        previous = run
    return ("<p class=muted>The index's own counts: every readable clip, duplicates included (the headline "
            "counts each footage once); in brackets the videos added since the night before. New, changed and "
            "removed count files.</p>"
            "<table><tr><th>finished</th><th>videos</th><th>hours (h:mm, decimal)</th><th>errors</th>"
            "<th>new</th><th>changed</th><th>removed</th><th>newly failing</th><th>newly fixed</th></tr>"
            + "".join(reversed(rows)) + "</table>")


def _local(iso: Optional[str], zone) -> str:
    """An ISO time in the report's zone (--tz), as `2026-03-11 14:15`."""
    if not iso:
        return ""
    moment = dt.datetime.fromisoformat(iso)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _zone(result: Reconciliation):
    name = result.settings.get("tz", "UTC")
    try:
        return get_zone(name)
    except ValueError:
        return dt.timezone.utc


def _breakdowns(result: Reconciliation) -> str:
    out = ""
    for name in ("by_device", "by_officer"):
        items = result.breakdowns[name]
        if items:
            out += (f"<h2>Totals {name.replace('_', ' ')}</h2><table><tr><th>{name[3:]}</th>"
                    "<th>expected clips</th><th>indexed clips</th><th>expected hours</th><th>indexed hours</th></tr>"
                    + "".join(f"<tr><td class=id>{esc(r['group'])}</td><td class=n>{r['expected_clips']:,}</td>"
                              f"<td class=n>{r['indexed_clips']:,}</td>"
                              f"<td class=n>{hours_text(r['expected_hours'], '')}</td>"
                              f"<td class=n>{hours_text(r['indexed_hours'], '')}</td></tr>" for r in items)
                    + "</table>")
    return out


def render_html(result: Reconciliation, history: Sequence[dict] = (), index_dir: str = "") -> str:
    by_day = result.breakdowns["by_day"]
    days = [row["group"] for row in by_day]
    short = [d[5:] if len({x[:4] for x in days}) == 1 and len(days) > 12 else d for d in days]
    day_chart = bars(short, [("expected", "#adb5bd", [row["expected_hours"] for row in by_day]),
                             ("indexed", "#2f9e44", [row["indexed_hours"] for row in by_day])], "h")
    root = (result.run.get("options_key") or {}).get("archive_root") or ""
    zone = _zone(result)
    verdict = ('<span class="ok">RECONCILED</span>' if result.reconciled
               else '<span class="bad">NOT RECONCILED</span>')
    generated = dt.datetime.now(zone).strftime("%Y-%m-%d %H:%M")
    tz = esc(result.settings.get("tz", "UTC"))
    as_of = result.settings.get("as_of")
    looking_back = " (the night live then; not the live index)" if as_of else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>clipindex reconciliation {esc(result.run['run_id'])}</title>
<style>{_STYLE}</style></head><body>
<h1>Reconciliation{f' as of <span class="id">{esc(as_of)}</span>' if as_of else ''}: {verdict}</h1>
<p class="muted">index <span class="path" title="{esc(index_dir)}">{esc(index_dir)}</span> · run
<span class="id">{esc(result.run['run_id'])}</span>{looking_back} finished
<span class="id">{_local(result.run.get('finished_at'), zone)}</span>
· report made <span class="id">{generated}</span> ({tz})
{f'· paths below <span class="path">{esc(root)}</span>' if root else ''}</p>
{_cards(result)}
<h2>Discrepancies ({result.discrepancies.num_rows:,})</h2>{sections.discrepancy_table(result.discrepancies, root=root)}
<h2>Hours per day ({tz})</h2>{day_chart}
<h2>Counts</h2>{sections.identity(result)}
<h2>Clip durations ({esc(result.settings.get("basis", "video"))}; each footage once)</h2>{histogram(result.durations_s)}
<h2>Ambiguous matches</h2>{sections.ambiguous(result, root)}
<h2>Duplicates and excerpts</h2>{sections.copy_groups(result, root)}
<h2>Picture problems</h2>{sections.picture_problems(result, root)}
<h2>Night over night</h2>{_history(history, zone)}
{_breakdowns(result)}
</body></html>
"""
