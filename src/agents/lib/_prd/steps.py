"""The workflow steps a PRD lists, and the steps the ORCHESTRATOR runs (private).

``extract_workflow_steps`` reads the steps in the PRD's words and order; ``orchestrator_steps`` decides the
chain the ORCHESTRATOR gets (the PRD's steps, else names derived from the analysis). The rules are in
docs/codegen.md ("Workflow steps and lifecycle states", "Node specs").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.lib._prd.models import DecomposedTask, NodeType, Operation, WorkflowStep
from agents.lib._prd.parse import (
    ACCEPTANCE,
    DATA_MODEL,
    DEPENDENCIES,
    IGNORED,
    NFR,
    OUT_OF_SCOPE,
    SUCCESS,
    Block,
    Document,
    Section,
    describes_behaviour,
)
from agents.lib._prd.text import ARROW_RE, sentences, singular, tokens, word_set
from agents.lib.naming import is_safe_identifier, snake_case

__all__ = ["MAX_STEPS", "extract_workflow_steps", "orchestrator_steps", "step_name"]

MAX_STEPS = 16
"""The most workflow steps kept; a longer workflow is cut with a warning."""
_MAX_DERIVED_STEPS = 8  # steps derived from the analysis when the PRD lists no workflow
_MAX_COLONS = 5  # colons looked at per sentence for an inline list of steps
_MAX_STEP_WORDS = 4
_MAX_PART_WORDS = 24

_STEP_HEADING_WORDS = word_set(
    "workflow workflows steps step process processes flow flows procedure procedures pipeline pipelines saga "
    "orchestration sequence"
)
_STEP_CUE_WORDS = _STEP_HEADING_WORDS | word_set("stages phases")
_STEP_CUE_PHRASES = ("in this order", "in the following order", "in order:", "one after the other")
_NO_STEP_KINDS = frozenset({IGNORED, OUT_OF_SCOPE, DATA_MODEL, DEPENDENCIES, NFR, SUCCESS, ACCEPTANCE})
_NUMBERED_MARKER_RE = re.compile(r"(?:\d{1,3}|[a-zA-Z])[.)]")
_STEP_HEADING_RE = re.compile(r"step[ \t]*(\d{1,3})\b[ \t]*[:.)\u2013\u2014-]?[ \t]*(.*)", re.IGNORECASE)
_STEP_PREFIX_RE = re.compile(r"[ \t]*step[ \t]*\d{1,3}\b[ \t]*[:.)\u2013\u2014-]?[ \t]*", re.IGNORECASE)
_BRACKETS_RE = re.compile(r"\([^()]{0,300}\)|\[[^\[\]]{0,300}\]")
_STEP_CUT_RE = re.compile(r"[:;\u2013\u2014]| - ")
_LAST_PART_RE = re.compile(r"\s+(?:and\s+then|and\s+finally|and\s+lastly|then|finally|and)\s+")
_SEQUENCE_RE = re.compile(
    r"\b(first(?:ly)?|then|next|afterwards|after\s+that|subsequently|finally|lastly)\b", re.IGNORECASE
)
_SENTENCE_END_RE = re.compile(r"[.!?](?:\s|$)")
_LEAD_WORDS = word_set("and or then next finally lastly first firstly also afterwards subsequently so")
_SUBJECT_WORDS = word_set(
    "service orchestrator system workflow node platform app application it we they you worker job saga"
)
_MODAL_WORDS = word_set("will must should shall can may would could")
_DROP_WORDS = word_set(
    "the a an each every all its their our your his her this that these those any some both it them"
)
_AUX_WORDS = word_set("is are be been being was were")
_CUT_WORDS = word_set(
    "to by with in into through for from via on at and or that so when if while using as per after before "
    "within until unless because where which who whose of then but including once against"
)
_VERB_BASE = {"does": "do", "goes": "go", "has": "have", "is": "be"}
_NOT_AFTER_FIRST = word_set("the a an its their our his her this that each every")


def step_name(text: str, fallback: str = "step") -> str:
    """Return a snake_case identifier for a workflow step (``Charge the payment`` -> ``charge_payment``).

    Possessives are dropped (``compute each seller's balance`` -> ``compute_seller_balance``); the result is
    always a safe identifier (``fallback`` when the text has no usable word).
    """
    cleaned = _BRACKETS_RE.sub(" ", text)  # tokens() below folds the apostrophes
    prefix = _STEP_PREFIX_RE.match(cleaned)
    if prefix is not None and prefix.end() < len(cleaned):
        cleaned = cleaned[prefix.end() :]
    cleaned = _STEP_CUT_RE.split(cleaned, maxsplit=1)[0]
    words = tokens(cleaned)
    start = 0
    while start < len(words) and words[start] in _LEAD_WORDS:
        start += 1
    subject = start + (1 if start < len(words) and words[start] in ("the", "this", "our") else 0)
    if subject + 1 < len(words) and words[subject] in _SUBJECT_WORDS:
        start = subject + 1
    while start < len(words) and (words[start] in _MODAL_WORDS or words[start] in _LEAD_WORDS):
        start += 1
    kept: list[str] = []
    for word in words[start:]:
        if word in _DROP_WORDS or (kept and word in _AUX_WORDS):
            continue
        if word in _CUT_WORDS:
            if len(kept) >= 2:
                break
            continue
        kept.append(word)
        if len(kept) >= _MAX_STEP_WORDS:
            break
    if kept and len(kept[0]) > 3 and kept[0].endswith("s"):
        kept[0] = _VERB_BASE.get(kept[0], singular(kept[0]))
    return snake_case("_".join(kept), fallback, prefix="step")


@dataclass
class _StepCandidate:
    score: int
    position: int
    texts: list[str]
    section: str


@dataclass
class _Run:
    items: list[Block]
    intro: str


def _allowed(section: Section, kinds: frozenset[str]) -> bool:
    return section.kind not in kinds and describes_behaviour(section)


def _is_step_section(section: Section) -> bool:
    return bool(_STEP_HEADING_WORDS.intersection(tokens(section.title)))


def _has_step_cue(text: str) -> bool:
    lowered = text.lower()
    return bool(_STEP_CUE_WORDS.intersection(tokens(text))) or any(p in lowered for p in _STEP_CUE_PHRASES)


def _runs(section: Section, doc: Document) -> list[_Run]:
    """Return the lists of sibling items in ``section``, each with the text that introduces it."""
    runs: list[_Run] = []
    open_runs: dict[int | None, _Run] = {}
    previous: Block | None = None
    for block in section.blocks:
        if block.kind != "item":
            open_runs.clear()
            previous = block
            continue
        run = open_runs.get(block.parent_item)
        if run is None:
            if block.parent_item is not None:
                intro = doc.blocks[block.parent_item].text
            elif previous is not None and previous.kind == "paragraph":
                intro = previous.text
            else:
                intro = ""
            run = _Run([block], intro)
            open_runs[block.parent_item] = run
            runs.append(run)
        else:
            run.items.append(block)
        previous = block
    return runs


def _split_inline(after: str) -> list[str]:
    """Split ``a, b, and c`` into ``[a, b, c]``; the last part is also split at ``and`` / ``then``."""
    parts = [p.strip() for p in re.split(r"[,;]", after)]
    parts = [p for p in parts if p]
    if parts:
        last = _LAST_PART_RE.split(" " + parts[-1], maxsplit=1)
        parts[-1:] = [p.strip() for p in last if p.strip()]
    return parts


def _inline_candidates(text: str) -> list[list[str]]:
    found: list[list[str]] = []
    if ":" not in text:
        return found
    for sentence in sentences(" ".join(text.split())):
        colon = sentence.find(":")
        for _ in range(_MAX_COLONS):
            if colon == -1:
                break
            before, after = sentence[max(0, colon - 200) : colon], sentence[colon + 1 :]
            if _has_step_cue(before + ":"):
                tail = after.rstrip(" .!?")
                parts = [p.strip() for p in ARROW_RE.split(tail)] if ARROW_RE.search(tail) else []
                parts = parts if len(parts) >= 2 and all(parts) else _split_inline(tail)
                if len(parts) >= 2 and all(len(p.split()) <= _MAX_PART_WORDS for p in parts):
                    found.append(parts)
                    break
            colon = sentence.find(":", colon + 1)
    return found


def _sequence_candidates(text: str) -> list[list[str]]:
    """``First a, then b and finally c`` -> ``[a, b, c]`` (the clauses after each marker)."""
    if "first" not in text.lower():
        return []
    text = " ".join(text.split())
    markers = list(_SEQUENCE_RE.finditer(text))
    found: list[list[str]] = []
    index = 0
    while index < len(markers):
        marker = markers[index]
        index += 1
        if not marker.group(1).lower().startswith("first"):
            continue
        before = tokens(text[max(0, marker.start() - 20) : marker.start()])
        if before and before[-1] in _NOT_AFTER_FIRST:
            continue
        clauses: list[str] = []
        current = marker
        while True:
            following = markers[index] if index < len(markers) else None
            end = following.start() if following is not None else len(text)
            clause = text[current.end() : end]
            stop = _SENTENCE_END_RE.search(clause)
            if stop is not None:
                clause = clause[: stop.start()]
            clause = clause.strip(" ,;:")
            clause = re.sub(r"(?:,|\s)+(?:and|or)$", "", clause).strip(" ,;:")
            if clause:
                clauses.append(clause)
            if following is None or current.group(1).lower() in ("finally", "lastly"):
                break
            if following.group(1).lower().startswith("first"):
                break
            current = following
            index += 1
        if len(clauses) >= 2:
            found.append(clauses)
    return found


def _heading_candidates(doc: Document) -> list[_StepCandidate]:
    groups: dict[int, list[tuple[Section, str]]] = {}
    for section in doc.sections:
        if section.parent is None or not _allowed(section, _NO_STEP_KINDS):
            continue
        m = _STEP_HEADING_RE.fullmatch(section.title)
        if m is None:
            continue
        text = m.group(2).strip()
        if not text:
            text = next((b.text for b in section.blocks if b.kind in ("paragraph", "item")), "")
        groups.setdefault(section.parent.index, []).append((section, text))
    out: list[_StepCandidate] = []
    for parent_index, members in groups.items():
        if len(members) >= 2:
            parent = doc.sections[parent_index]
            out.append(_StepCandidate(6, members[0][0].heading_line, [t for _, t in members], parent.path()))
    return out


def _candidates(doc: Document) -> list[_StepCandidate]:
    found = _heading_candidates(doc)
    for section in doc.sections:
        if not _allowed(section, _NO_STEP_KINDS):
            continue
        step_section = _is_step_section(section)
        for run in _runs(section, doc):
            if len(run.items) < 2:
                continue
            numbered = all(_NUMBERED_MARKER_RE.fullmatch(b.marker) for b in run.items)
            if run.intro.rstrip().endswith(":") and _has_step_cue(run.intro):
                score = 5
            elif step_section and numbered:
                score = 4
            elif step_section and run.items[0].depth == 0:
                score = 3
            else:
                continue
            texts = [b.text for b in run.items]
            found.append(_StepCandidate(score, run.items[0].line, texts, section.path()))
        for block in section.blocks:
            if block.kind not in ("paragraph", "item"):
                continue
            for parts in _inline_candidates(block.text):
                found.append(_StepCandidate(2, block.line, parts, section.path()))
            for parts in _sequence_candidates(block.text):
                found.append(_StepCandidate(1, block.line, parts, section.path()))
    return found


def extract_workflow_steps(doc: Document, warnings: list[str]) -> tuple[WorkflowStep, ...]:
    """Return the steps of the workflow the PRD describes, in its order (empty when it lists none)."""
    candidates = _candidates(doc)
    if not candidates:
        return ()
    best = min(candidates, key=lambda c: (-c.score, c.position))
    texts = [" ".join(t.split()) for t in best.texts if t.strip()]
    if len(texts) > MAX_STEPS:
        warnings.append(f"the workflow lists {len(texts)} steps; only the first {MAX_STEPS} are used")
        texts = texts[:MAX_STEPS]
    steps: list[WorkflowStep] = []
    used: set[str] = set()
    for number, text in enumerate(texts, start=1):
        base = step_name(text, fallback=f"step_{number}")
        name, suffix = base, 2
        while name in used:
            name = f"{base}_{suffix}"
            suffix += 1
        used.add(name)
        steps.append(WorkflowStep(name=name, text=text[:500], source_section=best.section))
    return tuple(steps) if len(steps) >= 2 else ()


def _derived_name(text: str) -> str:
    return snake_case(" ".join(re.findall(r"[A-Za-z0-9]+", text)[:3]), "step")


def orchestrator_steps(
    workflow_steps: Sequence[WorkflowStep],
    operations: Sequence[Operation],
    tasks: Sequence[DecomposedTask],
    node_types: Sequence[NodeType],
) -> tuple[WorkflowStep, ...]:
    """Return the steps the ORCHESTRATOR runs, in order (each depends on the one before); never fewer than two.

    The PRD's workflow when it lists one; else (at most 8, ``origin`` saying which) the targets of its
    coordination operations when there are two or more, else the first words of the titles of the decomposed
    tasks of the other node types, else ``validate_request``, ``execute``, ``record_outcome`` or ``report``,
    ``update_statistics``, depending on the ``node_types`` of the service.
    """
    if len(workflow_steps) >= 2:
        return tuple(workflow_steps)
    origin = "operations"
    names = [_derived_name(op.target) for op in operations if op.node_type is NodeType.ORCHESTRATOR and op.target]
    if len(set(names)) < 2:
        origin = "tasks"
        names = [_derived_name(t.title) for t in tasks if t.node_type is not NodeType.ORCHESTRATOR]
    if len(set(names)) < 2:
        origin = "default"
        names = ["validate_request"] if NodeType.COMPUTE in node_types else []
        names += ["execute"]
        names += ["record_outcome"] if NodeType.EFFECT in node_types else ["report"]
        names += ["update_statistics"] if NodeType.REDUCER in node_types else []
    unique = [n for n in dict.fromkeys(names) if is_safe_identifier(n)][:_MAX_DERIVED_STEPS]
    return tuple(WorkflowStep(name=n, text=n.replace("_", " "), origin=origin) for n in unique)
