"""Names: acronyms kept whole, reserved names renamed deterministically, the product's name without noise."""

from __future__ import annotations

import builtins
import random

import pytest
from pydantic import BaseModel

from agents.lib.codegen import runtime
from agents.lib.codegen.runtime import container, dag, errors, fsm, mixins, node_base, ports
from agents.lib.naming import (
    RESERVED_CLASS_NAMES,
    RESERVED_FIELD_NAMES,
    is_reserved_field_name,
    pascal_case,
    safe_class_name,
    safe_field_name,
    snake_case,
    upper_snake_case,
)
from agents.lib.prd_analyzer import analyze_prd


@pytest.mark.parametrize(
    ("text", "snake", "pascal"),
    [
        ("URLs", "urls", "Urls"),
        ("short URLs", "short_urls", "ShortUrls"),
        ("E2E tests", "e2e_tests", "E2eTests"),
        ("e2e_tests", "e2e_tests", "E2eTests"),
        ("IDs", "ids", "Ids"),
        ("B2B customer", "b2b_customer", "B2bCustomer"),
        ("k8s cluster", "k8s_cluster", "K8sCluster"),
        ("HTTPServer", "http_server", "HttpServer"),
        ("address_line1", "address_line1", "AddressLine1"),
    ],
)
def test_acronyms_are_kept_whole(text: str, snake: str, pascal: str) -> None:
    assert snake_case(text) == snake
    assert pascal_case(text) == pascal
    assert snake_case(pascal_case(text)) == snake


def test_names_with_acronyms_are_stable_under_a_second_pass() -> None:
    rng = random.Random(7)
    words = ["URLs", "e2e", "E2E", "IDs", "B2B", "k8s", "v2", "a", "B", "p95", "2fa", "class", "HTTPServer", "x"]
    for _ in range(3000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
        for function in (pascal_case, snake_case, upper_snake_case, safe_field_name, safe_class_name):
            once = function(text)
            assert function(once) == once, (function.__name__, text, once)


def test_reserved_names_cover_builtins_pydantic_and_the_runtime() -> None:
    assert {n for n in dir(builtins) if n[:1].islower() and not n.startswith("_")} - {"id"} <= RESERVED_FIELD_NAMES
    assert {n for n in dir(builtins) if n[:1].isupper()} - {"True", "False", "None"} <= RESERVED_CLASS_NAMES
    public = {n for n in dir(BaseModel) if not n.startswith("_")}
    assert all(is_reserved_field_name(n) for n in public), sorted(
        n for n in public if not is_reserved_field_name(n)
    )
    exported: set[str] = set(runtime.__all__)
    for module in (container, dag, errors, fsm, mixins, node_base, ports):
        exported |= {n for n in module.__all__ if n[:1].isupper() and not n.isupper()}
    assert exported <= RESERVED_CLASS_NAMES, sorted(exported - RESERVED_CLASS_NAMES)
    assert "id" not in RESERVED_FIELD_NAMES  # the models' own key


@pytest.mark.parametrize(
    ("name", "owner", "safe"),
    [
        ("schema", "Manifest", "manifest_schema"),
        ("model_name", "Car", "car_model_name"),
        ("date", "Booking", "booking_date"),
        ("date", "", "date_value"),
        ("type", "Model", "type_value"),  # "model_type" would start with model_
        ("validate", "Order Line", "order_line_validate"),
        ("due_date", "Loan", "due_date"),
        ("class", "Course", "class_"),  # a keyword: naming's own rule
    ],
)
def test_reserved_field_names_get_their_owner_in_front(name: str, owner: str, safe: str) -> None:
    assert safe_field_name(name, owner) == safe
    assert safe_field_name(safe) == safe and snake_case(safe) == safe


def test_reserved_class_names_get_record_after() -> None:
    assert [safe_class_name(n) for n in ("Container", "OnexError", "Exception", "BaseModel", "Loan")] == [
        "ContainerRecord",
        "OnexErrorRecord",
        "ExceptionRecord",
        "BaseModelRecord",
        "Loan",
    ]


def test_renamed_entities_and_fields_keep_the_prds_name_as_alias() -> None:
    text = """# Shipping

## Requirements

- The service stores containers and manifests.

## Data Model

| Entity | Field | Type |
|--------|-------|------|
| Container | date | date |
| Container | type | string |
| Container | json | string |
| Container | ownerId | uuid |
"""
    entity = analyze_prd(text).entity("ContainerRecord")
    assert entity is not None and entity.alias == "Container"
    assert [(f.name, f.alias, f.type.value) for f in entity.fields] == [
        ("container_date", "date", "date"),
        ("container_type", "type", "str"),
        ("container_json", "json", "str"),
        ("owner_id", "ownerId", "uuid"),
    ]


@pytest.mark.parametrize(
    ("prd", "service"),
    [
        (
            "# 017B Distributed Rate Limiter v2\n\n- Limit requests per API key in Redis.\n",
            "DistributedRateLimiter",
        ),
        ("# StockMaster \u2014 Updated PRD (v3)\n\n- Store stock levels in PostgreSQL.\n", "StockMaster"),
        ("# 017B \u2013 Deploy Tracker\n\n- Store deployments in PostgreSQL.\n", "DeployTracker"),
        (
            "# Project\n\nLinkly is a link shortener for marketing teams.\n\n## Features\n\n- Store links.\n",
            "Linkly",
        ),
        (
            "# [Product Name]\n\nCoupon codes for the spring campaign.\n\n## Requirements\n\n- Store coupons.\n",
            "CouponCodes",
        ),
        ("# Service\n\nThe Gigbox platform sells tickets.\n\n## Requirements\n\n- Store orders.\n", "Gigbox"),
    ],
)
def test_the_product_name_is_never_a_placeholder_number_or_version(prd: str, service: str) -> None:
    assert analyze_prd(prd).service_name == service
