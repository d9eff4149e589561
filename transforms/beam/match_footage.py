"""MatchFootage: the near-duplicate matching stage, as Beam transforms on the workers.

    query series (this run's samples) --+
    stored series (carried clips,     --+--> band records --GroupByKey(shard)--> votes
      read from the last snapshot's                                   --GroupByKey(pair shard)--> candidates
      samples on workers)                                  series + candidates --GroupByKey(pair)--> verdicts
                                                                                  --> one matches file

The work that grows with the archive (bucketing every sample, comparing
within buckets, aligning candidates) runs here, on whatever workers the
runner has; the launcher only reads the few verdicts back and writes them
into the clips table (transforms.neardup.apply). A nightly run queries only new
and changed clips (and carried clips whose match partner changed): stored
clips' records are kept only where they share a band value with a query
record (`MatchPlan.semi_join`), so an unchanged archive is read, not compared.
"""

from __future__ import annotations

from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.transforms.window import GlobalWindows

from schemas import MATCHES_SCHEMA, QaOptions
from transforms.storage.gcs_client import use_emulator_credentials
from transforms.neardup.align import judge
from transforms.neardup.buckets import (
    BANDS,
    in_sorted,
    band_values,
    compare_shard,
    pair_shard,
    pick_offsets,
    records,
    split_by_shard,
)
from transforms.neardup.plan import MatchPlan
from transforms.neardup.series import SERIES_COLUMNS, ClipSeries, series_from_batch, series_from_table
from transforms.storage.parquet import read_file, write_table

FLUSH_RECORDS = 500_000  # band records buffered per bundle before they are sent on



def query_band_keys(series: ClipSeries) -> np.ndarray:
    return np.unique(np.concatenate([(band << 16) | band_values(series.hashes, band).astype(np.int64)
                                     for band in range(BANDS)]))


class _UnionKeys(beam.CombineFn):
    """Sorted unique band keys of all query series (sorted: members are looked up by bisection)."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, keys):
        accumulator.append(keys)
        return accumulator

    def merge_accumulators(self, accumulators):
        return [keys for accumulator in accumulators for keys in accumulator]

    def extract_output(self, accumulator):
        return np.unique(np.concatenate(accumulator)) if accumulator else np.empty(0, np.int64)


def sharing_keys(table: pa.Table, query_keys: np.ndarray, also: frozenset) -> pa.Table:
    """The rows of clips with at least one sample sharing a band value with a query (or in `also`)."""
    hashes = table.column("phash").to_numpy(zero_copy_only=False)
    hit = np.zeros(len(hashes), bool)
    for band in range(BANDS):
        hit |= in_sorted((band << 16) | band_values(hashes, band).astype(np.int64), query_keys)
    ids = table.column("clip_id")
    wanted = pa.array(sorted(set(pc.unique(ids.filter(pa.array(hit))).to_pylist()) | set(also)), pa.string())
    return table.filter(pc.is_in(ids, value_set=wanted))


def _query_series(batch: pa.RecordBatch, qa: QaOptions) -> Iterator[ClipSeries]:
    """A clip's series, or nothing when too few samples are lit (a generator rather than
    Map + Filter: Beam infers Optional[ClipSeries] from a Map and no Filter narrows it)."""
    series = series_from_batch(batch, qa)
    if series is not None:
        yield series


def _resumed_series(path: str, qa: QaOptions):
    """Every clip of a samples file as a query series."""
    yield from series_from_table(read_file(path, SERIES_COLUMNS), qa, None, frozenset())


class ReadStoredSeries(beam.DoFn):
    """One samples file of the last snapshot -> the series of its clips (on a worker).

    With `new_keys` (the band values of this run's samples), clips that share
    none are skipped before any per-clip work: a night with a few new clips
    reads the archive's samples but builds almost no series.
    """

    def setup(self):
        use_emulator_credentials()

    def __init__(self, qa: QaOptions, plan: MatchPlan):
        self._qa, self._plan = qa, plan

    def process(self, path: str, new_keys=None):
        table = read_file(path, SERIES_COLUMNS)
        if new_keys is not None:
            table = sharing_keys(table, new_keys, self._plan.requery_ids)
        query_ids = None if self._plan.requery_all else self._plan.requery_ids
        yield from series_from_table(table, self._qa, query_ids, self._plan.exclude_ids)


class EmitRecords(beam.DoFn):
    """Series -> (shard, records array), buffered so that elements are few and large."""

    def __init__(self, semi_join: bool):
        self._semi_join = semi_join

    def start_bundle(self):
        self._buffer: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(BANDS)]
        self._size = 0

    def process(self, series: ClipSeries, query_keys=None):
        for band, (shards, recs) in enumerate(records(series)):
            if self._semi_join and not series.query and query_keys is not None:
                keys = (band << 16) | band_values(recs["h"], band).astype(np.int64)
                keep = in_sorted(keys, query_keys)
                shards, recs = shards[keep], recs[keep]
            if len(recs):
                self._buffer[band].append((shards, recs))
                self._size += len(recs)
        if self._size >= FLUSH_RECORDS:
            yield from self._flush()

    def _flush(self):
        for parts in self._buffer:
            if parts:
                yield from split_by_shard(np.concatenate([s for s, _ in parts]), np.concatenate([r for _, r in parts]))
        self._buffer, self._size = [[] for _ in range(BANDS)], 0

    def finish_bundle(self):
        for element in self._flush():
            yield GlobalWindows.windowed_value(element)


class CompareShards(beam.DoFn):
    def __init__(self, max_bits: int):
        self._max_bits = max_bits

    def process(self, keyed):
        shard, parts = keyed
        votes = compare_shard(shard, np.concatenate(list(parts)), self._max_bits)
        if votes.size:
            yield from split_by_shard(pair_shard(votes), votes)


class PickOffsets(beam.DoFn):
    def __init__(self, bin_s: float):
        self._bin_s = bin_s

    def process(self, keyed):
        _, parts = keyed
        yield from pick_offsets(np.concatenate(list(parts)), self._bin_s)


class RouteSeries(beam.DoFn):
    """A series goes to every candidate pair it is part of."""

    def setup(self):
        self._index_of: Optional[int] = None

    def process(self, series: ClipSeries, candidates):
        if self._index_of != id(candidates):
            self._partners: dict[int, list[tuple[int, int]]] = {}
            for a, b, _ in candidates:
                self._partners.setdefault(a, []).append((a, b))
                self._partners.setdefault(b, []).append((a, b))
            self._index_of = id(candidates)
        for pair in self._partners.get(series.key, ()):
            yield pair, series


class AlignPairs(beam.DoFn):
    def __init__(self, qa: QaOptions):
        self._qa = qa

    def process(self, keyed, candidates):
        (a_key, b_key), members = keyed
        by_key = {s.key: s for s in members}
        if a_key not in by_key or b_key not in by_key:
            return
        yield judge(by_key[a_key], by_key[b_key], self._offsets(candidates)[(a_key, b_key)], self._qa)

    def _offsets(self, candidates) -> dict:
        if getattr(self, "_offsets_of", None) != id(candidates):
            self._offset_map = {(a, b): offsets for a, b, offsets in candidates}
            self._offsets_of = id(candidates)
        return self._offset_map


def write_matches(rows: list[dict], path: str) -> int:
    table = pa.Table.from_pylist(sorted(rows, key=lambda r: (r["clip_a"], r["clip_b"])), schema=MATCHES_SCHEMA)
    write_table(table, path)
    return len(rows)


def _keys(series, label: str):
    """One sorted array of the band keys of these series (a singleton side input)."""
    return (series
            | f"{label}Each" >> beam.Map(query_band_keys)
            | f"{label}Union" >> beam.CombineGlobally(_UnionKeys()))


class MatchFootage(beam.PTransform):
    """Per-clip samples batches -> MATCHES_SCHEMA rows in `plan.matches_path` (one file)."""

    def __init__(self, qa: QaOptions, plan: MatchPlan):
        super().__init__()
        self._qa, self._plan = qa, plan

    def expand(self, samples):
        qa, plan = self._qa, self._plan
        query = samples | "QuerySeries" >> beam.FlatMap(_query_series, qa)
        if plan.query_files:  # resumed clips: not read by this pipeline, compared like its clips
            resumed = (samples.pipeline
                       | "ResumedFiles" >> beam.Create(list(plan.query_files))
                       | "ResumedSeries" >> beam.FlatMap(_resumed_series, qa))
            query = (query, resumed) | "AllQueries" >> beam.Flatten()
        series = query
        semi_join = plan.semi_join and not plan.requery_all and bool(plan.stored_files)
        if plan.stored_files:
            files = (samples.pipeline
                     | "StoredFiles" >> beam.Create(list(plan.stored_files))
                     | "SpreadFiles" >> beam.Reshuffle())
            read = ReadStoredSeries(qa, plan)
            if semi_join and not plan.requery_ids:  # requeried stored clips' keys are not known yet
                stored = files | "StoredSeries" >> beam.ParDo(read, new_keys=beam.pvalue.AsSingleton(
                    _keys(query, "NewKeys")))
            else:
                stored = files | "StoredSeries" >> beam.ParDo(read)
            series = (query, stored) | "AllSeries" >> beam.Flatten()
        emit = EmitRecords(semi_join=semi_join)
        if semi_join:
            keys = _keys(series | "Queries" >> beam.Filter(lambda s: s.query), "QueryKeys")
            recs = series | "Records" >> beam.ParDo(emit, query_keys=beam.pvalue.AsSingleton(keys))
        else:
            recs = series | "Records" >> beam.ParDo(emit)
        candidates = (recs
                      | "Buckets" >> beam.GroupByKey()
                      | "Compare" >> beam.ParDo(CompareShards(qa.dup_max_bits))
                      | "ByPair" >> beam.GroupByKey()
                      | "Offsets" >> beam.ParDo(PickOffsets(qa.dup_max_offset_s)))
        listed = beam.pvalue.AsList(candidates)
        return (series
                | "Route" >> beam.ParDo(RouteSeries(), candidates=listed)
                | "Pairs" >> beam.GroupByKey()
                | "Align" >> beam.ParDo(AlignPairs(qa), candidates=listed)
                | "Gather" >> beam.combiners.ToList()
                | "WriteMatches" >> beam.Map(write_matches, plan.matches_path))
