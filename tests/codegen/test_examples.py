"""Every example PRD yields a service that passes every verification check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.lib.codegen.builder import build_node_specs
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.spec import NodeSpec
from agents.lib.codegen.verify import VerificationReport, verify_generated
from agents.lib.prd_analyzer import analyze_prd
from tests.codegen.test_corpus_services import rule_figures

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"
PRDS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".md", ".txt"))


def test_there_are_enough_examples() -> None:
    assert len(PRDS) >= 6


def _generate_and_verify(specs: Sequence[NodeSpec], out: Path) -> VerificationReport:
    """Generate every spec into ``out`` and verify the service; the report must say it passed."""
    generator = CodeGenerator()
    for spec in specs:
        generator.generate_node(spec, out)
    generator.close()
    report = verify_generated(out)
    assert report.passed, report.summary()
    return report


@pytest.mark.parametrize("prd", PRDS, ids=lambda p: p.stem)
def test_example_generates_a_verified_service(prd: Path, tmp_path: Path) -> None:
    analysis = analyze_prd(prd)
    specs = build_node_specs(analysis)
    assert [s.node_type for s in specs] == [str(t) for t in analysis.recommended_node_types]
    report = _generate_and_verify(specs, tmp_path)
    assert sorted(report.packages) == sorted([*(s.package_name for s in specs), specs[0].app_package])
    figures = rule_figures(analysis, specs, tmp_path)  # every rule implemented or a hook, the code tested
    print(f"{prd.stem}: {figures}")
    assert figures["implemented"] + figures["hooks"] == figures["rules"]
    if figures["implemented"]:
        assert figures["tested"] >= 1


AWKWARD = """---
title: Don't Panic Refund Orchestrator
node_types: [REDUCER, ORCHESTRATOR]
---

# Don't Panic Refund Orchestrator

## Requirements

- Refunds are stored in PostgreSQL and every refund's total is folded from its events.

## Workflow

1. Import the customer's file (CSV, "quoted"; import os) -> now.
2. Match {{ jinja }} {% x %}
3. Import the customer's file -- now!
4. Don't pay twice
5. Class.

## Refund lifecycle

| From | To | Event |
|------|----|-------|
| requested | in progress | start |
| in progress | paid | pay out |
| requested, in progress | rejected | reject |
"""


def test_a_prd_with_awkward_steps_and_states_gives_a_verified_service(tmp_path: Path) -> None:
    analysis = analyze_prd(AWKWARD)
    specs = build_node_specs(analysis)
    reducer, orchestrator = specs
    assert reducer.class_name == "NodeDontPanicRefundReducer"
    assert orchestrator.class_name == "NodeDontPanicRefundOrchestrator"
    assert [s.name for s in orchestrator.steps] == [
        "import_customer_file_now",
        "match_jinja_x",
        "import_customer_file_now_2",
        "dont_pay_twice",
        "class_",
    ]
    assert reducer.fsm is not None
    assert reducer.fsm.states == ("requested", "in_progress", "paid", "rejected")
    assert [t.event for t in reducer.fsm.transitions] == ["start", "pay_out", "reject", "reject"]
    report = _generate_and_verify(specs, tmp_path)
    assert report.tests_passed >= 10
