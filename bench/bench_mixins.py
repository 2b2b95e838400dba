"""Mixin learning benchmark: ``predict_compatibility`` and ``recommend_mixins`` against a raw single-row
scikit-learn ``predict_proba``, and training on 10,000 outcomes, in one run.

1. ``latency``: the learner as it ships (the shipped model, whose probability table serves every catalogue pair x
   node type) against the peer a user would write: a ``RandomForestClassifier`` fitted with the same
   ``FOREST_PARAMETERS`` on the same shipped trial rows (the script checks that it gives the same probability as
   the served table on every triple), called as ``forest.predict_proba(row)`` on one precomputed feature row of
   shape ``(1, n)``. Cases, round-robin over several rounds (the table gives each case's best round and the
   median of the per-round speed-ups over the raw ``predict_proba``):

   * ``learner.predict_compatibility(a, b, node_type)`` over every catalogue triple in both orders (840);
   * ``learner.recommend_mixins("EFFECT", ["caching", "logging", "metrics"],
     existing_mixins=["MixinHealthCheck"])`` and ``recommend_mixins("EFFECT", ["retries", "timeout",
     "circuit breaker", "rate limiting"], existing_mixins=["MixinLogging"])`` (the second one rejects the
     candidates predicted incompatible with the retry it picked first);
   * ``learner.check_set("EFFECT", five mixins)`` (ten pairs, two incompatible);
   * the peer: ``predict_proba`` on a precomputed row; the same with the feature row computed first
     (``FeatureSpace.vector``); and ``predict_proba`` of all 420 triples at once, per row (context only).

   Targets: ``predict_compatibility`` and ``recommend_mixins`` (each call: several table look-ups) at least 50x
   faster than one raw single-row ``predict_proba`` (median of the per-round ratios).
2. ``training``: ``train(samples, catalogue_infos())`` on 10,000 outcomes (as ``train()`` counts them:
   ``training_samples + test_samples``): the 191 shipped trials plus 9,809 recorded outcomes of the trialled
   triples drawn uniformly (so in the shipped label proportions), 2% of them flipped (flaky runs), one
   ``Sample`` per outcome. It runs a held-out evaluation, a 5-fold grouped cross-validation and a final fit.
   Then end to end: the 9,809 outcomes recorded in a SQLite ``CodegenPersistence`` (the first ones through
   ``record_mixin_compatibility``, timed; the rest upserted in bulk into ``mixin_compatibility_matrix``, which
   keeps counts per triple, as the store does) and ``await MixinLearner(model_path=tmp,
   persistence=p).train_model()`` timed (reads the records, trains, writes the model file).
   Target: "in seconds": each of the two <= 30 s on this machine (2 cores).

Run: ``.venv/bin/python bench/bench_mixins.py [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.lib._mixins.features import NODE_TYPES, FeatureSpace, catalogue_infos
from agents.lib._mixins.training import FOREST_PARAMETERS, Sample, _rows, _usable, samples_from_trials, train
from agents.lib._mixins.trials import TrialOutcome, load_shipped_trials
from agents.lib.mixin_learner import MixinLearner
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import configure_logging

SPEEDUP_TARGET = 50.0  # raw single-row predict_proba time / ours, at least
TRAIN_TARGET_S = 30.0
OUTCOMES = 10_000
FLAKY = 0.02  # share of the synthetic outcomes that go the other way

RECOMMEND_1 = ("EFFECT", ["caching", "logging", "metrics"], ["MixinHealthCheck"])
RECOMMEND_2 = ("EFFECT", ["retries", "timeout", "circuit breaker", "rate limiting"], ["MixinLogging"])
CHECK_SET = ("EFFECT", ["MixinLogging", "MixinCaching", "MixinRetry", "MixinCircuitBreaker", "MixinTimeout"])


# -- latency -----------------------------------------------------------------------------------------------------


def _peer(space: FeatureSpace) -> RandomForestClassifier:
    """The forest a user would fit: same parameters, same shipped trial rows and weights."""
    rows = _rows(_usable(samples_from_trials(load_shipped_trials()), space.infos), space)
    forest = RandomForestClassifier(**FOREST_PARAMETERS)
    forest.fit(rows.x, rows.y, sample_weight=rows.weight)
    return forest


def _lookups(learner: MixinLearner, call: Callable[[], Any]) -> int:
    """How many pair predictions (table look-ups) one call makes."""
    count = 0
    p_compatible, predict = learner._p_compatible, learner.predict_compatibility

    def counted_p(*args: Any) -> Any:
        nonlocal count
        count += 1
        return p_compatible(*args)

    def counted_predict(*args: Any) -> Any:
        nonlocal count
        count += 1
        return predict(*args)

    learner._p_compatible = counted_p  # type: ignore[method-assign]
    learner.predict_compatibility = counted_predict  # type: ignore[method-assign]
    try:
        call()
    finally:
        del learner._p_compatible, learner.predict_compatibility
    return count


def bench_latency(rounds: int, n_ours: int, n_peer: int) -> bool:
    infos = catalogue_infos()
    space = FeatureSpace.of(infos)
    with tempfile.TemporaryDirectory() as tmp:
        learner = MixinLearner(model_path=Path(tmp) / "absent.json")  # no file there: the shipped model
    model = learner._trained()
    keys = sorted(model.table)
    triples = [t for a, b, n in keys for t in ((a, b, n), (b, a, n))]
    forest = _peer(space)
    column = list(forest.classes_).index(1)
    every_row = space.matrix(keys)
    served = np.array([model.table[k].p_compatible for k in keys])
    gap = float(np.abs(forest.predict_proba(every_row)[:, column] - served).max())
    single_rows = [space.matrix([t]) for t in triples]
    assert single_rows[0].shape == (1, len(space.names))

    predict = learner.predict_compatibility
    recommend = learner.recommend_mixins
    check_set = learner.check_set
    proba = forest.predict_proba
    vector = space.vector

    def ours_predict() -> None:
        for i in range(n_ours):
            a, b, n = triples[i % len(triples)]
            predict(a, b, n)

    def ours_recommend_1() -> None:
        node_type, capabilities, existing = RECOMMEND_1
        for _ in range(n_ours // 10):
            recommend(node_type, capabilities, existing_mixins=existing)

    def ours_recommend_2() -> None:
        node_type, capabilities, existing = RECOMMEND_2
        for _ in range(n_ours // 10):
            recommend(node_type, capabilities, existing_mixins=existing)

    def ours_check_set() -> None:
        node_type, mixins = CHECK_SET
        for _ in range(n_ours // 10):
            check_set(node_type, mixins)

    def peer_row() -> None:
        for i in range(n_peer):
            proba(single_rows[i % len(single_rows)])

    def peer_features() -> None:
        for i in range(n_peer):
            a, b, n = triples[i % len(triples)]
            proba(np.array(vector(a, b, n), dtype=np.float64).reshape(1, -1))

    def peer_batch() -> None:
        proba(every_row)

    # (label, function, calls per round, counts towards a verdict)
    cases: list[tuple[str, Callable[[], None], int, bool]] = [
        ("predict_compatibility(a, b, node_type)", ours_predict, n_ours, True),
        ("recommend_mixins(EFFECT, caching/logging/metrics, [HealthCheck])", ours_recommend_1, n_ours // 10, True),
        (
            "recommend_mixins(EFFECT, retries/timeout/breaker/rate limit, [Logging])",
            ours_recommend_2,
            n_ours // 10,
            True,
        ),
        ("check_set(EFFECT, 5 mixins)", ours_check_set, n_ours // 10, False),
        ("peer: predict_proba(row), row precomputed", peer_row, n_peer, False),
        ("peer: FeatureSpace.vector + predict_proba(row)", peer_features, n_peer, False),
        (f"peer: predict_proba of {len(keys)} rows at once, per row", peer_batch, len(keys), False),
    ]
    lookups = {
        cases[1][0]: _lookups(learner, lambda: recommend(RECOMMEND_1[0], RECOMMEND_1[1], RECOMMEND_1[2])),
        cases[2][0]: _lookups(learner, lambda: recommend(RECOMMEND_2[0], RECOMMEND_2[1], RECOMMEND_2[2])),
        cases[3][0]: _lookups(learner, lambda: check_set(*CHECK_SET)),
        cases[0][0]: 1,
    }
    recommended = [
        [name for name, *_ in recommend(*r[:2], existing_mixins=r[2])] for r in (RECOMMEND_1, RECOMMEND_2)
    ]
    conflicts = [f"{p.mixin_a}+{p.mixin_b}" for p in check_set(*CHECK_SET)]
    for _, fn, _, _ in cases:  # warm-up
        fn()
    best = {label: float("inf") for label, *_ in cases}
    per_round: dict[str, list[float]] = {label: [] for label, *_ in cases}
    for _ in range(rounds):
        for label, fn, calls, _ in cases:
            started = time.perf_counter_ns()
            fn()
            us = (time.perf_counter_ns() - started) / 1e3 / calls
            best[label] = min(best[label], us)
            per_round[label].append(us)
    raw = "peer: predict_proba(row), row precomputed"
    speedups = {
        label: statistics.median(r / o for r, o in zip(per_round[raw], per_round[label], strict=True))
        for label in per_round
    }
    print(
        f"\n## Latency: the learner's table against a raw single-row RandomForest predict_proba "
        f"({rounds} rounds, round-robin)\n"
    )
    print(
        f"Peer forest: {FOREST_PARAMETERS['n_estimators']} trees on {len(load_shipped_trials())} shipped trials' "
        f"rows, {len(space.names)} features; max |P(peer) - P(served)| over the {len(keys)} triples = {gap:.2g}.\n"
        f"recommend_mixins returns {recommended[0]} and {recommended[1]}; check_set finds {conflicts}.\n"
    )
    print("| case | calls/round | look-ups/call | best µs | median µs | raw predict_proba / this (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, _, calls, _ in cases:
        n_lookups = lookups.get(label)
        print(
            f"| {label} | {calls:,} | {'' if n_lookups is None else n_lookups} | {best[label]:.2f} | "
            f"{statistics.median(per_round[label]):.2f} | {speedups[label]:.1f}x |"
        )
    ok = True
    print()
    for label, _, _, judged in cases:
        if not judged:
            continue
        passed = speedups[label] >= SPEEDUP_TARGET
        ok = ok and passed
        print(
            f"{'PASS' if passed else 'FAIL'}: {label} {speedups[label]:.0f}x faster than a raw single-row "
            f"predict_proba (median of per-round ratios; target >= {SPEEDUP_TARGET:.0f}x)"
        )
    return ok


# -- training ----------------------------------------------------------------------------------------------------


def _outcomes(trials: list[TrialOutcome], total: int, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """The shipped trials' samples and ``total - len(trials)`` recorded outcomes (one ``Sample`` each)."""
    rng = random.Random(seed)
    recorded: list[Sample] = []
    for _ in range(total - len(trials)):
        t = rng.choice(trials)
        success = t.success if rng.random() >= FLAKY else not t.success
        reason = None if success else (t.conflict_reason or "node tests: a flaky failure")
        recorded.append(Sample(t.mixin_a, t.mixin_b, t.node_type, success, 1, reason))
    return samples_from_trials(trials), recorded


def _bulk_upsert(path: str, outcomes: list[Sample]) -> int:
    """Add the outcomes' counts to ``mixin_compatibility_matrix`` in one transaction; return the rows written."""
    ok: Counter[tuple[str, str, str]] = Counter()
    failed: Counter[tuple[str, str, str]] = Counter()
    reasons: dict[tuple[str, str, str], str] = {}
    for s in outcomes:
        (ok if s.success else failed)[s.key] += 1
        if s.conflict_reason:
            reasons[s.key] = s.conflict_reason
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    rows = [(*k, ok[k], failed[k], reasons.get(k), now, now) for k in sorted(set(ok) | set(failed))]
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                """INSERT INTO mixin_compatibility_matrix
                       (mixin_a, mixin_b, node_type, success_count, failure_count, last_conflict_reason,
                        created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (mixin_a, mixin_b, node_type) DO UPDATE SET
                       success_count = success_count + excluded.success_count,
                       failure_count = failure_count + excluded.failure_count,
                       last_conflict_reason = coalesce(excluded.last_conflict_reason, last_conflict_reason),
                       updated_at = excluded.updated_at""",
                rows,
            )
    finally:
        conn.close()
    return len(rows)


async def bench_training(repeats: int, one_by_one: int) -> bool:
    infos = catalogue_infos()
    trials = load_shipped_trials()
    shipped, recorded = _outcomes(trials, OUTCOMES)
    samples = shipped + recorded
    failures = sum(not s.success for s in samples)
    times: list[float] = []
    model = None
    for _ in range(repeats):
        started = time.perf_counter()
        model = train(samples, infos)
        times.append(time.perf_counter() - started)
    assert model is not None
    m = model.metrics
    counted = m.training_samples + m.test_samples
    assert counted == OUTCOMES, f"train() counted {counted} outcomes, not {OUTCOMES}"
    started = time.perf_counter()
    train(shipped, infos)
    shipped_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "mixins.db")
        async with CodegenPersistence(f"sqlite:///{db}") as p:
            await p.list_mixin_compatibility()  # migrates the new database
            started = time.perf_counter()
            for s in recorded[:one_by_one]:
                await p.record_mixin_compatibility(s.mixin_a, s.mixin_b, s.node_type, s.success, s.conflict_reason)
            record_ms = (time.perf_counter() - started) * 1000 / one_by_one
            started = time.perf_counter()
            bulk_rows = _bulk_upsert(db, recorded[one_by_one:])
            bulk_s = time.perf_counter() - started
            stored = await p.list_mixin_compatibility()
            assert sum(r.total for r in stored) == len(recorded), "the database must hold every recorded outcome"
            learner = MixinLearner(model_path=Path(tmp) / "model.json", persistence=p)
            started = time.perf_counter()
            e2e = await learner.train_model()
            e2e_s = time.perf_counter() - started
            assert learner.source == Path(tmp) / "model.json"
            assert learner.source.is_file()
            e2e_count = e2e.training_samples + e2e.test_samples
            assert e2e_count == OUTCOMES, f"train_model() counted {e2e_count} outcomes, not {OUTCOMES}"
            model_kib = learner.source.stat().st_size / 1024

    print(f"\n## Training on {OUTCOMES:,} outcomes\n")
    print(
        f"{len(shipped)} shipped trials + {len(recorded):,} recorded outcomes of the trialled triples "
        f"({failures:,} failures, {FLAKY:.0%} of the recorded ones flipped); {len(stored)} stored triples.\n"
        f"Model: accuracy {m.accuracy:.3f}, F1 (incompatible) {m.f1_score:.3f} on {m.test_pairs} held-out pairs "
        f"({m.test_samples:,} outcomes); CV {', '.join(f'{s:.3f}' for s in m.cross_val_scores)}.\n"
    )
    print("| case | best s | median s |")
    print("|---|---:|---:|")
    median_s = statistics.median(times)
    print(f"| `train()` on {OUTCOMES:,} outcomes ({repeats} runs) | {min(times):.2f} | {median_s:.2f} |")
    print(f"| `train()` on the {len(shipped)} shipped trials only | {shipped_s:.2f} | |")
    print(f"| `await train_model()` end to end, SQLite ({model_kib:,.0f} KiB model file) | {e2e_s:.2f} | |")
    print(
        f"\nRecording: {record_ms:.2f} ms per `record_mixin_compatibility` ({one_by_one} outcomes one by one, "
        f"about {record_ms * len(recorded) / 1000:.0f} s for all {len(recorded):,}); "
        f"the other {len(recorded) - one_by_one:,} as {bulk_rows} upserted count rows in {bulk_s * 1000:.0f} ms."
    )
    ok_train = statistics.median(times) <= TRAIN_TARGET_S
    ok_e2e = e2e_s <= TRAIN_TARGET_S
    print(
        f"\n{'PASS' if ok_train else 'FAIL'}: train() on {OUTCOMES:,} outcomes "
        f"{statistics.median(times):.1f} s median (target <= {TRAIN_TARGET_S:.0f} s)"
    )
    print(
        f"{'PASS' if ok_e2e else 'FAIL'}: train_model() end to end on {OUTCOMES:,} outcomes {e2e_s:.1f} s "
        f"(target <= {TRAIN_TARGET_S:.0f} s)"
    )
    return ok_train and ok_e2e


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls (a smoke run)")
    args = parser.parse_args()
    configure_logging("CRITICAL")  # the learner logs each training
    rounds, n_ours, n_peer, repeats, one_by_one = (3, 2_000, 20, 1, 100) if args.quick else (7, 16_800, 60, 3, 500)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"Python {platform.python_version()} ({os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}), scikit-learn {sklearn.__version__}, numpy {np.__version__}; node types {NODE_TYPES}"
    )
    latency_ok = bench_latency(rounds, n_ours, n_peer)
    training_ok = await bench_training(repeats, one_by_one)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\nload at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if latency_ok and training_ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
