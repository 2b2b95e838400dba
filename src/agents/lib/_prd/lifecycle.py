"""The lifecycle a PRD names, and the state machine the REDUCER folds events through (private).

``extract_lifecycle`` reads the states and transitions in the PRD's words; ``reducer_lifecycle`` decides the
machine the REDUCER gets (the PRD's, else a known lifecycle its requirements name, else open -> active ->
closed), with an event on every transition. The rules are in docs/codegen.md ("Workflow steps and lifecycle
states", "Node specs"). Ignored and out-of-scope sections and code blocks are never read here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agents.lib._prd.models import Entity, Lifecycle, StateTransition
from agents.lib._prd.parse import Block, Document, Section, describes_behaviour
from agents.lib._prd.text import ARROW_RE, sentences, tokens, word_set
from agents.lib.naming import fold_apostrophes, is_safe_identifier, snake_case

__all__ = ["extract_lifecycle", "reducer_lifecycle"]

_MAX_STATES = 20
_STATE_TRIGGERS = ("state", "status", "lifecycle", "life cycle", "from", "start", "begin", "created", "can ")
_MAX_FACTS = 400  # transitions read from one PRD; beyond that the text is not a lifecycle description
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
_CLAUSE_RE = re.compile(r"[,;()]|\s(?:or|and|but|while|when|if|unless|once|after|before)\s")
_NAME = r"[a-z][a-z0-9_]*"
_FROM_TO_RE = re.compile(
    rf"\bfrom\s+(?:the\s+)?(?:status(?:es)?\s+|states?\s+)?(?:of\s+)?(?P<src>{_NAME}(?:\s+{_NAME}){{0,2}}?)"
    rf"\s+(?:back\s+)?to\s+(?:the\s+)?(?:status\s+|state\s+)?(?:of\s+)?(?P<dst>{_NAME}(?:\s+{_NAME}){{0,2}}?)"
    r"(?=\s*(?:[,;.:)!?]|$|\s(?:when|once|after|if|and|or|but|by|on|as|while|before|within|via|with|unless|"
    r"until|in|at|for|then|so)\b))"
)
_OR_TO_RE = re.compile(rf"\s*,?\s*or\s+(?:back\s+)?to\s+(?:the\s+)?(?P<dst>{_NAME})\b")
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
_CAN_BE_RE = re.compile(r"\bcan\s+(?:also\s+|only\s+)?be\s+(?P<state>[a-z]+(?:ed|en|wn|lled))\s+(?P<rest>.*)")
# "a paid order can be refunded": the state before the noun is the one it leaves
_STATE_NOUN_CAN_BE_RE = re.compile(
    r"(?:\b(?:a|an|the|any)\s+|^|[;,]\s*)(?P<src>[a-z_]+)\s+[a-z]+\s+can\s+(?:also\s+|only\s+)?be\s+"
    r"(?P<state>[a-z]+(?:ed|en|wn|lled))\s*(?:[.;]|$|,\s*which\s+(?:moves|puts|sets|returns|sends)\s+it\s+"
    r"(?:back\s+)?(?:to|in|into)\s+(?:the\s+)?(?:status\s+|state\s+)?(?P<dst>[a-z_]+))"
)
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
    return snake_case(name, "state", prefix="s")


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
        parts = ARROW_RE.split(clause)
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
    if cue and ARROW_RE.search(text):
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
            # "from running to succeeded or to failed": the same source, another target
            also = _OR_TO_RE.match(text, m.end())
            if also is not None:
                other = _state(also.group("dst"))
                if other is not None and other not in (source, target):
                    facts.transitions.append(_Transition(source, other, "", evidence, facts.next_order(section)))
                    spans.append(also.span())
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
    for m in itertools.islice(_STATE_NOUN_CAN_BE_RE.finditer(text), 4):
        source, target = _state(m.group("src")), _state(m.group("dst") or m.group("state"))
        if source is not None and target is not None and m.group("state") not in _NOT_A_STATE_VERB:
            facts.extras.append(_Extra(target, [source], evidence, facts.next_order(section)))
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
                event = snake_case("_".join(words), "event", prefix="f") if words else ""
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
        if not describes_behaviour(section):
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
        for spelling in dict.fromkeys((entity.name, entity.alias or entity.name)):
            snake = snake_case(spelling).replace("_", " ")
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


# -- the REDUCER's state machine ----------------------------------------------------------------------------------
_KNOWN_LIFECYCLES: tuple[tuple[str, ...], ...] = (
    ("pending", "approved", "completed"),
    ("pending", "confirmed", "shipped", "delivered"),
    ("draft", "submitted", "approved", "published"),
    ("available", "borrowed", "returned"),
    ("open", "in_progress", "resolved", "closed"),
    ("created", "paid", "fulfilled"),
)
_CANCEL_WORDS = ("cancelled", "canceled", "rejected", "failed", "lost")
_DEFAULT_LIFECYCLE = Lifecycle(
    states=("open", "active", "closed"),
    initial="open",
    terminal=("closed",),
    transitions=(
        StateTransition(source="open", target="active", event="record"),
        StateTransition(source="active", target="active", event="record"),
        StateTransition(source="active", target="active", event="adjust"),
        StateTransition(source="active", target="closed", event="close"),
        StateTransition(source="open", target="closed", event="close"),
    ),
    origin="default",
)


def _with_events(lifecycle: Lifecycle) -> Lifecycle | None:
    """Return the PRD's lifecycle with an event on every transition; ``None`` if it cannot be a state machine.

    An event is named after the PRD's trigger when the PRD gives one that always leads to the same state, else
    ``to_<target>``; so every state reached by an event refuses that event (the generated tests rely on one
    illegal transition existing). A machine needs a transition out of its initial state.
    """
    events = [
        t.event if t.event and is_safe_identifier(t.event) else f"to_{t.target}" for t in lifecycle.transitions
    ]
    targets: dict[str, set[str]] = {}
    for event, t in zip(events, lifecycle.transitions, strict=True):
        targets.setdefault(event, set()).add(t.target)
    named = all(len(v) == 1 for v in targets.values())
    transitions: list[StateTransition] = []
    seen: set[tuple[str, str]] = set()
    for event, t in zip(events, lifecycle.transitions, strict=True):
        if t.source == t.target or (t.source, t.target) in seen:
            continue
        seen.add((t.source, t.target))
        transitions.append(t.model_copy(update={"event": event if named else f"to_{t.target}"}))
    if not all(is_safe_identifier(s) for s in lifecycle.states):
        return None
    if not any(t.source == lifecycle.initial for t in transitions):
        return None
    return lifecycle.model_copy(update={"transitions": tuple(transitions), "origin": "prd"})


def _known_lifecycle(texts: Iterable[str]) -> Lifecycle | None:
    """Return a known lifecycle when ``texts`` name all its states but one, with a cancel-like state they name."""
    text = " ".join(texts).lower()
    words = set(re.findall(r"[a-z_]+", text.replace("in progress", "in_progress")))
    for states in _KNOWN_LIFECYCLES:
        if sum(s in words for s in states) < len(states) - 1:
            continue
        transitions = [StateTransition(source=a, target=b, event=f"to_{b}") for a, b in itertools.pairwise(states)]
        cancel = next((w for w in _CANCEL_WORDS if w in words), None)
        if cancel is not None:
            transitions += [StateTransition(source=s, target=cancel, event=f"to_{cancel}") for s in states[:-1]]
        return Lifecycle(
            states=(*states, cancel) if cancel is not None else states,
            initial=states[0],
            terminal=(states[-1], cancel) if cancel is not None else (states[-1],),
            transitions=tuple(transitions),
            origin="known",
        )
    return None


def reducer_lifecycle(lifecycle: Lifecycle | None, texts: Iterable[str]) -> Lifecycle:
    """Return the state machine the REDUCER folds events through; every transition has its event.

    The PRD's ``lifecycle`` when it can be one; else a known lifecycle (pending/approved/completed,
    draft/submitted/approved/published...) when ``texts`` (the description, requirements and features) name all
    its states but one, plus a cancel-like state they name; else ``open -> active -> closed`` with ``record``,
    ``adjust`` and ``close`` events.
    """
    if lifecycle is not None:
        machine = _with_events(lifecycle)
        if machine is not None:
            return machine
    return _known_lifecycle(texts) or _DEFAULT_LIFECYCLE
