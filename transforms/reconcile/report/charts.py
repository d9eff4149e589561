"""Inline SVG charts for the report: grouped bars and a histogram (no scripts, no network)."""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def bars(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]], unit: str,
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
                         f'height="{h:.1f}" fill="{colour}"><title>{esc(label)} {name}: {value:.3f} {unit}'
                         f'</title></rect>')
        if len(labels) <= 40 or i % max(1, len(labels) // 20) == 0:
            parts.append(f'<text x="{x0 + slot * 0.4:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                         f'{esc(label[-5:])}</text>')
    legend_x = left
    for name, colour, _ in series:
        parts.append(f'<rect x="{legend_x}" y="{height - 16}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{legend_x + 14}" y="{height - 7}">{esc(name)} ({unit})</text>')
        legend_x += 150
    parts.append("</svg>")
    return "".join(parts)


def histogram(durations_s: Sequence[float], bins: int = 24) -> str:
    values = np.asarray(durations_s, dtype=np.float64)
    if not len(values):
        return '<p class="muted">no clips</p>'
    low, high = float(values.min()), float(values.max())
    step = (high - low) / bins or 1.0
    counts = np.bincount(np.minimum(bins - 1, ((values - low) / step).astype(np.int64)), minlength=bins)
    labels = [f"{low + i * step:.0f}s" for i in range(bins)]
    return bars(labels, [("clips", "#4c6ef5", counts.tolist())], "clips")
