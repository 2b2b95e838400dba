"""The learner inside `agents generate`: capabilities from the PRD, learned mixins applied, incompatible sets
refused (or kept with `--force`), verification outcomes fed back; and `agents mixins ...` as a user runs it."""

from __future__ import annotations

import asyncio
from itertools import combinations
from pathlib import Path

import orjson
import pytest

from agents.lib._mixins.trials import TrialOutcome, load_shipped_trials
from agents.lib._mixins.workflow import LearnedMixinRecommender, MixinGuard
from agents.lib.codegen.builder import build_node_spec
from agents.lib.codegen.capabilities import BASELINE_CAPABILITIES, capabilities_in, required_capabilities
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, mixin_info
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.mixin_learner import MixinLearner
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import analyze_prd
from tests.workflow.conftest import EXAMPLES
from tests.workflow.test_cli import agents

LOANS = EXAMPLES / "library_loans.md"


def _conflict(node_type: str = "EFFECT") -> TrialOutcome:
    """A pair the shipped trials found incompatible on ``node_type`` and the shipped model predicts so."""
    learner = MixinLearner()
    for trial in load_shipped_trials():
        predicted = learner.predict_compatibility(trial.mixin_a, trial.mixin_b, trial.node_type)
        if trial.node_type == node_type and not trial.success and not predicted.compatible:
            return trial
    raise AssertionError(f"the shipped trials hold no conflict on {node_type} that the model predicts")


def _compatible(node_type: str = "EFFECT") -> TrialOutcome:
    learner = MixinLearner()
    for trial in load_shipped_trials():
        predicted = learner.predict_compatibility(trial.mixin_a, trial.mixin_b, trial.node_type)
        if trial.node_type == node_type and trial.success and predicted.compatible:
            return trial
    raise AssertionError(f"the shipped trials hold no compatible pair on {node_type}")


def test_capabilities_are_read_from_the_prd_words_in_any_inflection() -> None:
    texts = [
        "Exchange rates are cached for five minutes.",
        "A failed call to the bank is retried three times.",
        "Every endpoint exposes a health check and metrics.",
    ]
    assert capabilities_in(texts, "EFFECT") == tuple(
        c for c in (mixin_info(n).capabilities[0] for n in MIXIN_CATALOGUE) if c in capabilities_in(texts)
    )
    found = set(capabilities_in(texts, "EFFECT"))
    assert {"caching", "retry", "health_check", "metrics"} <= found
    assert "timeout" not in found and "logging" not in found
    assert capabilities_in(["Nothing about the runtime here."]) == ()
    # whole words only: "recache" is not "cache", and a capability needs a mixin that suits the node type
    assert "caching" not in capabilities_in(["We recached nothing"], "EFFECT")
    for name in MIXIN_CATALOGUE:
        info = mixin_info(name)
        for other in {"EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"} - set(info.node_types):
            suited = [n for n in MIXIN_CATALOGUE if info.capabilities[0] in mixin_info(n).capabilities]
            if all(other not in mixin_info(n).node_types for n in suited):
                assert info.capabilities[0] not in capabilities_in([info.capabilities[0]], other)


def test_each_catalogue_capability_and_synonym_is_found_in_a_sentence() -> None:
    for name in MIXIN_CATALOGUE:
        info = mixin_info(name)
        for phrase in info.capabilities:
            words = phrase.replace("_", " ")
            assert info.capabilities[0] in capabilities_in([f"The service needs {words} here."]), (name, phrase)


def test_a_node_asks_its_baseline_then_what_the_prd_names(tmp_path: Path) -> None:
    prd = tmp_path / "rates.md"
    prd.write_text(
        "# Currency Rates\n\nA service that stores currency rates.\n\n## Functional Requirements\n\n"
        "- FR-1: Store a rate with its currency code and value.\n"
        "- FR-2: Rates read by clients are cached for 60 seconds.\n",
        encoding="utf-8",
    )
    analysis = analyze_prd(prd)
    effect = required_capabilities(analysis, "EFFECT")
    assert effect[: len(BASELINE_CAPABILITIES["EFFECT"])] == BASELINE_CAPABILITIES["EFFECT"]
    assert "caching" in effect[len(BASELINE_CAPABILITIES["EFFECT"]) :]
    learner = MixinLearner()
    recommender = LearnedMixinRecommender(learner)
    spec = build_node_spec(analysis, "EFFECT", mixin_recommender=recommender)
    recommended = [m for m, _, _ in recommender.recommended["EFFECT"]]
    assert set(recommended) <= set(spec.mixins)
    assert learner.check_set("EFFECT", list(spec.mixins)) == []
    covered = {c for m in spec.mixins for c in mixin_info(m).capabilities}
    assert "caching" in covered or any(
        not learner.predict_compatibility("MixinCaching", m, "EFFECT").compatible for m in spec.mixins
    )


def test_the_guard_drops_a_recommendation_for_a_mixin_asked_for_and_refuses_two_asked_for(tmp_path: Path) -> None:
    conflict = _conflict()
    analysis = analyze_prd(LOANS)
    learner = MixinLearner()

    # Both asked for: refused, with both names and the reason.
    recommender = LearnedMixinRecommender(learner, {"EFFECT": [conflict.mixin_a, conflict.mixin_b]})
    guard = MixinGuard(learner, recommender=recommender)
    spec = build_node_spec(analysis, "EFFECT", mixin_recommender=recommender)
    with pytest.raises(OnexError) as refused:
        guard.refine(analysis, spec)
    assert refused.value.code is ErrorCode.VALIDATION_ERROR
    assert f"{conflict.mixin_a} + {conflict.mixin_b} on EFFECT" in refused.value.message

    # With force: kept, and the warning says why.
    forced = MixinGuard(learner, recommender=recommender, force=True)
    kept = forced.refine(analysis, spec)
    assert {conflict.mixin_a, conflict.mixin_b} <= set(kept.mixins)
    assert len(forced.warnings) >= 1 and conflict.mixin_b in forced.warnings[0]

    # One asked for, the other only recommended: the recommendation gives way.
    recommender2 = LearnedMixinRecommender(learner, {"EFFECT": [conflict.mixin_a]})
    base = build_node_spec(analysis, "EFFECT", mixin_recommender=recommender2)
    assert learner.check_set("EFFECT", list(base.mixins)) == []
    recommender2.recommended["EFFECT"].append((conflict.mixin_b, 0.9, "recommended"))
    guard2 = MixinGuard(learner, recommender=recommender2)
    with_both = base.model_copy(update={"mixins": (*base.mixins, conflict.mixin_b)})
    refined = guard2.refine(analysis, with_both)
    assert conflict.mixin_a in refined.mixins and conflict.mixin_b not in refined.mixins
    assert any(n.startswith(f"dropped the recommended {conflict.mixin_b}: ") for n in guard2.notes)


def test_generate_refuses_a_set_predicted_incompatible_and_keeps_it_with_force(tmp_path: Path) -> None:
    conflict = _conflict()
    asked = ["--mixin", f"EFFECT:{conflict.mixin_a}", "--mixin", f"EFFECT:{conflict.mixin_b}"]
    out = tmp_path / "svc"
    refused = agents("generate", str(LOANS), "--out", str(out), "--no-verify", "--no-metrics", *asked)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "predicted incompatible" in refused.stderr
    assert f"{conflict.mixin_a} + {conflict.mixin_b} on EFFECT" in refused.stderr.replace("\n", " ")
    assert not out.exists() or not any(out.iterdir())

    kept = agents("generate", str(LOANS), "--out", str(out), "--no-verify", "--no-metrics", "--force", *asked)
    assert kept.returncode == 0, kept.stderr
    assert "warning: kept with --force:" in kept.stdout
    effect = next(p for p in out.iterdir() if p.name.endswith("_effect"))
    node = (effect / "node.py").read_text(encoding="utf-8")
    assert conflict.mixin_a in node and conflict.mixin_b in node

    bad = agents("generate", str(LOANS), "--out", str(tmp_path / "x"), "--mixin", "EFFECT:MixinNope")
    assert bad.returncode == 2 and "unknown mixin 'MixinNope'" in bad.stderr


def test_generate_applies_learned_mixins_and_verification_feeds_the_learner(
    tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "loans"
    run = agents("generate", str(LOANS), "--out", str(out), "--json")
    assert run.returncode == 0, run.stderr
    summary = orjson.loads(run.stdout)["mixins"]
    effect = summary["nodes"]["EFFECT"]
    assert {m["mixin"] for m in summary["recommended"]["EFFECT"]} <= set(effect)
    assert summary["warnings"] == []
    pairs = {tuple(sorted(p)) for t, ms in summary["nodes"].items() for p in combinations(ms, 2)}
    assert summary["feedback_recorded"] == sum(len(list(combinations(ms, 2))) for ms in summary["nodes"].values())

    async def recorded() -> list[tuple[str, str, str, int, int]]:
        async with CodegenPersistence(f"sqlite:///{data_dir / 'agents.db'}") as persistence:
            rows = await persistence.list_mixin_compatibility()
        return [(r.mixin_a, r.mixin_b, r.node_type, r.success_count, r.failure_count) for r in rows]

    rows = asyncio.run(recorded())
    assert {(a, b) for a, b, _, _, _ in rows} == pairs
    assert all((s, f) == (1, 0) for *_, s, f in rows)  # every node verified
    assert {(a, b) for a, b, t, _, _ in rows if t == "EFFECT"} == {
        tuple(sorted(p)) for p in combinations(effect, 2)
    }


def test_mixins_cli_list_recommend_check_train_and_trial(tmp_path: Path) -> None:
    listed = agents("mixins", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [m["name"] for m in orjson.loads(listed.stdout)]
    assert names == list(MIXIN_CATALOGUE) and len(names) >= 15
    effect_only = agents("mixins", "list", "--node-type", "compute", "--json")
    assert {m["name"] for m in orjson.loads(effect_only.stdout)} == {
        n for n in MIXIN_CATALOGUE if "COMPUTE" in mixin_info(n).node_types
    }

    rec = agents(
        "mixins", "recommend", "EFFECT", "caching", "health-check", "--existing", "MixinMetrics", "--json"
    )
    assert rec.returncode == 0, rec.stderr
    got = [r["mixin"] for r in orjson.loads(rec.stdout)]
    assert got == [
        m for m, _, _ in MixinLearner().recommend_mixins("EFFECT", ["caching", "health-check"], ["MixinMetrics"])
    ]
    assert "MixinHealthCheck" in got and "MixinMetrics" not in got

    conflict, fine = _conflict(), _compatible()
    bad = agents("mixins", "check", "EFFECT", conflict.mixin_a, conflict.mixin_b, "--json")
    assert bad.returncode == 1
    assert orjson.loads(bad.stdout)[0]["compatible"] is False
    good = agents("mixins", "check", "effect", fine.mixin_b, fine.mixin_a)
    assert good.returncode == 0, good.stdout
    assert f"{fine.mixin_b} + {fine.mixin_a}" in good.stdout
    unknown = agents("mixins", "check", "EFFECT", "MixinCaching", "MixinNope")
    assert unknown.returncode == 2 and "unknown mixin 'MixinNope'" in unknown.stderr

    model = tmp_path / "model.json"
    trained = agents("mixins", "train", "--model-path", str(model), "--json")
    assert trained.returncode == 0, trained.stderr
    metrics = orjson.loads(trained.stdout)
    assert metrics["accuracy"] >= 0.95 and metrics["model_path"] == str(model)
    assert model.exists() and MixinLearner(model_path=model).is_trained()
    too_few = agents("mixins", "train", "--model-path", str(tmp_path / "m2.json"), "--min-samples", "1000000")
    assert too_few.returncode == 2 and "1000000" in too_few.stderr

    trial = agents(
        "mixins",
        "trial",
        "-t",
        "EFFECT",
        "--pair",
        f"{conflict.mixin_b},{conflict.mixin_a}",
        "--no-record",
        "--json",
        timeout=300,
    )
    assert trial.returncode == 0, trial.stderr
    (outcome,) = orjson.loads(trial.stdout)
    assert (outcome["mixin_a"], outcome["mixin_b"], outcome["success"]) == (
        conflict.mixin_a,
        conflict.mixin_b,
        False,
    )
    assert outcome["conflict_reason"] == conflict.conflict_reason
