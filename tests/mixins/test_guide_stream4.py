"""The guide's Stream 4 examples and Quick Start Example 3 run as written, and print what they should.

The code blocks are read from the guide itself (see ``tests._guide``) and run with top-level ``await`` in one
namespace, in the guide's order, as a reader would run them. Nothing is supplied. One thing is put back between
blocks: "Custom Model Path" rebinds ``learner`` to a learner on ``/custom/path/mixin_model.pkl`` (checked, and
never written: it only loads), and "Model Persistence" is about the default learner, so it gets the learner of
"Training the Model" back rather than training into ``/custom/path``.
"""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path
from typing import Any

from agents.lib.mixin_learner import MixinLearner, default_model_path
from agents.lib.persistence import CodegenPersistence
from tests._guide import code_blocks

STREAM_4 = [
    "Training the Model",
    "Predicting Compatibility",
    "Getting Mixin Recommendations",
    "Continuous Learning",
    "Custom Model Path",
    "Model Persistence",
    "Batch Predictions",
]


async def run_block(code: str, namespace: dict[str, Any], name: str) -> list[str]:
    """Run one block with top-level ``await``; return the lines it printed."""
    out = io.StringIO()
    compiled = compile(code, f"<guide: {name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    with contextlib.redirect_stdout(out):
        outcome = eval(compiled, namespace)
        if outcome is not None:
            await outcome
    return out.getvalue().splitlines()


def _pct(value: float) -> str:
    return f"{value:.1%}"


async def test_stream4_examples_run_as_written() -> None:
    blocks = code_blocks("Stream 4: Mixin Learning", "python")
    assert [heading for heading, _ in blocks] == STREAM_4
    code = dict(blocks)
    ns: dict[str, Any] = {"__name__": "guide_stream4"}
    learners: list[MixinLearner] = []
    try:
        lines = await run_block(code["Training the Model"], ns, "train")
        learner: MixinLearner = ns["learner"]
        learners.append(learner)
        m = ns["metrics"]
        assert learner.source == default_model_path() and default_model_path().is_file()
        assert lines == [
            "Model Performance:",
            f"  Accuracy: {_pct(m.accuracy)}",
            f"  Precision: {_pct(m.precision)}",
            f"  Recall: {_pct(m.recall)}",
            f"  F1 Score: {_pct(m.f1_score)}",
            f"  Training samples: {m.training_samples}",
            f"  Cross-validation: {_pct(sum(m.cross_val_scores) / len(m.cross_val_scores))}",
        ]
        assert m.accuracy >= 0.95 and m.f1_score >= 0.9 and m.training_samples > 100

        lines = await run_block(code["Predicting Compatibility"], ns, "predict")
        p = ns["prediction"]
        assert p.compatible and p.confidence >= 0.9
        assert lines == [
            "Mixins: MixinCaching + MixinLogging",
            "Compatible: True",
            f"Confidence: {_pct(p.confidence)}",
            f"Explanation: {p.explanation}",
            "Learned from 1 samples",
        ]
        assert p.explanation.startswith("Predicted compatible on EFFECT (P(compatible) = ")

        lines = await run_block(code["Getting Mixin Recommendations"], ns, "recommend")
        recs = ns["recommendations"]
        assert sorted(name for name, _, _ in recs) == ["MixinCaching", "MixinHealthCheck", "MixinLogging"]
        expected = ["Recommended mixins:"]
        for name, confidence, explanation in recs:
            assert confidence >= 0.7 and "MixinMetrics (" in explanation
            expected += ["", f"  {name}", f"    Confidence: {_pct(confidence)}", f"    {explanation}"]
        assert lines == expected

        assert await run_block(code["Continuous Learning"], ns, "feedback") == []
        async with CodegenPersistence() as persistence:
            row = await persistence.get_mixin_compatibility("MixinCaching", "MixinCircuitBreaker", "EFFECT")
        assert row is not None and (row.success_count, row.failure_count) == (1, 0)
        moved = learner.predict_compatibility("MixinCaching", "MixinCircuitBreaker", "EFFECT")
        assert moved.learned_from_samples == 2 and "1 success(es) and 0 failure(s) reported" in moved.explanation

        assert await run_block(code["Custom Model Path"], ns, "custom path") == []
        custom: MixinLearner = ns["learner"]
        learners.append(custom)
        assert custom.model_path == Path("/custom/path/mixin_model.pkl")
        assert custom.min_confidence_threshold == 0.75 and custom.is_trained()
        assert not Path("/custom/path").exists()  # a model there would be loaded; none is written by loading
        ns["learner"] = learner

        before = default_model_path().stat().st_mtime_ns
        assert await run_block(code["Model Persistence"], ns, "persistence") == []
        learner2: MixinLearner = ns["learner2"]
        learners.append(learner2)
        assert default_model_path().stat().st_mtime_ns > before
        assert learner2.source == default_model_path() and learner2.get_metrics() == ns["metrics"]
        assert (
            ns["metrics"].training_samples + ns["metrics"].test_samples == m.training_samples + m.test_samples + 1
        )

        lines = await run_block(code["Batch Predictions"], ns, "batch")
        expected = []
        for a, b in [
            ("MixinCaching", "MixinLogging"),
            ("MixinRetry", "MixinCircuitBreaker"),
            ("MixinTimeout", "MixinValidation"),
        ]:
            expected.append(f"{a} + {b}: {_pct(learner.predict_compatibility(a, b, 'EFFECT').confidence)}")
        assert lines == expected
        assert not learner.predict_compatibility("MixinRetry", "MixinCircuitBreaker", "EFFECT").compatible
    finally:
        for made in learners:
            await made.close()


async def test_quick_start_example_3_runs_as_written() -> None:
    blocks = [
        code for heading, code in code_blocks("Quick Start Examples", "python") if heading.startswith("Example 3")
    ]
    assert len(blocks) == 1
    ns: dict[str, Any] = {"__name__": "guide_example3"}
    lines = await run_block(blocks[0], ns, "example 3")
    learner: MixinLearner = ns["learner"]
    try:
        assert learner.is_trained() and "metrics" not in ns  # a fresh install is trained: nothing to wait for
        recs = ns["recommendations"]
        assert [name for name, _, _ in recs] and sorted(name for name, _, _ in recs) == [
            "MixinCaching",
            "MixinLogging",
            "MixinMetrics",
        ]
        expected = ["Recommended mixins:"]
        for name, confidence, explanation in recs:
            expected += [f"  {name}: {_pct(confidence)}", f"    {explanation}"]
        p = ns["prediction"]
        assert p.compatible
        expected += [
            "",
            "✅ MixinCaching + MixinRetry are compatible",
            f"   Confidence: {_pct(p.confidence)}",
            f"   {p.explanation}",
        ]
        assert lines == expected
    finally:
        await learner.close()
