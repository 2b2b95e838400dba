"""What each ORCHESTRATOR step does and how it is retried, decided from the PRD's own words.

:func:`plan_steps` maps a step named ``validate_<entity>`` to the COMPUTE node's validation and one named
``create_<entity>`` (or ``record_``, ``store_``, ``register_``...) to the EFFECT node's create, when those
nodes are part of the service; every other step stays a hook left for humans. A requirement such as "retries
the transfer step three times with backoff" gives the steps it names (or every step, for "each step") a retry
policy. docs/codegen.md ("The ORCHESTRATOR") describes both rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agents.lib.codegen.spec import EntitySpec, StepAction, StepSpec
from agents.lib.prd_analyzer import PRDAnalysis

__all__ = ["plan_steps", "retry_statements", "step_action"]

_VALIDATE_VERBS = frozenset({"validate", "check", "verify"})
_CREATE_VERBS = frozenset({"create", "record", "store", "save", "register", "add", "open", "submit", "insert"})
_RETRY = re.compile(r"\bretr(?:y|ies|ied|ying)\b", re.IGNORECASE)
_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_COUNT = re.compile(
    r"\b(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)\s+(times|retries|attempts|tries)\b|\b(once|twice)\b",
    re.IGNORECASE,
)
_EVERY_STEP = re.compile(r"\b(each|every|all|any)\s+(?:workflow\s+|of\s+the\s+)?steps?\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_NOT_NAMING_A_STEP = frozenset(
    {"step", "steps", "the", "and", "with", "each", "all", "data", "file", "send", "get"}
)
_MAX_ATTEMPTS = 20


def step_action(
    name: str, entities: Sequence[EntitySpec], node_types: Iterable[str]
) -> tuple[StepAction, EntitySpec | None]:
    """Return what the step ``name`` does: ``validate``/``create`` of an entity, or ``hook``.

    ``validate_<entity>`` needs a COMPUTE node and ``create_<entity>`` (or another create verb) an EFFECT node
    among ``node_types``; the rest of the name must be the entity's snake_case name or its plural.
    """
    verb, _, rest = name.partition("_")
    types = set(node_types)
    if verb in _VALIDATE_VERBS and "COMPUTE" in types:
        action: StepAction = "validate"
    elif verb in _CREATE_VERBS and "EFFECT" in types:
        action = "create"
    else:
        return "hook", None
    for entity in entities:
        if rest in (entity.snake, entity.plural):
            return action, entity
    return "hook", None


def retry_statements(analysis: PRDAnalysis) -> list[tuple[str, int]]:
    """Return each sentence of the requirements that states a retry count, with the attempts it allows.

    "retried 3 times" and "three retries" allow 4 attempts (the first try and 3 retries), "3 attempts" 3,
    "once" 2 and "twice" 3.
    """
    texts: list[str] = []
    for requirement in (*analysis.functional_requirements, *analysis.non_functional_requirements):
        texts += [requirement.text, *requirement.details]
    found: list[tuple[str, int]] = []
    for text in texts:
        for sentence in _SENTENCE.split(" ".join(text.split())):
            retry = _RETRY.search(sentence)
            if retry is None:
                continue
            count = _COUNT.search(sentence, retry.start())
            if count is None:
                continue
            if count.group(3):
                attempts = 2 if count.group(3).lower() == "once" else 3
            else:
                raw = count.group(1).lower()
                number = int(raw) if raw.isdigit() else _NUMBERS[raw]
                attempts = number if count.group(2).lower() in ("attempts", "tries") else number + 1
            found.append((sentence, max(1, min(attempts, _MAX_ATTEMPTS))))
    return found


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") else word


def _named_steps(sentence: str, steps: Sequence[StepSpec]) -> list[str]:
    if _EVERY_STEP.search(sentence):
        return [s.name for s in steps]
    words = {_stem(w) for w in re.findall(r"[a-z0-9]+", sentence.lower())}
    named = []
    for step in steps:
        own = {_stem(w) for w in step.name.split("_") if w not in _NOT_NAMING_A_STEP and len(w) > 3}
        if own & words:
            named.append(step.name)
    return named


def plan_steps(
    analysis: PRDAnalysis, steps: Sequence[StepSpec], entities: Sequence[EntitySpec]
) -> tuple[tuple[StepSpec, ...], tuple[EntitySpec, ...]]:
    """Return the steps with their actions and retry policies, and the entities the mapped steps use."""
    node_types = [str(t) for t in analysis.recommended_node_types]
    policies: dict[str, tuple[int, str]] = {}
    for sentence, attempts in retry_statements(analysis):
        for name in _named_steps(sentence, steps):
            policies.setdefault(name, (attempts, sentence[:300]))
    planned: list[StepSpec] = []
    used: dict[str, EntitySpec] = {}
    for step in steps:
        action, entity = step_action(step.name, entities, node_types)
        update: dict[str, object] = {"action": action, "entity": entity.name if entity else None}
        if entity is not None:
            used.setdefault(entity.name, entity)
        if step.name in policies:
            attempts, source = policies[step.name]
            update |= {"attempts": attempts, "policy_source": source}
        planned.append(StepSpec.model_validate({**step.model_dump(), **update}))
    return tuple(planned), tuple(used.values())
