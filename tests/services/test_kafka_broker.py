"""The session's Kafka-protocol broker is real: messages round-trip, and a restart is an outage."""

from __future__ import annotations

from confluent_kafka import Producer

from tests._services.kafka import KafkaBroker, consume_all


def _produce(bootstrap: str, topic: str, count: int, timeout: float = 15.0) -> int:
    delivered: list[int] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": int(timeout * 1000),
        }
    )
    for i in range(count):
        producer.produce(
            topic,
            key=str(i).encode(),
            value=f"v{i}".encode(),
            on_delivery=lambda err, msg: delivered.append(1) if err is None else None,
        )
    producer.flush(timeout + 5)
    return len(delivered)


def test_messages_round_trip_through_the_session_broker(kafka_bootstrap: str) -> None:
    """Every produced message is consumed back with its key and value."""
    assert _produce(kafka_bootstrap, "services-roundtrip", 50) == 50
    messages = consume_all(kafka_bootstrap, "services-roundtrip", 50)
    assert sorted(int(k or b"-1") for k, _ in messages) == list(range(50))
    assert {(k, v) for k, v in messages} == {(str(i).encode(), f"v{i}".encode()) for i in range(50)}


def test_a_stopped_broker_refuses_and_a_restarted_one_accepts(restartable_kafka: KafkaBroker) -> None:
    """While stopped no message is delivered; after start() on the same port messages flow again."""
    bootstrap = restartable_kafka.bootstrap
    restartable_kafka.stop()
    assert _produce(bootstrap, "services-outage", 3, timeout=1.0) == 0
    restartable_kafka.start()
    assert restartable_kafka.bootstrap == bootstrap
    assert _produce(bootstrap, "services-outage", 3) == 3
    assert len(consume_all(bootstrap, "services-outage", 3)) == 3
