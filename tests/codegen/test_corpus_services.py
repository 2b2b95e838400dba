"""Every corpus PRD (held-out ones too) yields a service that verifies, whose tests check the PRD's own rules.

Per PRD it prints the rules implemented as code, those left as hooks, and the rule tests generated; the
example PRDs get the same check in test_examples.py. docs/codegen.md ("Rules in the generated code") records
the figures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.lib.codegen.builder import build_node_specs
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.spec import NodeSpec
from agents.lib.codegen.verify import verify_generated
from agents.lib.prd_analyzer import PRDAnalysis, analyze_prd

CORPUS = Path(__file__).resolve().parents[1] / "prd" / "corpus"
PRDS = sorted(p for d in (CORPUS, CORPUS / "held_out") for p in d.iterdir() if p.suffix in (".md", ".txt"))
_RULE_ID = re.compile(r"RULE-\d{3}")


def rule_figures(analysis: PRDAnalysis, specs: Sequence[NodeSpec], service: Path) -> dict[str, int]:
    """Return the rule figures of a generated service, checking that every rule is accounted for once."""
    accounted = [r.id for s in specs for r in s.rules]
    assert sorted(accounted) == sorted(r.id for r in analysis.rules)  # implemented, or a hook: never dropped
    implemented = {r.id for s in specs for r in s.rules if r.implemented}
    hooks = {r.hook_name for s in specs for r in s.rules if not r.implemented}
    assert all(h in s.hook_names for s in specs for r in s.rules if not r.implemented for h in [r.hook_name])
    tested: set[str] = set()
    cases = 0
    for path in service.glob("node_*/tests/test_rules.py"):
        text = path.read_text(encoding="utf-8")
        tested |= set(_RULE_ID.findall(text))
        cases += len(re.findall(r"^def test_rule_", text, flags=re.M))
    assert tested <= implemented  # a test of a rule that is not code would be a lie
    return {
        "rules": len(analysis.rules),
        "implemented": len(implemented),
        "hooks": len(hooks),
        "tested": len(tested),
        "tests": cases,
    }


def generate_and_measure(prd: Path, out: Path) -> dict[str, int]:
    """Generate the PRD's service into ``out``, verify it once, and return its rule figures."""
    analysis = analyze_prd(prd)
    specs = build_node_specs(analysis)
    generator = CodeGenerator()
    try:
        for spec in specs:
            generator.generate_node(spec, out)
    finally:
        generator.close()
    report = verify_generated(out)
    assert report.passed, report.summary()
    figures = rule_figures(analysis, specs, out)
    print(
        f"{prd.stem}: {figures['implemented']}/{figures['rules']} rules implemented, {figures['hooks']} left as "
        f"hooks, {figures['tested']} tested by {figures['tests']} generated rule tests; {report.summary()}"
    )
    return figures


def test_the_corpus_is_all_here() -> None:
    assert len(PRDS) >= 33


@pytest.mark.parametrize("prd", PRDS, ids=lambda p: p.stem)
def test_corpus_prd_generates_a_verified_service_with_its_rules(prd: Path, tmp_path: Path) -> None:
    figures = generate_and_measure(prd, tmp_path)
    assert figures["implemented"] + figures["hooks"] == figures["rules"]
    if figures["implemented"]:
        assert figures["tested"] >= 1
