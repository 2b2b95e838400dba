"""Every PRD in examples/prd/ yields the node types, entities and systems its expected file lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.lib.prd_analyzer import NodeType, PRDAnalysis, analyze_prd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"
EXPECTED = sorted(EXAMPLES.glob("*.expected.yaml"))


def _source_for(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.yaml")
    matches = [p for p in EXAMPLES.glob(f"{stem}.*") if not p.name.endswith(".expected.yaml")]
    assert len(matches) == 1, f"exactly one PRD for {expected.name}, found {matches}"
    return matches[0]


def _load(expected: Path) -> dict[str, Any]:
    data = yaml.safe_load(expected.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_there_are_enough_examples_of_different_shapes() -> None:
    assert len(EXPECTED) >= 8
    sources = [_source_for(e) for e in EXPECTED]
    assert any(p.suffix == ".txt" for p in sources)
    for source in sources:
        size = source.stat().st_size
        assert 1000 <= size <= 6 * 1024, f"{source.name} is {size} bytes"


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.yaml"))
def test_example_yields_what_its_expected_file_lists(expected: Path) -> None:
    want = _load(expected)
    analysis = analyze_prd(_source_for(expected))
    assert isinstance(analysis, PRDAnalysis)
    assert set(analysis.recommended_node_types) == {NodeType(n) for n in want["node_types"]}
    assert analysis.node_types_overridden is bool(want.get("overridden", False))
    for entity_name, fields in want.get("entities", {}).items():
        entity = analysis.entity(entity_name)
        assert entity is not None, (entity_name, [e.name for e in analysis.entities])
        for field_name, field_type in fields.items():
            field = entity.field(field_name)
            assert field is not None, (entity_name, field_name, [f.name for f in entity.fields])
            assert field.type.value == field_type, (entity_name, field_name)
    names = [s.name for s in analysis.external_systems]
    for system in want.get("external_systems", []):
        assert system in names
    assert len(analysis.functional_requirements) >= want.get("min_requirements", 1)
    assert len(analysis.user_stories) >= want.get("min_user_stories", 0)


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.yaml"))
def test_example_names_steps_and_states_are_the_prds(expected: Path) -> None:
    """The service name, workflow steps and lifecycle are exactly what the expected file records."""
    want = _load(expected)
    for key in ("service_name", "workflow_steps", "lifecycle"):
        assert key in want, f"{expected.name} must record {key} (an empty list or null when there is none)"
    analysis = analyze_prd(_source_for(expected))
    assert analysis.service_name == want["service_name"]
    assert [s.name for s in analysis.workflow_steps] == want["workflow_steps"]
    lifecycle = analysis.lifecycle
    if want["lifecycle"] is None:
        assert lifecycle is None, lifecycle
        return
    assert lifecycle is not None
    expected_lifecycle = want["lifecycle"]
    assert lifecycle.entity == expected_lifecycle["entity"]
    assert list(lifecycle.states) == expected_lifecycle["states"]
    assert lifecycle.initial == expected_lifecycle["initial"]
    assert list(lifecycle.terminal) == expected_lifecycle["terminal"]
    assert [[t.source, t.target] for t in lifecycle.transitions] == expected_lifecycle["transitions"]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.yaml"))
def test_example_orchestrator_steps_and_reducer_lifecycle_are_pinned(expected: Path) -> None:
    """What the ORCHESTRATOR and the REDUCER get is exactly what the expected file records."""
    want = _load(expected)
    analysis = analyze_prd(_source_for(expected))
    assert [s.name for s in analysis.orchestrator_steps] == want["orchestrator_steps"]
    machine = analysis.reducer_lifecycle
    expected_machine = want["reducer_lifecycle"]
    assert machine.origin == expected_machine["origin"]
    assert list(machine.states) == expected_machine["states"]
    assert machine.initial == expected_machine["initial"]
    assert list(machine.terminal) == expected_machine["terminal"]
    assert [[t.source, t.event, t.target] for t in machine.transitions] == expected_machine["transitions"]
    if analysis.workflow_steps:
        assert analysis.orchestrator_steps == analysis.workflow_steps
    if analysis.lifecycle is not None:
        assert machine.states == analysis.lifecycle.states and machine.origin == "prd"


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.yaml"))
def test_example_rules_are_pinned(expected: Path) -> None:
    """The rules each example states, in order, each codeable or a hook, are exactly the expected file's."""
    want = _load(expected)
    assert "rules" in want, f"{expected.name} must record its rules (an empty list when there are none)"
    analysis = analyze_prd(_source_for(expected))
    got = [["codeable" if r.codeable else "hook", r.describe()] for r in analysis.rules]
    assert got == want["rules"]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.yaml"))
def test_example_analysis_is_well_formed(expected: Path) -> None:
    analysis = analyze_prd(_source_for(expected))
    assert analysis.service_name.isidentifier() and analysis.service_name[0].isupper()
    assert analysis.domain.isidentifier() and analysis.domain == analysis.domain.lower()
    assert analysis.recommended_node_types
    assert [h.node_type for h in analysis.node_type_hints] == list(NodeType)
    for hint in analysis.node_type_hints:
        assert 0.0 <= hint.score <= 1.0
        assert hint.recommended is (hint.node_type in analysis.recommended_node_types)
    ids = [r.id for r in analysis.functional_requirements]
    assert len(ids) == len(set(ids))
    assert 0.0 <= analysis.confidence_score <= 1.0
    assert analysis.keywords and len(analysis.keywords) == len(set(analysis.keywords))
    assert analysis.decomposed_tasks
    for task in analysis.decomposed_tasks:
        assert task.node_type in analysis.recommended_node_types
    # code blocks are never requirements
    for req in analysis.functional_requirements:
        assert "CREATE TABLE" not in req.text and "interface " not in req.text


def test_library_loans_stories_and_acceptance_criteria() -> None:
    analysis = analyze_prd(EXAMPLES / "library_loans.md")
    assert [s.id for s in analysis.user_stories] == ["US-01", "US-02", "US-03", "US-04", "US-05"]
    first = analysis.user_stories[0]
    assert (first.role, first.goal, first.benefit) == (
        "member",
        "borrow an available book",
        "I can read it at home",
    )
    assert first.acceptance_criteria == (
        "A loan is created with a due date 21 days after the checkout date.",
        "A member with 5 active loans cannot borrow another book.",
        "A book that is already on loan cannot be borrowed.",
    )
    assert analysis.user_stories[2].role == "librarian"
    # acceptance criteria are not success criteria; out-of-scope text is not evidence
    assert analysis.success_criteria == (
        "100% of branches use the service within three months of launch.",
        "Overdue loans drop by 30% within six months.",
    )
    assert NodeType.ORCHESTRATOR not in analysis.recommended_node_types
    assert analysis.hint(NodeType.ORCHESTRATOR).score == 0.0


def test_invoice_ids_priorities_and_revision_table_ignored() -> None:
    analysis = analyze_prd(EXAMPLES / "invoice_calculation.md")
    reqs = analysis.functional_requirements
    assert [r.id for r in reqs] == [f"FR-00{i}" for i in range(1, 9)]
    assert [r.priority.value for r in reqs] == ["high"] * 5 + ["medium"] * 2 + ["low"]
    assert [r.priority_label for r in reqs][4:] == ["MUST", "SHOULD", "SHOULD", "MAY"]
    assert reqs[5].text.endswith("an issued invoice can no longer be edited.")
    assert [r.id for r in analysis.non_functional_requirements] == ["NFR-1", "NFR-2"]
    assert analysis.entity("Invoice") is not None
    assert analysis.entity("Version") is None
    invoice = analysis.entity("Invoice")
    assert invoice is not None
    number = invoice.field("invoice_number")
    assert number is not None and number.required is False
    assert analysis.service_name == "InvoiceCalculation"
    assert analysis.title == "Invoice Calculation Service"
