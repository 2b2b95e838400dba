"""Requirements, user stories and the other itemised sections of a PRD (private)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.lib._prd.models import Priority, Requirement, UserStory
from agents.lib._prd.parse import (
    ACCEPTANCE,
    API,
    DEPENDENCIES,
    FEATURES,
    FUNCTIONAL,
    GOALS,
    IGNORED,
    NFR,
    OTHER,
    OUT_OF_SCOPE,
    OVERVIEW,
    PREAMBLE,
    STORIES,
    SUCCESS,
    TECHNICAL,
    Block,
    Document,
    Section,
)
from agents.lib._prd.text import sentences, word_set

__all__ = [
    "Items",
    "clean_placeholders",
    "extract_items",
    "is_requirement_like",
    "parse_priority",
]

# "FR-001: text", "[REQ-2] text", "US-01 - text" (a dashed id), or "R1: text" (a compact id, which
# needs a separator so that "S3 buckets ..." is not read as an id). One optional run of blanks
# before the separator and one after keep these linear.
_ID_RE = re.compile(
    r"[\[(]?((?:[A-Z]{1,6}-){1,2}\d{1,5}(?:\.\d{1,3})?)[\])]?(?:[ \t]*[:.)\u2013\u2014-])?[ \t]*(\S.*)"
)
_COMPACT_ID_RE = re.compile(r"[\[(]?([A-Z]{1,4}\d{1,4}(?:\.\d{1,3})?)[\])]?[ \t]*[:.)\u2013\u2014-][ \t]*(\S.*)")
_PRIORITY_PREFIX_RE = re.compile(r"[\[(]?(P[0-4])[\])]?[ \t]*[:.\u2013\u2014-]?[ \t]*")
_P_TOKEN_RE = re.compile(r"\bP([0-4])\b")
_WORD_RE = re.compile(r"[A-Za-z]+")
_PLACEHOLDER_RE = re.compile(r"\[[^\[\]\n]{0,200}\]|<[^<>\n]{0,200}>|\{\{[^{}\n]{0,200}\}\}")
_PLACEHOLDER_WORDS = word_set(
    "your here insert describe tbd todo placeholder xxx lorem fill enter replace name feature "
    "description goal requirement add example something"
)
_EMPTY_ITEMS = frozenset({"tbd", "todo", "n/a", "na", "...", "-", "tba", "none", "etc"})
_MODALS = word_set("must shall should will can may needs allows lets supports provides enables")
_P_MAP = {"0": Priority.HIGH, "1": Priority.MEDIUM, "2": Priority.LOW, "3": Priority.LOW, "4": Priority.LOW}
_TABLE_TEXT_COLS = (
    "requirement",
    "requirements",
    "description",
    "feature",
    "text",
    "title",
    "story",
    "user story",
    "criteria",
    "criterion",
    "metric",
    "capability",
    "goal",
    "name",
    "summary",
    "details",
    "detail",
)
_TABLE_ID_COLS = ("id", "#", "ref", "key", "req id", "requirement id", "no", "no.")
_TABLE_PRIO_COLS = ("priority", "prio", "p", "moscow", "importance")
_STORY_MARKERS = (
    " i want to ",
    " i want ",
    " i need to ",
    " i need ",
    " i would like to ",
    " i would like ",
    " i'd like to ",
    " i can ",
    " i am able to ",
    " i should be able to ",
    " i'd like ",
)
_BENEFIT_MARKERS = (" so that ", " in order to ", ", so ", " so i can ", " so we can ")


@dataclass
class Items:
    """Everything itemised in a PRD."""

    functional: list[Requirement] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    stories: list[UserStory] = field(default_factory=list)
    success: list[str] = field(default_factory=list)
    nfr: list[Requirement] = field(default_factory=list)
    technical: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requirements_fallback: bool = False


def clean_placeholders(text: str) -> str:
    """Remove template placeholders (``[Your feature here]``, ``<name>``, ``{{x}}``)."""
    if "[" not in text and "<" not in text and "{{" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        inner = m.group(0)[1:-1].strip("{} ").lower()
        words = set(_WORD_RE.findall(inner))
        if m.group(0).startswith("{{") or not words or words & _PLACEHOLDER_WORDS:
            return ""
        return m.group(0)

    return " ".join(_PLACEHOLDER_RE.sub(repl, text).split())


_MOSCOW = (
    (("must have", "must-have"), Priority.HIGH, "Must have"),
    (("should have", "should-have"), Priority.MEDIUM, "Should have"),
    (("could have", "could-have", "nice to have", "nice-to-have"), Priority.LOW, "Could have"),
)


def _drop_marker(text: str, phrase: str) -> str:
    """Remove a ``(Must have)`` / ``[Should have]`` marker; keep the phrase inside a sentence."""
    lower = text.lower()
    for opener, closer in (("(", ")"), ("[", "]")):
        idx = lower.find(opener + phrase + closer)
        if idx != -1:
            joined = " ".join((text[:idx] + text[idx + len(phrase) + 2 :]).split())
            return joined.replace(" :", ":").replace(" ,", ",").replace(" .", ".")
    return text


def parse_priority(text: str) -> tuple[str, Priority | None, str]:
    """Return ``(text without a leading priority marker, priority, marker)``."""
    label = ""
    prio: Priority | None = None
    m = _PRIORITY_PREFIX_RE.match(text)
    if m and m.end() < len(text):
        label = m.group(1)
        prio = _P_MAP[label[1]]
        text = text[m.end() :].strip()
    if prio is None:
        pm = _P_TOKEN_RE.search(text)
        if pm:
            label = f"P{pm.group(1)}"
            prio = _P_MAP[pm.group(1)]
    if prio is None:
        lower = f" {text.lower()} "
        for phrases, value, name in _MOSCOW:
            for phrase in phrases:
                if phrase in lower:
                    return _drop_marker(text, phrase), value, name
        words = _WORD_RE.findall(text[:2000])
        upper = {w for w in words if w.isupper()}
        for marker, value in (
            ("MUST", Priority.HIGH),
            ("SHALL", Priority.HIGH),
            ("REQUIRED", Priority.HIGH),
            ("SHOULD", Priority.MEDIUM),
            ("RECOMMENDED", Priority.MEDIUM),
            ("MAY", Priority.LOW),
            ("OPTIONAL", Priority.LOW),
        ):
            if marker in upper:
                return text, value, marker
        lowered = {w.lower() for w in words}
        if "must" in lowered or "shall" in lowered:
            return text, Priority.HIGH, "must"
        if "should" in lowered:
            return text, Priority.MEDIUM, "should"
    return text, prio, label


def _priority_word(cell: str) -> tuple[Priority | None, str]:
    c = cell.strip().lower()
    if not c:
        return None, ""
    if c[:1] == "p" and c[1:2].isdigit():
        return _P_MAP.get(c[1], Priority.LOW), cell.strip()
    if c in ("high", "critical", "must", "must have", "blocker", "h"):
        return Priority.HIGH, cell.strip()
    if c in ("medium", "med", "should", "should have", "normal", "m"):
        return Priority.MEDIUM, cell.strip()
    if c in ("low", "could", "could have", "may", "nice to have", "l", "minor"):
        return Priority.LOW, cell.strip()
    return None, ""


def is_requirement_like(sentence: str) -> bool:
    """Whether a sentence reads like a requirement (modal verb, 3-80 words, not a question)."""
    words = sentence.lower().split()
    if not 3 <= len(words) <= 80 or sentence.rstrip().endswith("?"):
        return False
    return any(w.strip(",.;:()") in _MODALS for w in words)


def _parse_story(text: str) -> tuple[str, str, str] | None:
    lower = " " + " ".join(text.lower().split()) + " "
    flat = " " + " ".join(text.split()) + " "
    start = -1
    for prefix in (" as a ", " as an ", " as the "):
        idx = lower.find(prefix)
        if idx != -1 and idx <= 40 and (start == -1 or idx < start):
            start = idx + len(prefix)
    if start == -1 and lower.startswith(" as ") and "," in lower[4:40]:
        start = 4  # "As finance, I want ...": a role without an article
    if start == -1:
        return None
    best: tuple[int, str] | None = None
    for marker in _STORY_MARKERS:
        idx = lower.find(marker, start)
        if idx != -1 and (best is None or idx < best[0]):
            best = (idx, marker)
    if best is None:
        return None
    role = flat[start : best[0]].strip(" ,")
    rest_start = best[0] + len(best[1])
    goal_end = len(flat)
    benefit = ""
    for marker in _BENEFIT_MARKERS:
        idx = lower.find(marker, rest_start)
        if idx != -1 and idx < goal_end:
            goal_end = idx
            benefit = flat[idx + len(marker) :].strip()
            if marker in (" in order to ",):
                benefit = "to " + benefit
    goal = flat[rest_start:goal_end].strip(" ,.")
    benefit = benefit.strip(" ,.")
    if not role or not goal or len(role.split()) > 8:
        return None
    return role, goal, benefit


def _split_id(text: str) -> tuple[str | None, str]:
    m = _ID_RE.match(text) or _COMPACT_ID_RE.match(text)
    if m and not (m.group(1)[:1] == "P" and m.group(1)[1:].isdigit()):
        return m.group(1), m.group(2).strip()
    return None, text


def _section_priority(section: Section) -> tuple[Priority | None, str]:
    for s in [section, *section.ancestors()]:
        if s.level == 0:
            break
        _, prio, label = parse_priority(s.title)
        if prio is not None and label and label not in ("must", "should"):
            return prio, label
    return None, ""


def _usable(text: str) -> str:
    text = clean_placeholders(text).strip()
    if text.lower().strip(" .:") in _EMPTY_ITEMS or not any(ch.isalpha() for ch in text):
        return ""
    return text


def _table_columns(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


@dataclass
class _StoryDraft:
    role: str
    goal: str
    benefit: str
    text: str
    section: str
    explicit_id: str | None
    criteria: list[str] = field(default_factory=list)


class _Collector:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.items = Items()
        self.used: set[int] = set()
        self.counters: dict[str, int] = {}
        self.block_pos = {id(b): n for n, b in enumerate(doc.blocks)}
        self.seen_ids: set[str] = set()

    def new_id(self, explicit: str | None, prefix: str = "REQ") -> str:
        if explicit and explicit not in self.seen_ids:
            self.seen_ids.add(explicit)
            return explicit
        while True:
            self.counters[prefix] = self.counters.get(prefix, 0) + 1
            candidate = f"{prefix}-{self.counters[prefix]:03d}"
            if candidate not in self.seen_ids:
                self.seen_ids.add(candidate)
                return candidate

    def make_requirement(
        self,
        text: str,
        section: Section,
        details: tuple[str, ...] = (),
        prefix: str = "REQ",
        priority: Priority | None = None,
        label: str = "",
        explicit_id: str | None = None,
    ) -> Requirement | None:
        rid, text = _split_id(text)
        rid = explicit_id or rid
        text, prio, plabel = parse_priority(text)
        rid2, text = _split_id(text)
        rid = rid or rid2
        text = _usable(text)
        if not text:
            return None
        if prio is None:
            prio, plabel = (priority, label) if priority is not None else _section_priority(section)
        return Requirement(
            id=self.new_id(rid, prefix),
            text=text,
            priority=prio or Priority.MEDIUM,
            priority_label=plabel,
            source_section=section.path(),
            details=tuple(d for d in (_usable(x) for x in details) if d),
        )

    # -- user stories ---------------------------------------------------------------
    def stories(self) -> None:
        count = 0
        for section in self.doc.sections:
            if section.kind in (IGNORED, OUT_OF_SCOPE):
                continue
            current: _StoryDraft | None = None
            story_item: Block | None = None
            heading_story = _parse_story(section.title)
            if heading_story is not None:
                current = self._story_dict(heading_story, section.title, section)
            for block in section.blocks:
                if block.kind in ("item", "paragraph"):
                    parsed = _parse_story(block.text[:2000])
                    if parsed is not None and (
                        block.kind == "paragraph" or block.depth == 0 or story_item is None
                    ):
                        if current is not None:
                            count = self._emit_story(current, count)
                        current = self._story_dict(parsed, block.text, section)
                        story_item = block if block.kind == "item" else None
                        self.used.add(id(block))
                        continue
                    if current is None:
                        continue
                    low = block.text.lower().strip(" *:")
                    if low.startswith("acceptance criteria") or low in ("criteria", "ac"):
                        rest = block.text.split(":", 1)[1].strip() if ":" in block.text else ""
                        if rest:
                            _ac(current).append(rest)
                        self.used.add(id(block))
                        continue
                    if block.kind == "item" and (story_item is None or block.depth > story_item.depth):
                        _ac(current).append(block.text)
                        self.used.add(id(block))
                        continue
                    if block.kind == "paragraph" and low.startswith(("given ", "when ", "then ")):
                        _ac(current).append(block.text)
                        self.used.add(id(block))
                        continue
                    if block.kind == "item" and story_item is not None:
                        count = self._emit_story(current, count)
                        current = None
                        story_item = None
                elif block.kind == "table" and current is not None:
                    for row in block.rows[1:]:
                        _ac(current).append(" | ".join(c for c in row if c))
                    self.used.add(id(block))
            if current is not None:
                # acceptance criteria in child sections (#### Acceptance Criteria)
                sections = self.doc.sections
                for position in range(section.index + 1, len(sections)):  # not islice: it walks from 0
                    child = sections[position]
                    if child.parent is not section:
                        if child.level <= section.level:
                            break
                        continue
                    if child.own_kind == ACCEPTANCE:
                        for block in child.blocks:
                            if block.kind in ("item", "paragraph"):
                                _ac(current).append(block.text)
                                self.used.add(id(block))
                count = self._emit_story(current, count)

    def _story_dict(self, parsed: tuple[str, str, str], text: str, section: Section) -> _StoryDraft:
        sid, _ = _split_id(section.title)
        tid, text = _split_id(text)
        return _StoryDraft(
            role=parsed[0],
            goal=parsed[1],
            benefit=parsed[2],
            text=" ".join(text.split()),
            section=section.path(),
            explicit_id=tid or sid,
        )

    def _emit_story(self, story: _StoryDraft, count: int) -> int:
        count += 1
        sid = story.explicit_id if story.explicit_id not in self.seen_ids else None
        if sid is None:
            sid = f"US-{count:03d}"
            while sid in self.seen_ids:
                count += 1
                sid = f"US-{count:03d}"
        self.seen_ids.add(sid)
        criteria = tuple(c for c in (_usable(x) for x in story.criteria) if c)
        self.items.stories.append(
            UserStory(
                id=sid,
                role=story.role,
                goal=story.goal,
                benefit=story.benefit,
                acceptance_criteria=criteria,
                text=story.text,
                source_section=story.section,
            )
        )
        return count

    # -- itemised sections ------------------------------------------------------------
    def section_items(self, section: Section, prefix: str) -> list[Requirement]:
        out: list[Requirement] = []
        blocks = [b for b in section.blocks if id(b) not in self.used]
        children: dict[int, list[Block]] = {}
        index_of = {id(b): n for n, b in enumerate(section.blocks)}
        for b in blocks:
            if b.kind == "item" and b.parent_item is not None:
                children.setdefault(b.parent_item, []).append(b)
        all_blocks = self.doc.blocks
        block_pos = self.block_pos
        for b in blocks:
            if b.kind == "item":
                parent = all_blocks[b.parent_item] if b.parent_item is not None else None
                if parent is not None and id(parent) in index_of and not _is_group(parent):
                    continue  # a detail of its parent requirement
                kids = children.get(block_pos.get(id(b), -1), [])
                if _is_group(b) and kids:
                    continue
                req = self.make_requirement(b.text, section, details=tuple(k.text for k in kids), prefix=prefix)
                if req is not None:
                    out.append(req)
            elif b.kind == "table":
                out.extend(self._table_items(b, section, prefix))
            elif b.kind == "paragraph" and section.kind in (FUNCTIONAL, NFR, FEATURES):
                for sentence in sentences(b.text):
                    if is_requirement_like(sentence) or section.kind == NFR:
                        req = self.make_requirement(sentence, section, prefix=prefix)
                        if req is not None:
                            out.append(req)
        return out

    def _table_items(self, block: Block, section: Section, prefix: str) -> list[Requirement]:
        if len(block.rows) < 2:
            return []
        header = block.rows[0]
        text_col = _table_columns(header, _TABLE_TEXT_COLS)
        if text_col is None:
            return []
        id_col = _table_columns(header, _TABLE_ID_COLS)
        prio_col = _table_columns(header, _TABLE_PRIO_COLS)
        out: list[Requirement] = []
        for row in block.rows[1:]:
            if text_col >= len(row):
                continue
            prio, label = (None, "")
            if prio_col is not None and prio_col < len(row):
                prio, label = _priority_word(row[prio_col])
            explicit = row[id_col].strip() if id_col is not None and id_col < len(row) else None
            req = self.make_requirement(
                row[text_col], section, prefix=prefix, priority=prio, label=label, explicit_id=explicit or None
            )
            if req is not None:
                out.append(req)
        self.used.add(id(block))
        return out

    def heading_requirement(self, section: Section, prefix: str) -> Requirement | None:
        """Read an H3/H4 under a requirements section that is itself one requirement."""
        rid, title = _split_id(section.title)
        items = [b for b in section.blocks if b.kind == "item" and id(b) not in self.used]
        paras = [b.text for b in section.blocks if b.kind == "paragraph" and id(b) not in self.used]
        if rid is None and items:
            return None  # a grouping heading: its items are the requirements
        text = title if not paras else f"{title}: {paras[0]}"
        for b in section.blocks:
            if b.kind in ("item", "paragraph"):
                self.used.add(id(b))
        details = tuple(b.text for b in items) + tuple(paras[1:])
        return self.make_requirement(text, section, details=details, prefix=prefix, explicit_id=rid)

    def run(self) -> Items:
        self.stories()
        items = self.items
        functional: list[Requirement] = []
        features: list[Requirement] = []
        goals: list[Requirement] = []
        loose_sections: list[Section] = []
        for section in self.doc.sections:
            kind = section.kind
            if kind in (IGNORED, OUT_OF_SCOPE):
                continue
            parent_kind = section.parent.kind if section.parent is not None else None
            heading_id, _rest = _split_id(section.title)
            if (
                kind in (FUNCTIONAL, FEATURES)
                and (section.own_kind is None or heading_id is not None)
                and parent_kind in (FUNCTIONAL, FEATURES)
                and section.level >= 3
            ):
                req = self.heading_requirement(section, "REQ")
                if req is not None:
                    (functional if kind == FUNCTIONAL else features).append(req)
            if kind == FUNCTIONAL:
                functional.extend(self.section_items(section, "REQ"))
            elif kind == FEATURES:
                features.extend(self.section_items(section, "REQ"))
            elif kind == NFR:
                items.nfr.extend(self.section_items(section, "NFR"))
            elif kind in (SUCCESS, ACCEPTANCE):
                items.success.extend(self._texts(section))
            elif kind in (TECHNICAL, API):
                items.technical.extend(self._texts(section))
            elif kind == DEPENDENCIES:
                items.dependencies.extend(self._texts(section))
            elif kind == GOALS:
                goals.extend(self.section_items(section, "GOAL"))
            elif kind in (OTHER, OVERVIEW, PREAMBLE, STORIES):
                loose_sections.append(section)
        items.features = [r.text for r in features]
        items.goals = [r.text for r in goals]
        if functional:
            items.functional = functional
        elif features:
            items.functional = features
        elif items.stories:
            items.functional = [
                Requirement(
                    id=story.id,
                    text=story.text,
                    priority=Priority.MEDIUM,
                    source_section=story.source_section,
                    details=story.acceptance_criteria,
                )
                for story in items.stories
            ]
        else:
            items.functional = goals + [r for sec in loose_sections for r in self._loose(sec)]
            items.requirements_fallback = bool(items.functional)
            if items.functional:
                items.warnings.append(
                    "no requirements section was found; requirements were gathered from goals, "
                    "use cases and requirement-like sentences elsewhere"
                )
        return items

    def _texts(self, section: Section) -> list[str]:
        out: list[str] = []
        for b in section.blocks:
            if id(b) in self.used:
                continue
            if b.kind == "item":
                t = _usable(parse_priority(_split_id(b.text)[1])[0])
                if t:
                    out.append(t)
            elif b.kind == "paragraph":
                out.extend(t for t in (_usable(s) for s in sentences(b.text)) if t)
            elif b.kind == "table" and len(b.rows) >= 2:
                header = b.rows[0]
                for row in b.rows[1:]:
                    pairs = [f"{h}: {c}" if h else c for h, c in zip(header, row, strict=False) if c]
                    if pairs:
                        out.append("; ".join(pairs))
        return out

    def _loose(self, section: Section) -> list[Requirement]:
        out: list[Requirement] = []
        for b in section.blocks:
            if id(b) in self.used:
                continue
            if b.kind == "item" and not _is_group(b):
                if is_requirement_like(b.text) or section.kind in (OTHER, STORIES, PREAMBLE):
                    req = self.make_requirement(b.text, section)
                    if req is not None:
                        out.append(req)
            elif b.kind == "paragraph" and section.kind != OVERVIEW:
                for sentence in sentences(b.text):
                    if is_requirement_like(sentence):
                        req = self.make_requirement(sentence, section)
                        if req is not None:
                            out.append(req)
        return out


def _ac(story: _StoryDraft) -> list[str]:
    return story.criteria


def _is_group(block: Block) -> bool:
    return block.text.rstrip().endswith(":")


def extract_items(doc: Document) -> Items:
    """Collect requirements, features, stories, NFRs, success criteria and the rest."""
    return _Collector(doc).run()
