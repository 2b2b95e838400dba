"""Every example PRD yields a service that passes every verification check."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.lib.codegen.builder import build_node_specs
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.verify import verify_generated
from agents.lib.prd_analyzer import analyze_prd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"
PRDS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".md", ".txt"))


def test_there_are_enough_examples() -> None:
    assert len(PRDS) >= 6


@pytest.mark.parametrize("prd", PRDS, ids=lambda p: p.stem)
def test_example_generates_a_verified_service(prd: Path, tmp_path: Path) -> None:
    analysis = analyze_prd(prd)
    specs = build_node_specs(analysis)
    assert [s.node_type for s in specs] == [str(t) for t in analysis.recommended_node_types]
    generator = CodeGenerator()
    for spec in specs:
        generator.generate_node(spec, tmp_path)
    generator.close()
    report = verify_generated(tmp_path)
    assert report.passed, report.summary()
    assert sorted(report.packages) == sorted(s.package_name for s in specs)
