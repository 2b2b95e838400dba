"""A PRD rule as a node spec carries it: the analysis's :class:`~agents.lib.prd_analyzer.Rule` and its fate.

``implemented`` says whether the generated code checks or computes it; when not, ``reason`` says why and the
rule is a hook of its node (a method raising NOT_IMPLEMENTED, listed in ``contract.yaml``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from agents.lib.prd_analyzer import Rule

__all__ = ["MODEL_KINDS", "RuleSpec"]

MODEL_KINDS = frozenset({"range", "length", "enum", "format", "comparison"})
"""The kinds checked by the shared models themselves (a field or model validator)."""


class RuleSpec(BaseModel):
    """One of the PRD's rules, with whether the generated code implements it and why not."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: Rule
    implemented: bool
    reason: str = Field(default="", max_length=500)

    @property
    def id(self) -> str:
        """The rule's id (``RULE-001``)."""
        return self.rule.id

    @property
    def kind(self) -> str:
        """The rule's kind (``range``, ``formula``...)."""
        return self.rule.kind.value

    @property
    def hook_name(self) -> str:
        """The method left for humans when the rule is not implemented (``rule_007_quota``)."""
        digits = re.sub(r"[^0-9]", "", self.rule.id) or "0"
        return f"rule_{int(digits):03d}_{self.kind}"

    @property
    def hook_description(self) -> str:
        """What the hook's method and the contract say: the rule, its text and why it is not code."""
        return f"{self.rule.id} ({self.kind}) is not implemented: {self.reason}. The PRD says: {self.rule.text}"[
            :600
        ]

    @property
    def is_model_rule(self) -> bool:
        """Whether the shared models check it (range, length, enum, format, comparison)."""
        return self.kind in MODEL_KINDS
