"""Archives in a bucket: `clipindex index` on local disk vs gs:// at a bucket's round trip, in one run.

    python -m bench.bucket [--clips 3000] [--camera-clips 300] [--delays 0,40] [--workers 2]
                           [--listing-objects 38200] [--repeat 1] [-- EXTRA CLIPINDEX ARGS]

A bucket on 127.0.0.1 (bench/gcs_servers.py): fake-gcs-server, built from the Go module
proxy, with a filesystem backend in bench/work/bucket-root (the corpora are uploaded once
and reused), behind a proxy that adds a fixed delay to every request and counts every
request it forwards (metadata GETs, ranged reads, listing pages, retries). Then, per corpus:

* the throughput benchmark's kind of clip (`--clips` one-minute 160x120 30 fps faststart
  MP4s, bench/throughput.py / `clipindex synth`) and, unless `--camera-clips 0`, the
  camera benchmark's (7.2-minute H.264 High B-frame + AAC, moov at the end, bench/camera.py);
* `clipindex index --tier header --hash none --workers N` on the local copy, then on
  gs:// through the proxy at each `--delays` value (ms per request);
* for each gs:// run: wall time, ratio to local, requests per clip counted at the proxy
  (by kind), MiB per clip sent, and whether its rows equal the local rows (clips columns
  except location-specific ones; frames per clip: count and sums of pts, size, pos).

Listing: `--listing-objects` names in a Boston-like layout (200 device folders, a folder per
day) that the proxy itself answers listings for, 1,000 a page as GCS does (fake-gcs-server's
object creation and listing are quadratic, see tools/delay_proxy/main.go); clipindex's own
selection (transforms.launcher.find_inputs.select_inputs) lists them through the proxy at each delay, timed
in a fresh process.

Boston projection at each delay: listing time of 38,200 objects + 38,200 x the per-clip wall
time of the one-minute corpus (start-up included, so it errs high).
Results: bench/results/bucket-<stamp>.json; a table on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import pyarrow.compute as pc

from bench import gcs_servers
from bench.lib.measure import load_average, machine, run_measured
from bench.lib.harness import RESULTS_DIR, WORK_DIR, ensure_corpus, env
from bench.lib.tables import read_index_table

BUCKET = "bench"
LOCATION_COLUMNS = ("uri", "clip_id", "run_id", "index_wall_s", "bytes_read", "mtime_s", "generation")


def _client(client_env: dict):
    os.environ.update(client_env)
    from transforms.storage.gcs import storage_client

    storage_client.cache_clear()
    return storage_client()


def upload_corpus(client_env: dict, files: list[str], root: str, prefix: str) -> float:
    """Upload what is not in the bucket yet (same name and size); returns seconds spent."""
    client = _client(client_env)
    bucket = client.bucket(BUCKET)
    if not bucket.exists():
        client.create_bucket(BUCKET)
    there = {blob.name: blob.size for blob in client.list_blobs(BUCKET, prefix=prefix + "/")}
    todo = [(path, f"{prefix}/{os.path.relpath(path, root)}") for path in files]
    todo = [(path, name) for path, name in todo if there.get(name) != os.path.getsize(path)]
    started = time.perf_counter()
    if todo:
        print(f"uploading {len(todo)} objects to gs://{BUCKET}/{prefix}/ (once; kept in bench/work)",
              file=sys.stderr, flush=True)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda item: bucket.blob(item[1]).upload_from_filename(item[0]), todo))
    return time.perf_counter() - started


def run_index(inputs: str, out_dir: str, workers: int, client_env: dict, extra: list[str],
              repo: Optional[str] = None) -> dict:
    """`clipindex index` of this checkout, or of `repo` (another checkout, e.g. before a change)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    repo = repo or gcs_servers.REPO
    measured = run_measured([sys.executable, "-m", "pipeline", "index", "--input", inputs, "--output", out_dir,
                             "--tier", "header", "--hash", "none", "--workers", str(workers), "--quiet", *extra],
                            env={**env(repo), **client_env}, cwd=repo)
    if measured.returncode != 0:
        raise SystemExit(f"clipindex index {inputs} failed: {measured.stderr.strip()[-3000:]}")
    with open(os.path.join(out_dir, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)
    clips = read_index_table(out_dir, "clips")
    return {"wall_s": round(measured.wall_s, 3), "cpu_s": round(measured.cpu_s, 2),
            "peak_rss_mib": round(measured.peak_rss_bytes / 2**20), "indexed": run["indexed"],
            "errors": run["errors"], "error_kinds": run["error_kinds"], "run_wall_s": run["wall_s"],
            "bytes_read": pc.sum(clips["bytes_read"]).as_py() or 0,
            "storage": run.get("storage"), "run": run}


def comparable_rows(out_dir: str, root: str) -> tuple[list, dict]:
    """Clips rows keyed by path below the corpus root; per-clip frame sums (not location-specific)."""
    clips = read_index_table(out_dir, "clips")
    names = {}
    rows = []
    for row in clips.to_pylist():
        key = row["uri"].split(root, 1)[-1].lstrip("/")
        names[row["clip_id"]] = key
        rows.append({"key": key, **{k: v for k, v in row.items() if k not in LOCATION_COLUMNS}})
    rows.sort(key=lambda r: r["key"])
    frames = read_index_table(out_dir, "frames", ["clip_id", "pts", "size_bytes", "pos"])
    sums = frames.group_by("clip_id").aggregate([("pts", "count"), ("pts", "sum"), ("size_bytes", "sum"),
                                                 ("pos", "sum")])
    per_clip = {names.get(r["clip_id"], r["clip_id"]): (r["pts_count"], r["pts_sum"], r["size_bytes_sum"], r["pos_sum"])
                for r in sums.to_pylist()}
    return rows, per_clip


def listing_names(path: str, objects: int) -> str:
    """Object names in a Boston-like layout (200 device folders, a folder per day), one a line."""
    devices = 200
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(objects):
            device, n = number % devices, number // devices
            day = f"2026-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}"
            handle.write(f"boston/clips/BWC-{device:04d}/{day}/clip-{number:06d}.mp4\n")
    return path


LIST_SNIPPET = """
import json, sys, time
import transforms
from transforms.launcher.find_inputs import select_inputs
started = time.perf_counter()
found = select_inputs([sys.argv[1]])
print(json.dumps({"objects": len(found.files), "listing_s": time.perf_counter() - started}))
"""


def time_listing(client_env: dict, pattern: str, repo: Optional[str] = None) -> dict:
    repo = repo or gcs_servers.REPO
    done = subprocess.run([sys.executable, "-c", LIST_SNIPPET, pattern], env={**env(repo), **client_env},
                          capture_output=True, text=True, cwd=repo, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"listing failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_corpus(name: str, root: str, files: list[str], server, proxy, delays: list[float], args,
                 scratch: str) -> dict:
    """Local, then gs:// at each delay and variant, interleaved `--repeat` times (best of N counts:
    the machine is shared, so a round's neighbours ran under the same load)."""
    prefix = name
    upload_s = upload_corpus(proxy.client_env(), files, root, prefix)
    variants = [(f"inflight {n}", ["--gcs-inflight", str(n)], None) for n in args.inflight] or [("", [], None)]
    if args.compare_repo:
        variants.append(("before", [], os.path.abspath(args.compare_repo)))
    clips = len(files)
    local_runs, gs_runs = [], {}
    local_rows = None
    for attempt in range(args.repeat):
        local_runs.append(run_index(os.path.join(root, "**", "*.mp4"), os.path.join(scratch, "local"),
                                    args.workers, {}, args.extra))
        local_runs[-1]["load_average"] = load_average()
        local_rows = local_rows or comparable_rows(os.path.join(scratch, "local"), root)
        print(f"[{attempt + 1}/{args.repeat}] {name:<12} local {'':<20} {local_runs[-1]['wall_s']:8.2f} s  "
              f"load {load_average()[0]}", file=sys.stderr, flush=True)
        for delay in delays:
            proxy.set_delay(delay)
            for label, variant_args, repo in variants:
                proxy.reset()
                out = os.path.join(scratch, "gs")
                cpu_before = server.cpu_s(), proxy.cpu_s()
                row = run_index(f"gs://{BUCKET}/{prefix}/**/*.mp4", out, args.workers, proxy.client_env(),
                                args.extra + variant_args if repo is None else args.extra, repo)
                # The bucket's own CPU (fake-gcs-server and the proxy share the 2 cores with the run;
                # a real bucket's would not).
                row["server_cpu_s"] = round(server.cpu_s() - cpu_before[0], 2)
                row["proxy_cpu_s"] = round(proxy.cpu_s() - cpu_before[1], 2)
                row["bucket_cpu_s"] = round(row["server_cpu_s"] + row["proxy_cpu_s"], 2)
                row["proxy"] = proxy.stats()
                row["rows_equal_local"] = comparable_rows(out, f"gs://{BUCKET}/{prefix}") == local_rows
                row["load_average"] = load_average()
                row.pop("run", None)
                key = f"{delay:g}" + (f" {label}" if label else "")
                gs_runs.setdefault(key, []).append(row)
                counted = row["proxy"]["kinds"]
                print(f"[{attempt + 1}/{args.repeat}] {name:<12} gs:// {delay:5.0f} ms {label:<12} "
                      f"{row['wall_s']:8.2f} s  x{row['wall_s'] / local_runs[-1]['wall_s']:.2f} "
                      f"{(counted.get('media', 0) + counted.get('metadata', 0)) / clips:.2f} req/clip "
                      f"{row['proxy']['bytes'] / clips / 2**20:.3f} MiB/clip, bucket CPU {row['bucket_cpu_s']} s, "
                      f"rows equal: {row['rows_equal_local']}  "
                      f"load {row['load_average'][0]}", file=sys.stderr, flush=True)
    local = min(local_runs, key=lambda r: r["wall_s"])
    local = {k: v for k, v in local.items() if k != "run"}
    local["all_wall_s"] = [r["wall_s"] for r in local_runs]
    result = {"clips": clips, "bytes": sum(os.path.getsize(f) for f in files), "upload_s": round(upload_s, 1),
              "local": local, "gs": {}}
    for key, runs in gs_runs.items():
        row = dict(min(runs, key=lambda r: r["wall_s"]))
        row["all_wall_s"] = [r["wall_s"] for r in runs]
        # Ratio within each round (same load), and of the bests.
        row["ratios_by_round"] = [round(g["wall_s"] / lo["wall_s"], 2) for g, lo in zip(runs, local_runs)]
        counted = row["proxy"]["kinds"]
        row.update({
            "ratio_to_local": round(row["wall_s"] / local["wall_s"], 2),
            "requests_per_clip": round((counted.get("media", 0) + counted.get("metadata", 0)) / clips, 2),
            "requests_per_clip_by_kind": {k: round(v / clips, 3) for k, v in counted.items()},
            "mib_per_clip": round(row["proxy"]["bytes"] / clips / 2**20, 3),
            "per_clip_s": round(row["wall_s"] / clips, 5),
        })
        result["gs"][key] = row
        print(f"{name:<12} best gs:// {key:<20} {row['wall_s']:8.2f} s  x{row['ratio_to_local']} of local "
              f"{local['wall_s']:.2f} s (by round {row['ratios_by_round']})", file=sys.stderr, flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bucket", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=3000, help="one-minute clips (0: none)")
    parser.add_argument("--corpus", help="default: bench/work/throughput-CLIPS")
    parser.add_argument("--camera-clips", type=int, default=300, help="7.2-minute camera clips (0: none)")
    parser.add_argument("--camera-corpus", help="default: bench/work/camera-CLIPS")
    parser.add_argument("--delays", default="0,40", help="ms added per request, e.g. 0,20,40,100")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="best of N (local and each delay)")
    parser.add_argument("--listing-objects", type=int, default=38200, help="0: skip the listing timing")
    parser.add_argument("--root", default=os.path.join(WORK_DIR, "bucket-root"),
                        help="fake-gcs-server's filesystem root (the uploaded corpora stay here)")
    parser.add_argument("--inflight", type=lambda text: [int(n) for n in text.split(",") if n], default=[],
                        help="gs:// runs for each --gcs-inflight value, e.g. 4,8,16,32 (default: clipindex's)")
    parser.add_argument("--compare-repo", metavar="DIR",
                        help="also time gs:// with another checkout (e.g. before a change)")
    parser.add_argument("--results", default=RESULTS_DIR)
    parser.add_argument("extra", nargs="*", help="more `clipindex index` arguments (after --)")
    args = parser.parse_args(argv)
    delays = [float(d) for d in args.delays.split(",") if d]
    binaries = gcs_servers.binaries()
    if binaries is None:
        raise SystemExit("fake-gcs-server or the delay proxy cannot be built here (see tools/fetch_fake_gcs.sh)")
    corpora = []
    if args.clips:
        corpus = args.corpus or os.path.join(WORK_DIR, f"throughput-{args.clips}")
        ensure_corpus(corpus, args.clips, args.clips / 60, 30, "160x120")
        corpora.append((f"minute-{args.clips}", os.path.join(corpus, "clips")))
    if args.camera_clips:
        from bench.camera import ensure_corpus as ensure_camera

        corpus = os.path.abspath(args.camera_corpus or os.path.join(WORK_DIR, f"camera-{args.camera_clips}"))
        ensure_camera(corpus, {"clips": args.camera_clips, "minutes": 7.2, "looks": 12, "segment_s": 12,
                               "size": "320x240", "video_kbps": 300}, args.workers)
        corpora.append((f"camera-{args.camera_clips}", os.path.join(corpus, "clips")))
    scratch = os.path.join(WORK_DIR, "scratch-bucket")
    os.makedirs(scratch, exist_ok=True)
    summary = {"kind": "bucket", "machine": machine(), "workers": args.workers, "delays_ms": delays,
               "extra_args": args.extra, "load_average_before": load_average(), "corpora": {}, "listing": {}}
    server, proxy = gcs_servers.bucket_on(binaries, root=os.path.abspath(args.root))
    with server, proxy:
        for name, root in corpora:
            files = sorted(glob.glob(os.path.join(root, "**", "*.mp4"), recursive=True))
            summary["corpora"][name] = bench_corpus(name, root, files, server, proxy, delays, args, scratch)
    if args.listing_objects:
        names = listing_names(os.path.join(scratch, "listing-names.txt"), args.listing_objects)
        fake_binary, proxy_binary = binaries
        proxy_port = gcs_servers.free_port()
        with gcs_servers.FakeGcs(fake_binary, proxy_port) as other, \
                gcs_servers.DelayProxy(proxy_binary, other.port, port=proxy_port,
                                       listing=("listing", names)) as listing_proxy:
            for delay in delays:
                listing_proxy.set_delay(delay)
                listing_proxy.reset()
                timed = time_listing(listing_proxy.client_env(), "gs://listing/boston/clips/**/*.mp4")
                timed["requests"] = listing_proxy.stats()["requests"]
                summary["listing"][f"{delay:g}"] = timed
                print(f"listing      {delay:5.0f} ms {timed['listing_s']:8.2f} s  {timed['objects']} objects, "
                      f"{timed['requests']} requests", file=sys.stderr, flush=True)
                if args.compare_repo:
                    listing_proxy.reset()
                    before = time_listing(listing_proxy.client_env(), "gs://listing/boston/clips/**/*.mp4",
                                          os.path.abspath(args.compare_repo))
                    before["requests"] = listing_proxy.stats()["requests"]
                    summary["listing"][f"{delay:g} before"] = before
                    print(f"listing      {delay:5.0f} ms before {before['listing_s']:8.2f} s  "
                          f"{before['requests']} requests", file=sys.stderr, flush=True)
    minute = summary["corpora"].get(f"minute-{args.clips}")
    if minute and summary["listing"]:
        summary["boston_projection_s"] = {
            key: round(summary["listing"][key.split()[0]]["listing_s"] * 38200 / args.listing_objects
                       + 38200 * row["per_clip_s"], 1)
            for key, row in minute["gs"].items() if key.split()[0] in summary["listing"] and "before" not in key}
        print(f"Boston projection (listing + 38,200 x per-clip): {summary['boston_projection_s']}", file=sys.stderr)
    summary["load_average_after"] = load_average()
    summary["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"bucket-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(f"wrote {path}", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
