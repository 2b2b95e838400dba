"""The PRD's rules as generated code: the expression renderer, escaping, each kind's validator, the counts.

The validators are checked the way a user meets them: a service is generated from specs carrying the rules,
its shared models are imported, and the PRD's boundary values are accepted or refused.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.rule_code import ExprEnv, Unsupported, evaluate, literal, render_expr
from agents.lib.codegen.rules import attach_rules, formulas
from agents.lib.codegen.runtime import rules as rt
from agents.lib.codegen.spec import EntitySpec, FieldSpec, HookSpec, NodeSpec, OperationSpec
from agents.lib.prd_analyzer import Rule, RuleExpr, RuleFormat, RuleKind, RuleOperator, RuleValue


def num(text: str, unit: str = "") -> RuleValue:
    return RuleValue(text=f"{text} {unit}".strip(), number=Decimal(text), unit=unit)


def const(text: str, unit: str = "") -> RuleExpr:
    return RuleExpr(op="const", value=num(text, unit))


def fld(name: str) -> RuleExpr:
    return RuleExpr(op="field", name=name, entity="Claim")


def rule(n: int, kind: RuleKind, fields: tuple[str, ...], **kw: Any) -> Rule:
    return Rule(id=f"RULE-{n:03d}", kind=kind, entity="Claim", fields=fields, codeable=True, **kw)


FIELDS = {"amount": "decimal", "approved": "decimal", "count": "int", "treated_on": "date", "at": "datetime"}
ENV_FIELDS = FIELDS | {"note": "str"}


# --- the renderer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "code", "kind"),
    [
        (fld("amount"), "rules.num(self.amount)", "number"),
        (RuleExpr(op="input", name="days_overdue"), "days_overdue", "number"),
        (const("0.30", "EUR"), "Decimal('0.30')", "number"),
        (RuleExpr(op="now"), "rules.now()", "datetime"),
        (RuleExpr(op="today"), "rules.today()", "date"),
        (
            RuleExpr(op="add", args=(fld("amount"), const("2"))),
            "(rules.num(self.amount) + Decimal('2'))",
            "number",
        ),
        (
            RuleExpr(op="sub", args=(fld("amount"), fld("approved"))),
            "(rules.num(self.amount) - rules.num(self.approved))",
            "number",
        ),
        (
            RuleExpr(op="mul", args=(fld("count"), const("1.5"))),
            "(rules.num(self.count) * Decimal('1.5'))",
            "number",
        ),
        (
            RuleExpr(op="div", args=(fld("amount"), const("4"))),
            "(rules.num(self.amount) / Decimal('4'))",
            "number",
        ),
        (
            RuleExpr(op="percent_of", args=(const("12", "%"), fld("amount"))),
            "(Decimal('12') / Decimal(100) * rules.num(self.amount))",
            "number",
        ),
        (
            RuleExpr(op="min", args=(fld("amount"), const("10"))),
            "min(rules.num(self.amount), Decimal('10'))",
            "number",
        ),
        (
            RuleExpr(op="max", args=(fld("amount"), const("1"), const("2"))),
            "max(rules.num(self.amount), Decimal('1'), Decimal('2'))",
            "number",
        ),
        (
            RuleExpr(op="round", digits=2, args=(fld("amount"),)),
            "rules.round_half_up(rules.num(self.amount), 2)",
            "number",
        ),
        (
            RuleExpr(op="add", args=(fld("treated_on"), const("90", "days"))),
            "rules.shift(self.treated_on, Decimal('90'), 'days')",
            "date",
        ),
        (
            RuleExpr(op="sub", args=(RuleExpr(op="today"), const("16", "years"))),
            "rules.shift(rules.today(), Decimal('-16'), 'years')",
            "date",
        ),
    ],
)
def test_each_operation_renders_to_its_code(expr: RuleExpr, code: str, kind: str) -> None:
    assert render_expr(expr, ExprEnv(fields=ENV_FIELDS)) == (code, kind)


def test_a_sum_reads_the_summed_records_and_a_formula_reads_required_values() -> None:
    env = ExprEnv(
        fields={"total": "decimal"}, owner="record", entities={"LineItem": {"quantity": "int", "price": "decimal"}}
    )
    item = RuleExpr(op="mul", args=(RuleExpr(op="field", name="quantity"), RuleExpr(op="field", name="price")))
    code, kind = render_expr(RuleExpr(op="sum", entity="LineItem", args=(item,)), env)
    assert code == (
        "sum(((rules.num(rules.present(item.quantity, 'quantity')) * rules.num(rules.present(item.price, 'price')))"
        " for item in line_item_records), Decimal(0))"
    )
    assert (kind, env.sums) == ("number", ["LineItem"])


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        (fld("note"), "note is not a number, date or datetime field"),
        (RuleExpr(op="field", name="__import__"), "'__import__' is not a safe identifier"),
        (RuleExpr(op="input", name="__class__"), "'__class__' is not a safe identifier"),
        (
            RuleExpr(op="mul", args=(fld("treated_on"), const("2"))),
            "mul of date and number values is not arithmetic",
        ),
        (
            RuleExpr(op="sum", entity="Nowhere", args=(fld("amount"),)),
            "the records summed (Nowhere) are not an entity",
        ),
    ],
)
def test_what_cannot_be_rendered_safely_is_refused_with_a_reason(expr: RuleExpr, reason: str) -> None:
    with pytest.raises(Unsupported, match=reason.replace("(", r"\(").replace(")", r"\)")):
        render_expr(expr, ExprEnv(fields=ENV_FIELDS))


def test_literals_are_python_literals_never_text_pasted() -> None:
    hostile = "a'\"\n__import__('os').system('x')"
    assert eval(literal(hostile)) == hostile
    assert literal(Decimal("0.30")) == "Decimal('0.30')"
    assert literal(date(2025, 1, 15)) == "date(2025, 1, 15)"
    assert literal(datetime(2025, 1, 15, 9, 30, tzinfo=UTC)) == "datetime(2025, 1, 15, 9, 30, 0, tzinfo=UTC)"
    with pytest.raises(TypeError):
        literal(object())


def test_the_evaluator_computes_what_the_rendered_code_computes() -> None:
    fee = RuleExpr(
        op="max", args=(RuleExpr(op="percent_of", args=(const("12", "%"), fld("amount"))), const("0.30"))
    )
    read = {"amount": Decimal("12.50")}.get
    assert evaluate(fee, read) == Decimal("1.5000")
    assert evaluate(fee, {"amount": Decimal("1.00")}.get) == Decimal("0.30")
    deadline = RuleExpr(op="add", args=(fld("treated_on"), const("1", "months")))
    assert evaluate(deadline, {"treated_on": date(2025, 1, 31)}.get) == date(2025, 2, 28)
    assert evaluate(RuleExpr(op="round", digits=2, args=(const("0.125"),)), read) == Decimal("0.13")


# --- the runtime's checks ----------------------------------------------------------------------------------


def test_the_clock_is_injectable() -> None:
    with rt.use_clock(datetime(2030, 6, 1, 8, 0, tzinfo=UTC)):
        assert rt.today() == date(2030, 6, 1)
    assert rt.today() != date(2030, 6, 1)


def test_unique_and_quota_checks_refuse_the_record_past_the_limit() -> None:
    rows = [
        {"id": "a", "member": "m1", "at": "2025-01-15T09:00:00Z"},
        {"id": "b", "member": "m1", "at": "2025-01-15T17:00:00Z"},
    ]
    rt.check_unique(rows, {"member": "m2"}, ("member",), "RULE-001")
    with pytest.raises(rt.OnexError) as caught:
        rt.check_unique(rows, {"member": "m1"}, ("member",), "RULE-001")
    assert caught.value.details == {"rule": "RULE-001", "fields": ["member"]}
    day = ("at", Decimal(1), "days")
    rt.check_quota(
        rows, {"member": "m1", "at": "2025-01-16T09:00:00Z"}, ("member",), Decimal(2), "le", day, "RULE-002"
    )
    rt.check_quota(
        rows, {"member": "m1", "at": "2025-01-15T10:00:00Z"}, ("member",), Decimal(3), "le", day, "RULE-002"
    )
    with pytest.raises(rt.OnexError) as quota:
        rt.check_quota(
            rows, {"member": "m1", "at": "2025-01-15T10:00:00Z"}, ("member",), Decimal(2), "le", day, "RULE-002"
        )
    assert quota.value.details["count"] == 2


# --- generated validators, imported and used ---------------------------------------------------------------

HOSTILE = 'gold"\n__import__("os")'
RULES = (
    rule(1, RuleKind.RANGE, ("amount",), operator=RuleOperator.GT, values=(num("0"),)),
    rule(2, RuleKind.RANGE, ("amount",), operator=RuleOperator.LE, values=(num("25000", "EUR"),)),
    rule(3, RuleKind.RANGE, ("count",), operator=RuleOperator.BETWEEN, values=(num("1"), num("5"))),
    rule(4, RuleKind.RANGE, ("at",), operator=RuleOperator.MULTIPLE_OF, values=(num("30", "minutes"),)),
    rule(5, RuleKind.LENGTH, ("title",), operator=RuleOperator.BETWEEN, values=(num("5"), num("12"))),
    rule(
        6,
        RuleKind.ENUM,
        ("tier",),
        operator=RuleOperator.IN,
        values=(RuleValue(text="silver"), RuleValue(text=HOSTILE)),
    ),
    rule(7, RuleKind.FORMAT, ("email",), format=RuleFormat.EMAIL),
    rule(8, RuleKind.FORMAT, ("code",), format=RuleFormat.DIGITS, operator=RuleOperator.EQ, values=(num("6"),)),
    rule(9, RuleKind.COMPARISON, ("approved",), operator=RuleOperator.LE, expression=fld("amount")),
    rule(
        10,
        RuleKind.COMPARISON,
        ("at",),
        operator=RuleOperator.LE,
        expression=RuleExpr(op="add", args=(fld("treated_on"), const("90", "days"))),
    ),
    rule(11, RuleKind.COMPARISON, ("treated_on",), operator=RuleOperator.LE, expression=RuleExpr(op="today")),
    rule(
        12,
        RuleKind.FORMULA,
        ("amount",),
        target="fee",
        expression=RuleExpr(
            op="max", args=(RuleExpr(op="percent_of", args=(const("12", "%"), fld("amount"))), const("0.30"))
        ),
    ),
    Rule(
        id="RULE-013",
        kind=RuleKind.CONDITION,
        entity="Claim",
        fields=("amount",),
        reason="it needs a second approval",
    ),
)
CLAIM = EntitySpec(
    name="Claim",
    fields=(
        FieldSpec(name="amount", type="decimal"),
        FieldSpec(name="approved", type="decimal", required=False),
        FieldSpec(name="count", type="int"),
        FieldSpec(name="at", type="datetime"),
        FieldSpec(name="treated_on", type="date"),
        FieldSpec(name="title"),
        FieldSpec(name="tier"),
        FieldSpec(name="email"),
        FieldSpec(name="code", alias="Code"),
    ),
)


def compute_spec() -> NodeSpec:
    entities, owned = attach_rules([CLAIM], RULES, ["COMPUTE", "EFFECT"])
    rules = tuple(owned["COMPUTE"])
    ops = [OperationSpec(name="validate_claim", kind="validate", entity="Claim")]
    ops += [
        OperationSpec(name=f.name, kind="calculate", entity="Claim")
        for f in formulas(rules, entities, {"validate_claim"})
    ]
    hooks = tuple(HookSpec(name=r.hook_name, description=r.hook_description) for r in rules if not r.implemented)
    return NodeSpec(
        service_name="ClaimRules",
        domain="claims",
        node_type="COMPUTE",
        entities=entities,
        operations=tuple(ops),
        hooks=hooks,
        mixins=("MixinValidation",),
        rules=rules,
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, ModuleType, ModuleType]]:
    root = tmp_path_factory.mktemp("claim-rules")
    generator = CodeGenerator()
    generator.generate_node(compute_spec(), root)
    generator.close()
    sys.path.insert(0, str(root))
    try:
        yield (
            importlib.import_module("claim_rules_models"),
            importlib.import_module("node_claims_claim_rules_compute.node"),
            importlib.import_module("onex_runtime.rules"),  # the service's own copy: its clock is the models'
        )
    finally:
        sys.path.remove(str(root))
        for name in [
            n
            for n in sys.modules
            if n.split(".")[0] in ("onex_runtime", "claim_rules_models", "node_claims_claim_rules_compute")
        ]:
            del sys.modules[name]


VALID = {
    "id": "c-1",
    "amount": "100.00",
    "approved": "0.01",
    "count": 3,
    "at": "2025-01-15T09:30:00Z",
    "treated_on": "2025-01-10",
    "title": "hello",
    "tier": "silver",
    "email": "a@example.com",
    "Code": "123456",
}


def test_every_codeable_rule_is_counted_and_the_condition_is_a_hook() -> None:
    spec = compute_spec()
    assert spec.rules_implemented == 12
    assert spec.hook_names == ("rule_013_condition",)
    assert "it needs a second approval" in spec.hooks[0].description


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("amount", "0", False),
        ("amount", "0.01", True),
        ("amount", "25000", True),
        ("amount", "25000.01", False),
        ("count", 0, False),
        ("count", 1, True),
        ("count", 5, True),
        ("count", 6, False),
        ("at", "2025-01-15T10:00:00Z", True),
        ("at", "2025-01-15T10:10:00Z", False),
        ("title", "abcd", False),
        ("title", "abcde", True),
        ("title", "a" * 12, True),
        ("title", "a" * 13, False),
        ("tier", "silver", True),
        ("tier", HOSTILE, True),
        ("tier", "gold", False),
        ("email", "not-an-email", False),
        ("Code", "12345", False),
        ("Code", "12345a", False),
        ("approved", "100.00", True),
        ("approved", "100.01", False),
        ("at", "2025-04-10T23:00:00Z", True),
        ("at", "2025-04-11T00:00:00Z", False),
        ("treated_on", "2025-01-15", True),
        ("treated_on", "2025-01-16", False),
    ],
)
def test_each_generated_validator_accepts_and_refuses_the_boundaries(
    service: tuple[ModuleType, ModuleType, ModuleType], field: str, value: Any, accepted: bool
) -> None:
    models, _, rules = service
    payload = {**VALID, field: value}
    with rules.use_clock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC)):
        if accepted:
            assert models.Claim.model_validate(payload).model_dump(mode="json", by_alias=True)[field] == value
        else:
            with pytest.raises(ValidationError, match=r"RULE-0\d\d"):
                models.Claim.model_validate(payload)


def test_the_generated_formula_uses_the_floor_and_the_hook_says_why(
    service: tuple[ModuleType, ModuleType, ModuleType],
) -> None:
    models, node, rules = service
    compute = node.NodeClaimRulesCompute()
    with rules.use_clock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC)):
        assert compute.calculate_fee(models.Claim.model_validate(VALID)) == Decimal("12.0000")
        assert compute.calculate_fee(models.Claim.model_validate({**VALID, "amount": "1.00"})) == Decimal("0.30")
    with pytest.raises(node.OnexError) as caught:
        compute.rule_013_condition({})
    assert caught.value.details == {"hook": "rule_013_condition"}
    assert "it needs a second approval" in caught.value.message
