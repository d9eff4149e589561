"""The index pipeline graph, composed in one place."""

from __future__ import annotations

import shlex
import sys
from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, TestOptions

from schemas import FileInfo, IndexConfig
from transforms.storage import fs as storage
from transforms.storage.checkpoints import Checkpoint
from transforms.beam.match_footage import MatchFootage
from transforms.neardup.plan import MatchPlan
from transforms.beam.index_clips import ERRORS_TAG, FRAMES_TAG, SAMPLES_TAG, IndexClips
from transforms.launcher.versions import record_worker_versions
from transforms.beam.write_index import WriteIndex


INPUTS_FILE = ".inputs.jsonl"  # hidden: readers of the snapshot never list it


class DryRunOnly(Exception):
    """Dataflow's --dry_run: the job was translated (and --setup_file packaged), not run."""


# Run by `sh -c`, as Beam runs its own command for SDK worker processes.
SDK_WORKER_COMMAND = f"exec {shlex.quote(sys.executable)} -m pipeline.sdk_worker"


def local_runner():
    """Beam's FnApiRunner, named explicitly, with SDK worker processes that ignore Ctrl-C.

    The plain DirectRunner of Beam 2.77 first tries to download the Prism
    runner for batch pipelines (no time-out), which hangs offline; the
    FnApiRunner is what it falls back to anyway.
    """
    from apache_beam.portability import python_urns
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    class LocalRunner(FnApiRunner):
        def run_via_runner_api(self, pipeline_proto, options):
            # --direct_running_mode=multi_processing names Beam's own worker command here;
            # pipeline.sdk_worker is that command with SIGINT and SIGTERM blocked.
            for environment in pipeline_proto.components.environments.values():
                if environment.urn == python_urns.SUBPROCESS_SDK:
                    environment.payload = SDK_WORKER_COMMAND.encode("utf-8")
            return super().run_via_runner_api(pipeline_proto, options)

    return LocalRunner()


def build_index(pipeline: beam.Pipeline, inputs_path: str, config: IndexConfig,
                output_dir: str, scratch_dir: str, spread: bool = True, checkpoint: Optional[Checkpoint] = None,
                match: Optional[MatchPlan] = None) -> None:
    files = (
        pipeline
        # The clip list travels as a file, not inside the pipeline (beam.Create would
        # pickle every element into the job graph: launcher memory grows with the
        # corpus, and a million-clip job graph is too big to submit). Text sources
        # split by byte range, so workers read it in parallel.
        | "ReadInputs" >> beam.io.ReadFromText(inputs_path)
        | "ParseInputs" >> beam.Map(FileInfo.from_json)
    )
    if spread:
        # Break fusion so clips spread over all workers instead of one. Not needed when
        # one in-process worker feeds its isolated readers (pipeline.layout): it would
        # only add a stage.
        files = files | "Spread" >> beam.Reshuffle()
    outputs = files | "Index" >> IndexClips(config)
    tables = {"clips": outputs.clips, "frames": outputs[FRAMES_TAG], "samples": outputs[SAMPLES_TAG],
              "errors": outputs[ERRORS_TAG]}
    _ = tables | "WriteIndex" >> WriteIndex(output_dir, config.run_id, checkpoint)
    # One element, so one worker: the versions it runs with go into run.json (workers install
    # their own environment on a remote runner; see pipeline.worker_env).
    _ = (pipeline
         | "WorkerProbe" >> beam.Create([scratch_dir])
         | "WorkerVersions" >> beam.Map(record_worker_versions))
    if match is not None:  # near-duplicates: this run's samples against the whole archive
        _ = outputs[SAMPLES_TAG] | "MatchFootage" >> MatchFootage(config.qa, match)


def run_index_pipeline(files: list[FileInfo], config: IndexConfig, output_dir: str, scratch_dir: str,
                       options: PipelineOptions, runner_name: Optional[str],
                       checkpoint: Optional[Checkpoint] = None, match: Optional[MatchPlan] = None) -> dict:
    """Run the index pipeline; returns the counters of clips read from object storage
    (transforms.beam.index_clips: clips, requests, bytes), empty when there were none or the runner
    does not report counters."""
    runner = None if runner_name else local_runner()
    inputs_path = storage.join(scratch_dir, INPUTS_FILE)
    storage.write_bytes(inputs_path, "".join(info.to_json() + "\n" for info in files).encode("utf-8"))
    try:
        one_local_worker = runner is not None and options.view_as(DirectOptions).direct_num_workers <= 1
        with beam.Pipeline(runner=runner, options=options) as pipeline:
            build_index(pipeline, inputs_path, config, output_dir, scratch_dir, spread=not one_local_worker,
                        checkpoint=checkpoint, match=match)
        read_counts = storage_counters(getattr(pipeline, "result", None))
    finally:
        storage.delete_file(inputs_path)
    # Beam's DataflowRunner returns "done" without submitting anything on --dry_run (other
    # runners ignore the flag): there are no rows, so there is nothing to check or commit.
    if runner_name and runner_name.endswith("DataflowRunner") and options.view_as(TestOptions).dry_run:
        raise DryRunOnly(f"dry run: {runner_name} translated the pipeline for {len(files)} inputs "
                         "and submitted nothing; nothing committed")
    return read_counts


def storage_counters(result) -> dict:
    from apache_beam.metrics.metric import MetricsFilter

    from transforms.beam.index_clips import NAMESPACE, STORAGE_BYTES, STORAGE_CLIPS, STORAGE_REQUESTS

    names = {STORAGE_CLIPS: "clips", STORAGE_REQUESTS: "requests", STORAGE_BYTES: "bytes"}
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics: the run is fine, the numbers absent
        return {}
    totals: dict = {}
    for counter in counters:
        name = names.get(counter.key.metric.name)
        if name is not None:
            value = counter.committed if counter.committed is not None else counter.attempted
            totals[name] = totals.get(name, 0) + (value or 0)
    if not totals.get("clips"):
        return {}
    totals["requests_per_clip"] = round(totals.get("requests", 0) / totals["clips"], 3)
    totals["mib_per_clip"] = round(totals.get("bytes", 0) / totals["clips"] / 2**20, 4)
    return totals
