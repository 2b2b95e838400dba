"""Event publishing benchmark: EventOptimizer against a raw confluent-kafka Producer on the same broker, and our
circuit breaker against aiobreaker, in one run.

1. ``throughput``: ``await optimizer.publish_batch(events)`` (N ~0.6 KB ``NodeGeneratedEvent``\\ s, every one
   acknowledged before it returns) against a raw ``confluent_kafka.Producer`` with the same settings
   (``acks=all``, idempotence, ``linger.ms=5``, no compression: the events are below the threshold) producing
   the same events (serialized the same way, same key and headers, a delivery callback per message that counts
   failures, then ``flush()``), alternating, several rounds; each side's producer is warm. The verdict uses the
   best round of each side (ours as a fraction of raw throughput): on a shared 2-core machine other processes
   stretch single rounds by 2-3x either way, so the per-round ratios (printed, with their median) swing
   widely, while the best rounds are the undisturbed ones. The process CPU time per event of each side (all
   threads, librdkafka's included) is printed too: it does not depend on the machine's load. Target: >= 0.8.
2. ``latency``: ``await optimizer.publish_event(e)`` one after another (each returns on the broker's ack), p50,
   p95 and p99; beside it a raw producer sending one message and polling until its report. Target: our p95
   <= 20 ms (the guide promises 200 ms).
3. ``breaker``: the success path of ``await breaker.call(coroutine_function)`` for our ``CircuitBreaker`` and for
   aiobreaker's ``call_async``, alternating rounds, per-call time above a bare ``await``; also our inline
   ``acquire()``/``record_success()`` (what the optimizer does). Target: ours no slower than aiobreaker.

The broker is a tansu started here (memory storage), or the one named by ``AGENTS_BENCH_KAFKA_BOOTSTRAP``.

Run: ``.venv/bin/python bench/bench_events.py [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiobreaker
from confluent_kafka import Producer

from agents.lib._events.breaker import CircuitBreaker, CircuitBreakerConfig
from agents.lib.codegen_events import NodeGeneratedEvent
from agents.lib.event_optimizer import EventOptimizer, OptimizerConfig
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import configure_logging

THROUGHPUT_TARGET = 0.8
P95_TARGET_MS = 20.0
LINGER_MS = 5.0
TIMEOUT_MS = 30_000


def make_events(count: int, service: str) -> list[NodeGeneratedEvent]:
    return [
        NodeGeneratedEvent(
            service=service,
            correlation_id=uuid4(),
            payload={
                "node_type": "EFFECT",
                "microservice": "UserService",
                "status": "generated",
                "seq": i,
                "output_path": f"/srv/build/user_service/node_user_service_effect_{i}",
                "verification": {"ast": True, "yaml": True, "imports": True, "pytest": True, "mypy": True},
                "notes": "x" * 200,
            },
        )
        for i in range(count)
    ]


def raw_config(bootstrap: str) -> dict[str, Any]:
    """The settings our optimizer gives its producers (see EventOptimizer._ensure_pool)."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": LINGER_MS,
        "message.timeout.ms": TIMEOUT_MS,
        "compression.type": "none",
        "message.max.bytes": 1_004_096,
    }


def raw_publish(producer: Producer, topic: str, events: list[NodeGeneratedEvent]) -> float:
    failures = [0]

    def report(err: Any, msg: Any) -> None:
        if err is not None:
            failures[0] += 1

    started = time.perf_counter()
    produce = producer.produce
    for i, event in enumerate(events):
        while True:
            try:
                produce(
                    topic,
                    value=event.to_bytes(),
                    key=event.kafka_key(),
                    headers=event.kafka_headers(),
                    on_delivery=report,
                )
                break
            except BufferError:
                producer.poll(0.005)
        if i % 1000 == 999:
            producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    if failures[0]:
        raise RuntimeError(f"raw producer: {failures[0]} failures")
    return elapsed


async def ours_publish(optimizer: EventOptimizer, events: list[NodeGeneratedEvent]) -> float:
    started = time.perf_counter()
    result = await optimizer.publish_batch(events)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(f"optimizer: {len(result.failed)} failed, {len(result.outboxed)} outboxed")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(q * len(ordered)))  # nearest rank
    return ordered[min(rank, len(ordered)) - 1]


async def bench_throughput(bootstrap: str, optimizer: EventOptimizer, count: int, rounds: int) -> dict[str, Any]:
    service = f"bench-{uuid4().hex[:6]}"
    topic = f"{service}.node.generated.v1"
    producer = Producer(raw_config(bootstrap))
    warm = make_events(500, service)
    raw_publish(producer, topic, warm)
    await ours_publish(optimizer, warm)
    raw_times: list[float] = []
    our_times: list[float] = []
    raw_cpu: list[float] = []
    our_cpu: list[float] = []
    ratios: list[float] = []
    for round_number in range(rounds):
        events = make_events(count, service)
        order = ("raw", "ours") if round_number % 2 == 0 else ("ours", "raw")
        times: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for case in order:
            started = time.process_time()
            if case == "raw":
                times[case] = raw_publish(producer, topic, events)
            else:
                times[case] = await ours_publish(optimizer, events)
            cpu[case] = time.process_time() - started
        raw_times.append(times["raw"])
        our_times.append(times["ours"])
        raw_cpu.append(cpu["raw"])
        our_cpu.append(cpu["ours"])
        ratios.append(times["raw"] / times["ours"])
    return {
        "raw_rate": count / statistics.median(raw_times),
        "our_rate": count / statistics.median(our_times),
        "raw_best": count / min(raw_times),
        "our_best": count / min(our_times),
        "ratio": min(raw_times) / min(our_times),
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
        "raw_cpu_us": min(raw_cpu) / count * 1e6,
        "our_cpu_us": min(our_cpu) / count * 1e6,
    }


async def bench_latency(bootstrap: str, optimizer: EventOptimizer, count: int) -> dict[str, Any]:
    service = f"bench-{uuid4().hex[:6]}"
    events = make_events(count + 50, service)
    for event in events[:50]:
        await optimizer.publish_event(event)
    ours: list[float] = []
    for event in events[50:]:
        started = time.perf_counter()
        outcome = await optimizer.publish_event(event)
        ours.append((time.perf_counter() - started) * 1000)
        if not outcome.delivered:
            raise RuntimeError(f"publish_event: {outcome.status} {outcome.error}")
    producer = Producer(raw_config(bootstrap))
    topic = f"{service}.node.generated.v1"
    raw: list[float] = []
    done: list[Any] = []
    for i, event in enumerate(events):
        done.clear()
        started = time.perf_counter()
        producer.produce(
            topic,
            value=event.to_bytes(),
            key=event.kafka_key(),
            headers=event.kafka_headers(),
            on_delivery=lambda err, msg: done.append(err),
        )
        while not done:
            producer.poll(0.0005)
        if i >= 50:
            raw.append((time.perf_counter() - started) * 1000)
    producer.flush(10)
    return {
        "ours": {q: percentile(ours, q) for q in (0.5, 0.95, 0.99)},
        "raw": {q: percentile(raw, q) for q in (0.5, 0.95, 0.99)},
    }


async def timed_loop(call: Callable[[], Awaitable[Any]], iterations: int) -> float:
    started = time.perf_counter()
    for _ in range(iterations):
        await call()
    return (time.perf_counter() - started) / iterations * 1e6


async def bench_breaker(iterations: int, rounds: int) -> dict[str, float]:
    async def downstream() -> int:
        return 1

    ours = CircuitBreaker(
        CircuitBreakerConfig(failure_threshold=5, recovery_timeout_ms=60_000, success_threshold=2)
    )
    theirs = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=timedelta(seconds=60))

    async def bare() -> Any:
        return await downstream()

    async def our_call() -> Any:
        return await ours.call(downstream)

    async def their_call() -> Any:
        return await theirs.call_async(downstream)

    async def our_inline() -> Any:
        permit = ours.acquire()
        result = await downstream()
        ours.record_success(permit)
        return result

    cases: dict[str, Callable[[], Awaitable[Any]]] = {
        "bare await": bare,
        "ours: call()": our_call,
        "ours: acquire/record": our_inline,
        "aiobreaker: call_async()": their_call,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for call in cases.values():
        await timed_loop(call, iterations // 10)  # warm up
    for round_number in range(rounds):
        names = list(cases)
        if round_number % 2:
            names.reverse()
        for name in names:
            samples[name].append(await timed_loop(cases[name], iterations))
    return {name: statistics.median(values) for name, values in samples.items()}


async def run(bootstrap: str, quick: bool) -> int:
    count, rounds = (5_000, 5) if quick else (20_000, 11)
    latency_count = 300 if quick else 1_000
    breaker_iterations, breaker_rounds = (50_000, 3) if quick else (200_000, 5)
    with tempfile.TemporaryDirectory(prefix="agents-bench-events-") as tmp:
        persistence = CodegenPersistence(f"sqlite:///{Path(tmp) / 'bench.db'}")
        optimizer = EventOptimizer(
            bootstrap,
            config=OptimizerConfig(linger_ms=LINGER_MS, delivery_timeout_ms=TIMEOUT_MS),
            persistence=persistence,
        )
        try:
            throughput = await bench_throughput(bootstrap, optimizer, count, rounds)
            latency = await bench_latency(bootstrap, optimizer, latency_count)
        finally:
            await optimizer.cleanup()
            await persistence.close()
    breaker = await bench_breaker(breaker_iterations, breaker_rounds)

    print(f"\nmachine: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    size = len(make_events(1, "x")[0].to_bytes())
    print(f"\n1. publish_batch throughput, {count} events of ~{size} B, {rounds} rounds")
    print(f"   {'case':<34}{'median msg/s':>14}{'best msg/s':>14}")
    print(
        f"   {'raw confluent-kafka Producer':<34}{throughput['raw_rate']:>14,.0f}{throughput['raw_best']:>14,.0f}"
    )
    print(
        f"   {'EventOptimizer.publish_batch':<34}{throughput['our_rate']:>14,.0f}{throughput['our_best']:>14,.0f}"
    )
    print(f"   ratio ours/raw per round: {', '.join(f'{r:.2f}' for r in throughput['ratios'])}")
    median, best = throughput["median_ratio"], throughput["ratio"]
    print(f"   median of the per-round ratios {median:.2f}; best rounds {best:.2f}")
    print(
        f"   process CPU per event (best round): raw {throughput['raw_cpu_us']:.2f} us, ours "
        f"{throughput['our_cpu_us']:.2f} us ({throughput['raw_cpu_us'] / throughput['our_cpu_us']:.2f}x)"
    )
    print(f"\n2. one event at a time, {latency_count} events (ms)")
    print(f"   {'case':<34}{'p50':>8}{'p95':>8}{'p99':>8}")
    for label, key in (("raw producer (produce + poll)", "raw"), ("EventOptimizer.publish_event", "ours")):
        figures = latency[key]
        print(f"   {label:<34}{figures[0.5]:>8.2f}{figures[0.95]:>8.2f}{figures[0.99]:>8.2f}")
    print(f"\n3. circuit breaker success path, {breaker_iterations} calls x {breaker_rounds} rounds (us per call)")
    base = breaker["bare await"]
    for name, value in breaker.items():
        extra = "" if name == "bare await" else f"   (+{value - base:.3f} above a bare await)"
        print(f"   {name:<34}{value:>8.3f}{extra}")

    checks = [
        (
            throughput["ratio"] >= THROUGHPUT_TARGET,
            f"publish_batch throughput {throughput['ratio']:.2f}x the raw producer, best rounds"
            f" (target >= {THROUGHPUT_TARGET}x)",
        ),
        (
            latency["ours"][0.95] <= P95_TARGET_MS,
            f"publish_event p95 {latency['ours'][0.95]:.2f} ms (target <= {P95_TARGET_MS:.0f} ms)",
        ),
        (
            breaker["ours: call()"] <= breaker["aiobreaker: call_async()"],
            f"breaker call {breaker['ours: call()']:.3f} us vs aiobreaker "
            f"{breaker['aiobreaker: call_async()']:.3f} us (target: no slower)",
        ),
    ]
    print()
    for passed, text in checks:
        print(f"{'PASS' if passed else 'FAIL'}: {text}")
    return 0 if all(passed for passed, _ in checks) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args()
    configure_logging("WARNING")
    external = os.environ.get("AGENTS_BENCH_KAFKA_BOOTSTRAP")
    if external:
        return asyncio.run(run(external, args.quick))
    from tests._services.kafka import KafkaBroker

    broker = KafkaBroker()
    broker.start()
    try:
        return asyncio.run(run(broker.bootstrap, args.quick))
    finally:
        broker.destroy()


if __name__ == "__main__":
    sys.exit(main())
