"""The storage layout: records re-exported from ``agents.lib.persistence`` are the stores' own, every store is
reachable from the facade, and the light parts of ``agents.lib.db`` import without SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import agents.lib.persistence as persistence_module
from agents.lib.db import stores
from agents.lib.db.buffer import BufferStats, MetricsBuffer
from agents.lib.db.sqlite_pool import SqlitePool
from agents.lib.db.stores.generation import GenerationSession
from agents.lib.db.stores.mixins import MixinCompatibility
from agents.lib.db.stores.outbox import OutboxEvent
from agents.lib.db.stores.pattern_feedback import PatternFeedbackRecord
from agents.lib.db.stores.template_cache import TemplateCacheDelta
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.persistence import CodegenPersistence


def test_the_old_import_paths_name_the_moved_classes() -> None:
    moved = {
        "BufferStats": BufferStats,
        "MetricsBuffer": MetricsBuffer,
        "SqlitePool": SqlitePool,
        "GenerationSession": GenerationSession,
        "MixinCompatibility": MixinCompatibility,
        "OutboxEvent": OutboxEvent,
        "PatternFeedbackRecord": PatternFeedbackRecord,
        "TemplateCacheDelta": TemplateCacheDelta,
    }
    for name, cls in moved.items():
        assert getattr(persistence_module, name) is cls
        assert name in persistence_module.__all__


def test_every_registered_store_is_one_instance_of_the_facade(tmp_path: object) -> None:
    persistence = CodegenPersistence(f"sqlite:///{tmp_path}/x.db")
    instances = [persistence.store(cls) for cls in stores.STORES]
    assert [type(s) for s in instances] == list(stores.STORES)
    assert all(persistence.store(type(s)) is s for s in instances)
    assert len({id(s.db) for s in instances}) == 1  # one database shared by all
    kinds = sorted(kind.name for cls in stores.STORES for kind in cls.metric_kinds)
    assert kinds == ["event", "generation", "template_cache"]

    class NotRegistered(stores.Store):
        pass

    with pytest.raises(OnexError) as caught:
        persistence.store(NotRegistered)
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert "NotRegistered is not a registered store" in caught.value.message


def test_the_sink_and_the_db_package_import_without_sqlalchemy() -> None:
    code = (
        "import sys\n"
        "import agents.lib.db.sink, agents.lib.template_cache\n"
        "print('sqlalchemy' in sys.modules)\n"
        "from agents.lib.db import create_engine, translate_error\n"
        "print('sqlalchemy' in sys.modules, create_engine.__module__, translate_error.__module__)\n"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert probe.stdout.splitlines() == ["False", "True agents.lib.db.engine agents.lib.db.engine"]


def test_the_db_package_refuses_unknown_names() -> None:
    import agents.lib.db as db

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = db.nope  # type: ignore[attr-defined]
    assert {"create_engine", "DatabaseError", "engine"} <= set(dir(db))
