"""Mixin internals: the behavioural checks and the trials that give the mixin learner its ground truth.

:mod:`.trials` runs pairs of mixins on generated nodes (:mod:`.checks` holds each mixin's behavioural checks) and
ships the outcomes as ``data/trials.json``.
"""
