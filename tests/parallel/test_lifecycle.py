"""Timeouts kill what a job started; cleanup leaves no thread, process or file handle behind.

Verification is made to hang by adding to the generated node a test that starts a child, writes both pids to a
file and sleeps; the processes are then looked up in /proc.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import aiosqlite
import pytest

from agents.lib.codegen.job import NodeJob
from agents.lib.db import resolve_dsn
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.migrations import apply_async
from agents.lib.parallel_generator import ParallelGenerator
from agents.lib.prd_analyzer import PRDAnalysis
from tests._leaks import new_fds, new_threads, settled_fds, settled_threads
from tests._services.postgres import run_async
from tests.parallel._support import (
    HookedGenerator,
    add_hanging_test,
    is_alive,
    job,
    kill_quietly,
    live_children,
    live_group,
    read_pids,
    wait_until,
)

TIMEOUTS_S = (5.0, 10.0, 20.0, 40.0)
"""Job timeouts tried in turn until the hanging node reached its hanging test before timing out (generation,
imports and pytest start-up take longer on a busy machine); 5 s is enough on an idle one."""


async def _time_out_a_hanging_node(analysis: PRDAnalysis, tmp_path: Path, timeout: float) -> list[int] | None:
    """Time out a node whose verification hangs; return the processes of its hanging test that still ran when its
    result came back, or None when the node timed out before its hanging test started."""
    pidfile = tmp_path / "hang.pids"
    hooked = HookedGenerator(after=add_hanging_test(pidfile))
    jobs = [
        job(analysis, "REDUCER", tmp_path / "svc", verify=True),  # its verification hangs in the tests step
        job(analysis, "EFFECT", tmp_path / "svc"),  # fine: not verified
    ]
    generator = ParallelGenerator(max_workers=2, timeout_seconds=timeout, enable_metrics=False, generator=hooked)
    pids: tuple[int, int] | None = None
    try:
        async with generator:
            results = await generator.generate_nodes_parallel(jobs, uuid4())
            # The result is back: the processes must already be gone, not merely doomed.
            if pidfile.is_file():
                pids = read_pids(pidfile)
                still_running = [pid for pid in pids if is_alive(pid)] + live_group(pids[0])
        hung, fine = results
        assert not hung.success
        assert hung.error_code == ErrorCode.TIMEOUT.value
        assert hung.error == f"timed out after {timeout:g} s"
        assert fine.success, fine.error
        assert live_children() == []
        return None if pids is None else still_running
    finally:
        hooked.close()
        if pids is not None:
            kill_quietly(*pids)


async def test_a_job_over_its_timeout_fails_with_timeout_and_its_processes_are_killed(
    analysis: PRDAnalysis, tmp_path: Path
) -> None:
    for attempt, timeout in enumerate(TIMEOUTS_S):
        still_running = await _time_out_a_hanging_node(analysis, tmp_path / f"attempt-{attempt}", timeout)
        if still_running is not None:
            assert still_running == []
            return
    raise AssertionError(f"the hanging test never started within {TIMEOUTS_S[-1]:g} s")


async def test_cleanup_of_a_running_batch_kills_its_processes_and_leaves_nothing_behind(
    analysis: PRDAnalysis, tmp_path: Path
) -> None:
    threads_before, fds_before = settled_threads(), settled_fds()
    pidfile = tmp_path / "hang.pids"
    hooked = HookedGenerator(after=add_hanging_test(pidfile, per_node=True))
    generator = ParallelGenerator(max_workers=2, timeout_seconds=600, enable_metrics=False, generator=hooked)
    jobs = [
        job(analysis, "REDUCER", tmp_path, verify=True),
        job(analysis, "COMPUTE", tmp_path, verify=True),
        job(analysis, "EFFECT", tmp_path),  # waits for a worker: cleanup comes first
    ]
    batch = asyncio.create_task(generator.generate_nodes_parallel(jobs, uuid4()))
    pids: tuple[int, ...] | None = None
    try:
        # Both verifications are in their tests (not still importing) before cleanup: wait for both pid files.
        def both_running() -> bool:
            files = list(tmp_path.glob("*.hang.pids"))
            return len(files) == 2 and all(len(f.read_text().split()) == 2 for f in files)

        await wait_until(both_running, "both hanging tests are running")
        pids = tuple(pid for f in sorted(tmp_path.glob("*.hang.pids")) for pid in read_pids(f))
        assert all(is_alive(pid) for pid in pids)
        await generator.cleanup()
        assert batch.done()  # cleanup waited for the batch to wind down
        with pytest.raises(OnexError) as caught:
            await batch
        # Stopped by cleanup(), not by a timeout: their own code (issue 15), and where each was stopped.
        assert list(caught.value.details["error_codes"].values()) == [ErrorCode.CANCELLED.value] * 3
        stopped = "cancelled: the generator was cleaned up"
        assert list(caught.value.details["errors"].values()) == [
            f"{stopped} (verification cancelled during tests)",
            f"{stopped} (verification cancelled during tests)",
            stopped,
        ]
        assert [pid for pid in pids if is_alive(pid)] == []
        assert live_group(pids[0]) == [] and live_group(pids[2]) == []
        assert live_children() == []
        assert new_threads(threads_before) == []
        assert new_fds(fds_before) == {}
    finally:
        batch.cancel()
        hooked.close()
        if pids is not None:
            kill_quietly(*pids)


async def test_async_with_releases_threads_files_and_the_metrics_database(
    analysis: PRDAnalysis, tmp_path: Path
) -> None:
    """The generator opens its own code generator and metrics database (SQLite in the data dir) and closes both."""
    run_async(lambda: apply_async(resolve_dsn(None)))  # migrate beforehand, on a loop of its own
    # The migration's aiosqlite thread may still be ending: the snapshot waits for it (issue 14).
    threads_before, fds_before = settled_threads(), settled_fds()
    async with ParallelGenerator(max_workers=2) as generator:
        results = await generator.generate_nodes_parallel(
            [job(analysis, "EFFECT", tmp_path), job(analysis, "COMPUTE", tmp_path)], uuid4()
        )
        assert [r.success for r in results] == [True, True]
        node_job = generator._job
        assert isinstance(node_job, NodeJob)  # the default job, with a code generator of its own
        assert generator._persistence is not None and node_job.generator is not None
        assert len(set(threading.enumerate()) - threads_before) >= 2  # the workers (and the database's) are up
    assert new_threads(threads_before) == []
    assert new_fds(fds_before) == {}
    assert live_children() == []
    assert all(part is None for part in (generator._persistence, node_job.generator, generator._executor))


async def test_cancelling_the_batch_kills_its_processes(analysis: PRDAnalysis, tmp_path: Path) -> None:
    pidfile = tmp_path / "hang.pids"
    hooked = HookedGenerator(after=add_hanging_test(pidfile))
    generator = ParallelGenerator(max_workers=1, timeout_seconds=600, enable_metrics=False, generator=hooked)
    batch = asyncio.create_task(
        generator.generate_nodes_parallel([job(analysis, "COMPUTE", tmp_path, verify=True)], uuid4())
    )
    pids: tuple[int, int] | None = None
    try:
        await wait_until(pidfile.is_file, "the hanging test is running")
        pids = read_pids(pidfile)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        await generator.cleanup()  # waits for the cancelled worker
        assert [pid for pid in pids if is_alive(pid)] == []
        assert live_group(pids[0]) == []
        assert live_children() == []
    finally:
        hooked.close()
        if pids is not None:
            kill_quietly(*pids)


async def test_snapshots_wait_for_threads_that_are_ending_and_only_for_those(tmp_path: Path) -> None:
    """What makes the leak checks above deterministic: a thread on its way out is not counted (issue 14)."""
    before = settled_threads()
    connection = await aiosqlite.connect(tmp_path / "x.db")
    worker = connection._thread
    await connection.close()  # returns before its thread has ended
    executor = ThreadPoolExecutor(1, thread_name_prefix="ending-executor")
    executor.submit(time.sleep, 0.05)
    executor.shutdown(wait=False)
    stop = threading.Event()
    lingering = threading.Thread(target=stop.wait, name="lingering")
    lingering.start()
    try:
        settled = settled_threads()
        assert worker not in settled
        assert not any(t.name.startswith("ending-executor") for t in settled)
        assert lingering in settled  # a thread with work left is not waited for
        assert new_threads(before) == [f"lingering (ident {lingering.ident})"]
    finally:
        stop.set()
        lingering.join()
    assert new_threads(before) == []
