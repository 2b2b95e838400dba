"""Every mixin in generated code: a service whose nodes have every mixin their type allows verifies cleanly."""

from __future__ import annotations

from pathlib import Path

import yaml

from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, WRAP_ORDER
from agents.lib.codegen.spec import NodeSpec
from agents.lib.codegen.verify import verify_generated
from tests.codegen.conftest import compute_spec, effect_spec, orchestrator_spec, reducer_spec


def test_a_service_with_every_applicable_mixin_verifies(tmp_path: Path) -> None:
    generator = CodeGenerator()
    try:
        for spec in (effect_spec(), compute_spec(), reducer_spec(), orchestrator_spec()):
            mixins = [m for m, cls in MIXIN_CATALOGUE.items() if spec.node_type in cls.INFO.node_types]
            generator.generate_node(NodeSpec.model_validate({**spec.model_dump(), "mixins": mixins}), tmp_path)
    finally:
        generator.close()
    report = verify_generated(tmp_path)
    assert {c.name: c.passed for c in report.checks if not c.passed} == {}
    assert report.check("tests").passed and report.check("mypy").passed
    contract = yaml.safe_load((tmp_path / "node_library_loans_effect/contract.yaml").read_text(encoding="utf-8"))
    assert contract["mixins"] == list(WRAP_ORDER)  # every mixin applies to an EFFECT, listed in wrapping order
