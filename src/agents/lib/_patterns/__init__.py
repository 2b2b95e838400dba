"""Pattern detection and pattern feedback internals (the public API is :mod:`agents.lib.pattern_feedback`)."""
