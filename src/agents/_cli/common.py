"""What every ``agents`` subcommand shares: sending its JSON log lines to the rotated log file."""

from __future__ import annotations

from pathlib import Path

from agents.lib.config import load_settings
from agents.lib.log_rotation import LogRotationConfig, configure_global_rotation
from agents.lib.structured_logger import configure_logging

__all__ = ["log_to_file"]


def log_to_file() -> Path:
    """Send the JSON log lines of a command to the rotated log file (LOG_DIR, else the data dir)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    handler = configure_global_rotation(LogRotationConfig())
    return handler.path
