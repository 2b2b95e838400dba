"""Detected patterns change what is generated, at the thresholds feedback gives, and verification feeds back."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from agents.lib._patterns.hook import PatternFeedbackHook
from agents.lib._patterns.plan import PatternPlanner
from agents.lib.codegen.builder import build_node_specs
from agents.lib.codegen.hooks import WorkflowRun
from agents.lib.codegen.verify import CheckResult, VerificationReport
from agents.lib.codegen_workflow import WorkflowResult, generate_microservice
from agents.lib.parallel_generator import GenerationResult
from agents.lib.pattern_feedback import PatternFeedback, PatternFeedbackCollector
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd
from tests.patterns.corpus import CORPUS, EXAMPLES

BY_ID = {item.id: item for item in CORPUS}


def _analysis(item_id: str) -> PRDAnalysis:
    return analyze_prd(BY_ID[item_id].text)


def test_caching_and_event_publishing_add_their_mixins_to_the_effect() -> None:
    analysis = analyze_prd(EXAMPLES / "feature_flags.md")
    plain = {s.node_type: s for s in build_node_specs(analysis)}
    planner = PatternPlanner()
    planned = {s.node_type: s for s in build_node_specs(analysis, spec_planner=planner)}
    assert list(planned) == list(plain) == ["EFFECT", "REDUCER"]
    assert {"MixinCaching", "MixinEventBus"} & set(plain["EFFECT"].mixins) == set()
    assert set(planned["EFFECT"].mixins) - set(plain["EFFECT"].mixins) == {"MixinCaching", "MixinEventBus"}
    assert planned["REDUCER"] == plain["REDUCER"]  # no applied pattern maps to it
    assert planner.realised(analysis) == {
        "crud": ["EFFECT"],
        "caching": ["EFFECT"],
        "event_publishing": ["EFFECT"],
    }


def test_aggregation_adds_a_reducer_and_authentication_an_authorization_hook() -> None:
    wallet = _analysis("wallet-balances")
    assert [str(t) for t in wallet.recommended_node_types] == ["EFFECT"]
    specs = build_node_specs(wallet, spec_planner=PatternPlanner())
    assert [s.node_type for s in specs] == ["EFFECT", "REDUCER", "COMPUTE"]

    gateway = _analysis("api-gateway-auth")
    compute = {s.node_type: s for s in build_node_specs(gateway, spec_planner=PatternPlanner())}["COMPUTE"]
    [hook] = [h for h in compute.hooks if h.name == "authorize_request"]
    assert "authenticated" in hook.description
    assert "MixinValidation" in compute.mixins


def test_chosen_node_types_are_kept_and_thresholds_decide_what_applies() -> None:
    wallet = _analysis("wallet-balances")
    [effect] = build_node_specs(wallet, ["EFFECT"], spec_planner=PatternPlanner())
    assert "MixinEventBus" in effect.mixins  # the spec is still refined
    strict = PatternPlanner({"event_publishing": 0.99, "aggregation": 0.99, "validation": 0.99})
    assert [s.node_type for s in build_node_specs(wallet, spec_planner=strict)] == ["EFFECT"]
    assert "MixinEventBus" not in build_node_specs(wallet, spec_planner=strict)[0].mixins
    assert [(d.name, d.threshold, d.applied) for d in strict.detect(wallet)][:2] == [
        ("event_publishing", 0.99, False),
        ("aggregation", 0.99, False),
    ]


async def test_the_planner_takes_the_thresholds_recorded_feedback_gives(tmp_path: Path) -> None:
    analysis = analyze_prd(EXAMPLES / "feature_flags.md")
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'p.db'}") as persistence:
        before = await PatternPlanner.from_feedback(persistence)
        caching = next(d for d in before.detect(analysis) if d.name == "caching")
        assert (caching.confidence, caching.threshold, caching.applied) == (0.843, 0.55, True)
        wrong = PatternFeedback(None, "caching", 0.84, None, "incorrect", user_provided=True)
        right = PatternFeedback(None, "caching", 0.95, "caching", "correct")
        await PatternFeedbackCollector(persistence).record_feedback_batch([wrong] * 5 + [right] * 20)
        after = await PatternPlanner.from_feedback(persistence)
    assert after.thresholds["caching"] == 0.95
    assert after.decisions["caching"].samples == 25
    effect = build_node_specs(analysis, spec_planner=after)[0]
    assert "MixinCaching" not in effect.mixins
    assert "caching" not in after.realised(analysis)


def _result(analysis: PRDAnalysis, passed: dict[str, bool]) -> WorkflowResult:
    def verification(ok: bool) -> VerificationReport:
        check = CheckResult(name="mypy", passed=ok, message="ok" if ok else "1 error")
        return VerificationReport(path=Path("."), packages=(), checks=(check,), tests_passed=3)

    results = tuple(
        GenerationResult(
            job_id=uuid4(),
            success=ok,
            node_type=node_type,
            microservice_name=analysis.service_name,
            duration_ms=1.0,
            verification=verification(ok),
        )
        for node_type, ok in passed.items()
    )
    return WorkflowResult(
        correlation_id=uuid4(),
        session_id=uuid4(),
        prd_path=None,
        service_name=analysis.service_name,
        output_dir=Path("."),
        analysis=analysis,
        results=results,
        workers=1,
        wall_ms=1.0,
        speedup=1.0,
        verified=True,
    )


def _run(result: WorkflowResult) -> WorkflowRun:
    return WorkflowRun(result.session_id, result.correlation_id, "prd.md", result.output_dir, result.analysis)


async def test_the_hook_records_one_automatic_row_per_applied_pattern(collector: PatternFeedbackCollector) -> None:
    wallet = _analysis("wallet-balances")
    planner = PatternPlanner()
    build_node_specs(wallet, spec_planner=planner)
    hook = PatternFeedbackHook(collector, planner)
    result = _result(wallet, {"EFFECT": True, "REDUCER": False, "COMPUTE": True})
    await hook.workflow_finished(_run(result), result)
    rows = {r.detected_pattern: r for r in await collector.persistence.list_pattern_feedback()}
    assert {name: r.feedback_type for name, r in rows.items()} == {
        "event_publishing": "correct",
        "aggregation": "incorrect",  # the REDUCER it maps to failed verification
        "validation": "correct",
    }
    aggregation = rows["aggregation"]
    assert (aggregation.user_provided, aggregation.weight, aggregation.actual_pattern) == (False, 1.0, None)
    assert aggregation.session_id == str(result.session_id)
    assert aggregation.context == {
        "source": "verification",
        "node_types": ["REDUCER"],
        "threshold": 0.5,
        "failed_checks": {"REDUCER": ["mypy"]},
    }
    assert rows["validation"].capabilities_matched[0] == "keyword 'reject'"


async def test_unverified_nodes_give_no_feedback(collector: PatternFeedbackCollector) -> None:
    wallet = _analysis("wallet-balances")
    planner = PatternPlanner()
    build_node_specs(wallet, spec_planner=planner)
    result = _result(wallet, {"EFFECT": True})
    unverified = [GenerationResult(uuid4(), True, t, "WalletBalances", 1.0) for t in ("REDUCER", "COMPUTE")]
    result = WorkflowResult(**{**result.__dict__, "results": (*result.results, *unverified)})
    await PatternFeedbackHook(collector, planner).workflow_finished(_run(result), result)
    rows = await collector.persistence.list_pattern_feedback()
    assert [(r.detected_pattern, r.feedback_type) for r in rows] == [("event_publishing", "correct")]


async def test_generate_microservice_applies_patterns_and_verification_feeds_back(tmp_path: Path) -> None:
    prd = tmp_path / "gateway.md"
    prd.write_text(BY_ID["api-gateway-auth"].text, encoding="utf-8")
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'run.db'}") as persistence:
        planner = await PatternPlanner.from_feedback(persistence)
        hook = PatternFeedbackHook(PatternFeedbackCollector(persistence), planner)
        result = await generate_microservice(
            prd, tmp_path / "svc", persistence=persistence, hooks=[hook], spec_planner=planner, workers=2
        )
        rows = await persistence.list_pattern_feedback()
    assert result.success, [r.error for r in result.results]
    assert [r.node_type for r in result.results] == ["EFFECT", "COMPUTE"]
    compute = (tmp_path / "svc" / "node_gateway_authentication_compute" / "node.py").read_text(encoding="utf-8")
    effect = (tmp_path / "svc" / "node_gateway_authentication_effect" / "node.py").read_text(encoding="utf-8")
    assert "def authorize_request(" in compute
    assert "MixinCaching" in effect
    assert sorted((r.detected_pattern, r.feedback_type, r.weight) for r in rows) == [
        ("authentication", "correct", 1.0),
        ("caching", "correct", 1.0),
        ("validation", "correct", 1.0),
    ]
    assert {r.session_id for r in rows} == {str(result.session_id)}
