"""The public names of every public module are pinned: a change to them must be deliberate."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_API: dict[str, set[str]] = {
    "agents": {"__version__"},
    "agents.cli": {"app", "main"},
    "agents.lib": set(),
    "agents.lib.errors": {"ErrorCode", "OnexError"},
    "agents.lib.config": {
        "ENV_FILE_VARIABLE",
        "LOG_LEVELS",
        "ConfigError",
        "LogLevel",
        "Settings",
        "get_settings",
        "load_settings",
        "redact_dsn",
        "reset_settings",
    },
    "agents.lib.log_context": {
        "LogContext",
        "async_log_context",
        "clear_log_context",
        "get_component",
        "get_correlation_id",
        "get_session_id",
        "log_context",
        "new_correlation_id",
        "set_global_component",
        "set_global_correlation_id",
        "set_global_session_id",
        "with_log_context",
    },
    "agents.lib.structured_logger": {
        "JsonFormatter",
        "LineSink",
        "StreamSink",
        "StructuredHandler",
        "StructuredLogger",
        "add_sink",
        "configure_logging",
        "encode_record",
        "get_correlation_id",
        "get_log_level",
        "get_logger",
        "get_session_id",
        "remove_sink",
        "reset_logging",
        "set_global_correlation_id",
        "set_global_session_id",
    },
    "agents.lib.log_rotation": {
        "LogRotationConfig",
        "RotatingJsonFileHandler",
        "cleanup_old_logs",
        "configure_file_rotation",
        "configure_global_rotation",
        "get_log_stats",
        "remove_rotation",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC_API[module_name]
    assert len(module.__all__) == len(set(module.__all__)), "duplicates in __all__"


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_every_public_name_exists_and_is_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert getattr(value, "__doc__", None), f"{module_name}.{name} has no docstring"
