"""``agents monitor status|alerts|deploy-files`` and ``agents serve``: monitoring from the command line.

``status`` and ``alerts`` read the database's figures of the last ``--window`` minutes (the same ones the
dashboard shows) and judge them against the thresholds; ``deploy-files`` writes the Prometheus rules and the
Grafana dashboard; ``serve`` runs the monitoring server.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents._cli.common import log_to_file
from agents.lib._monitoring.dashboard import KEY_FIGURES
from agents.lib._monitoring.deploy import write_files
from agents.lib._monitoring.thresholds import thresholds_from_mapping
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.monitoring import AlertSeverity, MonitoringSystem, MonitoringThresholds

__all__ = ["app", "serve_app"]

app = typer.Typer(
    name="monitor",
    help="Health, key figures and alerts, from the database (what `agents serve` shows).",
    no_args_is_help=True,
    add_completion=False,
)
serve_app = typer.Typer(name="serve", add_completion=False)

_COLOURS = {"healthy": "green", "unknown": "dim", "degraded": "yellow", "critical": "red", "warning": "yellow"}

Window = Annotated[float, typer.Option("--window", "-w", help="Minutes of history to read (positive).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ThresholdsFile = Annotated[
    Path | None, typer.Option("--thresholds", help="A JSON file of MonitoringThresholds settings.")
]


def _thresholds(path: Path | None) -> MonitoringThresholds | None:
    if path is None:
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise OnexError(f"cannot read {path}: {exc.strerror}", ErrorCode.NOT_FOUND) from None
    except orjson.JSONDecodeError as exc:
        raise OnexError(f"{path} is not JSON: {exc}", ErrorCode.VALIDATION_ERROR) from None
    return thresholds_from_mapping(data)


def _badge(status: str) -> str:
    return f"[{_COLOURS.get(status, 'white')}]{escape(status)}[/]"


def _figure(value: Any, unit: str) -> str:
    if unit == "ratio":
        return f"{float(value):.1%}"
    if unit == "ms":
        return f"{float(value):.1f} ms"
    if unit == "x":
        return f"{float(value):.2f}x"
    return str(value)


async def _check(window: float, thresholds: MonitoringThresholds | None) -> tuple[dict[str, Any], list[Any]]:
    async with MonitoringSystem(thresholds, enabled=True) as monitoring:
        health = await monitoring.check_health(window_minutes=window)
        return health, monitoring.get_active_alerts(include_suppressed=True)


@app.command("status")
def status_command(window: Window = 60.0, as_json: AsJson = False, thresholds: ThresholdsFile = None) -> None:
    """Show overall health, each component and the key figures of the last --window minutes."""
    log_to_file()
    health, alerts = asyncio.run(_check(window, _thresholds(thresholds)))
    if as_json:
        body = {**health, "alerts": [a.to_dict() for a in alerts]}
        typer.echo(orjson.dumps(body, default=str, option=orjson.OPT_INDENT_2).decode())
        return
    console = Console(highlight=False)
    console.print(
        f"overall: {_badge(health['overall_status'])}  ({len(alerts)} active alerts; last {window:g} min)"
    )
    table = Table("component", "status", "latency", "details", title="Components", title_justify="left")
    for name, c in health["components"].items():
        details = c["error"] or ", ".join(
            f"{k}: {v}" for k, v in c["metadata"].items() if not isinstance(v, dict | list)
        )
        latency = "-" if c["latency_ms"] is None else f"{c['latency_ms']:.0f} ms"
        table.add_row(name, _badge(c["status"]), latency, escape(details))
    console.print(table)
    figures = Table("figure", "value", title="Key figures", title_justify="left")
    metrics = health["metrics"]
    for section, key, title, unit in KEY_FIGURES:
        if key in metrics.get(section, {}):
            figures.add_row(title, _figure(metrics[section][key], unit))
    console.print(figures)
    for section, error in metrics.get("errors", {}).items():
        console.print(f"[red]{escape(section)}:[/] {escape(error)}")


@app.command("alerts")
def alerts_command(
    window: Window = 60.0,
    severity: Annotated[
        str | None, typer.Option("--severity", "-s", help="Only warning or critical alerts.")
    ] = None,
    as_json: AsJson = False,
    thresholds: ThresholdsFile = None,
) -> None:
    """List the alerts the figures of the last --window minutes raise against the thresholds."""
    wanted = None
    if severity is not None:
        try:
            wanted = AlertSeverity(severity.lower())
        except ValueError:
            raise OnexError("--severity must be warning or critical", ErrorCode.VALIDATION_ERROR) from None
    log_to_file()
    _, alerts = asyncio.run(_check(window, _thresholds(thresholds)))
    shown = [a for a in alerts if wanted is None or a.severity is wanted]
    if as_json:
        typer.echo(orjson.dumps([a.to_dict() for a in shown], option=orjson.OPT_INDENT_2).decode())
        return
    console = Console(highlight=False)
    if not shown:
        console.print(f"no active alerts (last {window:g} min)")
        return
    table = Table("severity", "component", "message", "threshold", "actual", title="Active alerts")
    for a in shown:
        table.add_row(
            _badge(a.severity.value), a.component, escape(a.message), f"{a.threshold:g}", f"{a.actual_value:.4g}"
        )
    console.print(table)


@app.command("deploy-files")
def deploy_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path("deploy"),
    thresholds: ThresholdsFile = None,
) -> None:
    """Write the Prometheus alerting rules and the Grafana dashboard generated from the thresholds."""
    for path in write_files(out, _thresholds(thresholds)):
        typer.echo(str(path))


@serve_app.callback(invoke_without_command=True)
def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default PROMETHEUS_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", min=1, max=65535, help="Port (default PROMETHEUS_PORT).")
    ] = None,
    window: Window = 60.0,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.5, help="Seconds between database collections.")
    ] = 10.0,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="POST alert notifications (JSON) to this URL.")
    ] = None,
    thresholds: ThresholdsFile = None,
) -> None:
    """Serve /metrics (Prometheus), /health (JSON, 503 when critical) and a dashboard at /."""
    from agents.lib.config import load_settings
    from agents.server import run_server

    log_to_file()
    settings = load_settings()
    bind = host or settings.prometheus_host
    listen = port or settings.prometheus_port
    err = Console(stderr=True, highlight=False)
    if not _is_loopback(bind):
        err.print(f"[yellow]warning:[/] binding {escape(bind)}: the server has no authentication")
    monitoring = MonitoringSystem(_thresholds(thresholds), webhook_url=webhook, enabled=True)
    err.print(f"serving http://{escape(bind)}:{listen}/ (metrics at /metrics, health at /health); Ctrl-C stops")
    run_server(
        bind,
        listen,
        monitoring=monitoring,
        window_minutes=window,
        refresh_interval_s=refresh,
        close_monitoring=True,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
