"""Node-type evidence: whole words with simple stemming, a documented threshold, several types."""

from __future__ import annotations

import pytest

from agents.lib.prd_analyzer import RECOMMEND_THRESHOLD, NodeType, analyze_prd


def _prd(*requirements: str) -> str:
    return "# Sample Service\n\n## Requirements\n\n" + "".join(f"- {r}\n" for r in requirements)


def test_summer_consumer_gives_no_reducer_evidence() -> None:
    a = analyze_prd(_prd("Users can create a summer camp booking for a consumer."))
    assert a.hint(NodeType.REDUCER).score == 0.0
    assert a.hint(NodeType.REDUCER).evidence == ()


@pytest.mark.parametrize(
    "word",
    ["summer", "consume", "consumer", "assumption", "summit", "reductive", "aggregately"],
)
def test_substrings_do_not_match(word: str) -> None:
    a = analyze_prd(_prd(f"Users can create a {word} record."))
    assert a.hint(NodeType.REDUCER).evidence == ()
    assert a.hint(NodeType.REDUCER).score == 0.0


@pytest.mark.parametrize(
    ("sentence", "term"),
    [
        ("The service aggregates page views.", "aggregate"),
        ("Aggregation runs hourly.", "aggregate"),
        ("Events are aggregated per tenant.", "aggregate"),
        ("It summarizes usage per month.", "summarize"),
        ("Monthly summaries are produced.", "summarize"),
        ("A summary per member is kept.", "summarize"),
        ("Orders are stored.", "store"),
        ("Storage is durable.", "store"),
        ("It stores the result.", "store"),
    ],
)
def test_stemmed_forms_match(sentence: str, term: str) -> None:
    a = analyze_prd(_prd(sentence, "Users can create a record."))
    evidence = {t for h in a.node_type_hints for t in h.evidence}
    assert term in evidence


def test_reducer_job_gets_reducer() -> None:
    a = analyze_prd(
        _prd(
            "The service aggregates order events into counters per product.",
            "It keeps running totals and statistics per day.",
        )
    )
    assert a.recommended_node_types[0] is NodeType.REDUCER
    assert set(a.hint(NodeType.REDUCER).evidence) >= {"aggregate", "counter", "running totals"}


def test_state_machine_gets_reducer() -> None:
    a = analyze_prd(_prd("A ticket follows a state machine; illegal status transitions are refused."))
    assert NodeType.REDUCER in a.recommended_node_types


def test_workflow_with_fallbacks_gets_orchestrator() -> None:
    a = analyze_prd(
        _prd(
            "The service coordinates a multi-step onboarding workflow.",
            "If the credit check step fails, it falls back to manual review.",
        )
    )
    assert NodeType.ORCHESTRATOR in a.recommended_node_types


def test_several_node_types_are_all_recommended_and_ranked() -> None:
    a = analyze_prd(
        _prd(
            "Store payments in PostgreSQL.",
            "Calculate fees and validate amounts.",
            "Aggregate payments into daily balances and running totals.",
            "Coordinate the multi-step settlement workflow with retries.",
        )
    )
    assert set(a.recommended_node_types) == set(NodeType)
    scores = [a.hint(n).score for n in a.recommended_node_types]
    assert scores == sorted(scores, reverse=True)


def test_threshold_needs_more_than_one_passing_mention() -> None:
    # one ordinary term is below the threshold; the store term still gives EFFECT
    a = analyze_prd(_prd("Users can create a profile; profiles are stored.", "Validate emails."))
    assert NodeType.COMPUTE not in a.recommended_node_types
    assert a.hint(NodeType.COMPUTE).score > 0
    assert a.hint(NodeType.COMPUTE).score < RECOMMEND_THRESHOLD / (RECOMMEND_THRESHOLD + 4)
    assert a.recommended_node_types == (NodeType.EFFECT,)


def test_service_that_stores_data_gets_effect() -> None:
    a = analyze_prd(
        _prd(
            "Aggregate sensor readings into hourly statistics.",
            "Fold readings into per-device counters.",
            "Readings are persisted.",
        )
    )
    assert NodeType.EFFECT in a.recommended_node_types
    assert NodeType.REDUCER in a.recommended_node_types


def test_named_external_system_gives_effect_with_kind_and_evidence() -> None:
    a = analyze_prd(
        _prd(
            "Publish events to Kafka and cache lookups in Redis.",
            "Send receipts via email and index them in Elasticsearch.",
            "Archive PDFs in object storage.",
            "Call the partner API over gRPC.",
        )
    )
    kinds = {s.name: s.kind.value for s in a.external_systems}
    assert kinds == {
        "Kafka": "message_broker",
        "Redis": "cache",
        "SMTP": "email",
        "Elasticsearch": "search",
        "S3": "object_storage",
        "HTTP API": "http_api",
        "gRPC": "rpc",
    }
    smtp = next(s for s in a.external_systems if s.name == "SMTP")
    assert smtp.evidence == ("via email",)
    assert NodeType.EFFECT in a.recommended_node_types


def test_at_least_one_node_type_without_evidence() -> None:
    a = analyze_prd("# Greeter\n\nA greeting has a name and a language.\n")
    assert a.recommended_node_types == (NodeType.EFFECT,)
    assert all(h.score == 0.0 for h in a.node_type_hints)


def test_section_names_are_not_evidence() -> None:
    text = (
        "# Notes Service\n\n## Executive Summary\n\nNotes for teams.\n\n"
        + _prd("Users can create notes.").split("\n", 1)[1]
    )
    a = analyze_prd(text)
    assert a.hint(NodeType.REDUCER).score == 0.0


def test_nfr_latency_percentiles_are_not_reducer_evidence() -> None:
    text = _prd("Users can create and update notes stored in PostgreSQL.") + (
        "\n## Non-Functional Requirements\n\n- p95 latency below 100 ms; average under 50 ms.\n"
    )
    a = analyze_prd(text)
    assert a.hint(NodeType.REDUCER).score == 0.0
