"""Measure the analysis of the PRD corpus in tests/prd/corpus/ against what a careful reader extracts.

``python -m tests.prd.corpus_measure`` prints the per-PRD figures (the test in test_corpus.py asserts them).
Each ``<name>.expected.yaml`` lists the service name, the entities with their fields (a type, or ``null`` when
the PRD does not say), the rules (only the keys given are compared), the lifecycle's states and the workflow
steps. A rule without ``codeable: false`` is one the PRD states fully enough to be implemented.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from agents.lib.prd_analyzer import PRDAnalysis, Rule, analyze_prd

CORPUS = Path(__file__).resolve().parent / "corpus"
HELD_OUT = CORPUS / "held_out"
"""PRDs written after the reader was finished and never tuned for: the figures on new documents."""


def expected_files(directory: Path = CORPUS) -> list[Path]:
    """The expected files of a corpus directory, sorted."""
    return sorted(directory.glob("*.expected.yaml"))


def source_for(expected: Path) -> Path:
    """The PRD an expected file describes."""
    stem = expected.name.removesuffix(".expected.yaml")
    matches = [p for p in expected.parent.glob(f"{stem}.*") if not p.name.endswith(".expected.yaml")]
    assert len(matches) == 1, (expected, matches)
    return matches[0]


def load_expected(expected: Path) -> dict[str, Any]:
    """The expected file as a mapping."""
    data = yaml.safe_load(expected.read_text(encoding="utf-8"))
    assert isinstance(data, dict), expected
    return data


def _norm(value: Any) -> Any:
    text = str(value).strip()
    try:
        return Decimal(text).normalize()
    except InvalidOperation:
        return text.lower()


def _rule_value(value: Any) -> Any:
    number = getattr(value, "number", None)
    return Decimal(number).normalize() if number is not None else _norm(value.text)


def rule_matches(want: dict[str, Any], got: Rule) -> bool:
    """Whether ``got`` is the rule ``want`` describes (only the keys ``want`` gives are compared)."""
    if got.kind.value != want["kind"]:
        return False
    if "entity" in want and got.entity != want["entity"]:
        return False
    if "fields" in want:
        if got.kind.value == "comparison":
            if list(got.fields[: len(want["fields"])]) != list(want["fields"]):
                return False
        elif set(got.fields) != set(want["fields"]):
            return False
    if "scope" in want and set(got.scope) != set(want["scope"]):
        return False
    if "operator" in want and (got.operator is None or got.operator.value != want["operator"]):
        return False
    if "values" in want and [_rule_value(v) for v in got.values] != [_norm(v) for v in want["values"]]:
        return False
    if "format" in want and (got.format is None or got.format.value != want["format"]):
        return False
    return "target" not in want or got.target == want["target"]


def _match(wanted: list[dict[str, Any]], found: tuple[Rule, ...]) -> dict[int, int]:
    """A maximum matching of expected rules to found rules (augmenting paths; the lists are small).

    A rule the PRD states fully is matched first to a codeable rule and a hook to a hook; only what is left is
    matched across (a codeable rule found as a hook, or a hook found as codeable: an over-claim).
    """
    strict = [
        [
            j
            for j, rule in enumerate(found)
            if rule_matches(want, rule) and rule.codeable is want.get("codeable", True)
        ]
        for want in wanted
    ]
    loose = [[j for j, rule in enumerate(found) if rule_matches(want, rule)] for want in wanted]
    owner: dict[int, int] = {}
    for edges in (strict, loose):
        _augment_all(edges, owner)
    return {i: j for j, i in owner.items()}


def _augment_all(edges: list[list[int]], owner: dict[int, int]) -> None:
    matched = set(owner.values())

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(edges)):
        if i not in matched:
            augment(i, set())


@dataclass
class Figures:
    """What one PRD's analysis got right, against its expected file."""

    name: str
    analysis: PRDAnalysis
    entities_expected: int = 0
    entities_found: int = 0
    invented_entities: list[str] = field(default_factory=list)
    fields_expected: int = 0
    fields_found: int = 0
    field_misses: list[str] = field(default_factory=list)
    codeable_expected: int = 0
    codeable_found: int = 0
    codeable_implemented: int = 0
    hooks_expected: int = 0
    hooks_found: int = 0
    overclaimed: list[str] = field(default_factory=list)
    rules_found: int = 0
    rules_matched: int = 0
    rule_misses: list[str] = field(default_factory=list)
    extra_rules: list[str] = field(default_factory=list)
    service_name_ok: bool = True
    states_ok: bool = True
    steps_ok: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def entity_recall(self) -> float:
        """Share of the expected entities found."""
        return self.entities_found / self.entities_expected if self.entities_expected else 1.0

    @property
    def field_recall(self) -> float:
        """Share of the expected fields found with the expected type."""
        return self.fields_found / self.fields_expected if self.fields_expected else 1.0

    @property
    def rule_recall(self) -> float:
        """Share of the stated codeable rules found (implemented or hooked)."""
        return self.codeable_found / self.codeable_expected if self.codeable_expected else 1.0

    @property
    def implemented_recall(self) -> float:
        """Share of the stated codeable rules found and codeable."""
        return self.codeable_implemented / self.codeable_expected if self.codeable_expected else 1.0

    @property
    def rule_precision(self) -> float:
        """Share of the rules found that a careful reader lists."""
        return self.rules_matched / self.rules_found if self.rules_found else 1.0


def measure(expected: Path) -> Figures:
    """Analyse one corpus PRD and compare the analysis with its expected file."""
    want = load_expected(expected)
    analysis = analyze_prd(source_for(expected))
    figures = Figures(expected.name.removesuffix(".expected.yaml"), analysis)
    if analysis.service_name != want["service_name"]:
        figures.service_name_ok = False
        figures.problems.append(f"service name {analysis.service_name!r}, expected {want['service_name']!r}")
    entities: dict[str, dict[str, Any]] = want.get("entities") or {}
    figures.entities_expected = len(entities)
    for name, fields in entities.items():
        entity = analysis.entity(name)
        figures.fields_expected += len(fields)
        if entity is None:
            figures.problems.append(f"entity {name} not found")
            figures.field_misses.extend(f"{name}.{f}" for f in fields)
            continue
        figures.entities_found += 1
        for fname, ftype in fields.items():
            got = entity.field(fname)
            if got is not None and (ftype is None or got.type.value == ftype):
                figures.fields_found += 1
            else:
                figures.field_misses.append(
                    f"{name}.{fname}" + (f" is {got.type.value}, not {ftype}" if got is not None else "")
                )
    figures.invented_entities = [e.name for e in analysis.entities if e.name not in entities]
    for key, alias in (want.get("aliases") or {}).items():
        entity_name, _, field_name = key.partition(".")
        entity = analysis.entity(entity_name)
        got_alias = (
            None
            if entity is None
            else entity.alias
            if not field_name
            else getattr(entity.field(field_name), "alias", None)
        )
        if got_alias != alias:
            figures.problems.append(f"alias of {key} is {got_alias!r}, expected {alias!r}")
    wanted: list[dict[str, Any]] = want.get("rules") or []
    matching = _match(wanted, analysis.rules)
    figures.rules_found = len(analysis.rules)
    figures.rules_matched = len(matching)
    for i, rule in enumerate(wanted):
        codeable = rule.get("codeable", True)
        got = analysis.rules[matching[i]] if i in matching else None
        if codeable:
            figures.codeable_expected += 1
            if got is not None:
                figures.codeable_found += 1
                figures.codeable_implemented += int(got.codeable)
        else:
            figures.hooks_expected += 1
            if got is not None:
                figures.hooks_found += 1
                if got.codeable:
                    figures.overclaimed.append(f"{got.id} {got.kind.value}: {got.text[:70]}")
        if got is None:
            figures.rule_misses.append(", ".join(f"{k}={v}" for k, v in rule.items()))
    used = set(matching.values())
    figures.extra_rules = [
        f"{r.id} {r.kind.value} {r.entity}.{','.join(r.fields)} {r.operator} "
        f"{[v.text for v in r.values]}: {r.text[:60]}"
        for j, r in enumerate(analysis.rules)
        if j not in used
    ]
    lifecycle = want.get("lifecycle")
    got_life = analysis.lifecycle
    if lifecycle is None:
        figures.states_ok = got_life is None
    else:
        figures.states_ok = got_life is not None and set(got_life.states) == set(lifecycle["states"])
        if figures.states_ok and "entity" in lifecycle and got_life is not None:
            figures.states_ok = got_life.entity == lifecycle["entity"]
    if not figures.states_ok:
        figures.problems.append(
            f"lifecycle {None if got_life is None else (got_life.entity, got_life.states)}, expected {lifecycle}"
        )
    steps = [s.name for s in analysis.workflow_steps]
    figures.steps_ok = steps == want.get("workflow_steps", [])
    if not figures.steps_ok:
        figures.problems.append(f"steps {steps}, expected {want.get('workflow_steps')}")
    return figures


def report(all_figures: list[Figures], *, verbose: bool = False) -> str:
    """A table of the figures, one row per PRD, and the totals."""
    lines = [
        f"{'PRD':24} {'entities':>9} {'fields':>7} {'rules':>7} {'coded':>6} {'hooks':>6} {'prec':>5} "
        f"{'name':>4} {'states':>6} {'steps':>5}"
    ]

    def ratio(a: int, b: int) -> str:
        return f"{a}/{b}"

    for f in all_figures:
        lines.append(
            f"{f.name:24} {ratio(f.entities_found, f.entities_expected):>9} "
            f"{f.field_recall:>7.2f} {ratio(f.codeable_found, f.codeable_expected):>7} "
            f"{ratio(f.codeable_implemented, f.codeable_expected):>6} {ratio(f.hooks_found, f.hooks_expected):>6} "
            f"{f.rule_precision:>5.2f} {'ok' if f.service_name_ok else 'NO':>4} "
            f"{'ok' if f.states_ok else 'NO':>6} {'ok' if f.steps_ok else 'NO':>5}"
        )
        if verbose:
            for label, items in (
                ("problem", f.problems),
                ("invented entity", f.invented_entities),
                ("field", f.field_misses),
                ("missed rule", f.rule_misses),
                ("extra rule", f.extra_rules),
                ("over-claimed hook", f.overclaimed),
            ):
                lines.extend(f"    {label}: {item}" for item in items)
    total = Totals.of(all_figures)
    lines.append(
        f"total: {len(all_figures)} PRDs; entities {total.entities_found}/{total.entities_expected} "
        f"({total.entity_recall:.2f}), fields {total.field_recall:.2f}, codeable rules found "
        f"{total.codeable_found}/{total.codeable_expected} ({total.rule_recall:.2f}), implemented "
        f"{total.codeable_implemented}/{total.codeable_expected} ({total.implemented_recall:.2f}), hooks found "
        f"{total.hooks_found}/{total.hooks_expected}, rule precision {total.rule_precision:.2f}, "
        f"lowest per-PRD rule recall {min(f.rule_recall for f in all_figures):.2f}, lowest entity recall "
        f"{min(f.entity_recall for f in all_figures):.2f}"
    )
    return "\n".join(lines)


@dataclass
class Totals:
    """The corpus's figures added up."""

    entities_expected: int
    entities_found: int
    fields_expected: int
    fields_found: int
    codeable_expected: int
    codeable_found: int
    codeable_implemented: int
    hooks_expected: int
    hooks_found: int
    rules_found: int
    rules_matched: int

    @classmethod
    def of(cls, all_figures: list[Figures]) -> Totals:
        """Add up the figures of every PRD."""
        return cls(*(sum(getattr(f, name) for f in all_figures) for name in cls.__dataclass_fields__))

    @property
    def entity_recall(self) -> float:
        """Share of the expected entities found."""
        return self.entities_found / self.entities_expected

    @property
    def field_recall(self) -> float:
        """Share of the expected fields found with their type."""
        return self.fields_found / self.fields_expected

    @property
    def rule_recall(self) -> float:
        """Share of the stated codeable rules found."""
        return self.codeable_found / self.codeable_expected

    @property
    def implemented_recall(self) -> float:
        """Share of the stated codeable rules found and codeable."""
        return self.codeable_implemented / self.codeable_expected

    @property
    def rule_precision(self) -> float:
        """Share of the rules found that a careful reader lists."""
        return self.rules_matched / self.rules_found if self.rules_found else 1.0


if __name__ == "__main__":
    names = [n for n in sys.argv[1:] if n != "--held-out"]
    directory = HELD_OUT if "--held-out" in sys.argv[1:] else CORPUS
    chosen = [e for e in expected_files(directory) if not names or e.name.removesuffix(".expected.yaml") in names]
    print(report([measure(e) for e in chosen], verbose=True))
