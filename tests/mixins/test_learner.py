"""The mixin learner: a fresh install is trained, honest about held-out accuracy, symmetric, explained, safe to load.

The model is trained on the shipped trials (real outcomes of generated nodes, see ``test_trials.py``) plus what
is recorded through :class:`CodegenPersistence` on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import orjson
import pytest

import agents.lib.mixin_learner as learner_module
from agents.lib._mixins import training
from agents.lib._mixins.features import NODE_TYPES, FeatureSpace, catalogue_infos
from agents.lib._mixins.model import read_model
from agents.lib._mixins.training import SHIPPED_MODEL, samples_from_trials, train
from agents.lib._mixins.trials import load_shipped_trials
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.mixin_learner import (
    FEEDBACK_PRIOR_WEIGHT,
    InsufficientSamplesError,
    MixinLearner,
    ModelFileError,
    UnknownMixinError,
    default_model_path,
    normalize_capability,
)
from agents.lib.persistence import CodegenPersistence
from tests.workflow.conftest import LogCapture

TRIALS = len(load_shipped_trials())


@pytest.fixture
async def persistence(tmp_path: Path) -> AsyncIterator[CodegenPersistence]:
    """A persistence on an empty SQLite file."""
    p = CodegenPersistence(f"sqlite:///{tmp_path / 'learner.db'}")
    try:
        yield p
    finally:
        await p.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- a fresh install --
def test_a_fresh_install_is_trained_and_meets_the_accuracy_targets_on_held_out_pairs(tmp_path: Path) -> None:
    learner = MixinLearner(model_path=tmp_path / "none-yet.json")  # no event loop needed
    assert learner.is_trained()
    assert learner.source == SHIPPED_MODEL
    m = learner.get_metrics()
    assert m.accuracy >= 0.95
    assert m.f1_score >= 0.9  # of the incompatible class
    assert m.training_samples + m.test_samples == TRIALS
    assert sum(map(sum, m.confusion_matrix)) == m.test_samples
    (tn, _), (fn, tp) = m.confusion_matrix
    assert tp + fn >= 1, "the held-out pairs include a conflict"
    assert m.accuracy == pytest.approx((tn + tp) / m.test_samples)
    assert len(m.cross_val_scores) == 5 and min(m.cross_val_scores) >= 0.9
    assert not (tmp_path / "none-yet.json").exists()


def test_the_shipped_model_is_what_training_on_the_shipped_trials_gives() -> None:
    shipped = read_model(SHIPPED_MODEL)
    again = train(samples_from_trials(load_shipped_trials()), catalogue_infos())
    assert dataclasses.replace(again.metrics, trained_at="") == dataclasses.replace(shipped.metrics, trained_at="")
    assert again.table.keys() == shipped.table.keys()
    for key, entry in shipped.table.items():
        assert again.table[key].p_compatible == pytest.approx(entry.p_compatible, abs=1e-9), key
        assert again.table[key].conflict_reason == entry.conflict_reason
    assert again.catalogue_digest == shipped.catalogue_digest


def test_the_held_out_pairs_never_appear_in_training_and_no_feature_sees_the_outcome() -> None:
    infos = catalogue_infos()
    samples = samples_from_trials(load_shipped_trials())
    space = FeatureSpace.of(infos)
    rows = training._rows(samples, space)
    train_idx, test_idx = next(training._splitter(5, rows).split(rows.x, rows.y, rows.groups))
    held_out = {rows.groups[i] for i in test_idx}
    assert held_out and held_out.isdisjoint(rows.groups[i] for i in train_idx)
    assert len(held_out) == read_model(SHIPPED_MODEL).metrics.test_pairs
    flipped = [dataclasses.replace(s, success=not s.success, conflict_reason=None) for s in samples]
    flipped_rows = training._rows(flipped, space)
    by_key = {k: row for k, row in zip(flipped_rows.keys, flipped_rows.x, strict=True)}
    for key, row in zip(rows.keys, rows.x, strict=True):
        assert np.array_equal(by_key[key], row), key


# -- predictions --
def test_predictions_are_symmetric_and_explained(tmp_path: Path) -> None:
    learner = MixinLearner(model_path=tmp_path / "m.json")
    names = sorted(catalogue_infos())
    for node_type in NODE_TYPES:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                ab = learner.predict_compatibility(a, b, node_type)
                ba = learner.predict_compatibility(b, a, node_type)
                assert (ba.mixin_a, ba.mixin_b) == (b, a)
                assert (ab.compatible, ab.confidence, ab.explanation, ab.learned_from_samples) == (
                    ba.compatible,
                    ba.confidence,
                    ba.explanation,
                    ba.learned_from_samples,
                )
                assert 0.5 <= ab.confidence <= 1.0
    conflict = learner.predict_compatibility("MixinConnection", "MixinCaching", "EFFECT")
    assert not conflict.compatible and conflict.confidence >= 0.9
    assert conflict.learned_from_samples == 1
    assert "Predicted incompatible on EFFECT" in conflict.explanation
    assert "an outer 'serves_stored_results' mixin around an inner" in conflict.explanation
    assert "recorded conflict: connection: after stop() calls are refused at once" in conflict.explanation
    fine = learner.predict_compatibility("MixinCaching", "MixinLogging", "EFFECT")
    assert fine.compatible and fine.confidence >= 0.9 and fine.learned_from_samples == 1
    assert "recorded conflict" not in fine.explanation
    unsuited = learner.predict_compatibility("MixinRetry", "MixinLogging", "COMPUTE")
    assert unsuited.learned_from_samples == 0
    assert "note: MixinRetry not meant for COMPUTE nodes" in unsuited.explanation


def test_unknown_mixins_and_node_types_get_clear_errors(tmp_path: Path) -> None:
    learner = MixinLearner(model_path=tmp_path / "m.json")
    with pytest.raises(UnknownMixinError, match=r"unknown mixin\(s\) 'MixinTeleport'; known: MixinAudit, ") as err:
        learner.predict_compatibility("MixinTeleport", "MixinCaching", "EFFECT")
    assert err.value.code is ErrorCode.VALIDATION_ERROR and err.value.details == {"unknown": ["MixinTeleport"]}
    with pytest.raises(UnknownMixinError, match="unknown node type 'GATEWAY'; known: EFFECT, COMPUTE"):
        learner.predict_compatibility("MixinCaching", "MixinLogging", "GATEWAY")
    with pytest.raises(UnknownMixinError, match="MixinCaching cannot be paired with itself"):
        learner.predict_compatibility("MixinCaching", "MixinCaching", "EFFECT")
    with pytest.raises(UnknownMixinError, match="'MixinNope'"):
        learner.recommend_mixins("EFFECT", ["caching"], existing_mixins=["MixinNope"])
    with pytest.raises(OnexError, match="must not be negative"):
        learner.recommend_mixins("EFFECT", ["caching"], max_recommendations=-1)
    with pytest.raises(OnexError, match="between 0 and 1"):
        MixinLearner(model_path=tmp_path / "m.json", min_confidence_threshold=1.5)


# -- recommendations --
def test_recommendations_match_capabilities_in_any_wording(tmp_path: Path) -> None:
    learner = MixinLearner(model_path=tmp_path / "m.json")
    recs = learner.recommend_mixins(
        "EFFECT", ["caching", "logging", "metrics"], existing_mixins=["MixinHealthCheck"], max_recommendations=5
    )
    assert sorted(name for name, _, _ in recs) == ["MixinCaching", "MixinLogging", "MixinMetrics"]
    capability = {"MixinCaching": "caching", "MixinLogging": "logging", "MixinMetrics": "metrics"}
    for name, confidence, explanation in recs:
        others = [m for m in ["MixinHealthCheck", *capability] if m != name]
        expected = min(learner.predict_compatibility(name, m, "EFFECT").confidence for m in others)
        assert confidence == pytest.approx(expected) and confidence >= 0.7
        assert explanation.startswith(
            f"{name} provides '{capability[name]}' on EFFECT; predicted compatible with "
        )
        assert "MixinHealthCheck (" in explanation
    assert [c for _, c, _ in recs] == sorted((c for _, c, _ in recs), reverse=True)
    worded = learner.recommend_mixins("EFFECT", ["Health-Check", "retries", "Caches", "circuit breaker"])
    # a breaker under the retry is predicted incompatible (the trials' conflict): it is left out
    assert sorted(name for name, _, _ in worded) == ["MixinCaching", "MixinHealthCheck", "MixinRetry"]
    assert normalize_capability("Health-Check") == normalize_capability("health check") == "health_check"
    assert normalize_capability("retries") == "retry"
    assert learner.recommend_mixins("COMPUTE", ["retries"]) == []  # retry wraps outside calls: not for COMPUTE
    assert learner.recommend_mixins("EFFECT", ["caching"], existing_mixins=["MixinCaching"]) == []
    assert len(learner.recommend_mixins("EFFECT", ["caching", "logging", "metrics"], max_recommendations=1)) == 1


def test_a_recommendation_is_never_predicted_incompatible_with_the_set(tmp_path: Path) -> None:
    learner = MixinLearner(model_path=tmp_path / "m.json")
    capabilities = sorted({c for info in catalogue_infos().values() for c in info.capabilities[:1]})
    refused = 0
    for node_type in ("EFFECT", "ORCHESTRATOR"):
        for existing in sorted(catalogue_infos()):
            if node_type not in catalogue_infos()[existing].node_types:
                continue
            recs = learner.recommend_mixins(node_type, capabilities, existing_mixins=[existing])
            names = [existing, *(name for name, _, _ in recs)]
            assert existing not in [name for name, _, _ in recs]
            assert learner.check_set(node_type, names) == []
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    assert learner.predict_compatibility(a, b, node_type).confidence >= 0.7
            refused += len(capabilities) - len(recs)
    # the conflicts are real: with a connection pool, the cache is held back on EFFECT
    with_pool = learner.recommend_mixins("EFFECT", ["caching", "logging"], existing_mixins=["MixinConnection"])
    assert [name for name, _, _ in with_pool] == ["MixinLogging"]
    with_retry = learner.recommend_mixins("EFFECT", ["timeout", "logging"], existing_mixins=["MixinRetry"])
    assert [name for name, _, _ in with_retry] == ["MixinLogging"]
    assert refused > 0


# -- training, saving, loading --
async def test_training_needs_min_samples_and_sane_arguments(
    tmp_path: Path, persistence: CodegenPersistence
) -> None:
    learner = MixinLearner(model_path=tmp_path / "m.json", persistence=persistence)
    with pytest.raises(
        InsufficientSamplesError, match=f"need at least 10000 training samples, have {TRIALS}"
    ) as err:
        await learner.train_model(min_samples=10_000)
    assert isinstance(err.value, ValueError) and err.value.details == {"samples": TRIALS, "min_samples": 10_000}
    with pytest.raises(OnexError, match="test_size must be between 0 and 1"):
        await learner.train_model(test_size=1.5)
    with pytest.raises(OnexError, match="cross_val_folds must be at least 2"):
        await learner.train_model(cross_val_folds=1)
    assert not (tmp_path / "m.json").exists() and learner.source == SHIPPED_MODEL


async def test_training_saves_the_model_and_a_new_learner_loads_it(data_dir: Path) -> None:
    async with MixinLearner() as learner:
        await learner.persistence.record_mixin_compatibility("MixinCaching", "MixinLogging", "EFFECT", True)
        metrics = await learner.train_model()
    path = default_model_path()
    assert path == data_dir / "mixin_model.json" and learner.source == path
    assert metrics.training_samples + metrics.test_samples == TRIALS + 1
    assert path.read_bytes()[:1] == b"{"  # JSON, never a pickle
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    again = MixinLearner()
    assert again.is_trained() and again.source == path and again.get_metrics() == metrics
    assert again.predict_compatibility("MixinCaching", "MixinLogging", "EFFECT").learned_from_samples == 2


async def test_a_custom_model_path_is_where_the_model_goes(
    tmp_path: Path, persistence: CodegenPersistence
) -> None:
    custom = tmp_path / "custom" / "path" / "mixin_model.json"
    learner = MixinLearner(model_path=custom, min_confidence_threshold=0.75, persistence=persistence)
    assert learner.source == SHIPPED_MODEL  # nothing there yet
    await learner.train_model(min_samples=100)
    assert custom.is_file() and learner.source == custom
    assert not default_model_path().exists()
    assert MixinLearner(model_path=str(custom)).source == custom


def test_without_a_model_auto_train_trains_on_the_shipped_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(learner_module, "SHIPPED_MODEL", tmp_path / "not-shipped.json")
    bare = MixinLearner(model_path=tmp_path / "m.json")
    assert not bare.is_trained() and bare.source is None
    with pytest.raises(OnexError, match="not trained: await train_model") as err:
        bare.predict_compatibility("MixinCaching", "MixinLogging", "EFFECT")
    assert err.value.code is ErrorCode.NOT_FOUND
    trained = MixinLearner(model_path=tmp_path / "m.json", auto_train=True)
    assert trained.is_trained() and trained.source == tmp_path / "m.json"
    shipped = read_model(SHIPPED_MODEL).metrics
    assert trained.get_metrics() == dataclasses.replace(shipped, trained_at=trained.get_metrics().trained_at)


def test_a_model_file_cannot_run_code_and_garbage_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelFileError, match="it is a pickle; pickles are never loaded"):
        MixinLearner(model_path=path)
    assert not marker.exists()
    for garbage, reason in [
        (b"not a model", "not JSON"),
        (b'{"format": 1}', "format|missing|must"),
        (b"[1, 2, 3]", "the top level must be an object"),
    ]:
        path.write_bytes(garbage)
        with pytest.raises(ModelFileError, match=reason):
            MixinLearner(model_path=path)
    raw = orjson.loads(SHIPPED_MODEL.read_bytes())
    raw["trees"][0]["left"][0] = 10**6  # a child that does not exist
    path.write_bytes(orjson.dumps(raw))
    with pytest.raises(ModelFileError):
        MixinLearner(model_path=path)


def test_a_model_of_another_catalogue_is_not_used(tmp_path: Path, log_capture: LogCapture) -> None:
    raw = orjson.loads(SHIPPED_MODEL.read_bytes())
    raw["catalogue_digest"] = "0" * 64
    path = tmp_path / "old.json"
    path.write_bytes(orjson.dumps(raw))
    learner = MixinLearner(model_path=path)
    assert learner.source == SHIPPED_MODEL
    [warning] = [r for r in log_capture.records() if r["message"].startswith("Mixin model trained on another")]
    assert warning["level"] == "WARNING" and warning["metadata"]["path"] == str(path)


# -- feedback --
async def test_feedback_is_recorded_and_moves_the_pair_at_once(backend_dsn: str, tmp_path: Path) -> None:
    persistence = CodegenPersistence(backend_dsn)
    try:
        learner = MixinLearner(model_path=tmp_path / "m.json", persistence=persistence)
        p0 = learner.predict_compatibility("MixinCaching", "MixinLogging", "EFFECT").confidence
        after = await learner.update_from_feedback("MixinLogging", "MixinCaching", "EFFECT", success=False)
        assert after.confidence == pytest.approx(FEEDBACK_PRIOR_WEIGHT * p0 / (FEEDBACK_PRIOR_WEIGHT + 1))
        assert after.learned_from_samples == 2
        assert "0 success(es) and 1 failure(s) reported since the last training" in after.explanation
        for _ in range(5):
            after = await learner.update_from_feedback("MixinCaching", "MixinLogging", "EFFECT", success=False)
        assert not after.compatible  # six failures outweigh the model's prior
        row = await persistence.get_mixin_compatibility("MixinCaching", "MixinLogging", "EFFECT")
        assert row is not None and (row.success_count, row.failure_count) == (0, 6)
        assert (
            learner.predict_compatibility("MixinLogging", "MixinRetry", "ORCHESTRATOR").learned_from_samples == 1
        )
        with pytest.raises(UnknownMixinError):
            await learner.update_from_feedback("MixinCaching", "MixinTeleport", "EFFECT", success=True)
        assert len(await persistence.list_mixin_compatibility()) == 1
    finally:
        await persistence.close()
    assert not (tmp_path / "m.json").exists()  # below the retrain threshold nothing is retrained


async def test_feedback_retrains_after_the_threshold(tmp_path: Path, persistence: CodegenPersistence) -> None:
    learner = MixinLearner(model_path=tmp_path / "m.json", persistence=persistence)
    for success in (True, True, False):
        prediction = await learner.update_from_feedback(
            "MixinAudit", "MixinRetry", "EFFECT", success=success, retrain_threshold=3
        )
    assert learner.source == tmp_path / "m.json"
    m = learner.get_metrics()
    assert m.training_samples + m.test_samples == TRIALS + 3
    assert prediction.learned_from_samples == 4  # one trial and three reports, now in the model's table
    assert "reported since the last training" not in prediction.explanation
