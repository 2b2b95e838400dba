"""Node specs refuse what cannot be rendered safely; names are always safe identifiers."""

from __future__ import annotations

import keyword
import random

import pytest
from pydantic import ValidationError

from agents.lib.codegen.naming import is_safe_identifier, pascal_case, snake_case, upper_snake_case
from agents.lib.codegen.spec import EntitySpec, FieldSpec, FsmSpec, NodeSpec, StepSpec, TransitionSpec
from tests.codegen.conftest import COMMON, effect_spec, orchestrator_spec, reducer_spec


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
