"""`agents events tail|relay|status`, run as a user runs them: in a subprocess, on the test's data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import orjson

from agents.lib.codegen_events import NodeGeneratedEvent, parse_event
from agents.lib.persistence import CodegenPersistence
from tests.events._support import aconsume

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"


def agents(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agents", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env},
        timeout=timeout,
        check=False,
    )


async def seed(service: str, count: int) -> list[NodeGeneratedEvent]:
    """Events waiting in the default database's outbox, as a run without Kafka leaves them."""
    events = [NodeGeneratedEvent(service=service, correlation_id=uuid4(), payload={"i": i}) for i in range(count)]
    async with CodegenPersistence() as store:
        for event in events:
            await store.enqueue_event(
                event.to_kafka_topic(), event.kafka_key(), event.to_bytes(), event.kafka_headers()
            )
    return events


async def test_status_relay_and_tail(kafka_bootstrap: str, service: str) -> None:
    """status shows the backlog; relay sends it with the ids; tail prints each event; status shows it sent."""
    events = await seed(service, 3)
    status = agents("events", "status", "--json")
    assert status.returncode == 0, status.stderr
    shown = orjson.loads(status.stdout)
    assert shown["kafka"] == {"bootstrap_servers": None, "topic_prefix": None}
    assert {k: shown["outbox"][k] for k in ("pending", "sent", "dead")} == {"pending": 3, "sent": 0, "dead": 0}
    assert shown["outbox"]["oldest_pending_age_s"] >= 0
    assert shown["circuit_breaker"] is None

    relay = agents("events", "relay", "--json", KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
    assert relay.returncode == 0, relay.stderr
    assert orjson.loads(relay.stdout) == {
        "sent": 3,
        "circuit": "CLOSED",
        "outbox": {"pending": 0, "sent": 3, "dead": 0},
    }

    tail = agents(
        "events", "tail", f"{service}.node.generated.v1", "--from-beginning", "--max", "3", "-b", kafka_bootstrap
    )
    assert tail.returncode == 0, tail.stderr
    lines = [orjson.loads(line) for line in tail.stdout.splitlines()]
    assert sorted(line["event_id"] for line in lines) == sorted(str(e.id) for e in events)
    assert all(
        line["event"]["event_type"] == "node.generated" and line["topic"] == f"{service}.node.generated.v1"
        for line in lines
    )
    assert sorted(line["event"]["payload"]["i"] for line in lines) == [0, 1, 2]
    assert {line["key"] for line in lines} == {str(e.correlation_id) for e in events}

    by_type = agents(
        "events",
        "tail",
        "node.generated",
        "--service",
        service,
        "--from-beginning",
        "--max",
        "1",
        "-b",
        kafka_bootstrap,
    )
    assert by_type.returncode == 0, by_type.stderr
    assert orjson.loads(by_type.stdout)["topic"] == f"{service}.node.generated.v1"

    table = agents("events", "status", KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
    assert table.returncode == 0, table.stderr
    assert kafka_bootstrap in table.stdout
    assert "answers" in table.stdout and "yes (" in table.stdout
    assert "0 pending, 3 sent, 0 dead" in table.stdout


async def test_status_reports_an_unreachable_kafka_and_the_last_breaker_state() -> None:
    """A refusing address reads as not answering; the last recorded breaker transition is shown."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    async with CodegenPersistence() as store:
        await store.record_event_metric(
            event_type="circuit_breaker.OPEN", processing_duration_ms=0.0, success=False
        )
    run = agents("events", "status", "--json", KAFKA_BOOTSTRAP_SERVERS=dead, KAFKA_TOPIC_PREFIX="staging")
    assert run.returncode == 0, run.stderr
    shown = orjson.loads(run.stdout)
    assert shown["kafka"]["bootstrap_servers"] == dead
    assert shown["kafka"]["reachable"] is False and shown["kafka"]["error"]
    assert shown["kafka"]["topic_prefix"] == "staging"
    assert shown["circuit_breaker"]["state"] == "OPEN"
    assert shown["circuit_breaker"]["since"].endswith("Z")


def test_relay_and_tail_need_kafka_and_an_existing_topic(kafka_bootstrap: str) -> None:
    """Without servers: exit 2 and a one-line error; an unknown topic: exit 2 as well."""
    relay = agents("events", "relay")
    assert relay.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in relay.stderr and "Traceback" not in relay.stderr
    tail = agents(
        "events", "tail", f"no-such-{uuid4().hex[:8]}.node.generated.v1", "-b", kafka_bootstrap, "--max", "1"
    )
    assert tail.returncode == 2
    assert "does not exist" in tail.stderr


async def test_agents_generate_with_kafka_configured_puts_its_events_on_the_topics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`agents generate` as a user runs it, with KAFKA_BOOTSTRAP_SERVERS set: every lifecycle event is on Kafka."""
    prefix = f"gen{uuid4().hex[:10]}"
    run = agents(
        "generate",
        str(EXAMPLES / "library_loans.md"),
        "--out",
        str(tmp_path / "loans"),
        "--no-verify",
        timeout=240,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC_PREFIX=prefix,
    )
    assert run.returncode == 0, run.stderr
    assert "events: 4 published to Kafka" in run.stdout
    got = {}
    for event_type in ("generation.started", "node.generated", "generation.completed"):
        expected = 2 if event_type == "node.generated" else 1
        records = await aconsume(kafka_bootstrap, f"{prefix}.codegen.{event_type}.v1", expected)
        got[event_type] = [parse_event(r.value) for r in records]
        assert len(got[event_type]) == expected
    assert {e.payload["node_type"] for e in got["node.generated"]} == {"EFFECT", "COMPUTE"}
    correlation_ids = {e.correlation_id for events in got.values() for e in events}
    assert len(correlation_ids) == 1  # one run, one correlation id on every event
    assert str(next(iter(correlation_ids))) in run.stdout  # the one the summary names
