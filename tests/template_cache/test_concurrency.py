"""TemplateCache under threads: single flight, parallel loads of different keys, errors, a 16-thread hammer."""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.lib.template_cache import TemplateCache
from tests.template_cache.conftest import FakeClock, replace_atomically, write

WAIT = 10.0  # seconds; only a bound on waiting for events, never an assertion about speed


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def run_threads(targets: list[Callable[[], object]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    return threads


def join_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()


class GatedLoader:
    """A loader that signals when it starts and blocks until released; counts its calls."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.error = error

    def __call__(self, path: Path) -> str:
        self.calls += 1
        self.started.set()
        assert self.release.wait(WAIT)
        if self.error is not None:
            raise self.error
        return path.read_text()


def test_concurrent_misses_on_one_key_load_once(tmp_path: Path) -> None:
    cache = TemplateCache(racy_window_seconds=0)
    path = write(tmp_path / "t.py", "content")
    loader = GatedLoader()
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def get() -> None:
        result = cache.get("T", "EFFECT", path, loader)
        with lock:
            results.append(result)

    leader = run_threads([get])
    assert loader.started.wait(WAIT)
    followers = run_threads([get] * 7)
    wait_until(lambda: cache.get_counters()["waiting"] == 7)
    loader.release.set()
    join_all(leader + followers)

    assert loader.calls == 1
    assert sorted(results) == [("content", False)] + [("content", True)] * 7
    counters = cache.get_counters()
    assert (counters["hits"], counters["misses"], counters["coalesced"]) == (7, 1, 7)
    assert (counters["in_flight"], counters["waiting"]) == (0, 0)
    assert cache.get_detailed_stats()["templates"][0]["access_count"] == 8


def test_loader_error_reaches_every_waiter_and_nothing_is_cached(tmp_path: Path) -> None:
    cache = TemplateCache(racy_window_seconds=0)
    path = write(tmp_path / "t.py", "content")
    loader = GatedLoader(error=ValueError("template is broken"))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def get() -> None:
        try:
            cache.get("T", "EFFECT", path, loader)
        except ValueError as exc:
            with lock:
                errors.append(exc)

    leader = run_threads([get])
    assert loader.started.wait(WAIT)
    followers = run_threads([get] * 5)
    wait_until(lambda: cache.get_counters()["waiting"] == 5)
    loader.release.set()
    join_all(leader + followers)

    assert loader.calls == 1
    assert len(errors) == 6
    assert all(e is errors[0] for e in errors)  # the loader's own exception, for everyone
    stats = cache.get_stats()
    assert (stats["hits"], stats["misses"], stats["cached_templates"]) == (0, 6, 0)
    assert cache.get_counters()["failed"] == 6
    assert cache.get("T", "EFFECT", path) == ("content", False)  # the next call loads again


def test_slow_load_of_one_key_does_not_block_another(tmp_path: Path) -> None:
    cache = TemplateCache(racy_window_seconds=0)
    a = write(tmp_path / "a.py", "a")
    b = write(tmp_path / "b.py", "b")
    c = write(tmp_path / "c.py", "c")
    cache.get("C", "EFFECT", c)
    slow = GatedLoader()
    b_result: list[tuple[str, bool]] = []
    c_result: list[tuple[str, bool]] = []

    threads = run_threads([lambda: cache.get("A", "EFFECT", a, slow)])
    assert slow.started.wait(WAIT)
    # While A's loader is blocked: a miss on B and a hit on C both complete.
    others = run_threads(
        [
            lambda: b_result.append(cache.get("B", "EFFECT", b)),
            lambda: c_result.append(cache.get("C", "EFFECT", c)),
        ]
    )
    join_all(others)
    assert b_result == [("b", False)]
    assert c_result == [("c", True)]
    assert cache.get_counters()["in_flight"] == 1
    slow.release.set()
    join_all(threads)
    assert cache.get_stats()["cached_templates"] == 3


def test_misses_on_different_keys_run_their_loaders_at_the_same_time(tmp_path: Path) -> None:
    cache = TemplateCache(racy_window_seconds=0)
    a = write(tmp_path / "a.py", "a")
    b = write(tmp_path / "b.py", "b")
    inside = {"A": threading.Event(), "B": threading.Event()}
    saw_other: dict[str, bool] = {}

    def loader_for(me: str, other: str) -> Callable[[Path], str]:
        def load(path: Path) -> str:
            inside[me].set()
            saw_other[me] = inside[other].wait(WAIT)  # only true if both loaders run at once
            return path.read_text()

        return load

    join_all(
        run_threads(
            [
                lambda: cache.get("A", "EFFECT", a, loader_for("A", "B")),
                lambda: cache.get("B", "EFFECT", b, loader_for("B", "A")),
            ]
        )
    )
    assert saw_other == {"A": True, "B": True}


def test_hammer_16_threads_counters_add_up_and_each_version_loads_once(tmp_path: Path) -> None:
    """Phases of 16 threads doing gets over 4 keys; between phases some files change (atomic replace).

    Every version of every file is requested in its phase, so each must be loaded exactly once.
    """
    threads_n, phases, gets_per_thread = 16, 6, 60
    keys = ["k0", "k1", "k2", "k3"]
    paths = {k: tmp_path / f"{k}.py" for k in keys}
    current: dict[str, str] = {}
    written: dict[str, list[str]] = {k: [] for k in keys}

    def put(key: str, phase: int) -> None:
        text = f"{key} version {phase} " + "x" * 200
        if paths[key].exists():
            replace_atomically(paths[key], text)
        else:
            write(paths[key], text, mtime_ns=None)
        current[key] = text
        written[key].append(text)

    for k in keys:
        put(k, 0)
    loaded: dict[str, list[str]] = {k: [] for k in keys}
    loaded_lock = threading.Lock()

    def loader_for(key: str) -> Callable[[Path], str]:
        def load(path: Path) -> str:
            text = path.read_text()
            with loaded_lock:
                loaded[key].append(text)
            return text

        return load

    loaders = {k: loader_for(k) for k in keys}
    cache = TemplateCache(max_templates=8)  # default racy window: the files are all fresh
    stale: list[tuple[str, str]] = []
    outcomes: Counter[bool] = Counter()
    outcome_lock = threading.Lock()

    def worker(seed: int, barrier: threading.Barrier) -> None:
        rng = random.Random(seed)
        local: Counter[bool] = Counter()
        barrier.wait(WAIT)
        for i in range(gets_per_thread):
            key = keys[(i + seed) % len(keys)] if i < len(keys) else rng.choice(keys)
            content, hit = cache.get(key, "EFFECT", paths[key], loaders[key])
            local[hit] += 1
            if content != current[key]:
                stale.append((key, content))
        with outcome_lock:
            outcomes.update(local)

    for phase in range(phases):
        if phase:
            for k in keys[: 1 + phase % len(keys)]:
                put(k, phase)
        barrier = threading.Barrier(threads_n)
        seeds = [phase * 100 + s for s in range(threads_n)]
        join_all(run_threads([functools.partial(worker, s, barrier) for s in seeds]))

    total = threads_n * phases * gets_per_thread
    stats = cache.get_stats()
    assert stale == []
    assert stats["hits"] + stats["misses"] == total
    assert (outcomes[True], outcomes[False]) == (stats["hits"], stats["misses"])
    assert loaded == written  # each version of each key loaded exactly once, in order
    counters = cache.get_counters()
    assert counters["loads"] == stats["misses"] == sum(len(v) for v in written.values())
    assert (counters["failed"], counters["in_flight"], counters["waiting"]) == (0, 0, 0)
    assert stats["cached_templates"] == len(keys)


def test_hammer_with_files_changing_during_the_gets(tmp_path: Path) -> None:
    """A writer replaces files while 16 threads read: at most one load per version, nothing stale survives.

    The default loader is used: it shares the hashing read, so a load's content and hash always agree (with a
    custom loader a change racing with the load can cost one extra load; see the module docstring).
    """
    keys = ["k0", "k1", "k2"]
    paths = {k: write(tmp_path / f"{k}.py", f"{k} v0", mtime_ns=None) for k in keys}
    versions: dict[str, list[str]] = {k: [f"{k} v0"] for k in keys}
    returned: set[tuple[str, str]] = set()
    returned_lock = threading.Lock()
    cache = TemplateCache(clock=FakeClock())
    stop = threading.Event()
    calls = [0] * 16

    def reader(index: int) -> None:
        rng = random.Random(index)
        seen: set[tuple[str, str]] = set()
        while not stop.is_set() or calls[index] < 50:
            key = rng.choice(keys)
            content, _ = cache.get(key, "EFFECT", paths[key])
            seen.add((key, content))
            calls[index] += 1
        with returned_lock:
            returned.update(seen)

    def writer() -> None:
        for n in range(1, 30):
            key = keys[n % len(keys)]
            text = f"{key} v{n}"
            replace_atomically(paths[key], text)
            versions[key].append(text)
            time.sleep(0.002)
        stop.set()

    join_all(run_threads([functools.partial(reader, i) for i in range(16)] + [writer]))

    stats = cache.get_stats()
    counters = cache.get_counters()
    assert stats["hits"] + stats["misses"] == sum(calls)
    assert counters["failed"] == 0
    assert counters["loads"] == stats["misses"]
    assert counters["loads"] <= sum(len(v) for v in versions.values())  # at most one load per version
    assert all(content in versions[key] for key, content in returned)
    for key in keys:  # after the dust settles, every key serves its last version
        assert cache.get(key, "EFFECT", paths[key])[0] == versions[key][-1]


@pytest.mark.parametrize("racy_window_seconds", [0.0, 2.0])
def test_waiters_of_a_revalidation_share_it(tmp_path: Path, racy_window_seconds: float) -> None:
    """Touching a cached file makes the next accesses re-hash once, not once per thread."""
    cache = TemplateCache(racy_window_seconds=racy_window_seconds)
    path = write(tmp_path / "t.py", "same")
    cache.get("T", "EFFECT", path)
    path.touch()
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def get() -> None:
        r = cache.get("T", "EFFECT", path)
        with lock:
            results.append(r)

    join_all(run_threads([get] * 16))
    assert results == [("same", True)] * 16
    counters = cache.get_counters()
    assert (counters["loads"], counters["hits"], counters["misses"]) == (1, 16, 1)
