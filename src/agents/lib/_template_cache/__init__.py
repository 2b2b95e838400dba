"""Internals of :mod:`agents.lib.template_cache`: its entries and flights, and its metrics (deltas, flushing)."""
