"""Node-type evidence, external systems, operations and keywords (private).

All matching is on whole words (``tokens``): a term matches only one of the word forms listed for
it, so ``sum`` never matches ``summer`` or ``consume``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.lib._prd.models import (
    Entity,
    ExternalSystem,
    ExternalSystemKind,
    NodeType,
    NodeTypeHint,
    Operation,
    OperationKind,
)
from agents.lib._prd.text import STOPWORDS, singular, tokens, word_set
from agents.lib.naming import snake_case

__all__ = [
    "RECOMMEND_THRESHOLD",
    "Evidence",
    "clamp01",
    "detect_external_systems",
    "endpoint_operations",
    "extract_keywords",
    "extract_operations",
    "score_node_types",
]

RECOMMEND_THRESHOLD = 2.5
"""Evidence weight a node type needs to be recommended (see :func:`score_node_types`)."""
_SATURATION = 4.0
STRONG, NORMAL, WEAK = 2.0, 1.0, 0.5


def _forms(stem: str, *suffixes: str) -> tuple[str, ...]:
    return tuple(stem + s for s in suffixes) if suffixes else (stem,)


# (node type, canonical term, weight, word forms)
_TERMS: list[tuple[NodeType, str, float, tuple[str, ...]]] = [
    # EFFECT: I/O, persistence, external systems, CRUD, send/notify/publish/fetch
    (NodeType.EFFECT, "store", STRONG, ("store", "stores", "stored", "storing", "storage")),
    (NodeType.EFFECT, "persist", STRONG, _forms("persist", "", "s", "ed", "ing", "ence", "ent")),
    (NodeType.EFFECT, "database", STRONG, ("database", "databases", "db")),
    (NodeType.EFFECT, "save", NORMAL, ("save", "saves", "saved", "saving")),
    (NodeType.EFFECT, "crud", STRONG, ("crud",)),
    (NodeType.EFFECT, "repository", NORMAL, ("repository", "repositories")),
    (NodeType.EFFECT, "create", NORMAL, _forms("creat", "e", "es", "ed", "ing", "ion")),
    (NodeType.EFFECT, "update", NORMAL, _forms("updat", "e", "es", "ed", "ing")),
    (NodeType.EFFECT, "delete", NORMAL, _forms("delet", "e", "es", "ed", "ing", "ion")),
    (NodeType.EFFECT, "insert", NORMAL, _forms("insert", "", "s", "ed", "ing")),
    (NodeType.EFFECT, "write", WEAK, ("write", "writes", "written", "writing")),
    (NodeType.EFFECT, "fetch", NORMAL, _forms("fetch", "", "es", "ed", "ing")),
    (NodeType.EFFECT, "retrieve", NORMAL, _forms("retriev", "e", "es", "ed", "ing", "al")),
    (NodeType.EFFECT, "send", NORMAL, ("send", "sends", "sent", "sending")),
    (
        NodeType.EFFECT,
        "notify",
        NORMAL,
        ("notify", "notifies", "notified", "notifying", "notification", "notifications"),
    ),
    (NodeType.EFFECT, "email", NORMAL, ("email", "emails", "emailed", "emailing")),
    (NodeType.EFFECT, "publish", NORMAL, _forms("publish", "", "es", "ed", "ing")),
    (NodeType.EFFECT, "upload", NORMAL, _forms("upload", "", "s", "ed", "ing")),
    (NodeType.EFFECT, "download", WEAK, _forms("download", "", "s", "ed", "ing")),
    (NodeType.EFFECT, "import", NORMAL, _forms("import", "", "s", "ed", "ing")),
    (NodeType.EFFECT, "export", NORMAL, _forms("export", "", "s", "ed", "ing")),
    (NodeType.EFFECT, "webhook", NORMAL, ("webhook", "webhooks")),
    (NodeType.EFFECT, "http", NORMAL, ("http", "https")),
    (NodeType.EFFECT, "cache", WEAK, ("cache", "cached", "caching")),
    (NodeType.EFFECT, "query", WEAK, ("query", "queries", "queried", "querying")),
    (NodeType.EFFECT, "record", WEAK, ("record", "records", "recorded", "recording")),
    (NodeType.EFFECT, "ingest", NORMAL, _forms("ingest", "", "s", "ed", "ing", "ion")),
    (
        NodeType.EFFECT,
        "sync",
        NORMAL,
        ("sync", "syncs", "synced", "synchronize", "synchronizes", "synchronization"),
    ),
    (NodeType.EFFECT, "emit", WEAK, ("emit", "emits", "emitted", "emitting")),
    (NodeType.EFFECT, "effect", WEAK, ("effect",)),
    # COMPUTE: calculate, validate, transform, score, parse, rank, price
    (NodeType.COMPUTE, "calculate", STRONG, _forms("calculat", "e", "es", "ed", "ing", "ion", "ions", "or")),
    (
        NodeType.COMPUTE,
        "compute",
        STRONG,
        ("compute", "computes", "computed", "computing", "computation", "computations"),
    ),
    (NodeType.COMPUTE, "validate", NORMAL, _forms("validat", "e", "es", "ed", "ing", "ion", "ions", "or")),
    (NodeType.COMPUTE, "transform", NORMAL, _forms("transform", "", "s", "ed", "ing", "ation", "ations")),
    (NodeType.COMPUTE, "convert", NORMAL, _forms("conver", "t", "ts", "ted", "ting", "sion")),
    (NodeType.COMPUTE, "score", NORMAL, ("score", "scores", "scored", "scoring")),
    (NodeType.COMPUTE, "parse", NORMAL, ("parse", "parses", "parsed", "parsing", "parser")),
    (NodeType.COMPUTE, "rank", NORMAL, ("rank", "ranks", "ranked", "ranking", "rankings")),
    (NodeType.COMPUTE, "price", NORMAL, ("price", "prices", "priced", "pricing")),
    (NodeType.COMPUTE, "estimate", NORMAL, _forms("estimat", "e", "es", "ed", "ing", "ion")),
    (NodeType.COMPUTE, "classify", NORMAL, ("classify", "classifies", "classified", "classification")),
    (NodeType.COMPUTE, "normalize", NORMAL, _forms("normaliz", "e", "es", "ed", "ing", "ation")),
    (NodeType.COMPUTE, "recommend", WEAK, _forms("recommend", "", "s", "ed", "ation", "ations")),
    (NodeType.COMPUTE, "predict", NORMAL, _forms("predict", "", "s", "ed", "ion", "ions")),
    (NodeType.COMPUTE, "formula", NORMAL, ("formula", "formulas", "formulae")),
    (NodeType.COMPUTE, "derive", NORMAL, ("derive", "derives", "derived", "deriving")),
    (NodeType.COMPUTE, "evaluate", NORMAL, _forms("evaluat", "e", "es", "ed", "ing", "ion")),
    (NodeType.COMPUTE, "tax", WEAK, ("tax", "taxes", "vat")),
    (NodeType.COMPUTE, "discount", WEAK, ("discount", "discounts")),
    (NodeType.COMPUTE, "eligibility", NORMAL, ("eligible", "eligibility", "ineligible")),
    (NodeType.COMPUTE, "rule", WEAK, ("rule", "rules")),
    (NodeType.COMPUTE, "deduplicate", NORMAL, ("deduplicate", "deduplicates", "deduplication", "dedupe")),
    (NodeType.COMPUTE, "round", WEAK, ("rounding", "rounded")),
    # REDUCER: aggregate, summarize, fold/accumulate, counters, balances, statistics, state
    (
        NodeType.REDUCER,
        "aggregate",
        STRONG,
        _forms("aggregat", "e", "es", "ed", "ing", "ion", "ions", "or", "ors"),
    ),
    (
        NodeType.REDUCER,
        "summarize",
        NORMAL,
        (
            "summarize",
            "summarizes",
            "summarized",
            "summarizing",
            "summarise",
            "summarises",
            "summarised",
            "summarization",
            "summary",
            "summaries",
        ),
    ),
    (NodeType.REDUCER, "fold", STRONG, ("fold", "folds", "folded", "folding")),
    (NodeType.REDUCER, "accumulate", STRONG, _forms("accumulat", "e", "es", "ed", "ing", "ion", "or", "ors")),
    (NodeType.REDUCER, "reduce", NORMAL, ("reducer", "reducers", "reduction", "reductions")),
    (NodeType.REDUCER, "counter", NORMAL, ("counter", "counters", "tally", "tallies", "tallied")),
    (NodeType.REDUCER, "balance", WEAK, ("balance", "balances")),
    (NodeType.REDUCER, "statistics", NORMAL, ("statistic", "statistics", "stats", "statistical")),
    (NodeType.REDUCER, "sum", WEAK, ("sum", "sums", "summed", "summing")),
    (
        NodeType.REDUCER,
        "average",
        NORMAL,
        ("average", "averages", "averaged", "median", "percentile", "percentiles", "p95", "p99"),
    ),
    (NodeType.REDUCER, "rollup", STRONG, ("rollup", "rollups")),
    (NodeType.REDUCER, "histogram", NORMAL, ("histogram", "histograms")),
    (NodeType.REDUCER, "ledger", NORMAL, ("ledger", "ledgers")),
    (NodeType.REDUCER, "leaderboard", NORMAL, ("leaderboard", "leaderboards")),
    (NodeType.REDUCER, "snapshot", WEAK, ("snapshot", "snapshots")),
    (NodeType.REDUCER, "transition", NORMAL, ("transition", "transitions", "transitioned")),
    (NodeType.REDUCER, "total", WEAK, ("totals",)),
    # ORCHESTRATOR: coordinate, workflow, multi-step, saga, pipeline, fallback, retries
    (
        NodeType.ORCHESTRATOR,
        "orchestrate",
        STRONG,
        _forms("orchestrat", "e", "es", "ed", "ing", "ion", "or", "ors"),
    ),
    (NodeType.ORCHESTRATOR, "coordinate", STRONG, _forms("coordinat", "e", "es", "ed", "ing", "ion", "or", "ors")),
    (NodeType.ORCHESTRATOR, "workflow", STRONG, ("workflow", "workflows")),
    (NodeType.ORCHESTRATOR, "saga", STRONG, ("saga", "sagas")),
    (NodeType.ORCHESTRATOR, "pipeline", NORMAL, ("pipeline", "pipelines")),
    (NodeType.ORCHESTRATOR, "fallback", NORMAL, ("fallback", "fallbacks")),
    (NodeType.ORCHESTRATOR, "compensate", STRONG, _forms("compensat", "e", "es", "ed", "ing", "ion", "ions")),
    (NodeType.ORCHESTRATOR, "rollback", NORMAL, ("rollback", "rollbacks")),
    (NodeType.ORCHESTRATOR, "retry", WEAK, ("retry", "retries", "retried", "retrying")),
    (NodeType.ORCHESTRATOR, "step", WEAK, ("step", "steps", "stage", "stages")),
    (NodeType.ORCHESTRATOR, "dispatch", NORMAL, _forms("dispatch", "", "es", "ed", "ing")),
    (NodeType.ORCHESTRATOR, "schedule", NORMAL, _forms("schedul", "e", "es", "ed", "ing", "er")),
    (NodeType.ORCHESTRATOR, "sequence", WEAK, ("sequence", "sequences", "sequential", "sequentially")),
]

_PHRASES: list[tuple[NodeType, str, float, tuple[str, ...]]] = [
    (NodeType.EFFECT, "external api", NORMAL, ("external", "api")),
    (NodeType.EFFECT, "third-party api", NORMAL, ("third", "party")),
    (NodeType.EFFECT, "look up", WEAK, ("look", "up")),
    (NodeType.REDUCER, "running total", STRONG, ("running", "total")),
    (NodeType.REDUCER, "running totals", STRONG, ("running", "totals")),
    (NodeType.REDUCER, "state machine", STRONG, ("state", "machine")),
    (NodeType.REDUCER, "status transition", STRONG, ("status", "transition")),
    (NodeType.REDUCER, "status transition", STRONG, ("status", "transitions")),
    (NodeType.REDUCER, "state transition", STRONG, ("state", "transition")),
    (NodeType.REDUCER, "state transition", STRONG, ("state", "transitions")),
    (NodeType.REDUCER, "event sourcing", STRONG, ("event", "sourcing")),
    (NodeType.REDUCER, "roll up", STRONG, ("roll", "up")),
    (NodeType.REDUCER, "group by", NORMAL, ("group", "by")),
    (NodeType.REDUCER, "materialized view", STRONG, ("materialized", "view")),
    (NodeType.REDUCER, "time window", NORMAL, ("time", "window")),
    (NodeType.REDUCER, "time window", NORMAL, ("time", "windows")),
    (NodeType.REDUCER, "reduce events", STRONG, ("reduce", "events")),
    (NodeType.ORCHESTRATOR, "multi-step", STRONG, ("multi", "step")),
    (NodeType.ORCHESTRATOR, "multi-stage", STRONG, ("multi", "stage")),
    (NodeType.ORCHESTRATOR, "fan out", NORMAL, ("fan", "out")),
    (NodeType.ORCHESTRATOR, "fallback", NORMAL, ("falls", "back")),
    (NodeType.ORCHESTRATOR, "fallback", NORMAL, ("fall", "back")),
    (NodeType.ORCHESTRATOR, "process manager", STRONG, ("process", "manager")),
    (NodeType.ORCHESTRATOR, "long-running process", NORMAL, ("long", "running")),
]

_WORD_INDEX: dict[str, tuple[NodeType, str, float]] = {}
for _nt, _term, _w, _fs in _TERMS:
    for _f in _fs:
        _WORD_INDEX[_f] = (_nt, _term, _w)
_PHRASE_INDEX: dict[tuple[str, ...], tuple[NodeType, str, float]] = {
    words: (nt, term, w) for nt, term, w, words in _PHRASES
}
_PHRASE_FIRST = {words[0] for words in _PHRASE_INDEX}


@dataclass
class Evidence:
    """Weighted evidence for one node type."""

    raw: float
    terms: dict[str, int]


def _collect(words: Sequence[str]) -> dict[NodeType, Counter[str]]:
    counts: dict[NodeType, Counter[str]] = {nt: Counter() for nt in NodeType}
    n = len(words)
    for i, word in enumerate(words):
        if word in _PHRASE_FIRST:
            for length in (2, 3):
                if i + length <= n:
                    hit = _PHRASE_INDEX.get(tuple(words[i : i + length]))
                    if hit is not None:
                        counts[hit[0]][hit[1]] += 1
        hit1 = _WORD_INDEX.get(word)
        if hit1 is not None:
            counts[hit1[0]][hit1[1]] += 1
    return counts


_TERM_WEIGHT: dict[str, float] = {term: w for _nt, term, w, _f in _TERMS}
_TERM_WEIGHT.update({term: w for _nt, term, w, _p in _PHRASES})


def _weight(term: str, count: int) -> float:
    # repeated mentions add a little, up to twice the term's weight
    return _TERM_WEIGHT.get(term, NORMAL) * min(2.0, 1.0 + 0.25 * (count - 1))


def score_node_types(
    texts: Iterable[str],
    systems: Sequence[ExternalSystem],
    *,
    stores_data: bool,
    secondary: Iterable[str] = (),
) -> list[NodeTypeHint]:
    """One hint per node type (in :class:`NodeType` order) with score and evidence.

    Each evidence term counts its weight (strong 2, normal 1, weak 0.5) times 1 + 0.25 per repeated
    mention, at most twice its weight; an external system adds 1.5 to EFFECT. The raw weight ``w``
    maps to ``score = w / (w + 4)``. A type is recommended when ``w >= 2.5`` (score >= 0.385): one
    strong term with any other term, or three ordinary terms. EFFECT is also recommended when the
    PRD stores data or names an external system. ``secondary`` texts (non-functional requirements,
    success criteria) count as evidence for EFFECT only: "p95 latency" is not a REDUCER's job.
    """
    words: list[str] = []
    for text in texts:
        words.extend(tokens(text))
    counts = _collect(words)
    secondary_words: list[str] = []
    for text in secondary:
        secondary_words.extend(tokens(text))
    counts[NodeType.EFFECT].update(_collect(secondary_words)[NodeType.EFFECT])
    hints: list[NodeTypeHint] = []
    for nt in NodeType:
        terms = counts[nt]
        raw = sum(_weight(t, c) for t, c in terms.items())
        evidence = sorted(terms, key=lambda t: (-_weight(t, terms[t]), t))
        if nt is NodeType.EFFECT:
            for system in systems:
                raw += 1.5
                evidence.append(system.name)
        score = round(raw / (raw + _SATURATION), 3) if raw > 0 else 0.0
        recommended = raw >= RECOMMEND_THRESHOLD or (nt is NodeType.EFFECT and (stores_data or bool(systems)))
        hints.append(
            NodeTypeHint(node_type=nt, score=score, evidence=tuple(evidence[:12]), recommended=recommended)
        )
    return hints


# -- external systems --------------------------------------------------------------------------
_SYSTEMS: list[tuple[str, ExternalSystemKind, tuple[tuple[str, ...], ...]]] = [
    ("PostgreSQL", ExternalSystemKind.DATABASE, (("postgres",), ("postgresql",), ("psql",))),
    ("MySQL", ExternalSystemKind.DATABASE, (("mysql",), ("mariadb",))),
    ("SQLite", ExternalSystemKind.DATABASE, (("sqlite",),)),
    ("MongoDB", ExternalSystemKind.DATABASE, (("mongodb",), ("mongo",))),
    ("DynamoDB", ExternalSystemKind.DATABASE, (("dynamodb",),)),
    ("Cassandra", ExternalSystemKind.DATABASE, (("cassandra",),)),
    ("ClickHouse", ExternalSystemKind.DATABASE, (("clickhouse",),)),
    ("Redis", ExternalSystemKind.CACHE, (("redis",),)),
    ("Memcached", ExternalSystemKind.CACHE, (("memcached",),)),
    ("Kafka", ExternalSystemKind.MESSAGE_BROKER, (("kafka",),)),
    ("RabbitMQ", ExternalSystemKind.MESSAGE_BROKER, (("rabbitmq",), ("amqp",))),
    ("Amazon SQS", ExternalSystemKind.MESSAGE_BROKER, (("sqs",),)),
    ("Amazon SNS", ExternalSystemKind.MESSAGE_BROKER, (("sns",),)),
    ("NATS", ExternalSystemKind.MESSAGE_BROKER, (("nats",),)),
    ("Elasticsearch", ExternalSystemKind.SEARCH, (("elasticsearch",), ("elastic", "search"))),
    ("OpenSearch", ExternalSystemKind.SEARCH, (("opensearch",),)),
    (
        "S3",
        ExternalSystemKind.OBJECT_STORAGE,
        (("s3",), ("object", "storage"), ("blob", "storage"), ("minio",), ("gcs",), ("object", "store")),
    ),
    (
        "SMTP",
        ExternalSystemKind.EMAIL,
        (
            ("smtp",),
            ("sendgrid",),
            ("mailgun",),
            ("postmark",),
            ("send", "email"),
            ("send", "emails"),
            ("sends", "email"),
            ("sends", "emails"),
            ("email", "notification"),
            ("email", "notifications"),
            ("by", "email"),
            ("via", "email"),
            ("email", "reminder"),
            ("email", "reminders"),
            ("send", "an", "email"),
            ("sends", "an", "email"),
        ),
    ),
    ("SMS", ExternalSystemKind.SMS, (("sms",), ("twilio",))),
    ("gRPC", ExternalSystemKind.RPC, (("grpc",), ("protobuf",))),
    ("Snowflake", ExternalSystemKind.DATA_WAREHOUSE, (("snowflake",),)),
    ("BigQuery", ExternalSystemKind.DATA_WAREHOUSE, (("bigquery",),)),
    (
        "HTTP API",
        ExternalSystemKind.HTTP_API,
        (
            ("payment", "gateway"),
            ("payment", "provider"),
            ("external", "api"),
            ("external", "apis"),
            ("third", "party"),
            ("partner", "api"),
            ("webhook",),
            ("webhooks",),
            ("stripe",),
            ("paypal",),
            ("adyen",),
            ("braintree",),
            ("http", "client"),
            ("rest", "client"),
            ("shipping", "provider"),
            ("carrier", "api"),
            ("upstream", "api"),
            ("http", "callback"),
            ("remote", "api"),
            ("external", "service"),
            ("external", "services"),
            ("zendesk",),
            ("jira",),
            ("slack",),
            ("hubspot",),
            ("github",),
            ("shopify",),
            ("salesforce",),
        ),
    ),
]
_GENERIC: list[tuple[str, ExternalSystemKind, tuple[tuple[str, ...], ...]]] = [
    ("Database", ExternalSystemKind.DATABASE, (("database",), ("databases",), ("relational", "db"))),
    (
        "Message broker",
        ExternalSystemKind.MESSAGE_BROKER,
        (("message", "queue"), ("message", "broker"), ("event", "bus")),
    ),
]
_API_CONTEXT = word_set(
    "external third partner vendor upstream remote gateway provider call calls "
    "calling invoke invokes fetch fetches bank banks carrier carriers"
)


def detect_external_systems(texts: Iterable[str]) -> list[ExternalSystem]:
    """External systems named in ``texts``, in order of first mention."""
    words: list[str] = []
    for text in texts:
        words.extend(tokens(text))
    found: dict[str, tuple[int, ExternalSystemKind, list[str]]] = {}

    def scan(catalogue: list[tuple[str, ExternalSystemKind, tuple[tuple[str, ...], ...]]]) -> None:
        first_words: dict[str, list[tuple[str, ExternalSystemKind, tuple[str, ...]]]] = {}
        for name, kind, patterns in catalogue:
            for pattern in patterns:
                first_words.setdefault(pattern[0], []).append((name, kind, pattern))
        for i, word in enumerate(words):
            for name, kind, pattern in first_words.get(word, ()):
                if tuple(words[i : i + len(pattern)]) == pattern:
                    entry = found.setdefault(name, (i, kind, []))
                    phrase = " ".join(pattern)
                    if phrase not in entry[2]:
                        entry[2].append(phrase)
        # "calls the carrier API": an outbound API call
        for i, word in enumerate(words):
            if word in ("api", "apis") and _API_CONTEXT.intersection(words[max(0, i - 6) : i]):
                entry = found.setdefault("HTTP API", (i, ExternalSystemKind.HTTP_API, []))
                if "outbound api call" not in entry[2]:
                    entry[2].append("outbound api call")

    scan(_SYSTEMS)
    kinds = {kind for _i, kind, _e in found.values()}
    before = set(found)
    scan(_GENERIC)
    for name, _kind, _patterns in _GENERIC:
        if name in found and name not in before and found[name][1] in kinds:
            del found[name]
    ordered = sorted(found.items(), key=lambda kv: (kv[1][0], kv[0]))
    return [ExternalSystem(name=name, kind=kind, evidence=tuple(ev[:8])) for name, (_i, kind, ev) in ordered]


# -- operations --------------------------------------------------------------------------------
_VERBS: dict[str, OperationKind] = {}
for _kind, _words in (
    (
        OperationKind.CREATE,
        "create creates add adds register registers submit submits record "
        "records insert inserts place places borrow borrows checkout reserve reserves "
        "open opens issue issues enroll enrolls generate generates",
    ),
    (
        OperationKind.READ,
        "get gets view views read reads retrieve retrieves fetch fetches show shows display displays see lookup",
    ),
    (
        OperationKind.UPDATE,
        "update updates edit edits modify modifies change changes renew renews "
        "return cancel cancels approve approves reject rejects mark marks assign assigns "
        "close closes rename renames extend extends",
    ),
    (OperationKind.DELETE, "delete deletes remove removes purge purges archive archives"),
    (OperationKind.LIST, "list lists browse browses enumerate"),
    (OperationKind.SEARCH, "search searches find finds filter filters query queries"),
    (
        OperationKind.CALCULATE,
        "calculate calculates compute computes estimate estimates classify classifies score scores rank ranks",
    ),
    (OperationKind.VALIDATE, "validate validates verify verifies check checks"),
    (
        OperationKind.TRANSFORM,
        "transform transforms convert converts normalize normalizes parse parses format formats enrich enriches",
    ),
    (
        OperationKind.AGGREGATE,
        "aggregate aggregates accumulate accumulates fold folds tally tallies sum sums",
    ),
    (OperationKind.SUMMARIZE, "summarize summarizes summarise summarises"),
    (OperationKind.COORDINATE, "coordinate coordinates orchestrate orchestrates sequence"),
    (OperationKind.SCHEDULE, "schedule schedules"),
    (OperationKind.NOTIFY, "notify notifies alert alerts remind reminds email emails"),
    (OperationKind.PUBLISH, "publish publishes emit emits broadcast broadcasts"),
    (OperationKind.INGEST, "ingest ingests import imports upload uploads consume consumes"),
    (OperationKind.EXPORT, "export exports download downloads"),
):
    for _v in _words.split():
        _VERBS[_v] = _kind
_SKIP = word_set(
    "a an the new existing all each every any their its his her my our your "
    "one or more multiple given specific individual current"
)
_STOP_TARGET = STOPWORDS | word_set(
    "by when if so that for from to into with on in at via within per after before whether how what why which who"
)


def _entity_keys(entities: Sequence[Entity]) -> dict[tuple[str, ...], str]:
    keys: dict[tuple[str, ...], str] = {}
    for e in entities:
        parts = tuple(snake_case(e.name).split("_"))
        keys[parts] = e.name
        keys[(*parts[:-1], parts[-1] + "s")] = e.name
        keys[(*parts[:-1], parts[-1] + "es")] = e.name
        if parts[-1].endswith("y"):
            keys[(*parts[:-1], parts[-1][:-1] + "ies")] = e.name
    return keys


def _find_entity(words: Sequence[str], keys: dict[tuple[str, ...], str]) -> str | None:
    for i in range(len(words)):
        for length in (3, 2, 1):
            hit = keys.get(tuple(words[i : i + length]))
            if hit is not None:
                return hit
    return None


def extract_operations(
    sources: Iterable[tuple[str, str | None]], entities: Sequence[Entity], limit: int = 60
) -> list[Operation]:
    """Operations from ``(text, requirement id)`` pairs, deduplicated by kind and target."""
    keys = _entity_keys(entities)
    out: list[Operation] = []
    seen: set[tuple[OperationKind, str]] = set()
    for text, req_id in sources:
        words = tokens(text[:3000])
        for i, word in enumerate(words):
            kind = _VERBS.get(word)
            if kind is None:
                continue
            if (
                i > 0
                and words[i - 1] in ("the", "a", "an", "of")
                and kind
                in (
                    OperationKind.CREATE,
                    OperationKind.UPDATE,
                    OperationKind.READ,
                    OperationKind.AGGREGATE,
                    OperationKind.SEARCH,
                    OperationKind.LIST,
                )
            ):
                continue  # a noun ("the record", "a list"), not a verb
            j = i + 1
            while j < len(words) and words[j] in _SKIP:
                j += 1
            target_words: list[str] = []
            while (
                j < len(words)
                and len(target_words) < 3
                and words[j] not in _STOP_TARGET
                and words[j] not in _VERBS
            ):
                target_words.append(words[j])
                j += 1
            entity = _find_entity(target_words, keys) or _find_entity(words[i + 1 :], keys)
            if entity is None:
                entity = _find_entity(words[max(0, i - 4) : i], keys)
            target = "_".join(target_words)
            key = (kind, entity or target)
            if key in seen or (not target and entity is None):
                continue
            seen.add(key)
            out.append(
                Operation(
                    kind=kind,
                    entity=entity,
                    target=target,
                    node_type=kind.node_type,
                    requirement_id=req_id,
                    evidence=" ".join(text.split())[:200],
                )
            )
            if len(out) >= limit:
                return out
    return out


_KEYWORD_STOP = STOPWORDS | word_set(
    "acceptance criteria criterion requirement requirements functional nonfunctional non story "
    "stories goal goals overview summary feature features success scope section phase mvp prd "
    "document cannot yes required optional uuid decimal string integer text timestamp boolean "
    "varchar bool int float str true false null none field fields type types description primary "
    "key nfr todo tbd example examples"
)


_METHOD_KIND = {
    "post": OperationKind.CREATE,
    "get": OperationKind.READ,
    "put": OperationKind.UPDATE,
    "patch": OperationKind.UPDATE,
    "delete": OperationKind.DELETE,
}


def endpoint_operations(lines: Iterable[str], entities: Sequence[Entity]) -> list[Operation]:
    """Operations from API lines such as ``POST /loans`` or ``GET /books/{isbn}``."""
    keys = _entity_keys(entities)
    out: list[Operation] = []
    for line in lines:
        parts = line.strip().strip("`*").split(None, 2)
        if len(parts) < 2 or parts[0].lower() not in _METHOD_KIND or not parts[1].startswith("/"):
            continue
        kind = _METHOD_KIND[parts[0].lower()]
        segments = [seg for seg in parts[1].strip("`").split("?")[0].split("/") if seg]
        names = [seg for seg in segments if not seg.startswith(("{", ":", "<", "v1", "v2", "api"))]
        if kind is OperationKind.READ and segments and not segments[-1].startswith(("{", ":", "<")):
            kind = OperationKind.LIST
        resource = names[-1] if names else ""
        entity = _find_entity(tokens(resource.replace("-", " ").replace("_", " ")), keys)
        out.append(
            Operation(
                kind=kind,
                entity=entity,
                target=snake_case(resource, "resource", prefix="f") if resource else "",
                node_type=kind.node_type,
                evidence=" ".join(line.split())[:200],
            )
        )
    return out


# -- keywords ----------------------------------------------------------------------------------
def extract_keywords(texts: Iterable[str], title: str, limit: int = 20) -> list[str]:
    """Keywords ordered by score (count, plus 3 for a title word) then alphabetically."""
    counts: Counter[str] = Counter()
    for text in texts:
        for word in tokens(text):
            if len(word) >= 3 and not word.isdigit() and word not in _KEYWORD_STOP:
                counts[word] += 1
    merged: Counter[str] = Counter()
    for word, c in counts.items():
        base = singular(word)
        merged[base if base in counts else word] += c
    title_words = {singular(w) for w in tokens(title)} | set(tokens(title))
    scored = {w: c + (3 if w in title_words else 0) for w, c in merged.items()}
    ranked = sorted(scored, key=lambda w: (-scored[w], w))
    return ranked[:limit]


def clamp01(value: float) -> float:
    """``value`` limited to [0, 1] and rounded to 3 decimals."""
    if math.isnan(value):
        return 0.0
    return round(min(1.0, max(0.0, value)), 3)
