"""The persistence seam: per-template metric deltas reach a sink in batches, never from inside get()."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.lib.template_cache import TemplateCache
from tests._leaks import settled_threads
from tests.template_cache.conftest import FakeClock, sha256_of, write

Batch = list[dict[str, Any]]


class RecordingSink:
    """A sink that keeps every batch and the thread that delivered it; can be told to fail."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[Batch] = []
        self.threads: list[str] = []
        self.failures = failures
        self.delivered = threading.Event()

    def __call__(self, batch: Batch) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")
        self.batches.append(batch)
        self.threads.append(threading.current_thread().name)
        self.delivered.set()


def by_name(batch: Batch) -> dict[str, dict[str, Any]]:
    return {record["template_name"]: record for record in batch}


def test_batches_carry_per_template_deltas(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = RecordingSink()
    cache = TemplateCache(
        metrics_sink=sink, metrics_flush_interval_seconds=None, clock=clock, racy_window_seconds=0
    )
    a = write(tmp_path / "a.py", "aaaa")
    b = write(tmp_path / "b.py", "b")
    for _ in range(3):
        cache.get("A", "EFFECT", a)
    clock.advance(5)
    cache.get("B", "COMPUTE", b)

    assert sink.batches == []  # nothing is sent from get()
    assert cache.flush_metrics() == 2
    assert len(sink.batches) == 1
    records = by_name(sink.batches[0])
    rec_a = records["A"]
    assert set(rec_a) == {
        "template_name",
        "template_type",
        "file_path",
        "content_hash",
        "size_bytes",
        "hits_delta",
        "misses_delta",
        "loads_delta",
        "load_ms_delta",
        "last_accessed_at",
    }
    assert (rec_a["template_type"], rec_a["file_path"], rec_a["size_bytes"]) == ("EFFECT", str(a), 4)
    assert rec_a["content_hash"] == sha256_of(a)
    assert (rec_a["hits_delta"], rec_a["misses_delta"], rec_a["loads_delta"]) == (2, 1, 1)
    assert rec_a["load_ms_delta"] > 0
    assert isinstance(rec_a["last_accessed_at"], datetime)
    assert rec_a["last_accessed_at"].tzinfo is UTC
    rec_b = records["B"]
    assert (rec_b["template_type"], rec_b["hits_delta"], rec_b["misses_delta"]) == ("COMPUTE", 0, 1)
    assert (rec_b["last_accessed_at"] - rec_a["last_accessed_at"]).total_seconds() == 5

    cache.get("A", "EFFECT", a)
    assert cache.flush_metrics() == 1
    second = by_name(sink.batches[1])
    assert list(second) == ["A"]
    assert (second["A"]["hits_delta"], second["A"]["misses_delta"], second["A"]["loads_delta"]) == (1, 0, 0)
    assert second["A"]["load_ms_delta"] == 0.0

    assert cache.flush_metrics() == 0  # nothing pending: the sink is not called
    assert len(sink.batches) == 2


def test_a_raising_sink_never_breaks_get_and_loses_nothing(tmp_path: Path) -> None:
    sink = RecordingSink(failures=2)
    cache = TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=None, racy_window_seconds=0)
    path = write(tmp_path / "t.py", "x")
    cache.get("T", "EFFECT", path)
    cache.get("T", "EFFECT", path)

    assert cache.flush_metrics() == 0  # the sink raised; flush_metrics does not
    assert cache.get("T", "EFFECT", path) == ("x", True)
    assert cache.flush_metrics() == 0
    assert cache.get_counters()["sink_failures"] == 2
    cache.get("T", "EFFECT", path)

    assert cache.flush_metrics() == 1
    record = sink.batches[0][0]
    assert (record["hits_delta"], record["misses_delta"], record["loads_delta"]) == (3, 1, 1)


def test_the_background_thread_delivers_batches(tmp_path: Path) -> None:
    sink = RecordingSink()
    path = write(tmp_path / "t.py", "x")
    with TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=0.01) as cache:
        cache.get("T", "EFFECT", path)
        assert sink.delivered.wait(10)
    assert sink.threads[0] == "template-cache-metrics"
    assert sum(r["misses_delta"] for batch in sink.batches for r in batch) == 1


def test_batch_size_splits_a_flush(tmp_path: Path) -> None:
    sink = RecordingSink()
    cache = TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=None, metrics_batch_size=2)
    for i in range(5):
        cache.get(f"T{i}", "EFFECT", write(tmp_path / f"t{i}.py", str(i)))
    assert cache.flush_metrics() == 5
    assert [len(b) for b in sink.batches] == [2, 2, 1]


def test_a_sink_failing_mid_flush_keeps_the_rest_pending(tmp_path: Path) -> None:
    calls: list[int] = []

    def sink(batch: Batch) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("second batch fails")

    cache = TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=None, metrics_batch_size=2)
    for i in range(5):
        cache.get(f"T{i}", "EFFECT", write(tmp_path / f"t{i}.py", str(i)))
    assert cache.flush_metrics() == 2
    assert cache.flush_metrics() == 3
    assert calls == [2, 2, 2, 1]


def test_warmup_loads_are_reported_as_loads_not_misses(tmp_path: Path) -> None:
    sink = RecordingSink()
    cache = TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=None, racy_window_seconds=0)
    path = write(tmp_path / "effect_node.py", "x")
    assert cache.warmup(tmp_path, ["EFFECT"]) == 1
    cache.get("effect_node", "EFFECT", path)
    cache.flush_metrics()
    record = sink.batches[0][0]
    assert (record["hits_delta"], record["misses_delta"], record["loads_delta"]) == (1, 0, 1)


def test_with_persistence_off_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    path = write(tmp_path / "t.py", "x")
    before = sum(t.name == "template-cache-metrics" for t in settled_threads())
    sink = RecordingSink()
    off = TemplateCache(enable_persistence=False, metrics_sink=sink)
    off.get("T", "EFFECT", path)
    assert off.flush_metrics() == 0
    off.close()
    assert sink.batches == []
    assert sum(t.name == "template-cache-metrics" for t in settled_threads()) == before


def test_close_flushes_and_stops_collecting(tmp_path: Path) -> None:
    sink = RecordingSink()
    cache = TemplateCache(metrics_sink=sink, metrics_flush_interval_seconds=3600)
    path = write(tmp_path / "t.py", "x")
    cache.get("T", "EFFECT", path)
    cache.close()
    assert len(sink.batches) == 1
    cache.get("T", "EFFECT", path)
    assert cache.flush_metrics() == 0
    assert len(sink.batches) == 1


def test_a_generic_sink_gets_template_cache_rows(tmp_path: Path) -> None:
    from agents.lib.db.sink import TEMPLATE_CACHE_METRICS, MemoryMetricsSink
    from agents.lib.persistence import TemplateCacheDelta

    sink = MemoryMetricsSink()
    clock = FakeClock()
    cache = TemplateCache(
        metrics_sink=sink, metrics_flush_interval_seconds=None, clock=clock, racy_window_seconds=0
    )
    path = write(tmp_path / "t.py", "abc")
    for _ in range(3):
        cache.get("T", "EFFECT", path)
    assert cache.flush_metrics() == 1
    (row,) = sink.rows(TEMPLATE_CACHE_METRICS)
    assert sink.kinds() == [TEMPLATE_CACHE_METRICS]
    load_ms = row.pop("load_time_ms")
    assert load_ms > 0
    assert row == {
        "template_name": "T",
        "template_type": "EFFECT",
        "file_path": str(path),
        "content_hash": sha256_of(path),
        "size_bytes": 3,
        "hits": 2,
        "misses": 1,
        "loads": 1,
        "last_accessed_at": row["last_accessed_at"],
    }
    assert row["last_accessed_at"].tzinfo is UTC
    TemplateCacheDelta(**row, load_time_ms=load_ms)  # exactly the fields of the store's record
