"""Mixin internals: the ground truth (trials) and the learner's model (API: :mod:`agents.lib.mixin_learner`).

:mod:`.trials` runs pairs of mixins on generated nodes (:mod:`.checks` holds each mixin's behavioural checks) and
ships the outcomes as ``data/trials.json``. :mod:`.features`, :mod:`.model` and :mod:`.training` are the
learner's: features from ``INFO`` only, the JSON model file, training with a grouped split.
"""
