"""Entities from every shape, typed from evidence; states and steps only from the product's behaviour."""

from __future__ import annotations

import pytest

from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd


def _fields(analysis: PRDAnalysis, name: str) -> list[tuple[str, str]]:
    entity = analysis.entity(name)
    assert entity is not None, (name, [e.name for e in analysis.entities])
    return [(f.name, f.type.value) for f in entity.fields]


def test_prose_gives_an_entity_with_typed_fields() -> None:
    analysis = analyze_prd(
        "# Clinic\n\n## Overview\n\nEach booking has a patient, a room, a start time and a duration. "
        "A patient has a name, an email address, a phone number and a date of birth.\n\n"
        "## Requirements\n\n- Bookings are stored in PostgreSQL.\n"
    )
    assert _fields(analysis, "Booking") == [
        ("patient", "str"),
        ("room", "str"),
        ("start_time", "datetime"),
        ("duration", "str"),
    ]
    assert _fields(analysis, "Patient") == [
        ("name", "str"),
        ("email_address", "str"),
        ("phone_number", "str"),
        ("date_of_birth", "date"),
    ]


def test_a_tab_separated_field_table_under_a_heading_is_an_entity() -> None:
    text = (
        "# Fees\n\n## Requirements\n\n- Store payments.\n\n## Payment fields\n\n"
        "Field\tType\tNotes\npayment_id\tuuid\tkey\ngross_amount\tdecimal\tpaid\npaid_at\ttimestamp\twhen\n"
    )
    assert _fields(analyze_prd(text), "Payment") == [
        ("payment_id", "uuid"),
        ("gross_amount", "decimal"),
        ("paid_at", "datetime"),
    ]


def test_field_bullets_under_an_entity_heading() -> None:
    text = """# Schools

## Requirements

- Enroll students.

## Data Model

### Student

- student_id: uuid
- student_number (string): the 8-digit district number
- status (string): submitted, accepted or withdrawn
- date_of_birth (date)
"""
    analysis = analyze_prd(text)
    assert [e.name for e in analysis.entities] == ["Student"]
    assert _fields(analysis, "Student") == [
        ("student_id", "uuid"),
        ("student_number", "str"),
        ("status", "str"),
        ("date_of_birth", "date"),
    ]
    assert {r.describe() for r in analysis.rules} == {
        "Student.student_number is digits, length = 8 digit",
        "Student.status in {submitted, accepted, withdrawn}",
    }


def test_json_named_by_its_comment_or_path_and_typescript_keep_wire_names() -> None:
    text = """# Links

## Requirements

- Store links.

`POST /links` creates a link:

```json
{"slug": "spring26", // 6-10 characters
 "destinationUrl": "https://example.com", "expiresAt": "2026-06-30T23:59:59Z",}
```

```json
// Click as returned by GET /clicks/{id}
{"click_id": "c-1", "clicked_at": "2026-04-02T10:15:00Z"}
```

```typescript
interface Account {
  accountId: string;  // uuid
  plan: 'free' | 'pro';
}
```
"""
    analysis = analyze_prd(text)
    assert [e.name for e in analysis.entities] == ["Account", "Link", "Click"]
    link = analysis.entity("Link")
    assert link is not None
    assert [(f.name, f.type.value, f.alias) for f in link.fields] == [
        ("slug", "str", None),
        ("destination_url", "str", "destinationUrl"),
        ("expires_at", "datetime", "expiresAt"),
    ]
    assert _fields(analysis, "Account") == [("account_id", "uuid"), ("plan", "str")]
    assert {r.describe() for r in analysis.rules} == {
        "6 <= len(Link.slug) <= 10 characters",
        "Account.plan in {free, pro}",
    }


def test_section_titles_are_not_entities() -> None:
    text = """# Claims

## Requirements

- Store claims in PostgreSQL.

## Security

### XSS Prevention

| Name | Format | Notes |
|------|--------|-------|
| validate | date | every input |
| update | text | escape |

## User Stories

### Submit a claim

| Field | Type |
|-------|------|
| amount | decimal |
"""
    assert analyze_prd(text).entities == ()


@pytest.mark.parametrize(
    ("name", "type_"),
    [
        ("update", "str"),
        ("validate_by", "str"),
        ("validated_date", "date"),
        ("candidate", "str"),
        ("lead_time", "str"),
        ("pickup_time", "datetime"),
        ("phone_number", "str"),
        ("version", "str"),
        ("delivery_day", "str"),
        ("capacity", "int"),
        ("age_months", "int"),
        ("gross_amount", "decimal"),
    ],
)
def test_types_come_from_whole_words_not_suffixes(name: str, type_: str) -> None:
    text = f"# Things\n\n## Requirements\n\n- Store things.\n\n## Data Model\n\nA thing has a thing_id and a {name}.\n"
    assert dict(_fields(analyze_prd(text), "Thing"))[name] == type_


def test_a_typed_definition_is_not_widened_by_a_loose_sentence() -> None:
    text = """# Transfers

## Requirements

- FR-1: A transfer has a debtor account IBAN, a creditor IBAN and an amount.

```sql
CREATE TABLE transfers (transfer_id UUID PRIMARY KEY, debtor_iban VARCHAR(34), creditor_iban VARCHAR(34),
  amount NUMERIC(12,2));
```
"""
    analysis = analyze_prd(text)
    assert [e.name for e in analysis.entities] == ["Transfer"]
    assert [n for n, _ in _fields(analysis, "Transfer")] == [
        "transfer_id",
        "debtor_iban",
        "creditor_iban",
        "amount",
    ]


def test_ci_cd_roadmaps_to_dos_and_ui_journeys_are_not_steps_or_states() -> None:
    text = """# Deploy Tracker

## Requirements

- Store a deployment of a service to an environment.
- A deployment's status moves from queued to running, then from running to succeeded or to failed.

## How we build this service (CI/CD)

Our pipeline runs these stages on every merge request:

1. Lint
2. Unit tests
3. E2E tests

## User journeys

1. The engineer opens the dashboard.
2. The engineer picks an environment.

## Roadmap

- Phase 2: approvals, moving from planned to approved to live.

## To do

1. Write the runbook.
2. Load test the API.
"""
    analysis = analyze_prd(text)
    assert analysis.workflow_steps == ()
    assert analysis.orchestrator_steps[0].origin != "prd"
    assert analysis.lifecycle is not None
    assert analysis.lifecycle.states == ("queued", "running", "succeeded", "failed")
    assert "Write the runbook." not in [r.text for r in analysis.functional_requirements]


def test_a_prd_without_states_or_steps_gets_none_and_derived_ones_say_so() -> None:
    analysis = analyze_prd("# Notes\n\n## Requirements\n\n- Store notes with a title and a body in PostgreSQL.\n")
    assert analysis.workflow_steps == () and analysis.lifecycle is None
    assert analysis.reducer_lifecycle.origin == "default"
    assert {s.origin for s in analysis.orchestrator_steps} <= {"operations", "tasks", "default"}


def test_state_changes_said_about_a_state_noun_are_transitions() -> None:
    text = (
        "# Orders\n\n## Requirements\n\n- Store orders.\n\n## Order status\n\nAn order starts in pending. "
        "Orders go pending \u2192 paid \u2192 "
        "fulfilled. A paid order can be refunded. A failed order can be retried, which moves it back to pending.\n"
    )
    lifecycle = analyze_prd(text).lifecycle
    assert lifecycle is not None
    assert [(t.source, t.target) for t in lifecycle.transitions] == [
        ("pending", "paid"),
        ("paid", "fulfilled"),
        ("paid", "refunded"),
    ]
