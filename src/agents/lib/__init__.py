"""The framework's libraries: configuration, errors, logging, and (in later layers) storage and the streams.

Each public module owns one concept; import from the module, for example
``from agents.lib.structured_logger import get_logger``.
"""

__all__: list[str] = []
