"""Each PRD shape from the notes, as a small inline text with specific asserted values."""

from __future__ import annotations

from agents.lib.prd_analyzer import FieldType, NodeType, Priority, analyze_prd


def _fields(analysis_entity: object) -> dict[str, str]:
    fields = getattr(analysis_entity, "fields", ())
    return {f.name: f.type.value for f in fields}


def test_bullets_of_every_marker_and_nested_details() -> None:
    text = """# Todo Service

## Requirements

- Users can create a todo with a title.
* Users can mark a todo as done.
+ Users can delete a todo.
- Todos are stored in PostgreSQL:
  - one row per todo
  - soft delete only
"""
    a = analyze_prd(text)
    assert [r.text for r in a.functional_requirements] == [
        "Users can create a todo with a title.",
        "Users can mark a todo as done.",
        "Users can delete a todo.",
        "one row per todo",
        "soft delete only",
    ]
    assert [r.id for r in a.functional_requirements] == [f"REQ-00{i}" for i in range(1, 6)]
    assert all(r.source_section == "Todo Service > Requirements" for r in a.functional_requirements)


def test_requirement_with_sub_bullets_keeps_them_as_details() -> None:
    text = """# Todo Service

## Requirements

- Users can share a todo list with a teammate
  - the teammate gets read access
  - sharing can be revoked
- Users can export todos as CSV
"""
    a = analyze_prd(text)
    assert len(a.functional_requirements) == 2
    assert a.functional_requirements[0].details == (
        "the teammate gets read access",
        "sharing can be revoked",
    )


def test_numbered_lists_both_styles() -> None:
    text = """# Metrics

## Functional Requirements

1. The service aggregates page views per hour.
2) It keeps running totals per site.
3. It stores hourly summaries in Redis.
"""
    a = analyze_prd(text)
    assert [r.text for r in a.functional_requirements] == [
        "The service aggregates page views per hour.",
        "It keeps running totals per site.",
        "It stores hourly summaries in Redis.",
    ]
    assert NodeType.REDUCER in a.recommended_node_types
    assert NodeType.EFFECT in a.recommended_node_types
    assert [s.name for s in a.external_systems] == ["Redis"]


def test_fr_ids_in_paragraph_lines_and_bold() -> None:
    text = """# Pricing Engine

## Requirements
FR-001: The engine MUST calculate the price of a basket.
FR-002: The engine SHOULD apply coupon discounts.
**FR-003**: The engine MAY round prices to 5 cents.
"""
    a = analyze_prd(text)
    assert [(r.id, r.priority, r.priority_label) for r in a.functional_requirements] == [
        ("FR-001", Priority.HIGH, "MUST"),
        ("FR-002", Priority.MEDIUM, "SHOULD"),
        ("FR-003", Priority.LOW, "MAY"),
    ]
    assert a.functional_requirements[0].text == "The engine MUST calculate the price of a basket."
    assert NodeType.COMPUTE in a.recommended_node_types


def test_h3_heading_per_requirement() -> None:
    text = """# Badge Service

## Requirements

### REQ-10 Issue a badge
The service creates a badge for a visitor and stores it.

### REQ-11 Revoke a badge
A badge can be revoked by security staff.
- revocation is immediate
"""
    a = analyze_prd(text)
    reqs = a.functional_requirements
    assert [r.id for r in reqs] == ["REQ-10", "REQ-11"]
    assert reqs[0].text == "Issue a badge: The service creates a badge for a visitor and stores it."
    assert reqs[1].details == ("revocation is immediate",)


def test_h3_grouping_headings_with_priorities() -> None:
    text = """# Badge Service

## Requirements

### P0

- Create a badge for a visitor.

### Nice to have

- Print badges on the lobby printer.
"""
    a = analyze_prd(text)
    assert [(r.text, r.priority) for r in a.functional_requirements] == [
        ("Create a badge for a visitor.", Priority.HIGH),
        ("Print badges on the lobby printer.", Priority.LOW),
    ]


def test_checklist_with_p_priorities() -> None:
    text = """# Wishlist Service

## Features

- [ ] P0 Users can add a product to their wishlist.
- [x] P1 Users can remove a product from their wishlist.
- [ ] (P2) Users can share a wishlist by link.
"""
    a = analyze_prd(text)
    assert [(r.text, r.priority, r.priority_label) for r in a.functional_requirements] == [
        ("Users can add a product to their wishlist.", Priority.HIGH, "P0"),
        ("Users can remove a product from their wishlist.", Priority.MEDIUM, "P1"),
        ("Users can share a wishlist by link.", Priority.LOW, "P2"),
    ]
    assert a.features == tuple(r.text for r in a.functional_requirements)


def test_pipe_table_of_requirements() -> None:
    text = """# Room Booking

## Requirements

| ID | Requirement | Priority |
|----|-------------|----------|
| RB-1 | Employees can book a meeting room for a time slot. | High |
| RB-2 | Double bookings are rejected. | Medium |
| RB-3 | Bookings are stored in PostgreSQL. | Low |
"""
    a = analyze_prd(text)
    assert [(r.id, r.text, r.priority) for r in a.functional_requirements] == [
        ("RB-1", "Employees can book a meeting room for a time slot.", Priority.HIGH),
        ("RB-2", "Double bookings are rejected.", Priority.MEDIUM),
        ("RB-3", "Bookings are stored in PostgreSQL.", Priority.LOW),
    ]


def test_tab_separated_tables_for_requirements_and_fields() -> None:
    text = (
        "# Room Booking\n\n## Requirements\n\n"
        "ID\tDescription\tPriority\n"
        "R1\tEmployees can book a room.\tP0\n"
        "R2\tEmployees can cancel a booking.\tP1\n\n"
        "## Data Model\n\nBooking fields:\n\n"
        "Field\tType\n"
        "booking_id\tuuid\n"
        "starts_at\ttimestamp\n"
        "attendees\tinteger\n"
    )
    a = analyze_prd(text)
    assert [(r.id, r.priority_label) for r in a.functional_requirements] == [
        ("R1", "P0"),
        ("R2", "P1"),
    ]
    assert _fields(a.entity("Booking")) == {
        "booking_id": "uuid",
        "starts_at": "datetime",
        "attendees": "int",
    }


def test_user_stories_with_acceptance_criteria_as_nested_bullets() -> None:
    text = """# Library

## User Stories

- As a librarian, I want to register a new book so that members can find it.
  - The ISBN must be unique.
  - The book is available immediately.
- As a member I need to search the catalogue in order to find books by author.
- US-7: As an admin, I can delete a member.
"""
    a = analyze_prd(text)
    stories = a.user_stories
    assert [(s.role, s.goal, s.benefit) for s in stories] == [
        ("librarian", "register a new book", "members can find it"),
        ("member", "search the catalogue", "to find books by author"),
        ("admin", "delete a member", ""),
    ]
    assert stories[0].acceptance_criteria == (
        "The ISBN must be unique.",
        "The book is available immediately.",
    )
    assert stories[1].acceptance_criteria == ()
    assert stories[2].id == "US-7"
    # with no requirements section, requirements come from the stories
    assert [r.id for r in a.functional_requirements] == [s.id for s in stories]


def test_plain_text_without_markdown() -> None:
    text = """Bike Rental Service

1. Overview

People rent bikes from docking stations across the city.

2 REQUIREMENTS

1) The service shall create a rental when a bike is unlocked.
2) The service shall calculate the rental price from the duration.
3) Rentals shall be stored in PostgreSQL.

3. DATA

A rental has a rental_id, a bike_id, a started_at timestamp and a price.
"""
    a = analyze_prd(text)
    assert a.title == "Bike Rental Service"
    assert a.service_name == "BikeRental"
    assert a.domain == "bike"
    assert a.description == "People rent bikes from docking stations across the city."
    assert [r.text for r in a.functional_requirements] == [
        "The service shall create a rental when a bike is unlocked.",
        "The service shall calculate the rental price from the duration.",
        "Rentals shall be stored in PostgreSQL.",
    ]
    assert all(r.priority is Priority.HIGH for r in a.functional_requirements)
    assert _fields(a.entity("Rental")) == {
        "rental_id": "uuid",
        "bike_id": "uuid",
        "started_at": "datetime",
        "price": "decimal",
    }
    assert set(a.recommended_node_types) == {NodeType.EFFECT, NodeType.COMPUTE}


def test_text_and_rule_before_first_title_and_emoji_headings() -> None:
    text = """Owner: payments team
Status: draft

---

# 💳 Refund Service

## 2. 🚀 Features

- Create a refund for a captured payment.
- Refunds are stored in PostgreSQL.

## 3. ✅ Success Criteria

- Refunds complete within one day.
"""
    a = analyze_prd(text)
    assert a.title == "Refund Service"
    assert a.service_name == "Refund"
    assert a.features == ("Create a refund for a captured payment.", "Refunds are stored in PostgreSQL.")
    assert a.success_criteria == ("Refunds complete within one day.",)
    assert a.functional_requirements[0].source_section == "Refund Service > Features"


def test_setext_headings() -> None:
    text = """Parcel Lockers
==============

Requirements
------------

- Couriers can deposit a parcel into a free locker.
- Customers receive a pickup code by SMS.
"""
    a = analyze_prd(text)
    assert a.title == "Parcel Lockers"
    assert len(a.functional_requirements) == 2
    assert [s.name for s in a.external_systems] == ["SMS"]


def test_front_matter_title_domain_and_override() -> None:
    text = """---
title: Points Ledger
domain: Loyalty Program
node_types: [compute, EFFECT, bogus]
---

# Something Else

## Requirements

- Aggregate points events into balances per member.
- Fold every event into a running total.
"""
    a = analyze_prd(text)
    assert a.title == "Points Ledger"
    assert a.domain == "loyalty_program"
    assert a.recommended_node_types == (NodeType.COMPUTE, NodeType.EFFECT)
    assert a.node_types_overridden is True
    # the evidence still says REDUCER; the override wins
    assert a.hint(NodeType.REDUCER).score > a.hint(NodeType.COMPUTE).score
    assert a.hint(NodeType.REDUCER).recommended is False
    assert any("bogus" in w for w in a.warnings)


def test_invalid_front_matter_is_a_warning_not_an_error() -> None:
    text = "---\ntitle: [unclosed\n---\n# Ledger\n\n- Users can create an entry in the ledger.\n"
    a = analyze_prd(text)
    assert a.title == "Ledger"
    assert any("front matter is not valid YAML" in w for w in a.warnings)


def test_code_blocks_give_entities_not_requirements() -> None:
    text = """# Shipments

## Requirements

- Create a shipment for an order and store it.

## Data Model

```sql
CREATE TABLE shipments (
  shipment_id UUID PRIMARY KEY,
  weight_kg NUMERIC(8, 3) NOT NULL,
  delivered BOOLEAN, -- set by the carrier
  shipped_on DATE
);
```

Example Shipment event:

```json
{
  "shipment_id": "0b7f2c1e-1d2c-4c55-9f5a-3b1e2d4c5a6b",  // UUID
  "tracking": {"carrier": "DHL"},
  "labels": ["fragile"],
  "created_at": "2026-01-02T03:04:05Z",
}
```

```typescript
export interface Carrier {
  carrierId: string; // uuid
  name: string;
  maxWeight?: number;
  active: boolean;
}
```
"""
    a = analyze_prd(text)
    assert [r.text for r in a.functional_requirements] == ["Create a shipment for an order and store it."]
    shipment = a.entity("Shipment")
    assert shipment is not None
    assert _fields(shipment) == {
        "shipment_id": "uuid",
        "weight_kg": "decimal",
        "delivered": "bool",
        "shipped_on": "date",
        "tracking": "dict",
        "labels": "list",
        "created_at": "datetime",
    }
    assert shipment.sources == ("sql", "json")
    weight = shipment.field("weight_kg")
    delivered = shipment.field("delivered")
    assert weight is not None and weight.required is True
    assert delivered is not None and delivered.required is False
    carrier = a.entity("Carrier")
    assert carrier is not None
    assert _fields(carrier) == {
        "carrier_id": "uuid",
        "name": "str",
        "max_weight": "float",
        "active": "bool",
    }
    max_weight = carrier.field("max_weight")
    assert max_weight is not None and max_weight.required is False


def test_json_that_cannot_be_repaired_is_read_key_by_key() -> None:
    text = """# Events

- Ingest click events and store them.

Example Click payload:

```json
{"click_id": 12, "url": "https://x.test", "is_bot": false, "meta": {"a": 1} "broken": }
```
"""
    a = analyze_prd(text)
    click = a.entity("Click")
    assert click is not None
    assert _fields(click)["is_bot"] == "bool"
    assert _fields(click)["meta"] == "dict"
    assert any("not valid JSON" in w for w in a.warnings)


def test_data_model_bullets() -> None:
    text = """# Clinic

## Requirements

- Patients can book an appointment.

## Data Model

- **Patient**: patient_id, full_name, date_of_birth (date), is_active
- Appointment
  - appointment_id (uuid)
  - starts_at: timestamp
  - fee_amount - decimal
"""
    a = analyze_prd(text)
    assert _fields(a.entity("Patient")) == {
        "patient_id": "uuid",
        "full_name": "str",
        "date_of_birth": "date",
        "is_active": "bool",
    }
    assert _fields(a.entity("Appointment")) == {
        "appointment_id": "uuid",
        "starts_at": "datetime",
        "fee_amount": "decimal",
    }


def test_entity_field_table_under_entity_heading() -> None:
    text = """# Fleet

## Requirements

- Track vehicles and store their positions.

## Data Model

### Vehicle

| Column | Data Type | Nullable |
|---|---|---|
| vehicle_id | uuid | no |
| plate | varchar(12) | no |
| last_seen_at | timestamptz | yes |
"""
    a = analyze_prd(text)
    vehicle = a.entity("Vehicle")
    assert vehicle is not None
    assert _fields(vehicle) == {"vehicle_id": "uuid", "plate": "str", "last_seen_at": "datetime"}
    seen = vehicle.field("last_seen_at")
    plate = vehicle.field("plate")
    assert seen is not None and seen.required is False
    assert plate is not None and plate.required is True and plate.type is FieldType.STR


def test_no_requirements_section_gathers_requirement_like_sentences() -> None:
    text = """# Weather Alerts

## Goals

- Warn farmers before frost.

## How it works

The service must fetch forecasts from the weather API every hour. It should notify subscribed
farmers by SMS when frost is forecast. The sky is blue.
"""
    a = analyze_prd(text)
    assert [r.text for r in a.functional_requirements] == [
        "Warn farmers before frost.",
        "The service must fetch forecasts from the weather API every hour.",
        "It should notify subscribed farmers by SMS when frost is forecast.",
    ]
    assert any("no requirements section" in w for w in a.warnings)


def test_non_goals_and_out_of_scope_are_not_requirements_or_evidence() -> None:
    text = """# Catalogue

## Requirements

- Create and update products.
- Store products in PostgreSQL.

## Non-Goals

- Orchestrate a multi-step checkout workflow with sagas.
- Aggregate sales statistics.
"""
    a = analyze_prd(text)
    assert len(a.functional_requirements) == 2
    assert a.recommended_node_types == (NodeType.EFFECT,)
    assert a.hint(NodeType.ORCHESTRATOR).score == 0.0
    assert a.hint(NodeType.REDUCER).score == 0.0


def test_operations_name_their_entities() -> None:
    text = """# Library

## Requirements

- Members can search books by title.
- Librarians can delete a member.
- The service calculates the late fee of a loan.

## Data Model

A book has an isbn, a title and an author.
A member has a member_id and a name.
A loan has a loan_id and a due_date.
"""
    a = analyze_prd(text)
    ops = {(o.kind.value, o.entity) for o in a.operations}
    assert ("search", "Book") in ops
    assert ("delete", "Member") in ops
    assert ("calculate", "Loan") in ops
    calc = next(o for o in a.operations if o.kind.value == "calculate")
    assert calc.node_type is NodeType.COMPUTE
    assert calc.requirement_id == "REQ-003"


def test_generic_title_revision_table_and_api_endpoints() -> None:
    text = """# Product Requirements Document

| Version | Date | Author | Changes |
|---|---|---|---|
| 0.1 | 2026-01-01 | Jane Roe | first draft |

## Book Catalogue

## Requirements

- Librarians can add books.

## API

- `POST /v1/books` creates a book
- `GET /v1/books/{isbn}` returns one book
- `GET /v1/books` lists books
- `PATCH /v1/books/{isbn}`

## Data Model

A book has an isbn, a title and an author.
"""
    a = analyze_prd(text)
    assert a.title == "Book Catalogue"
    assert a.service_name == "BookCatalogue"
    assert "roe" not in a.keywords and "jane" not in a.keywords
    ops = [(o.kind.value, o.entity, o.target) for o in a.operations]
    assert ops == [
        ("create", "Book", "books"),
        ("read", "Book", "books"),
        ("list", "Book", "books"),
        ("update", "Book", "books"),
    ]
    assert a.technical_details[0] == "POST /v1/books creates a book"


def test_bold_pseudo_headings_start_sections() -> None:
    text = """# Courier Tracking

**Requirements**

- Couriers can update the position of a parcel.
- Customers can read the position of their parcel.

**Out of scope**

- Aggregate courier statistics.
"""
    a = analyze_prd(text)
    assert [r.text for r in a.functional_requirements] == [
        "Couriers can update the position of a parcel.",
        "Customers can read the position of their parcel.",
    ]
    assert a.hint(NodeType.REDUCER).score == 0.0


def test_use_cases_and_scope_are_requirement_sections() -> None:
    text = """# Survey Tool

## Use Cases

1. A researcher creates a survey.
2. A respondent submits answers.

## Scope

- Results are stored for two years.
"""
    a = analyze_prd(text)
    assert [r.text for r in a.functional_requirements] == [
        "A researcher creates a survey.",
        "A respondent submits answers.",
        "Results are stored for two years.",
    ]


def test_the_service_itself_is_not_an_entity_of_prose() -> None:
    text = (
        "# Payouts\n\n## Overview\n\nThis service stores every sale, calculates the commission and the net "
        "amount owed.\nOur platform has sellers, buyers and admins.\n\n## Requirements\n\n"
        "- The service stores each sale in PostgreSQL.\n- A Seller has name, email and iban.\n"
    )
    analysis = analyze_prd(text)
    assert [e.name for e in analysis.entities] == ["Seller"]
    assert [f.name for f in analysis.entities[0].fields] == ["name", "email", "iban"]


def test_a_banks_http_api_is_an_external_http_api() -> None:
    text = "# Payouts\n\n## Requirements\n\n- Send the transfer file to the bank's HTTP API every Monday.\n"
    analysis = analyze_prd(text)
    assert "HTTP API" in [s.name for s in analysis.external_systems]
