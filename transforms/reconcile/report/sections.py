"""Report sections for a supervisor: the count identity, ambiguous matches, copy groups,
clips with picture problems (with their contact sheets, embedded), the discrepancy list."""

from __future__ import annotations

import base64
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from transforms.storage import fs as storage
from transforms.reconcile.report.charts import esc
from transforms.clip.qa.contact_sheet import thumbnail_path
from transforms.reconcile.copies import insufficient_sentence

MAX_ROWS = 500  # per table; the rest are in DIR/reconcile/discrepancies.parquet and --json


def path_cell(uri: Optional[str], root: str = "") -> str:
    """A path shortened to below the archive root, the whole path on hover: long absolute paths
    otherwise fill the table."""
    if not uri:
        return ""
    prefix = root.rstrip("/") + "/" if root else ""
    short = uri[len(prefix):] if prefix and uri.startswith(prefix) else uri
    return f'<span class="path" title="{esc(uri)}">{esc(short)}</span>'


def _seconds(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.3f}"


def _more(shown: int, total: int) -> str:
    return (f'<p class="muted">{total - shown:,} more not shown: see reconcile/discrepancies.parquet</p>'
            if total > shown else "")


def identity(result) -> str:
    state = '<span class="ok">holds</span>' if result.identity["holds"] else '<span class="bad">BROKEN</span>'
    lines = "".join(f"<li><code>{esc(line)}</code></li>" for line in result.identity["text"])
    return (f"<p>Every row ends in exactly one outcome, so the counts add up ({state}). Index rows are "
            f"readable clips and unreadable files.</p><ul>{lines}</ul>")


def discrepancy_table(table: pa.Table, kinds: Optional[tuple[str, ...]] = None, root: str = "") -> str:
    if kinds is not None:
        table = table.filter(pc.is_in(table.column("kind"), value_set=pa.array(kinds)))
    shown = table.slice(0, MAX_ROWS).to_pylist()
    # The detail gets a line of its own under its row: beside eight columns of ids it is squeezed
    # to a sliver at 800 px.
    rows = "".join(
        f"<tr class=main><td>{esc(d['kind'])}</td><td>{path_cell(d['uri'], root)}"
        f"{_id_line('clip_id', d['clip_id'])}</td><td><span class=id>{esc(d['evidence_id'])}</span>"
        f"{_id_line('officer', d['officer_id'])}</td><td class=id>{esc(d['device_id'])}</td>"
        f"<td class=n>{esc(d['manifest_row'])}</td><td class=n>{_seconds(d['expected_duration_s'])}</td>"
        f"<td class=n>{_seconds(d['indexed_duration_s'])}</td></tr>"
        f"<tr class=more><td></td><td colspan=6 class=detail>{_detail(d['detail'], root)}</td></tr>"
        for d in shown)
    return ("<table class=discrepancies><tr><th>kind</th><th>clip</th><th>evidence id</th><th>device</th>"
            "<th>manifest row</th><th>expected s</th><th>indexed s</th></tr>"
            f"{rows}</table>" + _more(len(shown), table.num_rows))


def _detail(text: Optional[str], root: str) -> str:
    """The detail with paths below the archive root shortened, as in the clip column."""
    text = text or ""
    return esc(text.replace(root.rstrip("/") + "/", "") if root else text)


def _id_line(label: str, value: Optional[str]) -> str:
    return f'<br><span class="muted id">{label} {esc(value)}</span>' if value else ""


def ambiguous(result, root: str = "") -> str:
    table = result.discrepancies.filter(pc.equal(result.discrepancies.column("kind"), "ambiguous"))
    if not table.num_rows:
        return '<p class="muted">none: every match was one to one</p>'
    return ("<p>These manifest rows could be more than one index row; none was picked. Give the export's "
            "device and time columns (<code>--columns</code>, <code>--device-from-path</code>) to tell "
            "them apart.</p>" + discrepancy_table(table, root=root))


def copy_groups(result, root: str = "") -> str:
    if not result.copy_groups:
        return '<p class="muted">none</p>'
    rows = []
    for group in result.copy_groups:
        copies = "<br>".join(f"{esc(c['kind'])} ({esc(c['evidence'])}): {path_cell(c['uri'], root)}"
                             for c in group["copies"])
        rows.append(f"<tr><td>{path_cell(group['original']['uri'], root)}</td><td>{copies}</td></tr>")
    return ("<p>Counted once, in the original; copies never add to the totals.</p>"
            "<table><tr><th>original</th><th>copies</th></tr>" + "".join(rows) + "</table>")


def _sheet(snapshot: str, clip_id: str) -> str:
    """The clip's contact sheet as a data: URI image, or a note when --thumbnails did not run."""
    path = thumbnail_path(storage.join(snapshot, "thumbs"), clip_id)
    if not snapshot or not storage.exists(path):
        return '<span class="muted">no contact sheet (index with --thumbnails)</span>'
    with storage.open_read(path) as handle:
        data = base64.b64encode(handle.read()).decode("ascii")
    return f'<img alt="contact sheet of {esc(clip_id)}" width="384" src="data:image/jpeg;base64,{data}">'


def _coverage(qa: dict) -> str:
    if not qa.get("sampled_clips"):
        return ""
    return (f"{qa['sampled_clips']:,} of {qa['clips']:,} clips checked, {qa['sampled_frames']:,} pictures "
            f"sampled (--decode {esc(qa['decode'])}). ")


def _insufficient(qa: dict, root: str) -> str:
    if not qa.get("count"):
        return ""
    rows = "".join(f"<tr><td>{path_cell(c['uri'], root)}{_id_line('clip_id', c['clip_id'])}</td>"
                   f"<td class=n>{c['samples']}</td><td class=n>{c['duration_s']:.1f}</td></tr>"
                   for c in qa["insufficient"])
    return (f"<p class=bad>{esc(insufficient_sentence(qa).capitalize())}.</p><table><tr><th>clip</th>"
            f"<th>samples</th><th>s</th></tr>{rows}</table>")


def picture_problems(result, root: str = "") -> str:
    qa = result.qa or {}
    if not qa.get("sampled_clips") and not result.qa_top:
        return ('<p class="muted">not measured: index with --decode keyframes or fps:N to check for dark, '
                'frozen or blurry picture</p>')
    insufficient = _insufficient(qa, root)
    if not result.qa_top:
        return f"<p>{_coverage(qa)}No dark, frozen or blurry picture found.</p>{insufficient}"
    rows = "".join(
        f"<tr><td>{path_cell(c['uri'], root)}{_id_line('clip_id', c['clip_id'])}</td>"
        f"<td class=n>{c['duration_s']:.1f}</td><td class=n>{c['qa_dark_s']:.1f}</td>"
        f"<td class=n>{c['qa_frozen_s']:.1f}</td><td class=n>{c['qa_blurry_s']:.1f}</td>"
        f"<td>{_sheet(result.snapshot, c['clip_id'])}</td></tr>" for c in result.qa_top)
    return (f"<p>{_coverage(qa)}Seconds of dark (covered lens), frozen or blurry picture, most first.</p>"
            "<table><tr><th>clip</th><th>s</th><th>dark s</th><th>frozen s</th><th>blurry s</th>"
            f"<th>contact sheet</th></tr>{rows}</table>{insufficient}")
