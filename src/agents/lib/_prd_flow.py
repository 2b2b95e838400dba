"""The workflow steps and the lifecycle states a PRD names (private).

Workflow steps, strongest evidence first (ties: the first in the document):

1. sibling headings ``Step 1: ...``, ``Step 2: ...``;
2. a list introduced by a line ending with ``:`` that speaks of a workflow, steps, a process, a flow, a pipeline,
   a sequence... (``The orchestrator runs the fulfilment workflow, step by step:`` and its numbered items);
3. a numbered list under a heading such as Workflow, Steps, Process, Flow, Pipeline, Procedure;
4. a bulleted list under such a heading;
5. a sentence listing steps after a colon (``coordinates the payout workflow step by step: close the week,
   compute each seller's balance, ... and notify each seller``);
6. ``first ..., then ..., finally ...`` sentences.

Each step's name is a snake_case identifier made of its first words without articles, subjects ("the
service"), modal verbs and what follows a preposition once two words are kept: ``Reserve stock in the inventory
service.`` -> ``reserve_stock``.

Lifecycle states come from arrow chains (``status: pending -> approved -> sent``), "moves through the states
a, b and c", "moves from X to Y", "starts in status X and moves to Y", "can be cancelled while pending or
approved", transition tables (``| From | To | Event |``) and the items of a States / Lifecycle / Status section.
Arrow chains and "from X to Y" count only in a sentence that speaks of a status, a state or a lifecycle (or
moves from/to), or under such a heading. The states connected to the first one the PRD names form the lifecycle.

Ignored and out-of-scope sections and code blocks are never read here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agents.lib._prd_models import Entity, Lifecycle, StateTransition, WorkflowStep
from agents.lib._prd_parse import (
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
)
from agents.lib._prd_text import fold_apostrophes, sentences, singular, snake_identifier, tokens, word_set

__all__ = ["MAX_STEPS", "extract_lifecycle", "extract_workflow_steps", "step_name"]

MAX_STEPS = 16
"""The most workflow steps kept; a longer workflow is cut with a warning."""
_MAX_STATES = 20
_STATE_TRIGGERS = ("state", "status", "lifecycle", "life cycle", "from", "start", "begin", "created", "can ")
_MAX_FACTS = 400  # transitions read from one PRD; beyond that the text is not a lifecycle description
_MAX_COLONS = 5  # colons looked at per sentence for an inline list of steps
_MAX_STEP_WORDS = 4
_MAX_PART_WORDS = 24

# -- workflow steps ---------------------------------------------------------------------------------------------
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
    "within until unless because where which who whose of then but including once"
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
    return snake_identifier("_".join(kept), fallback=fallback, prefix="step")


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
    return section.kind not in kinds


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
                parts = [p.strip() for p in _ARROW_RE.split(tail)] if _ARROW_RE.search(tail) else []
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


# -- lifecycle states -------------------------------------------------------------------------------------------
_STATE_HEADING_WORDS = word_set("state states status statuses lifecycle lifecycles transition transitions")
_STATE_NOISE = word_set("the a an status statuses state states stage")
_STATE_REJECT = word_set(
    "and or to from of for with by it is are be any other each every all this that then when if while which "
    "who not no can will must should its their"
)
_PREFIX_WORDS = word_set("in on out")
_INNER_REJECT = word_set("in on at of as after before once until within via so but")
_MOVE = (
    r"(?:moves?|moved|moving|goes|go|going|gone|changes?|changed|transitions?|transitioned|passes|passed|"
    r"switch(?:es|ed)?|progress(?:es|ed)?|advances?|advanced|returns?|returned|flips?|flipped|set|sets)"
)
_ARROW_RE = re.compile(r"-{1,2}>|={1,2}>|[\u2013\u2014]>|[\u2192\u27f6\u21d2\u2794\u279c\u27f9\u21e8]")
_CLAUSE_RE = re.compile(r"[,;()]|\s(?:or|and|but|while|when|if|unless|once|after|before)\s")
_NAME = r"[a-z][a-z0-9_]*"
_FROM_TO_RE = re.compile(
    rf"\bfrom\s+(?:the\s+)?(?:status(?:es)?\s+|states?\s+)?(?:of\s+)?(?P<src>{_NAME}(?:\s+{_NAME}){{0,2}}?)"
    rf"\s+(?:back\s+)?to\s+(?:the\s+)?(?:status\s+|state\s+)?(?:of\s+)?(?P<dst>{_NAME}(?:\s+{_NAME}){{0,2}}?)"
    r"(?=\s*(?:[,;.:)!?]|$|\s(?:when|once|after|if|and|or|but|by|on|as|while|before|within|via|with|unless|"
    r"until|in|at|for|then|so)\b))"
)
_MOVE_BEFORE_FROM_RE = re.compile(rf"\b{_MOVE}(?:\s+\w+){{0,3}}\s*$")
_STARTS_RE = re.compile(
    r"\b(?:starts?|begins?|is\s+created|are\s+created|starts\s+out)\s+(?:in|as|at|with|out\s+as)\s+"
    rf"(?:the\s+)?(?:status|state)?\s*(?:of\s+)?(?P<state>{_NAME})"
)
_MOVES_TO_RE = re.compile(
    rf"\b{_MOVE}\s+(?:on\s+|back\s+|then\s+)?to\s+(?:the\s+)?(?:status\s+|state\s+)?(?P<dst>{_NAME}(?:\s+{_NAME}){{0,2}})"
)
_THROUGH_RE = re.compile(
    r"(?:\bthrough|\bstates\s+are|\bstatuses\s+are|\blifecycle\s+is|\bstates\s*:|\bstatuses\s*:|\bstatus\s*:|"
    r"\blifecycle\s*:)\s+(?:the\s+)?(?:following\s+)?(?:states|statuses|stages|status)?\s*:?\s*"
    r"(?P<list>[a-z0-9_ ]+(?:\s*,\s*[a-z0-9_ ]+)*)"
)
_CAN_BE_RE = re.compile(r"\bcan\s+(?:also\s+|only\s+)?be\s+(?P<state>[a-z]+(?:ed|en|lled))\s+(?P<rest>.*)")
_WHILE_RE = re.compile(
    r"^(?:only\s+)?(?:while|when|from|if|in)\s+(?:it\s+is\s+|they\s+are\s+|still\s+)*(?:in\s+)?(?:the\s+)?"
    r"(?:status(?:es)?\s+|states?\s+)?(?:of\s+)?(?P<list>[a-z0-9_ ,]+)"
)
_ANY_RE = re.compile(r"^(?:at\s+any\s+(?:time|point|stage)|from\s+any\s+(?:state|status|stage))")
_NOT_A_STATE_VERB = word_set("used based needed required allowed given seen shown taken written done")
_FROM_COLS = (
    "from",
    "from state",
    "from status",
    "source",
    "source state",
    "current",
    "current state",
    "current status",
    "old status",
    "old state",
)
_TO_COLS = (
    "to",
    "to state",
    "to status",
    "target",
    "target state",
    "next",
    "next state",
    "next status",
    "new status",
    "new state",
)
_EVENT_COLS = ("event", "trigger", "action", "command", "on", "when", "transition")
_STATE_COLS = ("state", "status", "name", "value")


def _state(text: str) -> str | None:
    """Return a state name from a short phrase (``In Progress`` -> ``in_progress``), or ``None``."""
    words = tokens(text)
    while words and words[0] in _STATE_NOISE:
        words = words[1:]
    while words and words[-1] in _STATE_NOISE:
        words = words[:-1]
    if not 1 <= len(words) <= 3 or any(w in _STATE_REJECT for w in words) or words[0].isdigit():
        return None
    for index, word in enumerate(words[1:], start=1):
        if word in _INNER_REJECT and not (word == "of" and index == 1 and words[0] == "out"):
            return None  # "paid in full" is not a state name, "out of stock" is
    name = "_".join(words)
    if len(name) > 40:
        return None
    return snake_identifier(name, fallback="state", prefix="s")


def _last_state(text: str) -> str | None:
    """Return the state a phrase ends with (``the status transitions draft`` -> ``draft``)."""
    if ":" in text:
        after = text.rsplit(":", 1)[1]
        if 1 <= len(tokens(after)) <= 3:
            return _state(after)
    words = tokens(text)
    if not words:
        return None
    if len(words) >= 2 and words[-2] in _PREFIX_WORDS:
        return _state(" ".join(words[-2:]))
    return _state(words[-1])


def _first_state(text: str) -> str | None:
    """Return the state a phrase starts with (``paid by finance`` -> ``paid``, ``out of stock``)."""
    words = tokens(text)
    while words and words[0] in _STATE_NOISE:
        words = words[1:]
    if not words:
        return None
    if len(words) <= 3 and _state(" ".join(words)) is not None:
        return _state(" ".join(words))
    if words[0] == "out" and len(words) >= 3 and words[1] == "of":
        return _state(" ".join(words[:3]))
    if words[0] in _PREFIX_WORDS and len(words) >= 2:
        return _state(" ".join(words[:2]))
    return _state(words[0])


@dataclass
class _Transition:
    source: str
    target: str
    event: str
    evidence: str
    order: int


@dataclass
class _Extra:
    target: str
    sources: list[str] | None  # None: from any non-terminal state
    evidence: str
    order: int


@dataclass
class _Facts:
    transitions: list[_Transition] = field(default_factory=list)
    declared: list[tuple[list[str], int, str]] = field(default_factory=list)
    initial: list[str] = field(default_factory=list)
    extras: list[_Extra] = field(default_factory=list)
    sections: dict[int, str] = field(default_factory=dict)
    counter: int = 0

    def next_order(self, section: Section) -> int:
        self.counter += 1
        self.sections[self.counter] = section.path()
        return self.counter

    def chain(self, states: Sequence[str], evidence: str, section: Section) -> None:
        for source, target in itertools.pairwise(states[: _MAX_FACTS + 1]):
            if source != target:
                self.transitions.append(_Transition(source, target, "", evidence, self.next_order(section)))


def _normalise(sentence: str) -> str:
    text = fold_apostrophes(sentence).lower()
    for quote in "\"'`\u201c\u201d\u2018\u2019*":
        text = text.replace(quote, " ")
    return " ".join(text.split())


def _has_state_cue(text: str) -> bool:
    words = set(tokens(text))
    return bool(words & _STATE_HEADING_WORDS) or "life cycle" in text


def _arrow_chains(text: str) -> list[list[str]]:
    chains: list[list[str]] = []
    for clause in _CLAUSE_RE.split(text):
        parts = _ARROW_RE.split(clause)
        if len(parts) < 2:
            continue
        chain: list[str] = []
        first = _last_state(parts[0])
        if first is not None:
            chain.append(first)
        for index, part in enumerate(parts[1:], start=1):
            last = index == len(parts) - 1
            state = _first_state(part) if last else _state(part)
            if state is None:
                if len(chain) >= 2:
                    chains.append(chain)
                chain = []
                continue
            chain.append(state)
        if len(chain) >= 2:
            chains.append(chain)
    return chains


def _split_states(text: str) -> list[str]:
    pieces = re.split(r"\s*,\s*|\s+(?:and|or|then)\s+", text.strip())
    out: list[str] = []
    for piece in pieces:
        state = _state(piece) if piece.strip() else None
        if state is None:
            return []
        out.append(state)
    return out


def _sentence_facts(sentence: str, facts: _Facts, section: Section, state_section: bool) -> None:
    text = _normalise(sentence)
    if not text:
        return
    evidence = " ".join(sentence.split())[:200]
    cue = state_section or _has_state_cue(text)
    if cue and _ARROW_RE.search(text):
        for chain in _arrow_chains(text):
            facts.chain(chain, evidence, section)
        return
    known: str | None = None
    starts = _STARTS_RE.search(text)
    if starts is not None and cue:
        state = _state(starts.group("state"))
        if state is not None:
            facts.initial.append(state)
            known = state
    spans: list[tuple[int, int]] = []
    moved = False  # "moves from a to b, and from b to c": one verb for both
    for m in _FROM_TO_RE.finditer(text):
        moved = moved or _MOVE_BEFORE_FROM_RE.search(text[max(0, m.start() - 60) : m.start()]) is not None
        if not (cue or moved):
            continue
        source, target = _state(m.group("src")), _state(m.group("dst"))
        if source is not None and target is not None and source != target:
            facts.transitions.append(_Transition(source, target, "", evidence, facts.next_order(section)))
            spans.append(m.span())
            known = target
    for m in _MOVES_TO_RE.finditer(text):
        if any(a <= m.start() < b for a, b in spans) or known is None:
            continue
        target = _first_state(m.group("dst"))
        if target is not None and target != known:
            facts.transitions.append(_Transition(known, target, "", evidence, facts.next_order(section)))
            known = target
    through = _THROUGH_RE.search(text) if cue else None
    if through is not None:
        listed = _split_states(re.split(r"[;.:(]", through.group("list"))[0])
        if len(listed) >= 2:
            facts.chain(listed, evidence, section)
    for m in itertools.islice(_CAN_BE_RE.finditer(text), 8):
        target = _state(m.group("state"))
        if target is None or m.group("state") in _NOT_A_STATE_VERB:
            continue
        rest = m.group("rest")
        if _ANY_RE.match(rest):
            facts.extras.append(_Extra(target, None, evidence, facts.next_order(section)))
            continue
        where = _WHILE_RE.match(rest)
        if where is None:
            continue
        sources = _split_states(re.split(r"[;.:(]", where.group("list"))[0].strip(" ,"))
        if sources:
            facts.extras.append(_Extra(target, sources, evidence, facts.next_order(section)))


def _column(header: Sequence[str], names: Iterable[str]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _table_facts(block: Block, facts: _Facts, section: Section, state_section: bool) -> None:
    if len(block.rows) < 2:
        return
    header = block.rows[0]
    source_col, target_col = _column(header, _FROM_COLS), _column(header, _TO_COLS)
    if source_col is not None and target_col is not None:
        event_col = _column(header, _EVENT_COLS)
        for row in block.rows[1 : _MAX_FACTS + 1]:
            if max(source_col, target_col) >= len(row):
                continue
            targets = _split_states(_normalise(row[target_col]))
            sources = _split_states(_normalise(row[source_col]).replace("/", ","))
            if len(targets) != 1 or not sources:
                continue
            event = ""
            if event_col is not None and event_col < len(row):
                words = tokens(row[event_col])[:4]
                event = snake_identifier("_".join(words), fallback="") if words else ""
            evidence = " | ".join(c for c in row if c)[:200]
            for source in sources:
                if source != targets[0]:
                    facts.transitions.append(
                        _Transition(source, targets[0], event, evidence, facts.next_order(section))
                    )
        return
    state_col = _column(header, _STATE_COLS)
    if state_section and state_col is not None:
        cells = [row[state_col] for row in block.rows[1 : _MAX_FACTS + 1] if state_col < len(row)]
        states = [s for s in (_state(cell) for cell in cells) if s]
        if len(states) >= 2:
            facts.declared.append((list(dict.fromkeys(states)), facts.next_order(section), ""))


def _declared_item(text: str) -> str | None:
    head = re.split(r":|\s[-\u2013\u2014]\s|\(", text, maxsplit=1)[0]
    return _state(_normalise(head)) if len(tokens(head)) <= 3 else None


def _collect(doc: Document) -> _Facts:
    facts = _Facts()
    for section in doc.sections:
        if section.kind in (IGNORED, OUT_OF_SCOPE):
            continue
        state_section = bool(_STATE_HEADING_WORDS.intersection(tokens(section.title))) or (
            "life cycle" in section.title.lower()
        )
        declared: list[str] = []
        for block in section.blocks:
            if len(facts.transitions) >= _MAX_FACTS:
                return facts
            if block.kind == "table":
                _table_facts(block, facts, section, state_section)
                continue
            if block.kind not in ("paragraph", "item"):
                continue
            before = len(facts.transitions)
            lowered = block.text.lower()
            if not (state_section or any(word in lowered for word in _STATE_TRIGGERS)):
                continue
            for sentence in sentences(block.text):
                if len(facts.transitions) >= _MAX_FACTS:
                    break
                _sentence_facts(sentence, facts, section, state_section)
            declaring = state_section and block.kind == "item" and block.depth == 0
            if declaring and len(facts.transitions) == before and len(declared) < _MAX_FACTS:
                state = _declared_item(block.text)
                if state is not None:
                    declared.append(state)
        if len(declared) >= 2:
            facts.declared.append((list(dict.fromkeys(declared)), facts.next_order(section), ""))
    return facts


class _Components:
    """Union-find over state names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        root = name
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[name] != root:
            self.parent[name], name = root, self.parent[name]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _entity_for(evidence: str, entities: Sequence[Entity]) -> str | None:
    words = tokens(evidence)
    joined = f" {' '.join(words)} "
    for entity in entities:
        snake = snake_identifier(entity.name).replace("_", " ")
        for form in (snake, f"{snake}s", f"{snake}es"):
            if f" {form} " in joined:
                return entity.name
    return None


def extract_lifecycle(doc: Document, entities: Sequence[Entity]) -> Lifecycle | None:
    """Return the lifecycle (states and transitions) the PRD names, or ``None`` when it names none."""
    facts = _collect(doc)
    components = _Components()
    known: set[str] = set()
    for t in facts.transitions:
        components.union(t.source, t.target)
        known |= {t.source, t.target}
    for states, _, _ in facts.declared:
        for state in states:
            components.union(states[0], state)
        known |= set(states)
    extras: list[_Extra] = []
    for extra in facts.extras:
        sources = None if extra.sources is None else [s for s in extra.sources if s in known]
        if sources == [] or (sources is None and not known):
            continue
        extras.append(_Extra(extra.target, sources, extra.evidence, extra.order))
        for source in sources or ():
            components.union(source, extra.target)
    firsts = [(t.order, t.source, t.evidence) for t in facts.transitions]
    firsts += [(order, states[0], evidence) for states, order, evidence in facts.declared]
    if not firsts:
        return None
    first_order, first_state, first_evidence = min(firsts)
    root = components.find(first_state)

    def mine(state: str) -> bool:
        return components.find(state) == root

    ordered: dict[str, None] = {}  # an ordered set
    events: list[tuple[int, str, str, str, str]] = []  # order, source, target, event, evidence
    for t in facts.transitions:
        if mine(t.source):
            events.append((t.order, t.source, t.target, t.event, t.evidence))
    declared_states: dict[str, None] = {}
    for states, _, _ in facts.declared:
        if mine(states[0]):
            declared_states.update(dict.fromkeys(states))
    any_extras: list[_Extra] = []
    for extra in extras:
        if extra.sources is None:
            any_extras.append(extra)
        elif mine(extra.target):
            events += [(extra.order, s, extra.target, "", extra.evidence) for s in extra.sources]
    events.sort(key=lambda e: e[0])
    if not events and len(declared_states) >= 2:
        events = [(0, a, b, "", "") for a, b in itertools.pairwise(declared_states)]
    if not events:
        return None
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    for _, source, target, event, evidence in events:
        if source != target and (source, target) not in pairs:
            pairs[(source, target)] = (event, evidence)
        ordered.update(dict.fromkeys((source, target)))
    ordered.update(declared_states)
    if any_extras:
        outgoing = {s for s, _ in pairs}
        for extra in any_extras:
            for state in [s for s in ordered if s in outgoing and s != extra.target]:
                pairs.setdefault((state, extra.target), ("", extra.evidence))
            ordered.setdefault(extra.target)
    allowed = set(list(ordered)[:_MAX_STATES])
    transitions = [
        StateTransition(source=s, target=t, event=e, evidence=ev)
        for (s, t), (e, ev) in pairs.items()
        if s in allowed and t in allowed
    ]
    if not transitions:
        return None
    leaving = {t.source for t in transitions}
    entering = {t.target for t in transitions}
    initial = next((s for s in facts.initial if s in leaving and s in allowed), None)
    if initial is None:
        initial = next((s for s in ordered if s in allowed and s in leaving and s not in entering), None)
    if initial is None:
        initial = next(s for s in ordered if s in allowed and s in leaving)
    names = [initial, *(s for s in ordered if s in allowed and s != initial)]
    terminal = tuple(s for s in names if s in entering and s not in leaving)
    return Lifecycle(
        entity=_entity_for(first_evidence, entities),
        states=tuple(names),
        initial=initial,
        terminal=terminal,
        transitions=tuple(transitions),
        source_section=facts.sections.get(first_order, ""),
    )
