"""Turn a product requirements document (PRD) into a frozen, typed :class:`PRDAnalysis` (the analyzer's API).

``analyze_prd(source)`` takes a path or the PRD text itself and returns everything the node-spec builder needs,
including the business rules the PRD states (``rules``), the steps the ORCHESTRATOR runs and the state machine
the REDUCER folds, decided here once;
:func:`analyze_prd_async` is the awaitable version (the guide writes ``await analyze_prd(prd_path)``). The parts
live in :mod:`agents.lib._prd`; what a PRD may contain and how it is read is in docs/codegen.md ("Writing a PRD").
"""

from __future__ import annotations

import asyncio
import os
import re

from agents.lib._prd.entities import extract_entities
from agents.lib._prd.lifecycle import extract_lifecycle, reducer_lifecycle
from agents.lib._prd.models import (
    DecomposedTask,
    Entity,
    EntityField,
    ExternalSystem,
    ExternalSystemKind,
    FieldType,
    Lifecycle,
    NodeType,
    NodeTypeHint,
    Operation,
    OperationKind,
    PRDAnalysis,
    Priority,
    QualityBaseline,
    Requirement,
    Rule,
    RuleExpr,
    RuleFormat,
    RuleKind,
    RuleOperator,
    RuleValue,
    StateTransition,
    UserStory,
    WorkflowStep,
)
from agents.lib._prd.parse import (
    ACCEPTANCE,
    DATA_MODEL,
    IGNORED,
    NFR,
    OUT_OF_SCOPE,
    OVERVIEW,
    PREAMBLE,
    SUCCESS,
    Document,
    classify_heading,
    parse_document,
)
from agents.lib._prd.requirements import Items, clean_placeholders, extract_items
from agents.lib._prd.rules import extract_rules
from agents.lib._prd.signals import (
    RECOMMEND_THRESHOLD,
    clamp01,
    detect_external_systems,
    endpoint_operations,
    extract_keywords,
    extract_operations,
    score_node_types,
)
from agents.lib._prd.source import MAX_PRD_BYTES, load_source
from agents.lib._prd.steps import extract_workflow_steps, orchestrator_steps
from agents.lib._prd.text import tokens, word_set
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.naming import pascal_case, snake_case, split_words
from agents.lib.structured_logger import get_logger

__all__ = [
    "MAX_PRD_BYTES",
    "RECOMMEND_THRESHOLD",
    "DecomposedTask",
    "Entity",
    "EntityField",
    "ExternalSystem",
    "ExternalSystemKind",
    "FieldType",
    "Lifecycle",
    "NodeType",
    "NodeTypeHint",
    "Operation",
    "OperationKind",
    "PRDAnalysis",
    "Priority",
    "QualityBaseline",
    "Requirement",
    "Rule",
    "RuleExpr",
    "RuleFormat",
    "RuleKind",
    "RuleOperator",
    "RuleValue",
    "StateTransition",
    "UserStory",
    "WorkflowStep",
    "analyze_prd",
    "analyze_prd_async",
]

_log = get_logger("agents.prd_analyzer", component="prd_analyzer")

_GENERIC_TITLE_WORDS = word_set(
    "service services microservice microservices system systems api apis platform prd product "
    "requirements requirement document doc spec specification specs the a an for of and v draft "
    "backend server app application project untitled name my new template"
)
# words about the document, not the product: "StockMaster - Updated PRD (v3)"
_REVISION_WORDS = word_set("updated revised draft final wip latest copy rev revision version")
_VERSION_RE = re.compile(r"v?\d[\w.]*", re.IGNORECASE)
_NAMED_RE = re.compile(
    r"(?:The\s+)?((?:[A-Z][\w-]*)(?:\s+[A-Z][\w-]*){0,3})"
    r"(?:\s+(?:platform|service|app|application|system|tool|portal|backend))?"
    r"\s+(?:is\s+(?:a|an|the|our)\b|are\s+(?:a|an|the|our)\b|"
    r"(?:lets|helps|turns|provides|keeps|decides|sells|delivers|tracks|manages|computes|records|runs)\b)"
)
_NOT_NAMES = word_set(
    "our the this we it today each every a an in when there they these those residents customers users "
    "teams sellers members patients employees"
)
_NODE_TYPE_WORDS = word_set("effect compute reducer orchestrator")
_TITLE_PREFIXES = (
    "product requirements document",
    "product requirement document",
    "requirements document",
    "prd",
    "title",
    "product",
    "project",
    "name",
)
_SECONDARY_KINDS = frozenset({NFR, SUCCESS, ACCEPTANCE})
_STORE_TERMS = frozenset({"store", "persist", "database", "crud", "save", "repository"})
_STORE_KINDS = frozenset(
    {
        ExternalSystemKind.DATABASE,
        ExternalSystemKind.OBJECT_STORAGE,
        ExternalSystemKind.CACHE,
        ExternalSystemKind.SEARCH,
    }
)


def _clean_title(text: str) -> str:
    title = clean_placeholders(" ".join(text.split())).strip(" #*_-:|")
    start = 0
    while start < len(title) and not (title[start].isalnum() or title[start] in "(["):
        start += 1
    title = title[start:].strip()
    changed = True
    while changed and title:
        changed = False
        low = title.lower()
        for prefix in _TITLE_PREFIXES:
            if (
                low.startswith(prefix)
                and len(title) > len(prefix) + 1
                and title[len(prefix) :].lstrip()[:1] in (":", "-", "\u2013", "\u2014", "|", "(")
            ):
                title = title[len(prefix) :].strip(" :-\u2013\u2014()|")
                changed = True
                break
        low = title.lower()
        for suffix in ("(prd)", "- prd", "\u2014 prd", "\u2013 prd", ": prd", " prd"):
            if low.endswith(suffix) and len(title) > len(suffix):
                title = title[: -len(suffix)].strip(" :-\u2013\u2014")
                changed = True
                break
    return title[:200]


def _is_generic(title: str) -> bool:
    """Whether a title is only "Product Requirements Document" and the like."""
    words = [w.lower() for w in split_words(title)]
    return all(w in _GENERIC_TITLE_WORDS or w.isdigit() for w in words)


def _named_in_text(doc: Document) -> str | None:
    """Return the product's name from the first sentence that names it ("Linkly is a link shortener ...")."""
    paragraphs = [
        clean_placeholders(b.text)
        for section in doc.sections
        if section.kind not in (IGNORED, OUT_OF_SCOPE)
        for b in section.blocks
        if b.kind == "paragraph"
    ]
    for text in paragraphs[:6]:
        m = _NAMED_RE.match(text.strip())
        if m is not None and m.group(1).split()[0].lower() not in _NOT_NAMES:
            return m.group(1)
    for text in paragraphs[:3]:
        # "Coupon codes for the spring campaign.": a short line that names what it is about
        words = text.strip().rstrip(".").split()
        if text.strip() and 1 <= len(words) <= 8 and not any(w.lower() in _VERBISH for w in words):
            cut = next((i for i, w in enumerate(words) if w.lower() in _PHRASE_CUT), len(words))
            if 1 <= cut <= 3 and (cut < len(words) or len(words) <= 3) and words[0][:1].isupper():
                return " ".join(words[:cut])
    return None


_VERBISH = word_set("is are was were will can must should lets helps has have do does")
_PHRASE_CUT = word_set("for of to in with that which on at by from")


def _title(doc: Document, path: str | None) -> tuple[str, bool]:
    fm = doc.front_matter
    for key in ("title", "name", "service", "service_name"):
        value = fm.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            title = _clean_title(str(value))
            if title:
                return title, True
    if doc.title:
        title = _clean_title(doc.title)
        if title and any(ch.isalnum() for ch in title) and not _is_generic(title):
            return title, True
        named = _named_in_text(doc)  # "# Project" or "# [Product Name]": the name is in the text
        if named:
            return named, True
    first_block = next((b for b in doc.blocks if b.kind != "rule"), None)
    first = _clean_title(doc.first_line)
    if (
        first_block is not None
        and first_block.kind == "paragraph"
        and first
        and len(first) <= 120
        and len(first.split()) <= 14
        and not first.endswith((".", ":", "?"))
        and not doc.front_matter
    ):
        return first, False
    for block in doc.blocks:
        if block.kind == "heading" and block.text and classify_heading(block.text) is None:
            title = _clean_title(block.text)
            if _is_generic(title):
                continue
            if title and any(ch.isalnum() for ch in title) and len(title) <= 120:
                return title, False
            break
    if path:
        stem = os.path.splitext(os.path.basename(path))[0]
        stem = " ".join(stem.replace("_", " ").replace("-", " ").split())
        if stem and any(ch.isalpha() for ch in stem):
            return stem.title(), False
    if first and len(first) <= 120 and any(ch.isalpha() for ch in first):
        return first, False
    return (first[:80] or "Service"), False


def _without_type_words(words: list[str]) -> list[str]:
    """``words`` without trailing node-type words ("Order Fulfilment Orchestrator" -> Order, Fulfilment)."""
    end = len(words)
    while end > 1 and words[end - 1].lower() in _NODE_TYPE_WORDS:
        end -= 1
    return words[:end]


def _product_words(words: list[str]) -> list[str]:
    """``words`` without document words: a number or version around them (``017B``, ``v2``), "Updated"."""
    kept = [w for w in words if w.lower() not in _REVISION_WORDS]
    while kept and _VERSION_RE.fullmatch(kept[0]) and len(kept) > 1:
        kept = kept[1:]
    while kept and _VERSION_RE.fullmatch(kept[-1]) and len(kept) > 1:
        kept = kept[:-1]
    return kept or words


def _service_and_domain(title: str, fm_domain: object, name: str | None) -> tuple[str, str]:
    source = name if name and name.strip() else title
    words = split_words(source) if name and name.strip() else _product_words(split_words(source))
    meaningful = [w for w in words if w.lower() not in _GENERIC_TITLE_WORDS]
    chosen = _without_type_words(_without_type_words(meaningful or words)[:4])
    service = pascal_case(" ".join(chosen), "Service")
    if isinstance(fm_domain, str) and fm_domain.strip():
        domain = snake_case(fm_domain, "service", prefix="d")
    else:
        alpha = [w for w in (meaningful or words) if any(ch.isalpha() for ch in w)]
        domain = snake_case(alpha[0] if alpha else "", "service", prefix="d")
    return service, domain


def _is_revision_table(header: list[str]) -> bool:
    cells = {cell.strip().lower() for cell in header}
    return "version" in cells and bool(cells & {"date", "author", "changes", "change", "status"})


def _evidence_texts(doc: Document, title: str, *, secondary: bool = False) -> list[str]:
    """Text that counts as evidence; ``secondary``: only NFR and success sections, else the rest."""
    texts = [] if secondary else [title]
    for section in doc.sections:
        if section.kind in (IGNORED, OUT_OF_SCOPE):
            continue
        if (section.kind in _SECONDARY_KINDS) is not secondary:
            continue
        if section.level > 0 and section.title != title and section.own_kind is None:
            texts.append(section.title)
        for block in section.blocks:
            if block.kind in ("paragraph", "item"):
                texts.append(clean_placeholders(block.text))
            elif block.kind == "table" and not _is_revision_table(block.rows[0]):
                texts.extend(" ".join(row) for row in block.rows[1:] if len(row) <= 20)
    return texts


def _description(doc: Document, items: Items, title: str) -> str:
    fm = doc.front_matter.get("description") or doc.front_matter.get("summary")
    if isinstance(fm, str) and fm.strip():
        return " ".join(fm.split())[:1000]
    for kinds in ((OVERVIEW,), (PREAMBLE,), None):
        for section in doc.sections:
            if section.kind in (IGNORED, OUT_OF_SCOPE):
                continue
            if (
                kinds is not None
                and section.kind not in kinds
                and not (kinds == (PREAMBLE,) and section.level == 1)
            ):
                continue
            for block in section.blocks:
                if block.kind == "paragraph":
                    text = clean_placeholders(block.text)
                    if len(text) >= 20 and text != title and ":" not in text[:25]:
                        return text[:1000]
    if items.functional:
        return items.functional[0].text[:1000]
    return ""


def _override(doc: Document, warnings: list[str]) -> tuple[NodeType, ...]:
    raw = doc.front_matter.get("node_types", doc.front_matter.get("node_type"))
    if raw is None:
        return ()
    values = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    if not isinstance(values, list | tuple):
        warnings.append("front matter node_types is not a list; it was ignored")
        return ()
    chosen: list[NodeType] = []
    for value in values:
        name = str(value).strip().upper()
        if name.startswith("NODE_"):
            name = name[5:]
        try:
            node_type = NodeType(name)
        except ValueError:
            valid = ", ".join(n.value for n in NodeType)
            warnings.append(f"front matter node_types: {value!r} is not a node type ({valid})")
            continue
        if node_type not in chosen:
            chosen.append(node_type)
    return tuple(chosen)


def _recommend(
    hints: list[NodeTypeHint],
    override: tuple[NodeType, ...],
    entities: tuple[Entity, ...],
    operations: list[Operation],
) -> tuple[NodeType, ...]:
    if override:
        return override
    order = list(NodeType)
    ranked = sorted(hints, key=lambda h: (-h.score, order.index(h.node_type)))
    chosen = tuple(h.node_type for h in ranked if h.recommended)
    if chosen:
        return chosen
    if ranked and ranked[0].score > 0:
        return (ranked[0].node_type,)
    if entities or any(op.node_type is NodeType.EFFECT for op in operations):
        return (NodeType.EFFECT,)
    return (NodeType.COMPUTE,)


def _tasks(
    recommended: tuple[NodeType, ...],
    entities: tuple[Entity, ...],
    operations: list[Operation],
    systems: list[ExternalSystem],
) -> tuple[DecomposedTask, ...]:
    tasks: list[DecomposedTask] = []

    def add(title: str, node_type: NodeType, description: str, reqs: tuple[str, ...]) -> None:
        tasks.append(
            DecomposedTask(
                id=f"T-{len(tasks) + 1:03d}",
                title=title,
                node_type=node_type,
                description=description,
                requirement_ids=reqs,
            )
        )

    model_type = NodeType.EFFECT if NodeType.EFFECT in recommended else recommended[0]
    for entity in entities:
        fields = ", ".join(f"{f.name}: {f.type.value}" for f in entity.fields[:12])
        add(f"Model {entity.name}", model_type, f"Fields: {fields}", ())
    if NodeType.EFFECT in recommended:
        for system in systems:
            add(
                f"Port and in-memory adapter for {system.name}",
                NodeType.EFFECT,
                f"{system.kind.value} port; evidence: {', '.join(system.evidence)}",
                (),
            )
    for op in operations:
        if op.node_type not in recommended:
            continue
        subject = op.entity or op.target.replace("_", " ")
        add(
            f"{op.kind.value.capitalize()} {subject}".strip(),
            op.node_type,
            op.evidence,
            (op.requirement_id,) if op.requirement_id else (),
        )
    for node_type in recommended:
        reqs = tuple(
            dict.fromkeys(
                op.requirement_id for op in operations if op.node_type is node_type and op.requirement_id
            )
        )
        kinds = sorted({op.kind.value for op in operations if op.node_type is node_type})
        add(
            f"Implement the {node_type.value} node",
            node_type,
            f"operations: {', '.join(kinds) or 'from the requirements'}",
            reqs,
        )
    return tuple(tasks[:200])


def _quality(
    doc: Document,
    items: Items,
    entities: tuple[Entity, ...],
    systems: list[ExternalSystem],
) -> QualityBaseline:
    kinds = {s.kind for s in doc.sections}
    missing: list[str] = []
    checks = {
        "overview or description": OVERVIEW in kinds
        or any(b.kind == "paragraph" for s in doc.sections[:2] for b in s.blocks),
        "functional requirements": bool(items.functional or items.stories),
        "non-functional requirements": NFR in kinds or bool(items.nfr),
        "success criteria": SUCCESS in kinds or bool(items.success),
        "data model": DATA_MODEL in kinds or bool(entities),
        "technical details or dependencies": bool(items.technical or items.dependencies or systems),
    }
    missing = [name for name, ok in checks.items() if not ok]
    completeness = sum(checks.values()) / len(checks)
    reqs = list(items.functional) + list(items.nfr)
    vague = word_set("fast easy simple intuitive user friendly seamless robust etc quickly efficient flexible")
    if reqs:
        explicit = sum(1 for r in reqs if r.priority_label) / len(reqs)
        vague_share = sum(1 for r in reqs if vague & set(tokens(r.text))) / len(reqs)
        clarity = 0.5 + 0.3 * explicit + 0.2 * (1 - vague_share)
    else:
        clarity = 0.3 if items.stories else 0.0
    measurable = 0
    total = len(reqs) + len(items.stories)
    for r in reqs:
        if r.details or any(ch.isdigit() for ch in r.text):
            measurable += 1
    measurable += sum(1 for s in items.stories if s.acceptance_criteria)
    testability = (measurable / total if total else 0.0) * 0.7 + (0.3 if items.success else 0.0)
    headings = sum(1 for b in doc.blocks if b.kind == "heading")
    lists = sum(1 for b in doc.blocks if b.kind in ("item", "table"))
    structure = (
        0.4 * min(1.0, headings / 4)
        + 0.4 * min(1.0, lists / 5)
        + (0.2 if any(r.id[:4] != "REQ-" for r in reqs) or doc.front_matter else 0.0)
    )
    overall = 0.35 * completeness + 0.25 * clarity + 0.2 * testability + 0.2 * structure
    return QualityBaseline(
        completeness=clamp01(completeness),
        clarity=clamp01(clarity),
        testability=clamp01(testability),
        structure=clamp01(structure),
        overall=clamp01(overall),
        missing=tuple(missing),
    )


def _nothing_to_build(
    items: Items,
    entities: tuple[Entity, ...],
    operations: list[Operation],
    hints: list[NodeTypeHint],
    systems: list[ExternalSystem],
) -> str | None:
    has_items = bool(items.functional or items.features or items.stories or entities)
    has_signal = bool(operations or entities or systems or any(h.score > 0 for h in hints))
    if has_items and has_signal:
        return None
    if not has_items:
        what = "no requirements, features, user stories or entities were found"
    else:
        what = "the requirements name no operation, entity, node-type evidence or external system"
    return (
        f"the PRD names nothing to build: {what} (template placeholders such as "
        "'[Your feature here]' do not count). Add a title and a 'Requirements' section with items "
        "such as '- Members can borrow up to 5 books' or a user story 'As a librarian, I want to "
        "... so that ...', and name the data the service keeps (for example 'A loan has a "
        "member_id, a book_id and a due date')"
    )


def analyze_prd(source: str | os.PathLike[str], *, name: str | None = None) -> PRDAnalysis:
    """Analyse a PRD and return a frozen :class:`PRDAnalysis`.

    ``source`` is a path (a ``Path``/``os.PathLike``, or a ``str`` without newlines naming an
    existing file or ending in ``.md``, ``.markdown`` or ``.txt``) or the PRD text itself.
    ``name``, when given, is used instead of the title to derive ``service_name`` (it is turned
    into a safe identifier). Raises :class:`OnexError` (``NOT_FOUND`` for a missing file,
    ``VALIDATION_ERROR`` for unusable input) with a message saying what to fix.
    """
    loaded = load_source(source)
    path = str(loaded.path) if loaded.path is not None else None
    doc = parse_document(loaded.text)
    warnings = list(doc.warnings)
    title, titled = _title(doc, path)
    items = extract_items(doc)
    warnings.extend(items.warnings)
    entities, entity_warnings, notes = extract_entities(doc)
    warnings.extend(entity_warnings)
    rules, entities = extract_rules(
        doc, items.functional, items.stories, list(dict.fromkeys(items.features)), items.nfr, entities, notes
    )
    evidence = _evidence_texts(doc, title)
    secondary = _evidence_texts(doc, title, secondary=True)
    systems = detect_external_systems(evidence + secondary)
    op_sources: list[tuple[str, str | None]] = [(r.text, r.id) for r in items.functional]
    op_sources += [(d, r.id) for r in items.functional for d in r.details]
    op_sources += [(s.goal, s.id) for s in items.stories]
    op_sources += [(f, None) for f in items.features]
    operations = extract_operations(op_sources, entities)
    seen_ops = {(op.kind, op.entity or op.target) for op in operations}
    for op in endpoint_operations(items.technical, entities):
        if (op.kind, op.entity or op.target) not in seen_ops:
            seen_ops.add((op.kind, op.entity or op.target))
            operations.append(op)
    hints_pre = score_node_types(evidence, systems, stores_data=False, secondary=secondary)
    stores = bool(
        _STORE_TERMS.intersection(hints_pre[0].evidence)
        or any(s.kind in _STORE_KINDS for s in systems)
        or any("sql" in e.sources for e in entities)
    )
    hints = score_node_types(evidence, systems, stores_data=stores, secondary=secondary)
    problem = _nothing_to_build(items, entities, operations, hints, systems)
    if problem is not None:
        _log.info("PRD rejected: nothing to build", {"path": path, "title": title[:80]})
        raise OnexError(
            problem, code=ErrorCode.VALIDATION_ERROR, details={"reason": "nothing_to_build", "path": path}
        )
    override = _override(doc, warnings)
    recommended = _recommend(hints, override, entities, operations)
    hints = [h.model_copy(update={"recommended": h.node_type in recommended}) for h in hints]
    service_name, domain = _service_and_domain(title, doc.front_matter.get("domain"), name)
    quality = _quality(doc, items, entities, systems)
    top = max(h.score for h in hints)
    confidence = clamp01(
        0.3 * quality.overall
        + 0.25 * min(1.0, (len(items.functional) + len(items.stories)) / 5)
        + 0.15 * top
        + (0.1 if entities else 0.0)
        + (0.1 if titled else 0.0)
        + (0.1 if not items.requirements_fallback else 0.0)
    )
    workflow_steps = extract_workflow_steps(doc, warnings)
    lifecycle = extract_lifecycle(doc, entities)
    description = _description(doc, items, title)
    tasks = _tasks(recommended, entities, operations, systems)
    features = tuple(dict.fromkeys(items.features))
    dependencies = list(dict.fromkeys(items.dependencies)) or [s.name for s in systems]
    success = list(dict.fromkeys(items.success))
    keywords = extract_keywords(evidence, title)
    if not items.functional and not items.stories:
        warnings.append("no functional requirements or user stories were found")
    analysis = PRDAnalysis(
        title=title,
        service_name=service_name,
        domain=domain,
        description=description,
        source_path=path,
        functional_requirements=tuple(items.functional),
        features=features,
        user_stories=tuple(items.stories),
        success_criteria=tuple(success),
        non_functional_requirements=tuple(items.nfr),
        technical_details=tuple(dict.fromkeys(items.technical)),
        dependencies=tuple(dependencies),
        keywords=tuple(keywords),
        decomposed_tasks=tasks,
        node_type_hints=tuple(hints),
        recommended_node_types=recommended,
        node_types_overridden=bool(override),
        external_systems=tuple(systems),
        entities=entities,
        rules=rules,
        operations=tuple(operations),
        workflow_steps=workflow_steps,
        lifecycle=lifecycle,
        orchestrator_steps=orchestrator_steps(workflow_steps, operations, tasks, recommended),
        reducer_lifecycle=reducer_lifecycle(
            lifecycle, [description, *(r.text for r in items.functional), *features]
        ),
        quality_baseline=quality,
        confidence_score=confidence,
        warnings=tuple(dict.fromkeys(warnings)),
    )
    _log.info(
        "PRD analysed",
        {
            "path": path,
            "service_name": service_name,
            "requirements": len(items.functional),
            "user_stories": len(items.stories),
            "entities": len(entities),
            "node_types": [n.value for n in recommended],
            "confidence": confidence,
        },
    )
    return analysis


async def analyze_prd_async(source: str | os.PathLike[str], *, name: str | None = None) -> PRDAnalysis:
    """Awaitable :func:`analyze_prd`: runs the analysis in a worker thread.

    Use it where the guide writes ``await analyze_prd(prd_path)``.
    """
    return await asyncio.to_thread(analyze_prd, source, name=name)
