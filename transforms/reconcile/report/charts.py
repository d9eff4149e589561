"""Inline SVG charts for the report: grouped bars and a histogram (no scripts, no network).

Charts scale to the page (viewBox, width 100 %), so a narrow window never
scrolls sideways. Axis labels are unique (a histogram's bins have round
edges, labelled as spans), and a chart of counts has whole-number ticks.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np

_NICE_STEPS_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600)


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def hours_text(hours: float, unit: str = " h") -> str:
    """Hours as a person reads them, h:mm, beside the decimal: `7:12 h (7.200)`."""
    minutes = int(round(hours * 60))
    return f"{minutes // 60}:{minutes % 60:02d}{unit} ({hours:.3f})"


def _ticks(top: float, whole: bool) -> list[float]:
    """About four ticks from 0 to at least `top`: whole numbers for counts."""
    if whole:
        step = max(1, math.ceil(top / 4))
        return [float(step * i) for i in range(int(math.ceil(top / step)) + 1)]
    raw = top / 4 or 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def bars(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]], unit: str,
         width: int = 1040, height: int = 220, whole: bool = False) -> str:
    """A grouped bar chart as inline SVG. series: (name, colour, values); whole: the values are counts."""
    if not labels:
        return '<p class="muted">no data</p>'
    top = max((v for _, _, values in series for v in values), default=0) or 1.0
    ticks = _ticks(top, whole)
    top = ticks[-1] or 1.0
    left, bottom, plot_h = 56, 44, height - 64
    slot = (width - left - 10) / len(labels)
    bar = max(1.0, slot * 0.8 / len(series))
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" data-counts="{int(whole)}" '
             f'preserveAspectRatio="xMinYMin meet">']
    for value in ticks:
        y = height - bottom - plot_h * value / top
        shown = f"{value:.0f}" if whole or value == int(value) else f"{value:g}"
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef"/>'
                     f'<text class="yt" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{shown}</text>')
    every = 1 if len(labels) <= 24 else math.ceil(len(labels) / 12)
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, (name, colour, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / top
            shown = f"{value:.0f}" if whole else f"{value:.3f}"
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{esc(label)} {name}: {shown} {unit}'
                         f'</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="xl" x="{x0 + slot * 0.4:.1f}" y="{height - bottom + 14}" '
                         f'text-anchor="middle">{esc(label)}</text>')
    legend_x = left
    for name, colour, _ in series:
        parts.append(f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="{height - 7}">{esc(name)} ({unit})</text>')
        legend_x += 150
    parts.append("</svg>")
    return "".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def histogram(durations_s: Sequence[float], bins: int = 16) -> str:
    """Clips per duration bin; bins have round edges (a nice step), labelled `m:ss` at their start."""
    values = np.asarray(durations_s, dtype=np.float64)
    if not len(values):
        return '<p class="muted">no clips</p>'
    low, high = float(values.min()), float(values.max())
    wanted = max((high - low) / bins, 1e-9)
    step = next((s for s in _NICE_STEPS_S if s >= wanted), math.ceil(wanted / 3600) * 3600)
    start = math.floor(low / step) * step
    count = max(1, int(math.floor((high - start) / step)) + 1)
    index = np.minimum(count - 1, ((values - start) // step).astype(np.int64))
    counts = np.bincount(index, minlength=count)
    labels = [_clock(start + i * step) for i in range(count)]
    return (bars(labels, [("clips", "#4c6ef5", counts.tolist())], "clips", whole=True)
            + f'<p class="muted">bins of {_clock(step)} (m:ss), each labelled at its start</p>')
