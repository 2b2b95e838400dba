"""Internals of :mod:`agents.lib.monitoring`: thresholds, alerts, series, health, sections, deploy files."""
