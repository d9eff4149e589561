"""Render the latest results JSONs as the tables in BENCHMARKS.md.

    python -m bench.lib.report                    # print the Markdown
    python -m bench.lib.report --update BENCHMARKS.md   # replace the block between the markers
"""

from __future__ import annotations

import argparse
import sys

from bench.estimate import latest
from bench.lib.harness import RESULTS_DIR

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def machine_lines(summary: dict) -> list[str]:
    m = summary["machine"]
    v = m["versions"]
    return [f"- Machine: {m['nproc']} cores ({m['cpu_model']}), {m['ram_bytes'] / 2**30:.0f} GiB RAM, "
            f"Linux {m['kernel']}, Python {m['python']}",
            f"- Versions: apache_beam {v['apache_beam']}, av {v['av']} (FFmpeg libs "
            f"{v['ffmpeg_libs'][0] if isinstance(v['ffmpeg_libs'], list) else v['ffmpeg_libs']}), "
            f"pyarrow {v['pyarrow']}, numpy {v['numpy']}; {v['ffprobe_cli']}"]


def throughput_md(summary: dict) -> list[str]:
    corpus = summary["corpus"]
    lines = [f"### Throughput ({summary['finished_at']}, `python -m bench.throughput`)", "",
             f"Corpus: {corpus['files']} clips, {corpus['hours']} h at {corpus['fps']} fps, "
             f"{corpus['size']}, {corpus['bytes'] / 1e9:.2f} GB (faststart MP4, ~1 min each). "
             f"Parallelism {summary['workers']} for every contender; best of {summary['repeat']} "
             f"(ffprobe: {'1' if summary.get('ffprobe_once') else summary['repeat']}). Load average "
             f"before/after: {summary['load_average_before']} / {summary['load_average_after']}.", "",
             "| contender | wall s | clips/s | video h/s | CPU s | peak RSS MiB (tree) | peak PSS MiB "
             "| bytes read | all wall s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in summary["results"]:
        read = (f"{row['bytes_read'] / 1e6:,.0f} MB ({row['bytes_read_fraction']:.1%})"
                if row.get("bytes_read") is not None else "")
        lines.append(f"| {row['name']} | {row['wall_s']:.1f} | {row['clips_per_s']:.1f} | "
                     f"{row['hours_per_s']:.3f} | {row['cpu_s']:.1f} | {_mib(row['peak_rss_bytes'])} | "
                     f"{_mib(row['peak_pss_bytes'])} | {read} | {row.get('all_wall_s')} |")
    lines += ["", "Ratios (clips/s of clipindex over the baseline, same run): " + ", ".join(
        f"`{k}` **{v}**" for k, v in summary["ratios"].items())]
    if "sha256_cost" in summary:
        cost = summary["sha256_cost"]
        lines.append(f"sha256 (`--hash sha256`, header tier): {cost['extra_wall_s']:+.1f} s wall, "
                     f"{cost['extra_ms_per_clip']:+.2f} ms per clip.")
    return lines


def scale_md(summary: dict, title: str) -> list[str]:
    lines = [f"### {title} ({summary['finished_at']}, tier {summary['tier']}, hash {summary['hash']}, "
             f"{summary['workers']} workers, load {summary['load_average_before']} -> "
             f"{summary['load_average_after']})", "",
             "| run | clips | hours indexed | index s | reconcile s | ms/clip | clips/s | video h/s "
             "| peak RSS MiB (index) | peak RSS MiB (reconcile) | reconciled |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in summary["runs"]:
        lines.append(f"| {row['name']} | {row['indexed_videos']} | {row['indexed_hours']:.3f} | "
                     f"{row['index_wall_s']:.1f} | {row['reconcile_wall_s']:.1f} | {row['ms_per_clip']:.2f} | "
                     f"{row['clips_per_s']:.1f} | {row['hours_per_s']:.2f} | "
                     f"{_mib(row['index_peak_rss_bytes'])} | {_mib(row['reconcile_peak_rss_bytes'])} | "
                     f"{'yes' if row['reconciled'] else 'NO'} |")
    if "marginal_ms_per_clip" in summary:
        lines += ["", f"Largest/smallest: time per clip x{summary['per_clip_ratio_largest_vs_smallest']}, "
                      f"peak RSS x{summary['rss_ratio_largest_vs_smallest']}; marginal "
                      f"{summary['marginal_ms_per_clip']} ms per clip, start-up ~{summary['startup_s_estimate']} s."]
        if summary.get("segment_marginal_ms_per_clip"):
            lines[-1] += (" Cost of an extra clip between consecutive sizes: "
                          + " / ".join(f"{ms} ms" for ms in summary["segment_marginal_ms_per_clip"]) + ".")
    if "targets" in summary:
        lines += ["", "Targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}"
                                               for k, v in summary["targets"].items())]
    return lines


def render(results_dir: str) -> str:
    lines: list[str] = []
    throughput = latest("throughput-*.json", results_dir)
    if throughput:
        lines += machine_lines(throughput) + [""] + throughput_md(throughput) + [""]
    # A larger corpus (e.g. 15,000 clips) shows how much of the gap to bare PyAV is fixed
    # start-up: `python -m bench.throughput --name large-throughput --corpus ... --clips N`.
    large = latest("large-throughput-*.json", results_dir)
    if large:
        lines += ["Larger corpus, same method:", ""] + throughput_md(large) + [""]
    for pattern, title in (("scale-boston-*.json", "Boston scale: 38,200 clips, 4,600 h"),
                           ("scale-slice-*.json", "1/100 slice at 30 fps: 382 clips, 46 h"),
                           ("scale-series-*.json", "Scaling series (first N clips of the Boston corpus)")):
        summary = latest(pattern, results_dir)
        if summary:
            lines += scale_md(summary, title) + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lib.report")
    parser.add_argument("--update", metavar="FILE")
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    text = render(args.results)
    if not args.update:
        sys.stdout.write(text)
        return 0
    with open(args.update, encoding="utf-8") as handle:
        doc = handle.read()
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(args.update, "w", encoding="utf-8") as handle:
        handle.write(f"{head}{START}\n{text}{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
