"""What an analysis saved without ``orchestrator_steps`` or ``reducer_lifecycle`` gets when it is loaded (private).

An older analysis (JSON from before these fields existed) still loads: the two are decided from its other
fields by the same functions ``analyze_prd`` uses.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from agents.lib._prd.lifecycle import reducer_lifecycle
from agents.lib._prd.models import DecomposedTask, Lifecycle, NodeType, Operation, Requirement, WorkflowStep
from agents.lib._prd.steps import orchestrator_steps

__all__ = ["decide_missing"]

_STEPS = TypeAdapter(tuple[WorkflowStep, ...])
_OPERATIONS = TypeAdapter(tuple[Operation, ...])
_TASKS = TypeAdapter(tuple[DecomposedTask, ...])
_NODE_TYPES = TypeAdapter(tuple[NodeType, ...])
_LIFECYCLE = TypeAdapter(Lifecycle | None)
_REQUIREMENTS = TypeAdapter(tuple[Requirement, ...])
_TEXTS = TypeAdapter(tuple[str, ...])


def decide_missing(data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` with ``orchestrator_steps`` and ``reducer_lifecycle`` decided where they are missing.

    Data whose other fields do not validate is returned unchanged, for the model's validation to report.
    """
    try:
        decided: dict[str, Any] = {}
        if "orchestrator_steps" not in data:
            decided["orchestrator_steps"] = orchestrator_steps(
                _STEPS.validate_python(data.get("workflow_steps", ())),
                _OPERATIONS.validate_python(data.get("operations", ())),
                _TASKS.validate_python(data.get("decomposed_tasks", ())),
                _NODE_TYPES.validate_python(data.get("recommended_node_types", ())),
            )
        if "reducer_lifecycle" not in data:
            texts = [
                str(data.get("description", "")),
                *(r.text for r in _REQUIREMENTS.validate_python(data.get("functional_requirements", ()))),
                *_TEXTS.validate_python(data.get("features", ())),
            ]
            lifecycle = _LIFECYCLE.validate_python(data.get("lifecycle"))
            decided["reducer_lifecycle"] = reducer_lifecycle(lifecycle, texts)
    except ValidationError:
        return data
    return {**data, **decided}
