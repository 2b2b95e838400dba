"""Specs and generated services shared by the codegen tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.spec import (
    EntitySpec,
    FieldSpec,
    FsmSpec,
    HookSpec,
    NodeSpec,
    OperationSpec,
    PortSpec,
    StepSpec,
    TransitionSpec,
)

COMMON = {"service_name": "LibraryLoans", "domain": "library"}
BOOK = EntitySpec(
    name="Book",
    fields=(
        FieldSpec(name="title"),
        FieldSpec(name="copies", type="int"),
        FieldSpec(name="price", type="decimal", required=False),
        FieldSpec(name="published", type="date"),
        FieldSpec(name="added_at", type="datetime", required=False),
        FieldSpec(name="member_id", type="uuid", required=False),
        FieldSpec(name="tags", type="list", required=False),
        FieldSpec(name="extra", type="dict", required=False),
        FieldSpec(name="available", type="bool"),
        FieldSpec(name="rating", type="float", required=False),
    ),
)


def effect_spec(description: str = "Lends books.") -> NodeSpec:
    ops = tuple(
        OperationSpec(name=name, kind=kind, entity="Book")  # type: ignore[arg-type]
        for kind, name in (
            ("create", "create_book"),
            ("read", "get_book"),
            ("update", "update_book"),
            ("delete", "delete_book"),
            ("list", "list_books"),
            ("search", "search_books"),
        )
    )
    ports = (
        PortSpec(kind="record_store", system="PostgreSQL"),
        PortSpec(kind="event_publisher", system="Kafka"),
        PortSpec(kind="cache", system="Redis"),
        PortSpec(kind="search_index", system="Elasticsearch"),
        PortSpec(kind="notifier", system="SMTP"),
        PortSpec(kind="http_client", system="Payments API"),
        PortSpec(kind="blob_store", system="S3"),
    )
    return NodeSpec(
        node_type="EFFECT",
        entities=(BOOK,),
        operations=ops,
        ports=ports,
        mixins=("MixinRetry", "MixinCircuitBreaker", "MixinTimeout", "MixinMetrics", "MixinLogging"),
        description=description,
        **COMMON,
    )


def compute_spec() -> NodeSpec:
    return NodeSpec(
        node_type="COMPUTE",
        entities=(BOOK,),
        operations=(
            OperationSpec(name="validate_book", kind="validate", entity="Book"),
            OperationSpec(name="summarize_books", kind="aggregate", entity="Book"),
        ),
        hooks=(HookSpec(name="calculate_late_fee", description='Fees are 0.25 "per day"'),),
        mixins=("MixinValidation", "MixinMetrics"),
        **COMMON,
    )


def reducer_spec() -> NodeSpec:
    return NodeSpec(
        node_type="REDUCER",
        fsm=FsmSpec(
            states=("available", "borrowed", "returned", "lost"),
            initial="available",
            terminal=("lost",),
            transitions=(
                TransitionSpec(source="available", event="borrow", target="borrowed"),
                TransitionSpec(source="borrowed", event="give_back", target="returned"),
                TransitionSpec(source="returned", event="borrow", target="borrowed"),
                TransitionSpec(source="borrowed", event="lose", target="lost"),
            ),
        ),
        operations=(OperationSpec(name="reduce", kind="aggregate"), OperationSpec(name="fold", kind="aggregate")),
        mixins=("MixinMetrics",),
        **COMMON,
    )


def orchestrator_spec() -> NodeSpec:
    return NodeSpec(
        node_type="ORCHESTRATOR",
        steps=(
            StepSpec(name="reserve"),
            StepSpec(name="charge", depends_on=("reserve",)),
            StepSpec(name="notify", depends_on=("charge",)),
            StepSpec(name="audit", depends_on=("reserve",)),
        ),
        operations=(OperationSpec(name="run", kind="coordinate"),),
        mixins=("MixinTimeout", "MixinRetry", "MixinMetrics"),
        **COMMON,
    )


def all_specs() -> list[NodeSpec]:
    return [effect_spec(), compute_spec(), reducer_spec(), orchestrator_spec()]


@pytest.fixture(scope="session")
def generated_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A four-node service generated once per session (copy it before changing it)."""
    out = tmp_path_factory.mktemp("service") / "library_loans"
    generator = CodeGenerator()
    for spec in all_specs():
        generator.generate_node(spec, out)
    generator.close()
    return out


@pytest.fixture
def service_copy(generated_service: Path, tmp_path: Path) -> Path:
    """A private copy of the generated service, free to be broken."""
    target = tmp_path / "svc"
    shutil.copytree(generated_service, target)
    return target
