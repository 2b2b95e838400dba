"""``agents events tail|relay|status``: read a topic, publish the outbox, show the outbox and the breaker.

``tail`` prints one JSON line per message (the parsed event, or the raw value); ``relay`` publishes what waits
in the outbox (``--follow`` keeps doing it); ``status`` shows where Kafka is, whether it answers, the outbox's
depth and the last circuit breaker transition any optimizer recorded.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from agents.lib._events.store import latest_breaker_transition, oldest_pending
from agents.lib._events.topics import default_prefix, topic_name
from agents.lib.codegen_events import event_id_of, parse_event
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.event_optimizer import EventOptimizer, OptimizerConfig
from agents.lib.log_rotation import LogRotationConfig, configure_global_rotation
from agents.lib.persistence import CodegenPersistence
from agents.lib.structured_logger import configure_logging

__all__ = ["app"]

app = typer.Typer(
    name="events",
    help="Kafka events: tail a topic, relay the outbox to Kafka, show the outbox and the circuit breaker.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _log_to_file() -> None:
    """Kafka events: tail a topic, relay the outbox to Kafka, show the outbox and the circuit breaker."""
    # like the other commands: JSON log lines go to the rotated log file, not over the command's output
    configure_logging(get_settings().log_level)
    configure_global_rotation(LogRotationConfig())


Servers = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", "-b", help="Kafka servers (default: KAFKA_BOOTSTRAP_SERVERS)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_VERSIONED = re.compile(r"\.v\d+$")


def _servers(given: str | None) -> str:
    servers = given or get_settings().kafka_bootstrap_servers
    if not servers:
        raise OnexError(
            "KAFKA_BOOTSTRAP_SERVERS is not set (or pass --bootstrap-servers); events wait in the outbox",
            ErrorCode.CONFIGURATION_ERROR,
        )
    return servers


def resolve_topic(topic: str, service: str) -> str:
    """Return ``topic`` if it ends in ``.v<N>``, else the topic of that event type of ``service`` (v1)."""
    if _VERSIONED.search(topic):
        return topic
    return topic_name(service, topic, 1, default_prefix())


def _message_line(message: Any) -> bytes:
    value = message.value() or b""
    out: dict[str, Any] = {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "key": None if message.key() is None else message.key().decode(errors="replace"),
        "event_id": event_id_of(message.headers()),
    }
    try:
        out["event"] = parse_event(value).to_dict()
    except OnexError:
        out["value"] = value.decode(errors="replace")
    return orjson.dumps(out)


@app.command("tail")
def tail_command(
    topic: Annotated[str, typer.Argument(help="A topic, or an event type such as node.generated.")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest message, not the next one.")
    ] = False,
    max_messages: Annotated[int | None, typer.Option("--max", min=1, help="Stop after this many.")] = None,
    idle: Annotated[
        float | None, typer.Option("--idle", min=0.1, help="Stop after this many seconds without a message.")
    ] = None,
    service: Annotated[str, typer.Option("--service", help="Service of an event type given as TOPIC.")] = (
        "codegen"
    ),
    servers: Servers = None,
) -> None:
    """Print the messages of TOPIC, one JSON line each, until Ctrl-C (or --max / --idle)."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

    name = resolve_topic(topic, service)
    consumer = Consumer(
        {
            "bootstrap.servers": _servers(servers),
            "group.id": f"agents-tail-{time.time_ns()}",
            "enable.auto.commit": False,
            "allow.auto.create.topics": False,
        }
    )
    try:
        try:
            metadata = consumer.list_topics(name, timeout=10)
        except KafkaException as exc:
            raise OnexError(f"Kafka did not answer: {exc}", ErrorCode.UNAVAILABLE) from None
        info = metadata.topics.get(name)
        if info is None or info.error is not None or not info.partitions:
            raise OnexError(f"topic {name!r} does not exist", ErrorCode.NOT_FOUND, {"topic": name})
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(name, p, start) for p in sorted(info.partitions)])
        seen = 0
        last = time.monotonic()
        while max_messages is None or seen < max_messages:
            batch = consumer.consume(max(1, min(500, (max_messages or 500) - seen)), 0.5)
            for message in batch:
                if message.error() is not None:
                    continue
                typer.echo(_message_line(message).decode())
                seen += 1
                last = time.monotonic()
                if max_messages is not None and seen >= max_messages:
                    break
            if idle is not None and time.monotonic() - last >= idle:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@app.command("relay")
def relay_command(
    follow: Annotated[bool, typer.Option("--follow", help="Keep relaying until Ctrl-C.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.1, help="Stop after this many seconds.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Events per Kafka batch.")] = 500,
    servers: Servers = None,
    as_json: AsJson = False,
) -> None:
    """Publish the events waiting in the outbox to Kafka, with their original ids, oldest first."""
    summary = asyncio.run(_relay(_servers(servers), follow=follow, timeout=timeout, batch_size=batch_size))
    if as_json:
        typer.echo(orjson.dumps(summary).decode())
    else:
        counts = summary["outbox"]
        typer.echo(
            f"relayed {summary['sent']} event(s); outbox: {counts['pending']} pending, {counts['sent']} sent, "
            f"{counts['dead']} dead; circuit {summary['circuit']}"
        )
    if summary["outbox"]["pending"] and summary["circuit"] != "CLOSED":
        raise typer.Exit(1)


async def _relay(servers: str, *, follow: bool, timeout: float | None, batch_size: int) -> dict[str, Any]:
    config = OptimizerConfig(relay_batch_size=batch_size, drain_on_cleanup_ms=0, enable_metrics=True)
    async with CodegenPersistence() as persistence:
        optimizer = EventOptimizer(servers, config=config, persistence=persistence)
        try:
            if follow:
                sent = await _follow(optimizer, timeout)
            else:
                sent = await optimizer.relay_outbox(timeout)
            circuit = optimizer.circuit_state.value
        finally:
            await optimizer.cleanup()
        return {"sent": sent, "circuit": circuit, "outbox": await persistence.outbox_counts()}


async def _follow(optimizer: EventOptimizer, timeout: float | None) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    sent = 0
    try:
        while deadline is None or time.monotonic() < deadline:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.1)
            sent += await optimizer.relay_outbox(left)
            await asyncio.sleep(min(1.0, left or 1.0))
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return sent


def _probe(servers: str) -> tuple[bool, float, str | None]:
    from confluent_kafka.admin import AdminClient

    started = time.perf_counter()
    try:
        AdminClient({"bootstrap.servers": servers, "socket.timeout.ms": 3000}).list_topics(timeout=3)
    except Exception as exc:
        return False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
    return True, (time.perf_counter() - started) * 1000, None


async def _status(probe: bool, servers: str | None) -> dict[str, Any]:
    async with CodegenPersistence() as persistence:
        counts = await persistence.outbox_counts()
        oldest = await oldest_pending(persistence)
        breaker = await latest_breaker_transition(persistence)
        database = persistence.dsn
    kafka: dict[str, Any] = {"bootstrap_servers": servers, "topic_prefix": default_prefix()}
    if servers and probe:
        reachable, ms, error = await asyncio.to_thread(_probe, servers)
        kafka.update(reachable=reachable, probe_ms=round(ms, 1), error=error)
    age = None if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
    return {
        "kafka": kafka,
        "database": database,
        "outbox": {**counts, "oldest_pending_age_s": None if age is None else round(age, 1)},
        "circuit_breaker": None
        if breaker is None
        else {"state": breaker[0], "since": breaker[1].isoformat().replace("+00:00", "Z")},
    }


@app.command("status")
def status_command(
    as_json: AsJson = False,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Ask Kafka whether it answers.")] = True,
    servers: Servers = None,
) -> None:
    """Show Kafka's address and whether it answers, the outbox's depth, the last circuit breaker state."""
    status = asyncio.run(_status(probe, servers or get_settings().kafka_bootstrap_servers))
    if as_json:
        typer.echo(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(show_header=False, title="agents events", title_justify="left")
    kafka = status["kafka"]
    if kafka["bootstrap_servers"] is None:
        table.add_row("kafka", "not configured: events wait in the outbox")
    else:
        table.add_row("kafka", kafka["bootstrap_servers"])
        if "reachable" in kafka:
            answer = f"yes ({kafka['probe_ms']:.0f} ms)" if kafka["reachable"] else f"no: {kafka['error']}"
            table.add_row("answers", answer)
    table.add_row("topic prefix", kafka["topic_prefix"] or "(none)")
    outbox = status["outbox"]
    age = outbox["oldest_pending_age_s"]
    table.add_row(
        "outbox",
        f"{outbox['pending']} pending, {outbox['sent']} sent, {outbox['dead']} dead"
        + ("" if age is None else f" (oldest pending {age:.0f} s old)"),
    )
    breaker = status["circuit_breaker"]
    shown = "no transition recorded" if breaker is None else f"{breaker['state']} since {breaker['since']}"
    table.add_row("circuit breaker", shown)
    table.add_row("database", status["database"])
    Console(highlight=False).print(table)
