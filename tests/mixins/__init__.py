"""Tests of the mixins: the catalogue, the runtime mixins, the trials (and the learner)."""
