"""deploy/: the Prometheus rules and Grafana dashboard are current, well-formed, and alert like the thresholds.

The database rules are evaluated here against our own /metrics text (their expressions only compare gauges with
numbers, joined by ``and``), over the same database state as the in-process thresholds: the same alerts fire.
"""

from __future__ import annotations

import json
import operator
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from agents.lib._monitoring.deploy import DASHBOARD_FILE, RULES_FILE, render, write_files
from agents.lib._monitoring.thresholds import BUILTIN_SPECS
from agents.lib.monitoring import MetricThreshold, MonitoringSystem, MonitoringThresholds
from agents.lib.persistence import CodegenPersistence
from tests.monitoring.test_collect import seed

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_OPS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
_TERM = re.compile(r"^([a-z_][a-z0-9_]*) (>=|<=|>|<) (-?[0-9.]+)$")


def test_the_shipped_files_are_current() -> None:
    for relative, text in render().items():
        shipped = DEPLOY / relative
        assert shipped.is_file(), f"{shipped} is missing: run `agents monitor deploy-files`"
        assert shipped.read_text(encoding="utf-8") == text, (
            f"{shipped} is stale: run `agents monitor deploy-files` (or python -m agents.lib._monitoring.deploy)"
        )


def test_rules_cover_every_threshold_with_disjoint_ranges() -> None:
    rules = yaml.safe_load((DEPLOY / RULES_FILE).read_text())
    groups = {g["name"]: g["rules"] for g in rules["groups"]}
    assert list(groups) == ["agents-database", "agents-recorded"]
    for name, group in groups.items():
        alerts = [r["alert"] for r in group]
        assert len(alerts) == len(set(alerts)), f"duplicate alert names in {name}"
        assert {(r["labels"]["threshold"], r["labels"]["severity"]) for r in group} == {
            (spec.name, severity) for spec in BUILTIN_SPECS for severity in ("warning", "critical")
        }
    by_name = {r["alert"]: r for r in groups["agents-database"]}
    assert by_name["AgentsCacheHitRateWarning"]["expr"] == (
        "agents_template_cache_overall_hit_rate < 0.8 and agents_template_cache_overall_hit_rate >= 0.7"
        " and agents_template_cache_total_requests > 0"
    )
    assert by_name["AgentsOutboxPendingCritical"]["expr"] == "agents_event_processing_outbox_pending > 10000"
    recorded = {r["alert"]: r["expr"] for r in groups["agents-recorded"]}
    assert recorded["AgentsEventLatencyMsCriticalRecorded"] == (
        "(rate(event_latency_ms_sum[300s]) / rate(event_latency_ms_count[300s])) > 500"
    )
    assert recorded["AgentsParallelSpeedupWarningRecorded"] == "parallel_speedup < 1.3 and parallel_speedup >= 1"
    assert all("keep_firing_for" not in r for r in groups["agents-recorded"])


def evaluate(expr: str, values: dict[str, float]) -> bool:
    """A rule of the database group fires when every ``gauge OP number`` term holds."""
    terms = expr.split(" and ")
    result = True
    for term in terms:
        match = _TERM.match(term)
        assert match, f"unexpected expression form: {term!r}"
        name, op, number = match.groups()
        result = result and name in values and _OPS[op](values[name], float(number))
    return result


async def test_the_database_rules_fire_the_same_alerts_as_the_thresholds(tmp_path: Path) -> None:
    async with CodegenPersistence(f"sqlite:///{tmp_path / 'rules.db'}") as p:
        await seed(p)
        m = MonitoringSystem(persistence=p)
        await m.collect_all_metrics(60)
        exposition = await m.export_prometheus_metrics()
        expected = {(a.rule, a.severity.value) for a in m.get_active_alerts()}
    values = {s.name: s.value for f in text_string_to_metric_families(exposition) for s in f.samples}
    rules = yaml.safe_load((DEPLOY / RULES_FILE).read_text())
    [database] = [g["rules"] for g in rules["groups"] if g["name"] == "agents-database"]
    firing = {(r["labels"]["threshold"], r["labels"]["severity"]) for r in database if evaluate(r["expr"], values)}
    assert expected == {
        ("verification_pass_rate", "critical"),
        ("event_success_rate", "warning"),
        ("pattern_precision", "critical"),
    }
    assert firing == expected


def test_the_dashboard_has_a_panel_per_threshold() -> None:
    dashboard = json.loads((DEPLOY / DASHBOARD_FILE).read_text())
    assert dashboard["uid"] == "agents-monitoring"
    panels = dashboard["panels"]
    assert [p["type"] for p in panels[:2]] == ["stat", "alertlist"]
    assert [p["title"] for p in panels[2:]] == [spec.title for spec in BUILTIN_SPECS]
    hit_rate = next(p for p in panels if p["title"] == "Template cache hit rate")
    assert [t["expr"] for t in hit_rate["targets"]] == ["agents_template_cache_overall_hit_rate", "cache_hit_rate"]
    assert hit_rate["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "red", "value": None},
        {"color": "orange", "value": 0.7},
        {"color": "green", "value": 0.8},
    ]
    assert hit_rate["fieldConfig"]["defaults"]["unit"] == "percentunit"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    positions = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels]
    assert len(positions) == len(set(positions))


def test_custom_thresholds_and_the_dedup_window_reach_the_files(tmp_path: Path) -> None:
    thresholds = MonitoringThresholds(
        cache_hit_rate_warning=0.75,
        dedup_window_seconds=120,
        custom={"queue_depth": MetricThreshold(100, 1000, component="queue", title="Queue depth")},
    )
    paths = write_files(tmp_path, thresholds)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == sorted([RULES_FILE, DASHBOARD_FILE])
    rules = yaml.safe_load((tmp_path / RULES_FILE).read_text())
    everything = [r for g in rules["groups"] for r in g["rules"]]
    by_name = {r["alert"]: r for r in everything}
    assert by_name["AgentsCacheHitRateWarning"]["expr"].startswith("agents_template_cache_overall_hit_rate < 0.75")
    assert by_name["AgentsQueueDepthCriticalRecorded"]["expr"] == "queue_depth > 1000"
    assert by_name["AgentsQueueDepthWarningRecorded"]["labels"]["component"] == "queue"
    assert {r["keep_firing_for"] for r in everything} == {"120s"}
    dashboard = json.loads((tmp_path / DASHBOARD_FILE).read_text())
    assert dashboard["panels"][-1]["title"] == "Queue depth"
