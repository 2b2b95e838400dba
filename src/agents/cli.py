"""The ``agents`` command line (also ``python -m agents``).

Errors are printed as one readable line and a hint, with exit code 2 for bad input or configuration and 1 for
other failures; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents import __version__
from agents._cli import events, monitor
from agents._cli import feedback as feedback_cli
from agents._cli import mixins as mixins_cli
from agents._cli.common import log_to_file as _log_to_file
from agents.lib._events.workflow import EventPublishingHook
from agents.lib.codegen.builder import SpecPlanner
from agents.lib.codegen.hooks import WorkflowHook, WorkflowResult, WorkflowRun
from agents.lib.codegen.job import GenerationResult
from agents.lib.codegen_workflow import DEFAULT_TIMEOUT_SECONDS, generate_microservice
from agents.lib.config import load_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.migrations.cli import db_app
from agents.lib.monitoring import MonitoringHook, get_monitoring_system
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import NodeType, PRDAnalysis, analyze_prd

__all__ = ["app", "main"]

app = typer.Typer(
    name="agents",
    help="Turn a product requirements document (PRD) into a verified microservice of ONEX nodes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(db_app, name="db")
app.add_typer(monitor.app, name="monitor")
app.add_typer(monitor.serve_app, name="serve")
app.add_typer(events.app, name="events")
app.add_typer(feedback_cli.app, name="feedback")
app.add_typer(mixins_cli.app, name="mixins")

_state: dict[str, bool] = {"debug": False}
_USER_ERRORS = {
    ErrorCode.VALIDATION_ERROR,
    ErrorCode.CONFIGURATION_ERROR,
    ErrorCode.NOT_FOUND,
    ErrorCode.CONFLICT,
}
_HINTS = {
    ErrorCode.CONFIGURATION_ERROR: "check the environment and the .env file; `agents config` shows the settings",
    ErrorCode.VALIDATION_ERROR: "fix the input named above and run the command again",
    ErrorCode.NOT_FOUND: "check the path or name given",
    ErrorCode.CONFLICT: "pass --force to replace what exists, or choose another --out directory",
    ErrorCode.TIMEOUT: "raise --timeout, or lower --workers if the machine is busy",
    ErrorCode.OPERATION_FAILED: "see the errors above; for timeouts raise --timeout; --debug shows tracebacks",
    ErrorCode.UNAVAILABLE: "check that the database named by DATABASE_URL / POSTGRES_* is running",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agents {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Turn a product requirements document (PRD) into a verified microservice of ONEX nodes."""
    _state["debug"] = debug


@app.command("config")
def config_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the effective settings (environment and .env), secrets masked."""
    settings = load_settings()
    values = settings.as_safe_dict()
    values["DATABASE_DSN"] = settings.redacted_dsn()
    if as_json:
        typer.echo(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("setting", "value", title="agents settings")
    for key, value in values.items():
        table.add_row(key, "" if value is None else str(value))
    Console().print(table)


def _split_types(values: Sequence[str] | None) -> list[str] | None:
    """Return the node types of ``--node-types``: None when not given, ``[]`` (bad input) when given empty."""
    if values is None:
        return None
    return [t.strip().upper() for v in values for t in v.split(",") if t.strip()]


@app.command("analyze")
def analyze_command(
    prd: Annotated[Path, typer.Argument(help="The PRD file (Markdown or plain text).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole analysis as JSON.")] = False,
) -> None:
    """Analyse a PRD: what the service is, its node types, entities, external systems and requirements."""
    _log_to_file()
    analysis = analyze_prd(prd)
    planner = feedback_cli.configured_planner()  # patterns, held to the thresholds `agents generate` uses
    if as_json:
        data = {**analysis.model_dump(mode="json"), "patterns": feedback_cli.detections_json(planner, analysis)}
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    _print_analysis(Console(highlight=False), analysis)
    feedback_cli.print_patterns(Console(highlight=False), planner.detect(analysis))


_STEPS_ORIGIN = {
    "prd": "the steps of the PRD's workflow",
    "operations": "the PRD lists no workflow: steps named after its coordination operations",
    "tasks": "the PRD lists no workflow: steps named after the decomposed tasks",
    "default": "the PRD lists no workflow: the default steps",
}
_LIFECYCLE_ORIGIN = {
    "prd": "the PRD's lifecycle",
    "known": "the PRD names no lifecycle: a known one whose states its requirements name",
    "default": "the PRD names no lifecycle: the default one",
}


def _print_analysis(console: Console, analysis: PRDAnalysis) -> None:
    head = Table(show_header=False, title=f"PRD analysis: {escape(analysis.title)}", title_justify="left")
    head.add_row("service", analysis.service_name)
    head.add_row("domain", analysis.domain)
    head.add_row("node types", ", ".join(analysis.recommended_node_types))
    head.add_row(
        "requirements",
        f"{len(analysis.functional_requirements)} functional, "
        f"{len(analysis.non_functional_requirements)} non-functional, {len(analysis.user_stories)} user stories",
    )
    head.add_row(
        "external systems", ", ".join(f"{s.name} ({s.kind})" for s in analysis.external_systems) or "none"
    )
    head.add_row("confidence", f"{analysis.confidence_score:.2f}")
    head.add_row("quality", f"{analysis.quality_baseline.overall:.2f}")
    console.print(head)
    hints = Table("node type", "score", "recommended", "evidence", title="Node types", title_justify="left")
    for hint in analysis.node_type_hints:
        hints.add_row(
            hint.node_type,
            f"{hint.score:.2f}",
            "yes" if hint.recommended else "",
            escape(", ".join(hint.evidence)),
        )
    console.print(hints)
    if analysis.entities:
        entities = Table("entity", "fields", "from", title="Entities", title_justify="left")
        for entity in analysis.entities:
            name = entity.name + (f" (PRD: {entity.alias})" if entity.alias else "")
            fields = ", ".join(
                f"{f.name}: {f.type}" + (f" (PRD: {f.alias})" if f.alias and f.alias != f.name else "")
                for f in entity.fields
            )
            entities.add_row(escape(name), escape(fields), ", ".join(entity.sources))
        console.print(entities)
    if analysis.rules:
        codeable = sum(1 for r in analysis.rules if r.codeable)
        title = f"Rules: {codeable} codeable, {len(analysis.rules) - codeable} left as hooks"
        rules = Table("id", "kind", "rule", "status", "requirement", title=title, title_justify="left")
        for rule in analysis.rules:
            status = "codeable" if rule.codeable else f"[yellow]hook[/]: {escape(rule.reason)}"
            rules.add_row(rule.id, rule.kind, escape(rule.describe()), status, escape(rule.requirement_id or ""))
        console.print(rules)
    if NodeType.ORCHESTRATOR in analysis.recommended_node_types or analysis.workflow_steps:
        steps = Table("#", "step", "text", title="ORCHESTRATOR steps", title_justify="left")
        for number, step in enumerate(analysis.orchestrator_steps, start=1):
            steps.add_row(str(number), step.name, escape(step.text))
        console.print(steps)
        console.print(_STEPS_ORIGIN[analysis.orchestrator_steps[0].origin])
    if NodeType.REDUCER in analysis.recommended_node_types or analysis.lifecycle is not None:
        life = analysis.reducer_lifecycle
        owner = f" of {escape(life.entity)}" if life.entity else ""
        states = Table("from", "event", "to", title=f"Lifecycle{owner} (REDUCER)", title_justify="left")
        for t in life.transitions:
            states.add_row(t.source, t.event, t.target)
        console.print(states)
        terminal = ", ".join(life.terminal) or "none"
        console.print(f"initial: {life.initial}; terminal: {terminal}; {_LIFECYCLE_ORIGIN[life.origin]}")
    for warning in analysis.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


class _ProgressHook(WorkflowHook):
    """Shows one progress row per node: a spinner while it is generated and verified, then the outcome."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.started = False

    async def workflow_started(self, run: WorkflowRun) -> None:
        """Show the progress display with a row per node."""
        self.progress.start()
        self.started = True
        for job in run.jobs:
            self.tasks[job.node_type] = self.progress.add_task(
                f"{job.node_type:<13}", total=1, status="generating and verifying"
            )

    def finished(self, result: GenerationResult, progress: dict[str, Any]) -> None:
        """Mark the node's row done (the workflow's progress callback)."""
        task = self.tasks.get(result.node_type)
        if task is not None:
            status = "[green]passed[/]" if result.success else "[red]failed[/]"
            self.progress.update(task, completed=1, status=status)


@app.command("generate")
def generate_command(
    prd: Annotated[Path, typer.Argument(help="The PRD file (Markdown or plain text).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory the service is written into.")],
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, help="Nodes generated at once (default: cores, max 4).")
    ] = None,
    node_types: Annotated[
        list[str] | None,
        typer.Option("--node-types", "-t", help="Node types (EFFECT,COMPUTE,...); default: the PRD's."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Service name (default: from the PRD).")] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip verification (nothing is checked).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace node packages that already exist; keep mixins predicted incompatible (with a warning).",
        ),
    ] = False,
    mixin: Annotated[
        list[str] | None,
        typer.Option("--mixin", "-m", help="Apply a mixin to a node type, as TYPE:Name (EFFECT:MixinCaching)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds allowed per node (generation and verification).")
    ] = DEFAULT_TIMEOUT_SECONDS,
    no_metrics: Annotated[
        bool, typer.Option("--no-metrics", help="Do not record the run in the database.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of the table.")] = False,
) -> None:
    """Generate the microservice a PRD describes, verify every node, and print a summary.

    The exit status is 0 only when every node was generated and passed verification.
    """
    log_file = _log_to_file()
    settings = load_settings()
    database = settings.describe_database() if not no_metrics and settings.enable_metrics else None
    err = Console(stderr=True, highlight=False)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,
        transient=False,
    )
    hook = _ProgressHook(progress)
    metrics_on = not no_metrics and settings.enable_metrics
    events_hook = EventPublishingHook(enable_metrics=metrics_on)  # Kafka when configured, else the outbox
    requested = mixins_cli.parse_requested(mixin)
    wiring: list[mixins_cli.MixinWiring] = []

    async def run(
        persistence: CodegenPersistence | None, planner: SpecPlanner, pattern_hooks: list[WorkflowHook]
    ) -> WorkflowResult:
        # learned mixins for the PRD's capabilities, a refusal of incompatible sets, verification feedback
        mixins = mixins_cli.MixinWiring(persistence, requested=requested, force=force)
        wiring.append(mixins)
        return await generate_microservice(
            prd,
            out,
            node_types=_split_types(node_types),
            name=name,
            workers=workers,
            timeout_seconds=timeout,
            verify=not no_verify,
            force=force,
            enable_metrics=metrics_on,
            persistence=persistence,
            hooks=[
                hook,
                events_hook,
                *pattern_hooks,
                *mixins.hooks(),
                MonitoringHook(get_monitoring_system(), read_events=metrics_on),
            ],
            progress_callback=hook.finished,
            spec_planner=mixins.planner(planner),
            mixin_recommender=mixins.recommender,
        )

    try:
        # pattern detection (thresholds from recorded feedback) and its verification feedback hook
        result, planner = asyncio.run(feedback_cli.with_patterns(metrics_on, run))
    finally:
        if hook.started:
            progress.stop()
    if as_json:
        data = {
            **result.to_dict(),
            "patterns": feedback_cli.detections_json(planner, result.analysis),
            "mixins": wiring[-1].to_dict(result) if wiring else {},
        }
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        console = Console(highlight=False)
        _print_summary(console, result, log_file, database)
        console.print(escape(feedback_cli.pattern_summary(planner, result.analysis)))
        for line in wiring[-1].summary(result) if wiring else []:
            console.print(escape(line))
        _print_events(console, events_hook)
        for alert in get_monitoring_system().get_active_alerts():
            colour = "red" if alert.severity.value == "critical" else "yellow"
            console.print(f"[{colour}]alert ({alert.severity.value}):[/] {escape(alert.message)}")
    if not result.success:
        raise typer.Exit(1)


def _print_events(console: Console, hook: EventPublishingHook) -> None:
    delivered = sum(1 for o in hook.outcomes if o.status == "delivered")
    kept = len(hook.outcomes) - delivered
    parts = [f"{delivered} published to Kafka"] if delivered else []
    if kept:
        parts.append(f"{kept} kept in the outbox (agents events relay publishes them)")
    if hook.errors:
        parts.append(f"[red]{len(hook.errors)} lost[/]: {escape(hook.errors[0])}")
    if parts:
        console.print("events: " + ", ".join(parts))


def _print_summary(console: Console, result: WorkflowResult, log_file: Path, database: str | None) -> None:
    packages = sorted(Path(r.output_path).name for r in result.results if r.output_path)
    # Package names, not paths: the shared beginning of the strings is what is wanted here.
    prefix = os.path.commonprefix(packages) if len(packages) > 1 else ""  # noqa: RUF071
    table = Table("node", "files", "verification", "hooks", "time", title=f"Service {result.service_name}")
    for r in result.results:
        if r.verification is None:
            verdict = "[red]failed[/]" if not r.success else "[yellow]not verified[/]"
        elif r.verification.passed:
            verdict = (
                f"[green]passed[/] ({len(r.verification.checks)} checks, {r.verification.tests_passed} tests)"
            )
        else:
            verdict = "[red]failed:[/] " + escape(", ".join(c.name for c in r.verification.failed_checks))
        hooks = len(r.spec.hook_names) if r.spec is not None else 0
        table.add_row(
            r.node_type, str(len(r.generated_files)), verdict, str(hooks), f"{r.duration_ms / 1000:.1f} s"
        )
    service = result.service_verification
    if service is not None:
        if service.passed:
            verdict = f"[green]passed[/] ({len(service.checks)} checks, {service.tests_passed} tests)"
        else:
            verdict = "[red]failed:[/] " + escape(", ".join(c.name for c in service.failed_checks))
        table.add_row("SERVICE", "-", verdict, "-", f"{result.service_ms / 1000:.1f} s")
    console.print(table)
    for r in result.failed:
        console.print(f"[red]{r.node_type}:[/] {escape(r.error or 'failed')}")
    if service is not None and not service.passed:
        console.print(f"[red]service:[/] {escape(service.summary())}")
    console.print(
        f"{result.rules_implemented} rules implemented, {result.hooks_left} left as hooks"
        + (
            " (methods that raise NOT_IMPLEMENTED, listed in each contract.yaml and README.md)"
            if result.hooks_left
            else ""
        )
    )
    passed = len(result.results) - len(result.failed)
    cache = result.template_cache
    console.print(
        f"{passed}/{len(result.results)} nodes passed in {result.wall_ms / 1000:.1f} s "
        f"with {result.workers} worker(s) (speedup {result.speedup:.2f}x over one worker, estimated: "
        f"{result.cores_used:.1f} cores busy, {result.concurrency:.1f} nodes at once); "
        f"template cache hit rate {cache.get('hit_rate', 0.0):.0%}"
        + (f"; the service as a whole verified in {result.service_ms / 1000:.1f} s" if service is not None else "")
    )
    shown = f"{prefix.rsplit('_', 1)[0]}_*" if "_" in prefix else ", ".join(packages)
    console.print(f"service: {escape(str(result.output_dir))}  (packages {escape(shown)})")
    console.print(f"logs: {escape(str(log_file))}  (correlation id {result.correlation_id})")
    if database is not None:
        console.print(f"metrics recorded in database: {escape(database)}")
    if result.success and result.verified:
        console.print(f"run its tests: cd {escape(str(result.output_dir))} && python -m pytest")


def main(argv: list[str] | None = None) -> None:
    """Run the command line; turn framework errors into one line and an exit code."""
    try:
        app(args=argv)  # standalone mode: usage errors, --help and exit codes are handled by typer
    except OnexError as exc:
        if _state["debug"]:
            raise
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True)
        errors = exc.details.get("errors")
        if isinstance(errors, dict):
            labels = exc.details.get("node_types") or list(errors)
            for label, message in zip(labels, errors.values(), strict=False):
                err.print(f"  {escape(str(label))}: {escape(str(message))}", markup=True)
        hint = _HINTS.get(exc.code)
        if hint:
            err.print(f"[dim]hint: {escape(hint)}[/]", markup=True)
        sys.exit(2 if exc.code in _USER_ERRORS else 1)
    except Exception as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("hint: run again with --debug to see the traceback", err=True)
        sys.exit(1)
