"""Fixtures of the tests of the test services themselves."""

from __future__ import annotations

from tests._services.kafka import kafka_bootstrap, restartable_kafka

__all__ = ["kafka_bootstrap", "restartable_kafka"]
