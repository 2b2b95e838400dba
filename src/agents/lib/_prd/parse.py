"""Structure of a PRD: front matter, headings, sections and blocks (private).

Everything here works line by line with string operations and anchored, linear regexes.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from agents.lib._prd.text import tokens

__all__ = [
    "Block",
    "Document",
    "Section",
    "classify_heading",
    "clean_heading",
    "describes_behaviour",
    "parse_document",
    "strip_inline",
]

# Section kinds.
OVERVIEW = "overview"
FUNCTIONAL = "functional"
FEATURES = "features"
STORIES = "user_stories"
GOALS = "goals"
NFR = "nfr"
TECHNICAL = "technical"
API = "api"
DATA_MODEL = "data_model"
DEPENDENCIES = "dependencies"
SUCCESS = "success"
ACCEPTANCE = "acceptance"
OUT_OF_SCOPE = "out_of_scope"
IGNORED = "ignored"
OTHER = "other"
PREAMBLE = "preamble"

# Ordered: the first kind with a matching phrase wins.
_HEADING_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        OUT_OF_SCOPE,
        (
            "out of scope",
            "non goals",
            "nongoals",
            "not in scope",
            "won t have",
            "wont have",
            "future work",
            "future scope",
            "later phases",
            "exclusions",
        ),
    ),
    (
        NFR,
        (
            "non functional",
            "nonfunctional",
            "nfr",
            "nfrs",
            "quality attributes",
            "performance",
            "security",
            "scalability",
            "reliability",
            "availability",
            "compliance",
            "observability",
            "service level",
            "slo",
            "slos",
            "sla",
            "operational requirements",
            "privacy",
        ),
    ),
    (ACCEPTANCE, ("acceptance criteria", "acceptance tests", "definition of done")),
    (STORIES, ("user stories", "user story", "stories", "user journeys", "journeys")),
    (
        SUCCESS,
        (
            "success criteria",
            "success metrics",
            "kpis",
            "kpi",
            "success measures",
            "measures of success",
            "metrics for success",
            "success",
        ),
    ),
    (
        IGNORED,
        (
            "revision history",
            "revisions",
            "changelog",
            "change log",
            "version history",
            "document history",
            "approvals",
            "sign off",
            "stakeholders",
            "timeline",
            "milestones",
            "release plan",
            "roadmap",
            "next steps",
            "open questions",
            "appendix",
            "references",
            "glossary",
            "faq",
            "document control",
            # how the PRD's authors build and ship it, and their own to-do: not the product's behaviour
            "ci cd",
            "ci",
            "continuous integration",
            "continuous delivery",
            "continuous deployment",
            "build pipeline",
            "how we build",
            "testing strategy",
            "test strategy",
            "test plan",
            "rollout plan",
            "release process",
            "development process",
            "launch plan",
            "migration plan",
            "delivery plan",
            "project plan",
            "future phases",
            "project phases",
            "to do",
            "todo",
            "todos",
            "action items",
            "backlog",
        ),
    ),
    (
        DATA_MODEL,
        (
            "data model",
            "data models",
            "entities",
            "entity",
            "schema",
            "schemas",
            "domain model",
            "data structures",
            "database design",
            "data dictionary",
            "models",
            "database schema",
            "data",
        ),
    ),
    (
        DEPENDENCIES,
        ("dependencies", "dependency", "third party", "external services", "integrations", "external systems"),
    ),
    (API, ("api", "apis", "endpoints", "interfaces", "api design", "rest api", "contract")),
    (
        TECHNICAL,
        (
            "technical",
            "architecture",
            "tech stack",
            "technology",
            "implementation",
            "infrastructure",
            "system design",
            "design",
            "constraints",
            "stack",
            "deployment",
        ),
    ),
    (
        FUNCTIONAL,
        (
            "functional requirements",
            "requirements",
            "requirement",
            "capabilities",
            "functionality",
            "use cases",
            "use case",
            "scope",
            "in scope",
            "business rules",
            "rules",
            "behaviour",
            "behavior",
            "core functionality",
            "workflow",
            "workflows",
            "process",
        ),
    ),
    (FEATURES, ("features", "feature", "feature list", "key features", "mvp")),
    (GOALS, ("goals", "goal", "objectives", "objective", "aims", "purpose and goals")),
    (
        OVERVIEW,
        (
            "overview",
            "summary",
            "introduction",
            "background",
            "purpose",
            "problem",
            "problem statement",
            "context",
            "description",
            "about",
            "vision",
            "executive summary",
            "motivation",
        ),
    ),
    (
        IGNORED,
        (
            "notes",
            "note",
            "team",
            "prompt",
            "prompts",
            "instructions",
            "questions",
            "owners",
            "contacts",
            "risks",
            "assumptions",
            "assistant",
            "reviewers",
        ),
    ),
)

_ATX_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_LIST_RE = re.compile(r"([ \t]*)([-*+\u2022]|\d{1,3}[.)]|[a-zA-Z][.)])[ \t]+(\S.*)")
_NUMBERED_TITLE_RE = re.compile(r"(?:section\s+)?(\d{1,2}(?:\.\d{1,2}){0,3})\.?[ \t]+(\S.*)")
_ROMAN_TITLE_RE = re.compile(r"([IVX]{1,5})\.[ \t]+(\S.*)")
_LEADING_NUMBER_RE = re.compile(r"(?:section\s+)?(?:\d{1,3}(?:\.\d{1,3})*|[ivx]{1,5})[.):]?\s+")
_REQ_LINE_RE = re.compile(
    r"(?:\*\*|__)?\[?[A-Z]{1,6}(?:-[A-Z]{1,6})?-\d{1,5}(?:\.\d{1,3})?\]?(?:\*\*|__)?[ \t]*[:.)\u2013\u2014-]"
)
_ID_HEADING_RE = re.compile(r"[\[(]?(?:[A-Z]{1,6}-){1,2}\d{1,5}(?:\.\d{1,3})?[\])]?[ \t]*[:.)\u2013\u2014-]")
_BOLD_LINE_RE = re.compile(r"(\*\*|__)([^*_\n]{1,80})\1:?")
_LINK_RE = re.compile(r"\[([^\[\]\n]{0,300})\]\([^()\n]{0,500}\)")
_CODE_SPAN_RE = re.compile(r"`([^`\n]{0,300})`")
_EMPH_RE = re.compile(r"(\*\*|__)([^*_\n]{1,500})\1")


@dataclass
class Block:
    """One block of the document."""

    kind: str  # heading, paragraph, item, table, code, rule
    text: str = ""
    line: int = 0
    level: int = 0
    indent: int = 0
    depth: int = 0
    marker: str = ""
    checked: bool | None = None
    rows: list[list[str]] = field(default_factory=list)
    lang: str = ""
    context: str = ""
    parent_item: int | None = None


@dataclass
class Section:
    """A heading and the blocks up to the next heading of the same or a higher level."""

    title: str
    level: int
    kind: str
    own_kind: str | None
    index: int
    parent: Section | None = None
    blocks: list[Block] = field(default_factory=list)
    heading_line: int = 0

    def ancestors(self) -> list[Section]:
        """Parents from nearest to the root."""
        out: list[Section] = []
        node = self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out

    def path(self) -> str:
        """Titles from the top level down to this section, joined with `` > ``."""
        names = [s.title for s in reversed(self.ancestors()) if s.level > 0] + [self.title]
        return " > ".join(n for n in names if n)


@dataclass
class Document:
    """A parsed PRD."""

    front_matter: dict[str, Any]
    sections: list[Section]
    blocks: list[Block]
    title: str | None
    first_line: str
    warnings: list[str]


def strip_inline(text: str) -> str:
    """Remove Markdown inline markup (links, code spans, bold) and collapse spaces."""
    if "](" in text:
        text = _LINK_RE.sub(r"\1", text)
    if "`" in text:
        text = _CODE_SPAN_RE.sub(r"\1", text)
    if "**" in text or "__" in text:
        text = _EMPH_RE.sub(r"\2", text)
    return " ".join(text.split())


def clean_heading(text: str) -> str:
    """Heading text without markup, emoji, numbering and a trailing colon."""
    text = strip_inline(text).strip()
    for _ in range(3):
        start = 0
        while start < len(text) and not (text[start].isalnum() or text[start] in "[("):
            start += 1
        text = text[start:]
        m = _LEADING_NUMBER_RE.match(text.lower())
        if not (m and m.end() < len(text)):
            break
        text = text[m.end() :]
    end = len(text)
    while end > 0 and not (text[end - 1].isalnum() or text[end - 1] in ")]"):
        end -= 1
    return text[:end].strip()


_PHRASE_KIND: dict[tuple[str, ...], tuple[int, str]] = {}
for _rank, (_kind, _phrases) in enumerate(_HEADING_KINDS):
    for _phrase in _phrases:
        _PHRASE_KIND.setdefault(tuple(_phrase.split()), (_rank, _kind))
_MAX_PHRASE = max(len(p) for p in _PHRASE_KIND)


@functools.lru_cache(maxsize=4096)
def classify_heading(text: str) -> str | None:
    """Return the section kind a heading names, or ``None`` when it names none we know."""
    words = tokens(clean_heading(text[:300]))[:12]
    best: tuple[int, str] | None = None
    for i in range(len(words)):
        for n in range(1, _MAX_PHRASE + 1):
            hit = _PHRASE_KIND.get(tuple(words[i : i + n])) if i + n <= len(words) else None
            if hit is not None and (best is None or hit[0] < best[0]):
                best = hit
    return best[1] if best is not None else None


_UI_WORDS = frozenset(
    [
        "journey",
        "journeys",
        "ui",
        "ux",
        "screen",
        "screens",
        "wireframe",
        "wireframes",
        "mockup",
        "mockups",
        "storyboard",
        "onboarding",
    ]
)


def describes_behaviour(section: Section) -> bool:
    """Whether a section may describe what the product does (its workflow, its states).

    Not: ignored and out-of-scope sections (roadmaps, next steps, CI/CD, to-do lists, future work), and user
    interface journeys or screens (``## User journeys``, ``### Onboarding screens``), at any depth.
    """
    if section.kind in (IGNORED, OUT_OF_SCOPE):
        return False
    return not any(_UI_WORDS.intersection(tokens(s.title)) for s in [section, *section.ancestors()])


def _front_matter(lines: list[str], warnings: list[str]) -> tuple[dict[str, Any], int]:
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, min(len(lines), 400)):
        if lines[end].strip() in ("---", "..."):
            raw = "\n".join(lines[1:end])
            try:
                data = yaml.safe_load(raw) if len(raw) < 65536 else None
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" (line {mark.line + 2})" if mark is not None else ""
                warnings.append(f"front matter is not valid YAML{where}; it was ignored")
                return {}, end + 1
            if data is None:
                return {}, end + 1
            if not isinstance(data, dict):
                warnings.append("front matter is not a YAML mapping; it was ignored")
                return {}, end + 1
            return {str(k).lower(): v for k, v in data.items()}, end + 1
    return {}, 0


def _indent_width(prefix: str) -> int:
    return sum(4 if ch == "\t" else 1 for ch in prefix)


def _is_rule(stripped: str) -> bool:
    if len(stripped) < 3:
        return False
    compact = stripped.replace(" ", "")
    return len(compact) >= 3 and len(set(compact)) == 1 and compact[0] in "-*_"


def _split_pipe_row(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    cells = [c.strip() for c in s.replace("\\|", "\x01").split("|")]
    return [strip_inline(c.replace("\x01", "|")) for c in cells[:64]]


def _is_separator_row(line: str) -> bool:
    s = line.strip().strip("|").replace("|", "").replace(":", "").replace(" ", "")
    return bool(s) and set(s) == {"-"}


def _is_pipe_line(line: str) -> bool:
    s = line.strip()
    return s.count("|") >= 1 and (s.startswith("|") or s.count("|") >= 2)


def _tab_cells(line: str) -> list[str]:
    return [c.strip() for c in line.split("\t") if c.strip()][:64]


def _plain_heading(stripped: str, known_only: bool) -> tuple[int, str] | None:
    """Recognise a plain-text section title: ``1. Overview``, ``2 REQUIREMENTS``, ``Requirements:``."""
    if len(stripped) > 80 or stripped.endswith((".", ",", ";", "?", "!")):
        return None
    level = 2
    body = stripped
    m = _NUMBERED_TITLE_RE.fullmatch(stripped) or _ROMAN_TITLE_RE.fullmatch(stripped)
    numbered = m is not None
    if known_only and (numbered or not stripped.endswith(":") or len(stripped.split()) > 4):
        return None
    if m:
        level = min(6, 2 + m.group(1).count("."))
        body = m.group(2).strip()
    body = body.rstrip(":").strip()
    words = body.split()
    if not words or len(words) > 8 or not any(ch.isalpha() for ch in body):
        return None
    if classify_heading(body) is not None and len(words) <= 6:
        return level, body
    if known_only:
        return None
    letters = [ch for ch in body if ch.isalpha()]
    if len(letters) >= 3 and all(ch.isupper() for ch in letters):
        return level, body
    if numbered and not stripped.endswith("."):
        significant = [w for w in words if len(w) > 3]
        if significant and all(w[:1].isupper() for w in significant) and len(words) <= 6:
            return level, body
    return None


def parse_document(text: str) -> Document:
    """Parse PRD text into front matter, blocks and sections."""
    warnings: list[str] = []
    lines = text.split("\n")
    front, start = _front_matter(lines, warnings)
    blocks: list[Block] = []
    has_markdown = any(_ATX_RE.match(line) is not None for line in lines[start:] if line[:1] in " #")
    last_heading_level = 0
    in_code: str | None = None
    code_lines: list[str] = []
    code_lang = ""
    code_line = 0
    para: list[str] = []
    para_line = 0
    item_stack: list[tuple[int, int]] = []  # (indent, block index)
    continuations: dict[int, list[str]] = {}  # block index -> continuation lines
    prev_blank = True

    def flush_para() -> None:
        nonlocal para
        if para:
            blocks.append(Block("paragraph", " ".join(p.strip() for p in para), para_line))
            para = []

    def context_before() -> str:
        for b in reversed(blocks[-3:]):
            if b.kind in ("paragraph", "heading", "item"):
                return b.text
        return ""

    i = start
    n = len(lines)
    while i < n:
        raw = lines[i]
        line_no = i + 1
        stripped = raw.strip()
        if in_code is not None:
            if stripped.startswith(in_code) and set(stripped) <= set(in_code[0]):
                blocks.append(
                    Block("code", "\n".join(code_lines), code_line, lang=code_lang, context=context_before())
                )
                in_code = None
                code_lines = []
            else:
                code_lines.append(raw)
            i += 1
            continue
        if stripped.startswith(("```", "~~~")) and len(raw) - len(raw.lstrip()) <= 3:
            flush_para()
            fence_char = stripped[0]
            count = len(stripped) - len(stripped.lstrip(fence_char))
            in_code = fence_char * count
            code_lang = stripped[count:].strip().split(" ")[0].lower()[:20] if stripped[count:] else ""
            code_line = line_no
            item_stack = []
            i += 1
            prev_blank = False
            continue
        if not stripped:
            flush_para()
            prev_blank = True
            i += 1
            continue
        atx = _ATX_RE.match(raw)
        if atx:
            flush_para()
            level = len(atx.group(1))
            body = raw[atx.end() :].strip()
            stripped_hashes = body.rstrip("#")
            if stripped_hashes != body and (not stripped_hashes or stripped_hashes[-1] in " \t"):
                body = stripped_hashes.strip()
            blocks.append(Block("heading", strip_inline(body), line_no, level=level))
            last_heading_level = level
            item_stack = []
            prev_blank = False
            i += 1
            continue
        # setext underline under a one-line paragraph
        if para and len(para) == 1 and stripped and set(stripped) <= {"="} and len(stripped) >= 2:
            blocks.append(Block("heading", strip_inline(para[0].strip()), para_line, level=1))
            para = []
            last_heading_level = 1
            item_stack = []
            i += 1
            continue
        if (
            para
            and len(para) == 1
            and set(stripped) <= {"-"}
            and len(stripped) >= 2
            and len(para[0].strip()) <= 100
        ):
            blocks.append(Block("heading", strip_inline(para[0].strip()), para_line, level=2))
            para = []
            last_heading_level = 2
            item_stack = []
            i += 1
            continue
        if _is_rule(stripped):
            flush_para()
            blocks.append(Block("rule", "", line_no))
            item_stack = []
            prev_blank = False
            i += 1
            continue
        # pipe tables
        if _is_pipe_line(raw) and (
            stripped.startswith("|") or (i + 1 < n and _is_separator_row(lines[i + 1]) and "|" in lines[i + 1])
        ):
            flush_para()
            rows: list[list[str]] = []
            j = i
            while j < n and _is_pipe_line(lines[j]):
                if not _is_separator_row(lines[j]):
                    rows.append(_split_pipe_row(lines[j]))
                j += 1
            if len(rows) >= 1 and max(len(r) for r in rows) >= 2:
                blocks.append(Block("table", "", line_no, rows=rows, context=context_before()))
                item_stack = []
                i = j
                prev_blank = False
                continue
        # tab-separated tables: two or more consecutive lines with the same number of cells
        if "\t" in stripped:
            cells = _tab_cells(raw)
            if len(cells) >= 2 and i + 1 < n and len(_tab_cells(lines[i + 1])) == len(cells):
                flush_para()
                rows = []
                j = i
                while j < n and "\t" in lines[j].strip() and len(_tab_cells(lines[j])) == len(cells):
                    rows.append([strip_inline(c) for c in _tab_cells(lines[j])])
                    j += 1
                blocks.append(Block("table", "", line_no, rows=rows, context=context_before()))
                item_stack = []
                i = j
                prev_blank = False
                continue
        # bold-only line naming a known section acts as a heading
        bold = _BOLD_LINE_RE.fullmatch(stripped)
        if bold and classify_heading(bold.group(2)) is not None and not para:
            level = min(6, last_heading_level + 1)
            blocks.append(Block("heading", bold.group(2).strip(), line_no, level=level))
            item_stack = []
            prev_blank = False
            i += 1
            continue
        # plain-text section titles ("1. Overview", "2 REQUIREMENTS", "Requirements:")
        if prev_blank or not para:
            plain = _plain_heading(stripped, known_only=has_markdown)
            indent_here = len(raw) - len(raw.lstrip())
            if plain is not None and indent_here == 0 and not (has_markdown and item_stack):
                level, body = plain
                if has_markdown:
                    level = min(6, last_heading_level + 1)
                else:
                    last_heading_level = level
                flush_para()
                blocks.append(Block("heading", strip_inline(body), line_no, level=level))
                item_stack = []
                prev_blank = False
                i += 1
                continue
        if _REQ_LINE_RE.match(stripped) and raw[:1] not in " \t":
            flush_para()
            blocks.append(Block("item", strip_inline(stripped), line_no, marker="id"))
            item_stack = [(0, len(blocks) - 1)]
            prev_blank = False
            i += 1
            continue
        lm = _LIST_RE.match(raw)
        if lm and not (lm.group(2)[0].isalpha() and len(lm.group(2)) == 2 and not item_stack):
            flush_para()
            indent = _indent_width(lm.group(1))
            body = lm.group(3).strip()
            checked: bool | None = None
            if body[:3] in ("[ ]", "[x]", "[X]"):
                checked = body[1] != " "
                body = body[3:].strip()
            while item_stack and item_stack[-1][0] >= indent:
                item_stack.pop()
            parent = item_stack[-1][1] if item_stack else None
            depth = len(item_stack)
            blocks.append(
                Block(
                    "item",
                    strip_inline(body),
                    line_no,
                    indent=indent,
                    depth=depth,
                    marker=lm.group(2),
                    checked=checked,
                    parent_item=parent,
                )
            )
            item_stack.append((indent, len(blocks) - 1))
            prev_blank = False
            i += 1
            continue
        # continuation of a list item
        if item_stack and not para and (not prev_blank or raw[:1] in " \t"):
            continuations.setdefault(item_stack[-1][1], []).append(strip_inline(stripped))
            prev_blank = False
            i += 1
            continue
        if prev_blank and raw[:1] not in " \t":
            item_stack = []
        if not para:
            para_line = line_no
        para.append(raw)
        prev_blank = False
        i += 1
    flush_para()
    for index, parts in continuations.items():
        blocks[index].text = " ".join([blocks[index].text, *parts]).strip()
    if in_code is not None:
        warnings.append(f"a code block opened at line {code_line} is never closed")
        blocks.append(Block("code", "\n".join(code_lines), code_line, lang=code_lang, context=context_before()))
    sections = _build_sections(blocks)
    title = None
    for b in blocks:
        if b.kind == "heading" and b.level == 1 and b.text:
            title = b.text
            break
    first_line = ""
    for line in lines[start:]:
        s = line.strip()
        if s and not _is_rule(s) and not s.startswith(("```", "~~~")):
            first_line = s
            break
    return Document(front, sections, blocks, title, first_line, warnings)


def _build_sections(blocks: list[Block]) -> list[Section]:
    root = Section(title="", level=0, kind=PREAMBLE, own_kind=None, index=0)
    sections = [root]
    stack = [root]
    title_seen = False
    for block in blocks:
        if block.kind == "heading":
            while stack[-1].level >= block.level and stack[-1].level > 0:
                stack.pop()
            parent = stack[-1]
            is_title = block.level == 1 and not title_seen
            title_seen = title_seen or block.level == 1
            # "US-12: Assign reviewers" names one requirement, not a "Reviewers" section
            own = None if is_title or _ID_HEADING_RE.match(block.text) else classify_heading(block.text)
            kind = own if own is not None else (parent.kind if parent.level > 0 else OTHER)
            if parent.kind in (STORIES, FUNCTIONAL, FEATURES) and own == ACCEPTANCE:
                kind = ACCEPTANCE
            if parent.kind in (IGNORED, OUT_OF_SCOPE) and own is not None:
                kind = parent.kind
            section = Section(
                title=clean_heading(block.text) or block.text,
                level=block.level,
                kind=kind,
                own_kind=own,
                index=len(sections),
                parent=parent,
                heading_line=block.line,
            )
            sections.append(section)
            stack.append(section)
        else:
            stack[-1].blocks.append(block)
    return sections
