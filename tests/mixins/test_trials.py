"""Trials: outcomes come from running generated nodes, are recorded, and reproduce the shipped data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.lib._mixins.trials import (
    TrialOutcome,
    load_shipped_trials,
    read_trials,
    run_trials,
    trial_pairs,
    write_trials,
)
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, mixin_info
from agents.lib.persistence import CodegenPersistence

SHIPPED = Path(__file__).resolve().parents[2] / "src/agents/lib/_mixins/data/trials.json"


def _key(o: TrialOutcome) -> tuple[str, str, str]:
    return (o.mixin_a, o.mixin_b, o.node_type)


def test_pairs_are_every_applicable_pair_once() -> None:
    pairs = trial_pairs()
    assert len(pairs) == len(set(pairs)) == 191
    for a, b, node_type in pairs:
        assert a < b
        assert node_type in mixin_info(a).node_types and node_type in mixin_info(b).node_types
    assert trial_pairs(["COMPUTE"]) == [p for p in pairs if p[2] == "COMPUTE"]
    with pytest.raises(ValueError, match="unknown node types"):
        trial_pairs(["GATEWAY"])


def test_the_shipped_data_covers_the_catalogue_as_it_is() -> None:
    shipped = load_shipped_trials()
    assert sorted(_key(o) for o in shipped) == sorted(trial_pairs())
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert data["format"] == 1
    assert data["catalogue"] == {name: mixin_info(name).as_dict() for name in sorted(MIXIN_CATALOGUE)}
    conflicts = [o for o in shipped if not o.success]
    # what the wrap order leaves: a retry around a mixin that bounds the wait, a cache around the pool
    assert sorted(_key(o) for o in conflicts) == [
        ("MixinCaching", "MixinConnection", "EFFECT"),
        ("MixinCircuitBreaker", "MixinRetry", "EFFECT"),
        ("MixinCircuitBreaker", "MixinRetry", "ORCHESTRATOR"),
        ("MixinConnection", "MixinRetry", "EFFECT"),
        ("MixinConnection", "MixinRetry", "ORCHESTRATOR"),
        ("MixinRetry", "MixinTimeout", "EFFECT"),
        ("MixinRetry", "MixinTimeout", "ORCHESTRATOR"),
    ]
    by_key = {_key(o): o for o in shipped}
    # ...and what it settles: logging and audit see every attempt, a cache never answers an unauthorized caller
    for a, b in [
        ("MixinCaching", "MixinLogging"),
        ("MixinCaching", "MixinSecurity"),
        ("MixinAudit", "MixinSecurity"),
    ]:
        assert by_key[(a, b, "EFFECT")].success, (a, b)
    for o in shipped:
        assert (o.conflict_reason is None) == o.success
        assert o.checks, o  # every trial ran checks of its mixins
    for o in conflicts:
        assert o.conflict_reason is not None
        reason = o.conflict_reason
        assert reason.startswith("node tests: ") or any(reason.startswith(f"{c}: ") for c in o.checks), reason


async def test_a_compatible_and_a_conflicting_trial_are_recorded(tmp_path: Path) -> None:
    shipped = {_key(o): o for o in load_shipped_trials()}
    conflicting = shipped[("MixinCaching", "MixinConnection", "EFFECT")]
    compatible = shipped[("MixinSecurity", "MixinTransaction", "EFFECT")]
    assert not conflicting.success and compatible.success
    persistence = CodegenPersistence(f"sqlite:///{tmp_path}/trials.db", flush_interval_s=60.0)
    try:
        outcomes = await run_trials([_key(conflicting), _key(compatible)], persistence=persistence, jobs=1)
        assert outcomes == [conflicting, compatible]
        assert conflicting.conflict_reason == (
            "connection: after stop() calls are refused at once: an operation was served after stop()"
        )
        bad = await persistence.get_mixin_compatibility("MixinConnection", "MixinCaching", "EFFECT")
        good = await persistence.get_mixin_compatibility("MixinSecurity", "MixinTransaction", "EFFECT")
    finally:
        await persistence.close()
    assert bad is not None and (bad.success_count, bad.failure_count) == (0, 1)
    assert bad.last_conflict_reason == conflicting.conflict_reason
    assert good is not None and (good.success_count, good.failure_count) == (1, 0)


async def test_trials_reproduce_the_shipped_data(tmp_path: Path) -> None:
    shipped = load_shipped_trials()
    sample: dict[tuple[str, str, str], TrialOutcome] = {}
    for o in shipped:  # every conflict...
        if not o.success:
            sample[_key(o)] = o
    successes = [o for o in shipped if o.success]
    for node_type in ("EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"):  # ...and compatible trials of every type
        for o in [o for o in successes if o.node_type == node_type][::20]:
            sample[_key(o)] = o
    assert len(sample) == 19 and len({o.node_type for o in sample.values()}) == 4
    outcomes = await run_trials(list(sample), workdir=tmp_path / "svc")
    assert outcomes == list(sample.values())


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    outcomes = [
        TrialOutcome("MixinRetry", "MixinTimeout", "EFFECT", False, "timeout: slow", ("timeout: x",)),
        TrialOutcome("MixinLogging", "MixinMetrics", "COMPUTE", True, None, ("metrics: y", "logging: z")),
    ]
    path = tmp_path / "trials.json"
    write_trials(path, outcomes)
    assert read_trials(path.read_text(encoding="utf-8")) == [outcomes[0], outcomes[1]]  # EFFECT sorts first
    write_trials(tmp_path / "again.json", list(reversed(outcomes)))
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match="format 1"):
        read_trials('{"format": 2, "trials": []}')
