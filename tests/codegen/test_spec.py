"""Node specs refuse what cannot be rendered safely; names are always safe identifiers."""

from __future__ import annotations

import keyword
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from agents.lib.codegen.builder import build_node_spec, build_node_specs
from agents.lib.codegen.spec import EntitySpec, FieldSpec, FsmSpec, NodeSpec, StepSpec, TransitionSpec
from agents.lib.naming import (
    is_safe_identifier,
    pascal_case,
    snake_case,
    upper_snake_case,
    without_node_type_suffix,
)
from agents.lib.prd_analyzer import analyze_prd
from tests.codegen.conftest import COMMON, effect_spec, orchestrator_spec, reducer_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"


@pytest.mark.parametrize(
    ("text", "pascal", "snake"),
    [
        ("Library Loans Service", "LibraryLoansService", "library_loans_service"),
        ("123 ✨ class — Service!!", "Service123ClassService", "item_123_class_service"),
        ("class", "Class", "class_"),
        ("", "Service", "item"),
        ("HTTPServer status", "HttpServerStatus", "http_server_status"),
        ("match", "Match", "match_"),
        ("Ünïcödé naïve café", "UnicodeNaiveCafe", "unicode_naive_cafe"),
    ],
)
def test_names(text: str, pascal: str, snake: str) -> None:
    assert pascal_case(text) == pascal
    assert snake_case(text) == snake


def test_any_text_gives_a_safe_identifier() -> None:
    rng = random.Random(1234)
    alphabet = "aZ09 _-.\"'\\/\n\t✨ü€()[]{}#!" + "".join(keyword.kwlist)
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        for name in (pascal_case(text), snake_case(text), upper_snake_case(text)):
            assert is_safe_identifier(name), (text, name)


@pytest.mark.parametrize(
    ("text", "pascal", "snake"),
    [
        ("API key", "ApiKey", "api_key"),
        ("APIKey", "ApiKey", "api_key"),
        ("p95 duration ms", "P95DurationMs", "p95_duration_ms"),
        ("address_line1", "AddressLine1", "address_line1"),
        ("2fa code", "Service2FaCode", "item_2fa_code"),
        ("None", "NoneService", "none"),
        ("a b c", "AbC", "a_b_c"),
    ],
)
def test_one_rule_for_acronyms_digits_and_keywords(text: str, pascal: str, snake: str) -> None:
    assert pascal_case(text) == pascal
    assert snake_case(text) == snake
    assert upper_snake_case(text) == snake.upper()


def test_names_are_stable_under_a_second_pass() -> None:
    rng = random.Random(99)
    words = ["API", "sms", "v2", "2fa", "a", "B", "Id", "p95", "line1", "None", "class", "ÉTÉ", "x", "HTTPServer"]
    for _ in range(3000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
        for function in (pascal_case, snake_case, upper_snake_case):
            once = function(text)
            assert function(once) == once, (function.__name__, text, once)
        assert snake_case(pascal_case(text)) == snake_case(pascal_case(snake_case(pascal_case(text)))), text


def test_the_analysis_and_the_specs_use_the_same_names() -> None:
    text = """# SMS Gateway

## Requirements

- Messages are stored in PostgreSQL.

## Data model

| Entity | Fields |
|--------|--------|
| API key | key_id (uuid), p95_latency_ms (integer), sha256_digest |
"""
    analysis = analyze_prd(text)
    assert analysis.service_name == "SmsGateway"
    entity = analysis.entity("ApiKey")
    assert entity is not None
    assert [f.name for f in entity.fields] == ["key_id", "p95_latency_ms", "sha256_digest"]
    spec = build_node_spec(analysis, "EFFECT")
    assert spec.class_name == "NodeSmsGatewayEffect"
    assert [e.name for e in spec.entities] == ["ApiKey"]
    assert [f.name for f in spec.entities[0].fields] == ["key_id", "p95_latency_ms", "sha256_digest"]
    assert "create_api_key" in [o.name for o in spec.operations]


@pytest.mark.parametrize("bad", ["class", "1abc", "a-b", "ünï", "__init__", "", "match"])
def test_unsafe_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="not a safe identifier"):
        FieldSpec(name=bad)


def test_reserved_and_duplicate_fields() -> None:
    with pytest.raises(ValidationError, match="'id' is reserved"):
        EntitySpec(name="Book", fields=(FieldSpec(name="id"),))
    with pytest.raises(ValidationError, match=r"duplicate Book field names: \['title'\]"):
        EntitySpec(name="Book", fields=(FieldSpec(name="title"), FieldSpec(name="title")))


def test_mixins_must_exist_and_apply() -> None:
    with pytest.raises(ValidationError, match="unknown mixins"):
        effect_spec().model_copy(update={}).model_validate(
            {**effect_spec().model_dump(), "mixins": ["MixinMagic"]}
        )
    with pytest.raises(ValidationError, match="MixinCaching does not apply to REDUCER"):
        NodeSpec.model_validate({**reducer_spec().model_dump(), "mixins": ["MixinCaching"]})


def test_mixins_are_ordered_for_wrapping() -> None:
    spec = NodeSpec.model_validate(
        {**effect_spec().model_dump(), "mixins": ["MixinMetrics", "MixinTimeout", "MixinRetry", "MixinRetry"]}
    )
    assert spec.mixins == ("MixinRetry", "MixinTimeout", "MixinMetrics")


def test_type_specific_rules() -> None:
    with pytest.raises(ValidationError, match="a REDUCER needs a state machine"):
        NodeSpec(node_type="REDUCER", **COMMON)
    with pytest.raises(ValidationError, match="an ORCHESTRATOR needs steps"):
        NodeSpec(node_type="ORCHESTRATOR", **COMMON)
    with pytest.raises(ValidationError, match="an EFFECT needs at least one port"):
        NodeSpec.model_validate({**effect_spec().model_dump(), "ports": []})
    with pytest.raises(ValidationError, match="the steps form a cycle"):
        NodeSpec.model_validate(
            {
                **orchestrator_spec().model_dump(),
                "steps": [StepSpec(name="a", depends_on=("b",)), StepSpec(name="b", depends_on=("a",))],
            }
        )
    with pytest.raises(ValidationError, match=r"unknown steps \['zz'\]"):
        NodeSpec.model_validate(
            {**orchestrator_spec().model_dump(), "steps": [StepSpec(name="a", depends_on=("zz",))]}
        )


def test_fsm_rules() -> None:
    with pytest.raises(ValidationError, match=r"undeclared states: \['nowhere'\]"):
        FsmSpec(
            states=("a",), initial="a", transitions=(TransitionSpec(source="a", event="go", target="nowhere"),)
        )
    with pytest.raises(ValidationError, match="two transitions"):
        FsmSpec(
            states=("a", "b"),
            initial="a",
            transitions=(
                TransitionSpec(source="a", event="go", target="b"),
                TransitionSpec(source="a", event="go", target="a"),
            ),
        )


def test_derived_names() -> None:
    spec = effect_spec()
    assert spec.class_name == "NodeLibraryLoansEffect"
    assert spec.package_name == "node_library_loans_effect"  # the domain "library" is not repeated
    other = spec.model_copy(update={"domain": "lending"})
    assert other.package_name == "node_lending_library_loans_effect"
    assert spec.ports[0].key == "RECORD_STORE"


# -- names, steps and states come from the PRD --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pascal", "snake"),
    [
        ("seller's payout", "SellerPayout", "seller_payout"),
        ("Seller\u2019s Payout", "SellerPayout", "seller_payout"),
        ("don't retry", "DontRetry", "dont_retry"),
        ("sellers' payouts", "SellersPayouts", "sellers_payouts"),
        ("'quoted' name", "QuotedName", "quoted_name"),
    ],
)
def test_apostrophes_never_split_a_word(text: str, pascal: str, snake: str) -> None:
    assert pascal_case(text) == pascal
    assert snake_case(text) == snake


@pytest.mark.parametrize(
    ("name", "node_type", "stripped"),
    [
        ("OrderFulfilmentOrchestrator", None, "OrderFulfilment"),
        ("OrderFulfilmentOrchestrator", "ORCHESTRATOR", "OrderFulfilment"),
        ("OrderFulfilmentOrchestrator", "EFFECT", "OrderFulfilmentOrchestrator"),
        ("FulfilmentReducerService", None, "Fulfilment"),
        ("LedgerEffectNode", None, "Ledger"),
        ("UserService", None, "UserService"),
        ("Orchestrator", None, "Orchestrator"),
        ("NoneCompute", None, "NoneCompute"),
        ("EffectPedals", None, "EffectPedals"),
    ],
)
def test_without_node_type_suffix(name: str, node_type: str | None, stripped: str) -> None:
    assert without_node_type_suffix(name, node_type) == stripped


def test_a_service_name_ending_with_the_type_does_not_repeat_it() -> None:
    spec = NodeSpec.model_validate(
        {**orchestrator_spec().model_dump(), "service_name": "OrderFulfilmentOrchestrator"}
    )
    assert spec.class_name == "NodeOrderFulfilmentOrchestrator"
    assert spec.package_name == "node_library_order_fulfilment_orchestrator"
    effect = NodeSpec.model_validate({**effect_spec().model_dump(), "service_name": "OrderFulfilmentOrchestrator"})
    assert effect.class_name == "NodeOrderFulfilmentOrchestratorEffect"


def _spec(prd: str, node_type: str) -> NodeSpec:
    return build_node_spec(analyze_prd(EXAMPLES / prd), node_type)


def test_order_fulfilment_orchestrator_runs_the_prds_steps_in_order() -> None:
    spec = _spec("order_fulfilment.md", "ORCHESTRATOR")
    assert spec.class_name == "NodeOrderFulfilmentOrchestrator"
    assert spec.package_name == "node_order_fulfilment_orchestrator"
    assert [(s.name, s.depends_on) for s in spec.steps] == [
        ("validate_order", ()),
        ("reserve_stock", ("validate_order",)),
        ("charge_payment", ("reserve_stock",)),
        ("book_shipment", ("charge_payment",)),
        ("notify_customer", ("book_shipment",)),
    ]
    assert spec.steps[1].description == "Reserve stock in the inventory service."
    assert _spec("order_fulfilment.md", "EFFECT").class_name == "NodeOrderFulfilmentEffect"


def test_marketplace_nodes_use_the_prds_steps_and_states() -> None:
    steps = _spec("marketplace_payouts.md", "ORCHESTRATOR").steps
    assert [s.name for s in steps] == [
        "close_week",
        "compute_seller_balance",
        "create_payouts",
        "send_bank_transfer_file",
        "notify_seller",
    ]
    assert [s.depends_on for s in steps][1:] == [(s.name,) for s in steps[:-1]]
    fsm = _spec("marketplace_payouts.md", "REDUCER").fsm
    assert fsm is not None
    assert fsm.states == ("pending", "approved", "sent", "settled", "cancelled")
    assert (fsm.initial, fsm.terminal) == ("pending", ("settled", "cancelled"))
    assert [(t.source, t.event, t.target) for t in fsm.transitions] == [
        ("pending", "to_approved", "approved"),
        ("approved", "to_sent", "sent"),
        ("sent", "to_settled", "settled"),
        ("pending", "to_cancelled", "cancelled"),
        ("approved", "to_cancelled", "cancelled"),
    ]
    hooks = [h.name for h in _spec("marketplace_payouts.md", "COMPUTE").hooks]
    assert "calculate_seller_balance" in hooks and not any("seller_s" in h for h in hooks)


def test_expense_reducer_uses_the_claim_states() -> None:
    fsm = _spec("expense_approvals.md", "REDUCER").fsm
    assert fsm is not None
    assert fsm.states == ("draft", "submitted", "approved", "paid", "rejected")
    assert [(t.source, t.target) for t in fsm.transitions] == [
        ("draft", "submitted"),
        ("submitted", "approved"),
        ("approved", "paid"),
        ("submitted", "rejected"),
    ]


def test_without_steps_or_states_in_the_prd_the_old_rules_apply() -> None:
    analysis = analyze_prd(EXAMPLES / "library_loans.md")
    assert analysis.workflow_steps == () and analysis.lifecycle is None
    steps = build_node_spec(analysis, "ORCHESTRATOR").steps
    assert [s.name for s in steps] == [
        "model_member",
        "model_book",
        "model_loan",
        "port_and_in",
        "create_book",
        "update_loan",
        "notify_loan",
        "update_book",
    ]
    fsm = build_node_spec(analysis, "REDUCER").fsm
    assert fsm is not None and fsm.states == ("open", "active", "closed")


@pytest.mark.parametrize("prd", sorted(p.name for p in EXAMPLES.iterdir() if not p.name.endswith(".yaml")))
def test_the_builder_maps_the_analysis_decisions_and_decides_nothing(prd: str) -> None:
    analysis = analyze_prd(EXAMPLES / prd)
    reducer, orchestrator = build_node_specs(analysis, ["REDUCER", "ORCHESTRATOR"])
    machine = analysis.reducer_lifecycle
    assert reducer.fsm is not None
    assert (reducer.fsm.states, reducer.fsm.initial, reducer.fsm.terminal) == (
        machine.states,
        machine.initial,
        machine.terminal,
    )
    assert [(t.source, t.event, t.target) for t in reducer.fsm.transitions] == [
        (t.source, t.event, t.target) for t in machine.transitions
    ]
    steps = analysis.orchestrator_steps
    assert [(s.name, s.depends_on) for s in orchestrator.steps] == [
        (step.name, (steps[i - 1].name,) if i else ()) for i, step in enumerate(steps)
    ]
    assert [s.description for s in orchestrator.steps] == [step.text[:300] for step in steps]


def test_the_node_types_asked_for_do_not_change_the_orchestrators_steps() -> None:
    analysis = analyze_prd(
        "# Tally\n\n## Requirements\n\n- The service keeps running totals and counters of every event stream.\n"
    )
    assert [str(t) for t in analysis.recommended_node_types] == ["REDUCER"]
    for node_types in (None, ["ORCHESTRATOR"], ["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"]):
        spec = build_node_specs(analysis, node_types or ["ORCHESTRATOR"])[-1]
        assert [s.name for s in spec.steps] == ["execute", "report", "update_statistics"], node_types


def test_transition_table_events_name_the_fsm_events() -> None:
    text = """# Refunds

## Requirements

- Refunds are stored in PostgreSQL.

## Refund lifecycle

| From | To | Event |
|------|----|-------|
| requested | approved | approve |
| approved | paid | pay out |
| requested, approved | rejected | reject |
"""
    fsm = build_node_spec(analyze_prd(text), "REDUCER").fsm
    assert fsm is not None
    assert [(t.source, t.event, t.target) for t in fsm.transitions] == [
        ("requested", "approve", "approved"),
        ("approved", "pay_out", "paid"),
        ("requested", "reject", "rejected"),
        ("approved", "reject", "rejected"),
    ]
    # one event leading to two states cannot name them: every event becomes to_<target>
    clash = text.replace("| approved | paid | pay out |", "| approved | paid | approve |")
    fsm = build_node_spec(analyze_prd(clash), "REDUCER").fsm
    assert fsm is not None
    assert [t.event for t in fsm.transitions] == ["to_approved", "to_paid", "to_rejected", "to_rejected"]


def test_a_given_service_name_drops_a_trailing_type_word() -> None:
    specs = build_node_specs(analyze_prd(EXAMPLES / "order_fulfilment.md"), service_name="Shipping Orchestrator")
    assert [s.class_name for s in specs] == ["NodeShippingOrchestrator", "NodeShippingEffect"]
    assert specs[0].package_name == "node_order_shipping_orchestrator"
