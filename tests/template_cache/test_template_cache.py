"""TemplateCache behaviour: hits and misses, validation, keys, eviction, TTL, invalidation, stats, warmup."""

from __future__ import annotations

import os
import threading
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from agents.lib import template_cache as tc_module
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.template_cache import TemplateCache
from tests._leaks import new_threads, settled_threads
from tests.template_cache.conftest import (
    BASE_MTIME_NS,
    CountingLoader,
    FakeClock,
    sha256_of,
    write,
)

MIB = 1024 * 1024

GUIDE_STATS_KEYS = {
    "hits",
    "misses",
    "hit_rate",
    "evictions",
    "invalidations",
    "cached_templates",
    "total_size_bytes",
    "total_size_mb",
    "avg_uncached_load_ms",
    "avg_cached_load_ms",
    "time_saved_ms",
    "improvement_percent",
    "capacity_usage_percent",
    "memory_usage_percent",
}


class CountingReads:
    """Wraps the module's read-and-hash function to count how often a file is actually read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = tc_module._read_and_hash

        def counting(path: str, keep: bool) -> tuple[str, bytes | None, int]:
            self.count += 1
            return original(path, keep)

        monkeypatch.setattr(tc_module, "_read_and_hash", counting)


# --- hits, misses and validation ----------------------------------------------------------------------


def test_miss_then_hit(tmp_path: Path, cache: TemplateCache, loader: CountingLoader) -> None:
    path = write(tmp_path / "effect.py", "class NodeEffect: ...\n")

    assert cache.get("NodeEffect", "EFFECT", path, loader) == ("class NodeEffect: ...\n", False)
    assert cache.get("NodeEffect", "EFFECT", path, loader) == ("class NodeEffect: ...\n", True)
    assert loader.count == 1
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["cached_templates"]) == (1, 1, 1)


def test_default_loader_reads_utf8(tmp_path: Path, cache: TemplateCache) -> None:
    path = write(tmp_path / "t.py", "naïve ✓\n")
    assert cache.get("T", "EFFECT", path) == ("naïve ✓\n", False)
    assert cache.get("T", "EFFECT", str(path)) == ("naïve ✓\n", True)


def test_trusted_hit_is_one_stat_and_no_read(
    tmp_path: Path, cache: TemplateCache, loader: CountingLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = CountingReads(monkeypatch)
    path = write(tmp_path / "t.py", "x" * 5000)

    cache.get("T", "EFFECT", path, loader)
    for _ in range(5):
        assert cache.get("T", "EFFECT", path, loader)[1] is True

    assert reads.count == 1  # only the miss hashed the file
    assert loader.count == 1
    assert cache.get_counters()["revalidated"] == 0


def test_modified_file_same_size_new_mtime_is_a_miss_with_new_content(
    tmp_path: Path, cache: TemplateCache, loader: CountingLoader
) -> None:
    path = write(tmp_path / "t.py", "version=1")
    assert cache.get("T", "EFFECT", path, loader) == ("version=1", False)

    write(path, "version=2", mtime_ns=BASE_MTIME_NS + 1_000_000_000)  # same size, new mtime

    assert cache.get("T", "EFFECT", path, loader) == ("version=2", False)
    assert cache.get("T", "EFFECT", path, loader) == ("version=2", True)
    assert loader.contents == ["version=1", "version=2"]
    counters = cache.get_counters()
    assert (counters["cold"], counters["changed"], counters["hits"]) == (1, 1, 1)


def test_fresh_file_is_rehashed_on_every_access_while_racy(
    tmp_path: Path, clock: FakeClock, loader: CountingLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file changed moments ago may change again within one filesystem tick with an identical stat
    signature, so the default 2 s window makes every access re-hash it."""
    reads = CountingReads(monkeypatch)
    path = write(tmp_path / "t.py", "version=1", mtime_ns=None)
    cache = TemplateCache(clock=clock)

    assert cache.get("T", "EFFECT", path, loader) == ("version=1", False)
    assert cache.get("T", "EFFECT", path, loader) == ("version=1", True)
    assert cache.get("T", "EFFECT", path, loader) == ("version=1", True)
    assert reads.count == 3
    assert cache.get_counters()["revalidated"] == 2
    cache.close()


def test_rewrite_with_identical_stat_signature_is_caught_inside_the_racy_window(
    tmp_path: Path, clock: FakeClock, loader: CountingLoader
) -> None:
    path = write(tmp_path / "t.py", "version=1")
    cache = TemplateCache(clock=clock)  # default window: the file's ctime is now, so it is racy
    cache.get("T", "EFFECT", path, loader)

    write(path, "version=2")  # same size and the very same mtime as before

    assert cache.get("T", "EFFECT", path, loader) == ("version=2", False)
    assert loader.contents == ["version=1", "version=2"]
    cache.close()


def test_touched_file_with_same_content_is_a_hit_after_rehash(
    tmp_path: Path, cache: TemplateCache, loader: CountingLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = CountingReads(monkeypatch)
    path = write(tmp_path / "t.py", "same content")
    cache.get("T", "EFFECT", path, loader)

    os.utime(path, ns=(BASE_MTIME_NS + 5_000_000_000, BASE_MTIME_NS + 5_000_000_000))

    assert cache.get("T", "EFFECT", path, loader) == ("same content", True)
    assert (reads.count, loader.count) == (2, 1)
    assert cache.get_counters()["revalidated"] == 1
    # The new signature was remembered: the next hit needs no read.
    assert cache.get("T", "EFFECT", path, loader) == ("same content", True)
    assert reads.count == 2
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"]) == (2, 1)


def test_deleted_file_is_a_miss_that_raises_and_drops_the_entry(
    tmp_path: Path, cache: TemplateCache, loader: CountingLoader
) -> None:
    path = write(tmp_path / "t.py", "v1")
    cache.get("T", "EFFECT", path, loader)
    path.unlink()

    with pytest.raises(FileNotFoundError):
        cache.get("T", "EFFECT", path, loader)

    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["cached_templates"]) == (0, 2, 0)
    assert cache.get_counters()["failed"] == 1
    assert loader.count == 1  # the loader is not called for a file that is not there

    write(path, "v2")
    assert cache.get("T", "EFFECT", path, loader) == ("v2", False)


def test_missing_file_raises_without_calling_the_loader(
    tmp_path: Path, cache: TemplateCache, loader: CountingLoader
) -> None:
    with pytest.raises(FileNotFoundError):
        cache.get("T", "EFFECT", tmp_path / "nope.py", loader)
    assert loader.count == 0
    assert cache.get_stats()["misses"] == 1


def test_loader_error_propagates_and_caches_nothing(tmp_path: Path, cache: TemplateCache) -> None:
    path = write(tmp_path / "t.py", "x")

    def broken(_: Path) -> str:
        raise ValueError("cannot parse template")

    with pytest.raises(ValueError, match="cannot parse template"):
        cache.get("T", "EFFECT", path, broken)
    assert cache.get_stats()["cached_templates"] == 0
    assert cache.get("T", "EFFECT", path) == ("x", False)


def test_loader_must_return_str(tmp_path: Path, cache: TemplateCache) -> None:
    path = write(tmp_path / "t.py", "x")
    with pytest.raises(OnexError) as info:
        cache.get("T", "EFFECT", path, lambda p: p.read_bytes())  # type: ignore[arg-type,return-value]
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert info.value.details["returned"] == "bytes"


def test_loader_receives_a_path_and_its_output_is_cached(tmp_path: Path, cache: TemplateCache) -> None:
    path = write(tmp_path / "t.py", "Hello {{name}}")
    seen: list[object] = []

    def preprocess(p: Path) -> str:
        seen.append(p)
        return p.read_text().replace("{{name}}", "World")

    assert cache.get("T", "EFFECT", str(path), preprocess) == ("Hello World", False)
    assert cache.get("T", "EFFECT", str(path), preprocess) == ("Hello World", True)
    assert seen == [path]


# --- keys ---------------------------------------------------------------------------------------------


def test_key_is_type_and_resolved_path(tmp_path: Path, cache: TemplateCache, loader: CountingLoader) -> None:
    first = write(tmp_path / "a" / "node.py", "first")
    second = write(tmp_path / "b" / "node.py", "second")

    assert cache.get("Node", "EFFECT", first, loader) == ("first", False)
    assert cache.get("Node", "EFFECT", second, loader) == ("second", False)  # same name, other path
    assert cache.get("Node", "COMPUTE", first, loader) == ("first", False)  # same path, other type
    assert cache.get("Other", "EFFECT", first, loader) == ("first", True)  # same file and type: the same template
    assert cache.get_stats()["cached_templates"] == 3

    # Another spelling of the same file is the same entry.
    assert cache.get("Node", "EFFECT", tmp_path / "b" / ".." / "a" / "node.py", loader) == ("first", True)
    link = tmp_path / "link.py"
    link.symlink_to(first)
    assert cache.get("Node", "EFFECT", link, loader) == ("first", True)
    assert loader.count == 3


def test_the_name_is_a_label(tmp_path: Path, cache: TemplateCache, loader: CountingLoader) -> None:
    path = write(tmp_path / "effect_template.py", "x")
    cache.get("NodeAPIEffect", "EFFECT", path, loader)
    cache.get("NodeAPIEffect", "EFFECT", path, loader)
    cache.get("NodeDatabaseEffect", "EFFECT", path, loader)
    (template,) = cache.get_detailed_stats()["templates"]
    # One template; its name is the one it was last asked for, its counts are the file's.
    assert (template["name"], template["access_count"], template["hit_count"]) == ("NodeDatabaseEffect", 3, 2)
    assert loader.count == 1
    assert cache.invalidate("NodeAPIEffect") == 1  # any name it was asked under invalidates it
    assert cache.get_stats()["cached_templates"] == 0


def test_relative_paths_resolve_against_the_working_directory(
    tmp_path: Path, cache: TemplateCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "one" / "t.py", "one")
    write(tmp_path / "two" / "t.py", "two")
    monkeypatch.chdir(tmp_path / "one")
    assert cache.get("T", "EFFECT", "t.py") == ("one", False)
    monkeypatch.chdir(tmp_path / "two")
    assert cache.get("T", "EFFECT", "t.py") == ("two", False)
    monkeypatch.chdir(tmp_path / "one")
    assert cache.get("T", "EFFECT", "t.py") == ("one", True)


# --- eviction -----------------------------------------------------------------------------------------


def cached_names(cache: TemplateCache) -> set[str]:
    return {t["name"] for t in cache.get_detailed_stats()["templates"]}


def test_lru_eviction_by_count(tmp_path: Path, clock: FakeClock, loader: CountingLoader) -> None:
    cache = TemplateCache(max_templates=3, clock=clock, racy_window_seconds=0)
    paths = {name: write(tmp_path / f"{name}.py", name) for name in "abcde"}
    for name in "abc":
        cache.get(name, "EFFECT", paths[name], loader)
    assert cache.get("a", "EFFECT", paths["a"], loader)[1] is True  # a is now the most recent

    cache.get("d", "EFFECT", paths["d"], loader)  # evicts b, the least recently used
    assert cached_names(cache) == {"a", "c", "d"}
    assert cache.get_stats()["evictions"] == 1

    cache.get("e", "EFFECT", paths["e"], loader)  # evicts c
    assert cache.get("b", "EFFECT", paths["b"], loader)[1] is False  # b was evicted; evicts a
    assert cached_names(cache) == {"d", "e", "b"}
    stats = cache.get_stats()
    assert (stats["evictions"], stats["cached_templates"], stats["capacity_usage_percent"]) == (3, 3, 100.0)
    assert cache.get_counters()["evictions_by_count"] == 3


def test_lru_eviction_by_bytes(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(max_size_mb=1000 / MIB, clock=clock, racy_window_seconds=0)  # 1000 bytes
    a = write(tmp_path / "a.py", "a" * 400)
    b = write(tmp_path / "b.py", "é" * 200)  # 200 characters, 400 bytes in UTF-8
    c = write(tmp_path / "c.py", "c" * 400)
    big = write(tmp_path / "big.py", "g" * 900)

    cache.get("a", "EFFECT", a)
    cache.get("b", "EFFECT", b)
    assert cache.get_stats()["total_size_bytes"] == 800
    cache.get("c", "EFFECT", c)  # 1200 > 1000: a goes
    stats = cache.get_stats()
    assert (stats["evictions"], stats["total_size_bytes"], stats["cached_templates"]) == (1, 800, 2)
    assert cached_names(cache) == {"b", "c"}

    cache.get("big", "EFFECT", big)  # 1700: b and c go
    stats = cache.get_stats()
    assert (stats["evictions"], stats["total_size_bytes"], stats["cached_templates"]) == (3, 900, 1)
    assert stats["memory_usage_percent"] == pytest.approx(90.0)
    assert cache.get_counters()["evictions_by_size"] == 3


def test_oversize_template_is_served_but_not_cached(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(max_size_mb=1000 / MIB, clock=clock, racy_window_seconds=0)
    small = write(tmp_path / "small.py", "s" * 100)
    huge = write(tmp_path / "huge.py", "h" * 1500)
    loader = CountingLoader()
    cache.get("small", "EFFECT", small, loader)

    assert cache.get("huge", "EFFECT", huge, loader) == ("h" * 1500, False)
    assert cache.get("huge", "EFFECT", huge, loader) == ("h" * 1500, False)

    stats = cache.get_stats()
    assert (stats["cached_templates"], stats["total_size_bytes"], stats["evictions"]) == (1, 100, 0)
    assert (stats["hits"], stats["misses"]) == (0, 3)
    assert cache.get_counters()["oversize"] == 2
    assert loader.count == 3


def test_template_that_grows_past_the_limit_leaves_the_cache(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(max_size_mb=1000 / MIB, clock=clock, racy_window_seconds=0)
    path = write(tmp_path / "t.py", "x" * 10)
    cache.get("t", "EFFECT", path)
    write(path, "x" * 2000, mtime_ns=BASE_MTIME_NS + 1)
    assert cache.get("t", "EFFECT", path) == ("x" * 2000, False)
    assert cache.get_stats()["cached_templates"] == 0


# --- TTL ----------------------------------------------------------------------------------------------


def test_ttl_counts_from_last_access(tmp_path: Path, clock: FakeClock, loader: CountingLoader) -> None:
    cache = TemplateCache(ttl_seconds=10, clock=clock, racy_window_seconds=0)
    path = write(tmp_path / "t.py", "x")
    cache.get("T", "EFFECT", path, loader)

    clock.advance(8)
    assert cache.get("T", "EFFECT", path, loader)[1] is True
    clock.advance(8)  # 16 s after the load, 8 s after the last access
    assert cache.get("T", "EFFECT", path, loader)[1] is True
    clock.advance(10)  # exactly the TTL: still valid
    assert cache.get("T", "EFFECT", path, loader)[1] is True
    clock.advance(10.5)
    assert cache.get("T", "EFFECT", path, loader) == ("x", False)

    assert loader.count == 2
    assert cache.get_counters()["expired"] == 1


def test_expired_entries_are_dropped_from_stats_and_before_lru_victims(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(max_templates=2, ttl_seconds=10, clock=clock, racy_window_seconds=0)
    a = write(tmp_path / "a.py", "a")
    b = write(tmp_path / "b.py", "b")
    cache.get("a", "EFFECT", a)
    clock.advance(6)
    cache.get("b", "EFFECT", b)
    clock.advance(6)  # a expired (12 s), b not (6 s)

    assert cache.get_stats()["cached_templates"] == 1
    assert cached_names(cache) == {"b"}
    counters = cache.get_counters()
    assert (counters["expirations"], counters["evictions_by_count"]) == (1, 0)

    clock.advance(20)
    stats = cache.get_stats()
    assert (stats["cached_templates"], stats["total_size_bytes"], stats["evictions"]) == (0, 0, 0)


def test_no_ttl(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(ttl_seconds=None, clock=clock, racy_window_seconds=0)
    path = write(tmp_path / "t.py", "x")
    cache.get("T", "EFFECT", path)
    clock.advance(10**9)
    assert cache.get("T", "EFFECT", path) == ("x", True)


# --- invalidation -------------------------------------------------------------------------------------


def test_invalidate_by_name_and_all(tmp_path: Path, cache: TemplateCache, loader: CountingLoader) -> None:
    x1 = write(tmp_path / "x1.py", "x1")
    x2 = write(tmp_path / "x2.py", "x2")
    y = write(tmp_path / "y.py", "y")
    cache.get("X", "EFFECT", x1, loader)
    cache.get("X", "COMPUTE", x2, loader)
    cache.get("Y", "EFFECT", y, loader)

    assert cache.invalidate("X") == 2
    assert cache.invalidate("X") == 0
    assert cache.invalidate("missing") == 0
    stats = cache.get_stats()
    assert (stats["invalidations"], stats["cached_templates"], stats["total_size_bytes"]) == (2, 1, 1)
    assert cache.get("X", "EFFECT", x1, loader)[1] is False
    assert cache.get("Y", "EFFECT", y, loader)[1] is True

    assert cache.invalidate_all() == 2
    stats = cache.get_stats()
    assert (stats["invalidations"], stats["cached_templates"], stats["total_size_bytes"]) == (4, 0, 0)
    assert cache.get("Y", "EFFECT", y, loader)[1] is False
    assert loader.count == 5


def test_invalidate_during_a_load_keeps_the_result_out_of_the_cache(tmp_path: Path, cache: TemplateCache) -> None:
    path = write(tmp_path / "t.py", "x")
    started, release = threading.Event(), threading.Event()

    def slow(p: Path) -> str:
        started.set()
        assert release.wait(10)
        return p.read_text()

    results: list[tuple[str, bool]] = []
    worker = threading.Thread(target=lambda: results.append(cache.get("T", "EFFECT", path, slow)))
    worker.start()
    assert started.wait(10)
    cache.invalidate_all()
    release.set()
    worker.join(10)

    assert results == [("x", False)]
    assert cache.get_stats()["cached_templates"] == 0


# --- statistics ---------------------------------------------------------------------------------------


def test_stats_have_exactly_the_guides_keys(cache: TemplateCache) -> None:
    assert set(cache.get_stats()) == GUIDE_STATS_KEYS
    assert set(cache.get_detailed_stats()) == GUIDE_STATS_KEYS | {"avg_read_ms", "templates"}


def test_stats_of_an_empty_cache_are_zero(cache: TemplateCache) -> None:
    assert cache.get_stats() == {
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "evictions": 0,
        "invalidations": 0,
        "cached_templates": 0,
        "total_size_bytes": 0,
        "total_size_mb": 0.0,
        "avg_uncached_load_ms": 0.0,
        "avg_cached_load_ms": 0.0,
        "time_saved_ms": 0.0,
        "improvement_percent": 0.0,
        "capacity_usage_percent": 0.0,
        "memory_usage_percent": 0.0,
    }


def test_only_misses_means_no_time_saved(tmp_path: Path, cache: TemplateCache) -> None:
    cache.get("T", "EFFECT", write(tmp_path / "t.py", "x"))
    stats = cache.get_stats()
    assert stats["avg_uncached_load_ms"] > 0
    assert (stats["avg_cached_load_ms"], stats["time_saved_ms"], stats["improvement_percent"]) == (0.0, 0.0, 0.0)


def test_stats_after_3_misses_and_7_hits(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(max_templates=10, max_size_mb=1, clock=clock, racy_window_seconds=0)
    paths = [write(tmp_path / f"t{i}.py", "x" * (100 * (i + 1))) for i in range(3)]
    for i, path in enumerate(paths):
        assert cache.get(f"T{i}", "EFFECT", path)[1] is False
    for n in range(7):
        assert cache.get(f"T{n % 3}", "EFFECT", paths[n % 3])[1] is True

    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"]) == (7, 3)
    assert stats["hit_rate"] == pytest.approx(0.7)
    assert stats["cached_templates"] == 3
    assert stats["total_size_bytes"] == 600
    assert stats["total_size_mb"] == pytest.approx(600 / MIB)
    assert stats["capacity_usage_percent"] == pytest.approx(30.0)
    assert stats["memory_usage_percent"] == pytest.approx(600 / MIB * 100)
    uncached, cached = stats["avg_uncached_load_ms"], stats["avg_cached_load_ms"]
    read = cache.get_detailed_stats()["avg_read_ms"]
    assert uncached > 0
    assert cached > 0
    assert 0 < read < uncached  # reading is a part of a load
    assert stats["time_saved_ms"] == pytest.approx(7 * (read - cached))
    assert stats["improvement_percent"] == pytest.approx((read - cached) / read * 100)


def test_detailed_stats_list_templates_by_access_count(tmp_path: Path, clock: FakeClock) -> None:
    cache = TemplateCache(clock=clock, racy_window_seconds=0)
    a = write(tmp_path / "a.py", "aaa")
    b = write(tmp_path / "b.py", "b")
    c = write(tmp_path / "c.py", "ccccc")
    for name, path, times in (("A", a, 3), ("B", b, 1), ("C", c, 5)):
        for _ in range(times):
            cache.get(name, "COMPUTE", path)
    clock.advance(30)
    cache.get("A", "COMPUTE", a)  # A: 4 accesses now, last one 30 s after its load

    detailed = cache.get_detailed_stats()
    templates = detailed["templates"]
    assert [(t["name"], t["access_count"], t["hit_count"]) for t in templates] == [
        ("C", 5, 4),
        ("A", 4, 3),
        ("B", 1, 0),
    ]
    first = templates[1]
    assert first["type"] == "COMPUTE"
    assert first["file_path"] == str(a)
    assert first["size_bytes"] == 3
    assert first["content_hash"] == sha256_of(a)
    assert first["loaded_at"].tzinfo is UTC
    assert first["last_accessed_at"] - first["loaded_at"] == timedelta(seconds=30)
    assert {k: v for k, v in detailed.items() if k not in ("templates", "avg_read_ms")} == cache.get_stats()


# --- warmup -------------------------------------------------------------------------------------------


def make_template_tree(root: Path) -> None:
    write(root / "effect_template.py", "effect")
    write(root / "Compute_Template.py", "compute")
    write(root / "reducer" / "fsm.py", "fsm")
    write(root / "reducer" / "nested" / "fold.py", "fold")
    write(root / "README.md", "not a template")
    write(root / ".effect_backup.py", "hidden")
    write(root / "reducer" / ".hidden.py", "hidden")


def test_warmup_loads_files_by_convention(tmp_path: Path, cache: TemplateCache, loader: CountingLoader) -> None:
    make_template_tree(tmp_path)

    loaded = cache.warmup(tmp_path, ["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"])

    assert loaded == 4
    names = {(t["name"], t["type"]) for t in cache.get_detailed_stats()["templates"]}
    assert names == {
        ("effect_template", "EFFECT"),
        ("Compute_Template", "COMPUTE"),
        ("fsm", "REDUCER"),
        ("fold", "REDUCER"),
    }
    assert cache.get("effect_template", "EFFECT", tmp_path / "effect_template.py", loader) == ("effect", True)
    assert loader.count == 0
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"]) == (1, 0)  # warmup loads are not get() calls
    assert stats["avg_uncached_load_ms"] > 0  # but their load times are real uncached loads
    assert cache.get_counters()["warmup_loads"] == 4
    assert cache.warmup(tmp_path, ["EFFECT", "COMPUTE", "REDUCER"]) == 0  # nothing changed


def test_warmup_extra_files_and_bad_files(tmp_path: Path, cache: TemplateCache) -> None:
    write(tmp_path / "effect_ok.py", "ok")
    (tmp_path / "effect_binary.py").write_bytes(b"\xff\xfe\x00bad")
    extra = write(tmp_path / "elsewhere" / "db.py", "db")

    loaded = cache.warmup(tmp_path, ["effect"], files=[("NodeDatabaseEffect", "EFFECT", extra)])

    assert loaded == 2  # the invalid UTF-8 file is skipped
    assert cache.get("NodeDatabaseEffect", "EFFECT", extra) == ("db", True)


def test_warmup_of_a_missing_directory_is_an_error(tmp_path: Path, cache: TemplateCache) -> None:
    with pytest.raises(OnexError) as info:
        cache.warmup(tmp_path / "missing", ["EFFECT"])
    assert info.value.code is ErrorCode.NOT_FOUND


# --- construction and lifecycle -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_templates": 0}, "max_templates"),
        ({"max_size_mb": 0}, "max_size_mb"),
        ({"ttl_seconds": -1}, "ttl_seconds"),
        ({"metrics_batch_size": 0}, "metrics_batch_size"),
        ({"metrics_flush_interval_seconds": 0}, "metrics_flush_interval_seconds"),
        ({"racy_window_seconds": -1}, "racy_window_seconds"),
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(OnexError) as info:
        TemplateCache(**kwargs)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert field in info.value.details


def test_guide_defaults() -> None:
    cache = TemplateCache()
    assert (cache.max_templates, cache.max_size_bytes, cache.ttl_seconds, cache.enable_persistence) == (
        100,
        50 * MIB,
        3600,
        True,
    )


def test_cache_keeps_serving_after_close(tmp_path: Path) -> None:
    cache = TemplateCache(racy_window_seconds=0)
    path = write(tmp_path / "t.py", "x")
    cache.get("T", "EFFECT", path)
    cache.close()
    cache.close()
    assert cache.get("T", "EFFECT", path) == ("x", True)


async def test_async_with_stops_the_flush_thread_and_flushes(tmp_path: Path) -> None:
    batches: list[list[dict[str, object]]] = []
    path = write(tmp_path / "t.py", "x")

    def named_threads() -> int:
        return sum(t.name == "template-cache-metrics" for t in settled_threads())

    threads_before = settled_threads()  # a thread of an earlier test that is still ending is waited for
    before = sum(t.name == "template-cache-metrics" for t in threads_before)
    async with TemplateCache(metrics_sink=batches.append, metrics_flush_interval_seconds=3600) as cache:
        assert named_threads() == before + 1
        cache.get("T", "EFFECT", path)
        cache.get("T", "EFFECT", path)
        assert batches == []
    assert named_threads() == before
    assert new_threads(threads_before) == []  # no executor thread left behind either
    assert len(batches) == 1
    assert (batches[0][0]["hits_delta"], batches[0][0]["misses_delta"]) == (1, 1)


def test_every_kind_of_path_names_the_same_entry(tmp_path: Path, clock: FakeClock) -> None:
    """str, a fresh Path, a Path already turned into a string, a PurePath, a Path subclass, any os.PathLike."""
    from pathlib import PurePosixPath

    class MyPath(type(Path())):  # type: ignore[misc]
        pass

    class Like:
        def __init__(self, path: str) -> None:
            self.path = path

        def __fspath__(self) -> str:
            return self.path

    path = write(tmp_path / "t.py", "content")
    text = str(path)
    used = Path(text)
    str(used)
    forms: list[object] = [text, Path(text), used, PurePosixPath(text), MyPath(text), Like(text)]
    cache = TemplateCache(clock=clock, racy_window_seconds=0, enable_persistence=False)
    outcomes = [cache.get("T", "EFFECT", form) for form in forms]  # type: ignore[arg-type]
    assert outcomes == [("content", False)] + [("content", True)] * 5
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["cached_templates"]) == (5, 1, 1)
    assert stats["avg_cached_load_ms"] > 0  # the first hit is always among the timed ones
