"""Internals of event publishing (guide Stream 6): producers, circuit breaker, outbox, topic names, metrics."""
