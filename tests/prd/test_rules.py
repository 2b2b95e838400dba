"""Rules: every limit, enumeration, format, uniqueness, comparison, quota and formula a PRD states, structured."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pydantic
import pytest

from agents.lib.prd_analyzer import (
    PRDAnalysis,
    Rule,
    RuleExpr,
    RuleFormat,
    RuleKind,
    RuleOperator,
    RuleValue,
    analyze_prd,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"

BOOKINGS = """# Room Bookings

## Requirements

- FR-1: The service stores bookings in PostgreSQL.
- FR-2: The duration of a booking is 30, 45, 60 or 120 minutes.
- FR-3: The price of a booking must be positive and at most 500 EUR.
- FR-4: A member can hold at most 5 bookings per day.
- FR-5: The member's email must be a valid email address.
- FR-6: The booking reference is exactly 8 digits and must be unique.
- FR-7: The end time must be after the start time.
- FR-8: The fee of a booking is 12% of the price, at least 0.30 EUR.
- FR-9: Bookings above 300 EUR need a manager's approval.

## Data Model

| Entity | Field | Type |
|--------|-------|------|
| Booking | booking_id | uuid |
| Booking | member_id | uuid |
| Booking | reference | string |
| Booking | start_time | datetime |
| Booking | end_time | datetime |
| Booking | duration | integer |
| Booking | price | decimal |
| Booking | fee | decimal |
| Member | member_id | uuid |
| Member | email | string |
"""


def _rules(text: str) -> dict[str, list[Rule]]:
    """The rules of a PRD by requirement id."""
    out: dict[str, list[Rule]] = {}
    for rule in analyze_prd(text).rules:
        out.setdefault(rule.requirement_id or "", []).append(rule)
    return out


def test_each_kind_of_rule_is_structured_with_the_prds_numbers() -> None:
    by_req = _rules(BOOKINGS)
    (duration,) = by_req["FR-2"]
    assert (duration.kind, duration.entity, duration.fields, duration.operator) == (
        RuleKind.ENUM,
        "Booking",
        ("duration",),
        RuleOperator.IN,
    )
    assert [(v.number, v.unit) for v in duration.values] == [
        (Decimal(30), "minutes"),
        (Decimal(45), "minutes"),
        (Decimal(60), "minutes"),
        (Decimal(120), "minutes"),
    ]
    positive, at_most = by_req["FR-3"]
    assert (positive.kind, positive.fields, positive.operator, positive.values[0].number) == (
        RuleKind.RANGE,
        ("price",),
        RuleOperator.GT,
        Decimal(0),
    )
    assert (at_most.operator, at_most.values) == (
        RuleOperator.LE,
        (RuleValue(text="500 EUR", number=Decimal(500), unit="EUR"),),
    )
    (quota,) = by_req["FR-4"]
    assert (quota.kind, quota.entity, quota.scope, quota.operator) == (
        RuleKind.QUOTA,
        "Booking",
        ("member_id",),
        RuleOperator.LE,
    )
    assert quota.values[0].number == 5 and quota.window is not None
    assert (quota.window.number, quota.window.unit, quota.window_field) == (1, "days", "start_time")
    (email,) = by_req["FR-5"]
    assert (email.kind, email.entity, email.fields, email.format) == (
        RuleKind.FORMAT,
        "Member",
        ("email",),
        RuleFormat.EMAIL,
    )
    digits, unique = by_req["FR-6"]
    assert (digits.format, digits.operator, digits.values[0].number) == (RuleFormat.DIGITS, RuleOperator.EQ, 8)
    assert (unique.kind, unique.entity, unique.fields) == (RuleKind.UNIQUE, "Booking", ("reference",))
    (after,) = by_req["FR-7"]
    assert (after.kind, after.fields, after.operator) == (
        RuleKind.COMPARISON,
        ("end_time", "start_time"),
        RuleOperator.GT,
    )
    assert after.expression == RuleExpr(op="field", name="start_time", entity="Booking")
    for rule in [duration, positive, at_most, quota, email, digits, unique, after]:
        assert rule.codeable and rule.reason == "", rule


def test_the_issues_fee_formula_is_a_tree_with_the_prds_numbers() -> None:
    (fee,) = _rules(BOOKINGS)["FR-8"]
    assert (fee.kind, fee.entity, fee.target, fee.fields, fee.codeable) == (
        RuleKind.FORMULA,
        "Booking",
        "fee",
        ("price",),
        True,
    )
    twelve = RuleExpr(op="const", value=RuleValue(text="12%", number=Decimal(12), unit="%"))
    floor = RuleExpr(op="const", value=RuleValue(text="0.30 EUR", number=Decimal("0.30"), unit="EUR"))
    price = RuleExpr(op="field", name="price", entity="Booking")
    assert fee.expression == RuleExpr(op="max", args=(RuleExpr(op="percent_of", args=(twelve, price)), floor))
    assert fee.describe() == "Booking.fee = max(12% of price, 0.30 EUR)"


def test_what_cannot_be_derived_is_a_hook_that_says_why() -> None:
    (condition,) = _rules(BOOKINGS)["FR-9"]
    assert condition.kind is RuleKind.CONDITION and not condition.codeable
    assert condition.consequence == "need a manager's approval."
    assert condition.reason
    text = """# Loans

## Requirements

- A member can have at most 5 active loans.
- The expiry date must be after the creation date.
- The urgency of a ticket is scored from 1 to 5.

## Data Model

A loan has a loan_id, a member_id, a borrowed_at timestamp and an expires_at timestamp.
"""
    rules = analyze_prd(text).rules
    assert [(r.kind, r.codeable) for r in rules] == [
        (RuleKind.QUOTA, False),
        (RuleKind.COMPARISON, False),
        (RuleKind.RANGE, False),
    ]
    assert rules[0].reason == "it counts only active records, which no field of Loan says"
    assert rules[1].fields == ("expires_at",) and "creation date" in rules[1].reason
    assert rules[2].entity is None and rules[2].reason == "the PRD does not say which entity it applies to"


def test_field_notes_code_and_tables_give_rules_too() -> None:
    text = """# Votes

## Requirements

- Users vote on ideas.

## Schema

```sql
CREATE TABLE votes (
  vote_id    UUID PRIMARY KEY,
  idea_id    UUID NOT NULL,
  user_id    UUID NOT NULL,
  direction  SMALLINT NOT NULL CHECK (direction IN (-1, 1)),
  weight     INTEGER NOT NULL CHECK (weight > 0),
  status     VARCHAR(12) NOT NULL, -- open, closed
  UNIQUE (idea_id, user_id)
);
```

```json
{"vote_id": "b1f0e3a2-7c4d-4e5f-9a8b-1c2d3e4f5a6b", "comment": "great"}
```
"""
    described = {(r.kind, r.fields, tuple(v.text for v in r.values)) for r in analyze_prd(text).rules}
    assert described == {
        (RuleKind.ENUM, ("direction",), ("-1", "1")),
        (RuleKind.RANGE, ("weight",), ("0",)),
        (RuleKind.ENUM, ("status",), ("open", "closed")),
        (RuleKind.UNIQUE, ("idea_id", "user_id"), ()),
    }


def test_examples_rules_are_the_ones_their_prds_state() -> None:
    payouts = analyze_prd(EXAMPLES / "marketplace_payouts.md")
    assert [r.describe() for r in payouts.rules] == [
        "Sale.commission = max(12% of gross_amount, 0.30 EUR)",
        "Sale.net_amount = (gross_amount - commission)",
    ]
    assert all(r.codeable for r in payouts.rules)
    invoices = analyze_prd(EXAMPLES / "invoice_calculation.md")
    subtotal = invoices.rules[0]
    assert subtotal.describe() == "Invoice.subtotal = sum of (quantity * unit_price) over LineItem"
    assert subtotal.codeable and subtotal.fields == ()
    loans = analyze_prd(EXAMPLES / "library_loans.md")
    assert [r.describe() for r in loans.rules if r.codeable] == [
        "Loan.renewal_count <= twice",
        "Loan.fee = min((0.25 EUR * day_overdue), 10 EUR)",
    ]


def test_rules_name_fields_of_the_entities() -> None:
    for path in sorted(EXAMPLES.glob("*.md")):
        analysis = analyze_prd(path)
        for rule in analysis.rules:
            if rule.entity is None:
                assert not rule.codeable
                continue
            entity = analysis.entity(rule.entity)
            assert entity is not None, rule
            names = {f.name for f in entity.fields}
            assert set(rule.fields) <= names, rule
            assert set(rule.scope) <= names, rule
            if rule.window_field:
                assert rule.window_field in names
        assert [r.id for r in analysis.rules] == [f"RULE-{n:03d}" for n in range(1, len(analysis.rules) + 1)]


def test_a_numeric_rule_types_a_field_the_prd_did_not_type() -> None:
    text = "# Rooms\n\n## Requirements\n\n- Each booking has a room, a start time and a duration.\n" + (
        "- The duration is 30, 45 or 60 minutes.\n- The fee is between 0.50 and 9.99 EUR.\n"
    )
    booking = analyze_prd(text).entity("Booking")
    assert booking is not None
    assert [(f.name, f.type.value) for f in booking.fields] == [
        ("room", "str"),
        ("start_time", "datetime"),
        ("duration", "int"),
    ]


def test_rules_survive_json_and_refuse_malformed_expressions() -> None:
    analysis = analyze_prd(BOOKINGS)
    assert PRDAnalysis.model_validate_json(analysis.to_json()) == analysis
    data = analysis.to_dict()["rules"][0]
    assert data["values"][0] == {"text": "30", "number": "30", "unit": "minutes"}
    with pytest.raises(pydantic.ValidationError, match="takes 2 to 2 arguments"):
        RuleExpr(op="add", args=(RuleExpr(op="now"),))
    with pytest.raises(pydantic.ValidationError, match="numeric value"):
        RuleExpr(op="const", value=RuleValue(text="gold"))
    with pytest.raises(pydantic.ValidationError, match="not a valid ASCII Python identifier"):
        RuleExpr(op="field", name="gross amount")
    with pytest.raises(pydantic.ValidationError, match="not a valid ASCII Python identifier"):
        Rule(id="RULE-001", kind=RuleKind.UNIQUE, fields=("class",))
    assert analysis.rules_for("Member") == tuple(r for r in analysis.rules if r.entity == "Member")


def test_no_rules_from_performance_or_success_text() -> None:
    text = """# Reports

## Requirements

- The service stores each report with a report_id, a title and a page_count.

## Non-Functional Requirements

- A report is rendered in under 200 ms.
- Reports are kept for at most 7 years.

## Success Criteria

- 95% of reports are read within 2 days.
"""
    assert analyze_prd(text).rules == ()


def test_agents_analyze_shows_rules_codeable_and_hooks() -> None:
    import os
    import subprocess
    import sys

    path = Path(__file__).resolve().parent / "corpus" / "payment_fees.md"
    env = {**os.environ, "COLUMNS": "220", "NO_COLOR": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "agents", "analyze", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    analysis = analyze_prd(path)
    codeable = sum(r.codeable for r in analysis.rules)
    assert f"Rules: {codeable} codeable, {len(analysis.rules) - codeable} left as hooks" in run.stdout
    assert codeable == 6 and len(analysis.rules) == 7
    rows = [line for line in run.stdout.splitlines() if line.startswith("\u2502 RULE-")]
    assert len(rows) == len(analysis.rules)
    assert "Payment.fee = max(12% of gross_amount, 0.30 EUR)" in rows[0] and "codeable" in rows[0]
    assert "hook" in rows[-1] and "REQ-006" in rows[-1]
