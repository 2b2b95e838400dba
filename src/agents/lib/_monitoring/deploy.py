"""Prometheus alerting rules and a Grafana dashboard, generated from :class:`MonitoringThresholds`.

The rules give the same alerts as the in-process thresholds: warning and critical ranges never overlap (never
both active), the database figures ``agents serve`` exports (``agents_<section>_<key>``) alert only when there
is data behind them, a histogram or summary is judged by its mean over the evaluation window, and the dedup
window becomes ``keep_firing_for``. Hysteresis has no PromQL form and is in-process only.

``python -m agents.lib._monitoring.deploy [DIR]`` (or ``agents monitor deploy-files --out DIR``) writes
``prometheus/agents-alerts.yml`` and ``grafana/agents-dashboard.json`` under ``DIR`` (default ``deploy``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from agents.lib._monitoring.thresholds import MonitoringThresholds, ThresholdRule, collected_gauge_name

__all__ = [
    "DASHBOARD_FILE",
    "RULES_FILE",
    "grafana_dashboard",
    "main",
    "prometheus_rules",
    "render",
    "write_files",
]

RULES_FILE = "prometheus/agents-alerts.yml"
DASHBOARD_FILE = "grafana/agents-dashboard.json"

_HEADER = (
    "# Generated from agents.lib.monitoring.MonitoringThresholds by `agents monitor deploy-files`;\n"
    "# do not edit by hand: change the thresholds and regenerate.\n"
)
_UNITS = {"ratio": "percentunit", "ms": "ms", "x": "none", "count": "short", "": "short"}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _duration(seconds: float) -> str:
    return f"{round(seconds)}s"


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _ranges(rule: ThresholdRule, expr: str) -> dict[str, str]:
    """Return the warning and critical conditions on ``expr`` (disjoint, so only one is active at a time)."""
    w, c = _num(rule.warning), _num(rule.critical)
    if rule.direction == "above":
        return {"warning": f"{expr} > {w} and {expr} <= {c}", "critical": f"{expr} > {c}"}
    return {"warning": f"{expr} < {w} and {expr} >= {c}", "critical": f"{expr} < {c}"}


def _recorded_expr(rule: ThresholdRule, window: str) -> str:
    if rule.metric_type in {"histogram", "summary"}:
        return f"(rate({rule.metric}_sum[{window}]) / rate({rule.metric}_count[{window}]))"
    if rule.metric_type == "counter":
        return f"{rule.metric}_total"
    return rule.metric


def _rule(
    rule: ThresholdRule, severity: str, expr: str, source: str, keep: str | None, unit_note: str
) -> dict[str, Any]:
    threshold = rule.warning if severity == "warning" else rule.critical
    side = "above" if rule.direction == "above" else "below"
    out: dict[str, Any] = {
        "alert": f"Agents{_camel(rule.name)}{severity.capitalize()}"
        + ("Recorded" if source == "recorded" else ""),
        "expr": expr,
        "labels": {"severity": severity, "component": rule.component, "threshold": rule.name, "source": source},
        "annotations": {
            "summary": f"{rule.title} is {side} the {severity} threshold ({_num(threshold)}{unit_note})",
            "description": f"{rule.title} is {{{{ $value }}}} ({severity} threshold {_num(threshold)}{unit_note}, "
            f"{source} figure).",
        },
    }
    if keep is not None:
        out["keep_firing_for"] = keep
    return out


def prometheus_rules(thresholds: MonitoringThresholds) -> dict[str, Any]:
    """Return the rule groups: ``agents-database`` (what ``agents serve`` exports) and ``agents-recorded``."""
    keep = _duration(thresholds.dedup_window_seconds) if thresholds.dedup_window_seconds > 0 else None
    window = _duration(thresholds.evaluation_window_seconds)
    database: list[dict[str, Any]] = []
    recorded: list[dict[str, Any]] = []
    for rule in [*thresholds.builtin_rules(), *thresholds.custom_rules()]:
        note = f" {rule.unit}" if rule.unit in {"ms"} else ""
        spec = rule.spec
        if spec is not None and spec.section is not None and spec.key is not None:
            gauge = collected_gauge_name(spec.section, spec.key)
            guard = f" and {collected_gauge_name(spec.section, spec.samples_key)} > 0" if spec.samples_key else ""
            for severity, condition in _ranges(rule, gauge).items():
                database.append(_rule(rule, severity, condition + guard, "database", keep, note))
        for severity, condition in _ranges(rule, _recorded_expr(rule, window)).items():
            recorded.append(_rule(rule, severity, condition, "recorded", keep, note))
    return {
        "groups": [
            {"name": "agents-database", "rules": database},
            {"name": "agents-recorded", "rules": recorded},
        ]
    }


def _steps(rule: ThresholdRule) -> list[dict[str, Any]]:
    if rule.direction == "above":
        return [
            {"color": "green", "value": None},
            {"color": "orange", "value": rule.warning},
            {"color": "red", "value": rule.critical},
        ]
    return [
        {"color": "red", "value": None},
        {"color": "orange", "value": rule.critical},
        {"color": "green", "value": rule.warning},
    ]


def _panel(
    panel_id: int, title: str, exprs: list[tuple[str, str]], rule: ThresholdRule | None, x: int, y: int
) -> dict[str, Any]:
    unit = _UNITS.get(rule.unit if rule is not None else "", "short")
    defaults: dict[str, Any] = {"unit": unit, "custom": {"thresholdsStyle": {"mode": "line+area"}}}
    if rule is not None:
        defaults["thresholds"] = {"mode": "absolute", "steps": _steps(rule)}
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def grafana_dashboard(thresholds: MonitoringThresholds) -> dict[str, Any]:
    """Return a Grafana dashboard: component health, active alerts, one panel per watched figure."""
    window = _duration(thresholds.evaluation_window_seconds)
    panels: list[dict[str, Any]] = [
        {
            "id": 1,
            "type": "stat",
            "title": "Component health",
            "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
            "gridPos": {"h": 5, "w": 12, "x": 0, "y": 0},
            "fieldConfig": {
                "defaults": {
                    "mappings": [
                        {"type": "value", "options": {"0": {"text": "unhealthy", "color": "red"}}},
                        {"type": "value", "options": {"1": {"text": "healthy", "color": "green"}}},
                    ],
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}],
                    },
                },
                "overrides": [],
            },
            "options": {"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
            "targets": [{"refId": "A", "expr": "agents_component_healthy", "legendFormat": "{{component}}"}],
        },
        {
            "id": 2,
            "type": "alertlist",
            "title": "Agents alerts",
            "gridPos": {"h": 5, "w": 12, "x": 12, "y": 0},
            "options": {"alertName": "Agents", "showOptions": "current", "maxItems": 20, "sortOrder": 3},
        },
    ]
    for slot, rule in enumerate([*thresholds.builtin_rules(), *thresholds.custom_rules()]):
        exprs: list[tuple[str, str]] = []
        spec = rule.spec
        if spec is not None and spec.section is not None and spec.key is not None:
            exprs.append((collected_gauge_name(spec.section, spec.key), "database"))
        recorded = _recorded_expr(rule, window)
        exprs.append((recorded, "recorded {{instance}}"))
        x, y = (slot % 2) * 12, 5 + (slot // 2) * 8
        panels.append(_panel(3 + slot, rule.title, exprs, rule, x, y))
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "title": "agents monitoring",
        "uid": "agents-monitoring",
        "description": "Generated from agents.lib.monitoring.MonitoringThresholds (agents monitor deploy-files).",
        "tags": ["agents"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render(thresholds: MonitoringThresholds | None = None) -> dict[str, str]:
    """Return the deploy files' text, by path relative to the deploy directory."""
    t = thresholds or MonitoringThresholds()
    rules = _HEADER + yaml.safe_dump(prometheus_rules(t), sort_keys=False, width=1000, allow_unicode=True)
    dashboard = json.dumps(grafana_dashboard(t), indent=2, sort_keys=False) + "\n"
    return {RULES_FILE: rules, DASHBOARD_FILE: dashboard}


def write_files(out_dir: str | Path, thresholds: MonitoringThresholds | None = None) -> list[Path]:
    """Write the deploy files under ``out_dir``; return their paths."""
    written = []
    for relative, text in render(thresholds).items():
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the files with the default thresholds into ``argv[0]`` (default ``deploy``)."""
    args = sys.argv[1:] if argv is None else argv
    for path in write_files(args[0] if args else "deploy"):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
