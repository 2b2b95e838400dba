"""The public names of every public module are pinned: a change to them must be deliberate."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import agents

PUBLIC_API: dict[str, set[str]] = {
    "agents": {"__version__"},
    "agents.cli": {"app", "main"},
    "agents.lib": set(),
    "agents.lib.errors": {"ErrorCode", "OnexError"},
    "agents.lib.naming": {
        "RESERVED_CLASS_NAMES",
        "RESERVED_FIELD_NAMES",
        "fold_apostrophes",
        "is_reserved_class_name",
        "is_reserved_field_name",
        "is_safe_identifier",
        "pascal_case",
        "safe_class_name",
        "safe_field_name",
        "snake_case",
        "split_words",
        "upper_snake_case",
        "without_node_type_suffix",
    },
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
        "MemorySink",
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
    "agents.lib.background_persistence": {"BackgroundPersistence"},
    "agents.lib.codegen_workflow": {
        "DEFAULT_TIMEOUT_SECONDS",
        "WorkflowHook",
        "WorkflowResult",
        "create_jobs",
        "default_workers",
        "generate_microservice",
    },
    "agents.lib.db": {
        "CONNECT_TIMEOUT_S",
        "DatabaseError",
        "backend_name",
        "create_engine",
        "is_postgres",
        "is_sqlite",
        "normalize_dsn",
        "plain_postgres_dsn",
        "resolve_dsn",
        "scrub",
        "translate_error",
        "verify_connection",
    },
    "agents.lib.db.schema": {
        "ALL_TABLES",
        "JSONType",
        "OUTBOX_STATUSES",
        "UTCDateTime",
        "event_outbox",
        "event_processing_metrics",
        "generation_performance_metrics",
        "generation_sessions",
        "metadata",
        "mixin_compatibility_matrix",
        "pattern_feedback_log",
        "template_cache_metadata",
        "utcnow",
    },
    "agents.lib.migrations": {
        "ADVISORY_LOCK_KEY",
        "HEAD_REVISION",
        "MIGRATIONS_DIR",
        "MigrationResult",
        "MigrationStatus",
        "alembic_config",
        "apply",
        "apply_async",
        "downgrade",
        "downgrade_async",
        "status",
        "status_async",
    },
    "agents.lib.migrations.cli": {"db_app"},
    "agents.lib.persistence": {
        "BufferStats",
        "CodegenPersistence",
        "GenerationSession",
        "MetricsBuffer",
        "MixinCompatibility",
        "OutboxEvent",
        "PatternFeedbackRecord",
        "SqlitePool",
        "TemplateCacheDelta",
    },
    "agents.lib.prd_analyzer": {
        "DecomposedTask",
        "Entity",
        "EntityField",
        "ExternalSystem",
        "ExternalSystemKind",
        "FieldType",
        "Lifecycle",
        "MAX_PRD_BYTES",
        "NodeType",
        "NodeTypeHint",
        "Operation",
        "OperationKind",
        "PRDAnalysis",
        "Priority",
        "QualityBaseline",
        "RECOMMEND_THRESHOLD",
        "Requirement",
        "Rule",
        "RuleExpr",
        "RuleFormat",
        "RuleKind",
        "RuleOperator",
        "RuleValue",
        "StateTransition",
        "UserStory",
        "WorkflowStep",
        "analyze_prd",
        "analyze_prd_async",
    },
    "agents.lib.template_cache": {
        "CacheStats",
        "DetailedCacheStats",
        "Loader",
        "MetricsRecord",
        "MetricsSink",
        "TemplateCache",
        "TemplateInfo",
        "read_utf8",
    },
    "agents.lib.parallel_generator": {
        "BatchStats",
        "GenerationJob",
        "GenerationResult",
        "ParallelGenerator",
        "ProgressCallback",
    },
    "agents.lib.codegen": set(),
    "agents.lib.codegen.spec": {
        "EntitySpec",
        "FIELD_TYPES",
        "FieldSpec",
        "FieldType",
        "FsmSpec",
        "HookSpec",
        "NODE_TYPES",
        "NodeSpec",
        "NodeType",
        "OperationKind",
        "OperationSpec",
        "PORT_KINDS",
        "PortKind",
        "PortSpec",
        "StepSpec",
        "TransitionSpec",
    },
    "agents.lib.codegen.render": {
        "RUNTIME_DIR",
        "RUNTIME_PACKAGE",
        "TEMPLATES_DIR",
        "TemplateEngine",
        "contract_of",
        "format_python",
        "render_node",
        "render_shared",
        "write_tree",
    },
    "agents.lib.codegen.contract": {
        "ContractEntity",
        "ContractField",
        "ContractFsm",
        "ContractHook",
        "ContractOperation",
        "ContractPort",
        "ContractStep",
        "ContractTransition",
        "NodeContract",
        "load_yaml",
    },
    "agents.lib.codegen.verify": {"CheckResult", "VerificationReport", "verify_generated"},
    "agents.lib.codegen.mypy_seed": {
        "MypyCache",
        "SEED_DIR_VARIABLE",
        "SEED_MODULES",
        "SeedRunner",
        "default_seed_root",
        "mypy_output_is_sound",
        "prepare_mypy_cache",
    },
    "agents.lib.codegen.builder": {
        "DEFAULT_MIXINS",
        "MixinRecommender",
        "build_node_spec",
        "build_node_specs",
        "plural",
    },
    "agents.lib.codegen.generator": {"CodeGenerator", "GeneratedNode"},
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


# Not pinned: the runtime copied into generated services (its API is the generated code's), and alembic's
# environment and revision scripts (run by alembic, not imported by users).
UNPINNED_PREFIXES = ("agents.lib.codegen.runtime", "agents.lib.migrations.env", "agents.lib.migrations.versions")


def test_every_public_module_is_pinned() -> None:
    found = {
        m.name
        for m in pkgutil.walk_packages(agents.__path__, "agents.")
        if not any(part.startswith("_") for part in m.name.split(".")) and not m.name.startswith(UNPINNED_PREFIXES)
    }
    assert found == set(PUBLIC_API) - {"agents"}
