"""``agents feedback record|analyze|tune|report``, and the pattern wiring of ``agents generate`` / ``analyze``.

The wiring: the thresholds recorded feedback gives, the verification feedback hook, the table of patterns.

Feedback recorded here is user-provided (weight 2) unless ``--automatic`` says otherwise. The figures are those
of :mod:`agents.lib.pattern_feedback` (docs/patterns.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents.lib._patterns.hook import PatternFeedbackHook
from agents.lib._patterns.plan import PatternPlanner
from agents.lib.codegen_workflow import WorkflowHook, WorkflowResult
from agents.lib.config import get_settings
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.log_rotation import LogRotationConfig, configure_global_rotation
from agents.lib.pattern_feedback import (
    DEFAULT_MIN_SAMPLES,
    DEFAULT_TARGET_PRECISION,
    FEEDBACK_TYPES,
    DetectedPattern,
    PatternAnalysis,
    PatternFeedback,
    PatternFeedbackCollector,
)
from agents.lib.persistence import CodegenPersistence
from agents.lib.prd_analyzer import PRDAnalysis
from agents.lib.structured_logger import configure_logging, get_logger

__all__ = ["app", "configured_planner", "detections_json", "pattern_summary", "print_patterns", "with_patterns"]

_log = get_logger(__name__, component="cli")
_T = TypeVar("_T")

app = typer.Typer(
    name="feedback",
    help="Pattern feedback: record it, analyse a pattern, tune its threshold, report on every pattern.",
    no_args_is_help=True,
    add_completion=False,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MinSamples = Annotated[
    int, typer.Option("--min-samples", min=1, help="Scored detections needed before figures are trusted.")
]
Target = Annotated[float, typer.Option("--target", min=0.01, max=1.0, help="Target precision.")]


@app.callback()
def _log_to_file() -> None:
    """Pattern feedback: record it, analyse a pattern, tune its threshold, report on every pattern."""
    # like the other commands: JSON log lines go to the rotated log file, not over the command's output
    configure_logging(get_settings().log_level)
    configure_global_rotation(LogRotationConfig())


def _with_collector(action: Callable[[PatternFeedbackCollector], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        async with PatternFeedbackCollector() as collector:
            return await action(collector)

    return asyncio.run(run())


def _echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def _read_file(path: Path, automatic: bool) -> list[PatternFeedback]:
    """Read one JSON object per line with the fields of :class:`PatternFeedback`; skip blank lines."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OnexError(f"cannot read {path}: {exc.strerror}", ErrorCode.NOT_FOUND, {"path": str(path)}) from None
    out: list[PatternFeedback] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            data.setdefault("session_id", None)
            data.setdefault("actual_pattern", None)
            data.setdefault("user_provided", not automatic)
            out.append(PatternFeedback(**data))
        except OnexError as exc:
            raise OnexError(f"{path} line {number}: {exc.message}", ErrorCode.VALIDATION_ERROR) from None
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise OnexError(f"{path} line {number}: {exc}", ErrorCode.VALIDATION_ERROR) from None
    return out


@app.command("record")
def record_command(
    pattern: Annotated[str | None, typer.Argument(help="The detected pattern (omit with --file).")] = None,
    feedback_type: Annotated[
        str | None, typer.Option("--type", "-T", help=f"One of {', '.join(FEEDBACK_TYPES)}.")
    ] = None,
    confidence: Annotated[
        float | None, typer.Option("--confidence", "-c", help="The detection's confidence (0 to 1).")
    ] = None,
    actual: Annotated[str | None, typer.Option("--actual", help="The pattern it really was.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="The generation session it came from.")] = None,
    capability: Annotated[
        list[str] | None, typer.Option("--capability", help="A capability the detection matched (repeatable).")
    ] = None,
    false_positive: Annotated[
        list[str] | None, typer.Option("--false-positive", help="Wrongly matched (repeatable).")
    ] = None,
    false_negative: Annotated[
        list[str] | None, typer.Option("--false-negative", help="Missed (repeatable).")
    ] = None,
    automatic: Annotated[
        bool, typer.Option("--automatic", help="Not a person's judgement: weight 1 instead of 2.")
    ] = False,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSON lines, one PatternFeedback object per line.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Record feedback on a pattern detection (or every line of --file); print the new id(s)."""
    if file is not None:
        if pattern is not None:
            raise OnexError("give either a PATTERN or --file, not both", ErrorCode.VALIDATION_ERROR)
        feedbacks = _read_file(file, automatic)
    else:
        if pattern is None or feedback_type is None or confidence is None:
            raise OnexError(
                "PATTERN, --type and --confidence are required (or --file)", ErrorCode.VALIDATION_ERROR
            )
        feedbacks = [
            PatternFeedback(
                session_id=session,
                detected_pattern=pattern,
                detected_confidence=confidence,
                actual_pattern=actual,
                feedback_type=feedback_type,
                capabilities_matched=capability or [],
                false_positives=false_positive or [],
                false_negatives=false_negative or [],
                user_provided=not automatic,
            )
        ]
    ids = _with_collector(lambda c: c.record_feedback_batch(feedbacks))
    if as_json:
        _echo_json({"recorded": len(ids), "feedback_ids": [str(i) for i in ids]})
    elif file is not None:
        typer.echo(f"recorded {len(ids)} feedback rows from {file}")
    else:
        typer.echo(f"Feedback recorded: {ids[0]}")


def _analysis_table(analyses: Sequence[PatternAnalysis], title: str) -> Table:
    table = Table(
        "pattern", "samples", "precision", "recall", "F1", "suggested", title=title, title_justify="left"
    )
    for a in analyses:
        table.add_row(
            escape(a.pattern_name),
            f"{a.sample_count}" + ("" if a.sufficient_data else " (too few)"),
            f"{a.precision:.1%}",
            f"{a.recall:.1%}",
            f"{a.f1_score:.2f}",
            "-" if a.suggested_threshold is None else f"{a.suggested_threshold:.2f}",
        )
    return table


@app.command("analyze")
def analyze_command(
    pattern: Annotated[str, typer.Argument(help="The pattern to analyse.")],
    min_samples: MinSamples = DEFAULT_MIN_SAMPLES,
    target: Target = DEFAULT_TARGET_PRECISION,
    as_json: AsJson = False,
) -> None:
    """Show precision, recall, counts, frequent false positives/negatives and recommendations of a pattern."""
    analysis = _with_collector(lambda c: c.analyze_feedback(pattern, min_samples, target_precision=target))
    if as_json:
        _echo_json(analysis.to_dict())
        return
    console = Console(highlight=False)
    console.print(_analysis_table([analysis], f"Pattern {escape(pattern)} (weighted: user feedback counts 2x)"))
    console.print(
        f"correct {analysis.correct_count:g}, incorrect {analysis.incorrect_count:g}, partial "
        f"{analysis.partial_count:g}, adjusted {analysis.adjusted_count:g} (weighted); "
        f"{analysis.user_provided_count} of {analysis.sample_count} rows from users; "
        f"{analysis.missed_count} misses (detected as another pattern)"
    )
    for label, counts in (
        ("false positives", analysis.false_positive_counts),
        ("false negatives", analysis.false_negative_counts),
    ):
        if counts:
            console.print(
                f"top {label}: " + escape(", ".join(f"{k} ({v:g})" for k, v in list(counts.items())[:5]))
            )
    for rec in analysis.recommendations:
        console.print(f"- {escape(rec)}")


@app.command("tune")
def tune_command(
    pattern: Annotated[str, typer.Argument(help="The pattern to tune.")],
    target: Target = DEFAULT_TARGET_PRECISION,
    min_samples: MinSamples = DEFAULT_MIN_SAMPLES,
    curve: Annotated[bool, typer.Option("--curve", help="Also print the precision-recall sweep.")] = False,
    as_json: AsJson = False,
) -> None:
    """Find the lowest confidence threshold whose detections reach the target precision; say what generate uses."""

    async def tune(c: PatternFeedbackCollector) -> tuple[Any, ...]:
        sweep = await c.threshold_sweep(pattern, target)
        threshold = await c.tune_pattern_threshold(pattern, target, min_samples=min_samples)
        decisions = await c.generation_thresholds(target_precision=target, min_samples=min_samples)
        return sweep, threshold, decisions.get(pattern)

    sweep, threshold, decision = _with_collector(tune)
    if as_json:
        _echo_json(
            {
                "pattern": pattern,
                "target_precision": target,
                "samples": sweep.rows,
                "threshold": threshold,
                "generation": None if decision is None else decision.to_dict(),
                "curve": [
                    dict(zip(("threshold", "precision", "recall", "rows"), p, strict=True)) for p in sweep.curve
                ],
            }
        )
        return
    if sweep.rows < min_samples:
        typer.echo(
            f"{pattern}: insufficient data ({sweep.rows} scored detections with a confidence, need {min_samples})"
        )
    elif threshold is None:
        typer.echo(f"{pattern}: no confidence threshold reaches {target:.0%} precision ({sweep.rows} samples)")
    else:
        at = next(p for t, p, _, _ in sweep.curve if t == threshold)
        typer.echo(
            f"{pattern}: recommended confidence threshold {threshold:.2f} "
            f"(precision {at:.1%} at or above it, target {target:.0%}, {sweep.rows} samples)"
        )
    if decision is not None:
        typer.echo(f"agents generate uses {decision.effective:.2f} ({decision.reason})")
    if curve and sweep.curve:
        table = Table("threshold", "precision", "recall", "rows at or above", title="Sweep", title_justify="left")
        for t, p, r, n in sweep.curve:
            table.add_row(f"{t:.2f}", f"{p:.1%}", f"{r:.1%}", str(n))
        Console(highlight=False).print(table)


@app.command("report")
def report_command(
    target: Target = DEFAULT_TARGET_PRECISION,
    min_samples: MinSamples = DEFAULT_MIN_SAMPLES,
    as_json: AsJson = False,
) -> None:
    """Show overall precision and recall, every pattern (lowest precision first), and the thresholds used."""

    async def report(c: PatternFeedbackCollector) -> tuple[Any, ...]:
        metrics = await c.get_global_precision_metrics(target_precision=target, min_samples=min_samples)
        analyses = await c.get_all_pattern_analyses(min_samples, target_precision=target)
        decisions = await c.generation_thresholds(target_precision=target, min_samples=min_samples)
        return metrics, analyses, decisions

    metrics, analyses, decisions = _with_collector(report)
    if as_json:
        _echo_json(
            {
                "metrics": metrics,
                "analyses": [a.to_dict() for a in analyses],
                "generation_thresholds": {k: d.to_dict() for k, d in decisions.items()},
            }
        )
        return
    console = Console(highlight=False)
    console.print(
        f"overall precision {metrics['overall_precision']:.1%}, recall {metrics['overall_recall']:.1%} "
        f"over {metrics['total_feedback']} rows (weighted {metrics['weighted_feedback']:g}); "
        f"{metrics['patterns_meeting_target']} of {metrics['patterns_analyzed']} patterns meet {target:.0%}"
    )
    console.print(_analysis_table(analyses, "Patterns (lowest precision first)"))
    for entry in metrics["needs_improvement"]:
        console.print(f"{escape(entry['pattern'])}: {entry['precision']:.1%}")
        for rec in entry["recommendations"][:2]:
            console.print(f"  - {escape(rec)}")
    table = Table(
        "pattern", "default", "used", "why", title="Thresholds agents generate uses", title_justify="left"
    )
    for d in decisions.values():
        table.add_row(d.pattern, f"{d.default:.2f}", f"{d.effective:.2f}", escape(d.reason))
    console.print(table)


# -- the wiring of `agents generate` and `agents analyze` --
async def _load_planner(persistence: CodegenPersistence | None) -> PatternPlanner:
    """Return a planner with the thresholds feedback gives (the defaults without a database or if it fails)."""
    if persistence is None:
        return PatternPlanner()
    try:
        return await PatternPlanner.from_feedback(persistence)
    except OnexError as exc:
        _log.warning("Pattern thresholds unavailable, using the defaults", metadata={"error": exc.message})
        return PatternPlanner()


def configured_planner() -> PatternPlanner:
    """Return a planner with the thresholds the configured database's feedback gives (``agents analyze``)."""

    async def load() -> PatternPlanner:
        async with CodegenPersistence() as persistence:
            return await _load_planner(persistence)

    return asyncio.run(load())


async def with_patterns(
    enable_metrics: bool,
    run: Callable[[CodegenPersistence | None, PatternPlanner, list[WorkflowHook]], Awaitable[WorkflowResult]],
) -> tuple[WorkflowResult, PatternPlanner]:
    """Run ``agents generate`` with pattern detection: ``run(persistence, planner, hooks)``.

    With metrics, the thresholds come from the recorded feedback and a :class:`PatternFeedbackHook` records
    the verification outcome of each applied pattern; without, the default thresholds and no feedback.
    """
    persistence = CodegenPersistence() if enable_metrics else None
    try:
        planner = await _load_planner(persistence)
        hooks: list[WorkflowHook] = []
        if persistence is not None:
            hooks.append(PatternFeedbackHook(PatternFeedbackCollector(persistence), planner))
        return await run(persistence, planner, hooks), planner
    finally:
        if persistence is not None:
            await persistence.close()


def print_patterns(console: Console, detections: Sequence[DetectedPattern]) -> None:
    """Print the detected patterns: confidence, threshold, whether applied, what is emitted, evidence."""
    table = Table(
        "pattern",
        "confidence",
        "threshold",
        "applied",
        "emits",
        "evidence",
        title="Patterns",
        title_justify="left",
    )
    for d in detections:
        table.add_row(
            d.name,
            f"{d.confidence:.2f}",
            f"{d.threshold:.2f}",
            "yes" if d.applied else "",
            escape(d.code) if d.applied else "",
            escape("; ".join(d.evidence)),
        )
    console.print(table)


def detections_json(planner: PatternPlanner, analysis: PRDAnalysis) -> list[dict[str, object]]:
    """Return the detections of ``analysis`` as JSON-ready dicts."""
    return [d.to_dict() for d in planner.detect(analysis)]


def pattern_summary(planner: PatternPlanner, analysis: PRDAnalysis) -> str:
    """Return one line: the applied patterns (confidence >= threshold), then the others."""
    found = planner.detect(analysis)
    applied = ", ".join(f"{d.name} {d.confidence:.2f}>={d.threshold:.2f}" for d in found if d.applied)
    below = ", ".join(f"{d.name} {d.confidence:.2f}<{d.threshold:.2f}" for d in found if not d.applied)
    return f"patterns: {applied or 'none applied'}" + (f" (not applied: {below})" if below else "")
