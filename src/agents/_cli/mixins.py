"""``agents mixins list|recommend|check|train|trial``, and the mixin wiring of ``agents generate``.

The figures are those of :mod:`agents.lib.mixin_learner` (docs/mixins.md): the catalogue is the runtime's,
compatibility is learned from trials (``agents mixins trial``) and from the verification of generated nodes.
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

from agents._cli.common import log_to_file
from agents.lib._mixins.trials import TrialOutcome, run_trials, trial_pairs, write_trials
from agents.lib._mixins.workflow import LearnedMixinRecommender, MixinFeedbackHook, MixinGuard
from agents.lib.codegen.builder import SpecPlanner
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, mixin_info
from agents.lib.codegen.spec import NODE_TYPES
from agents.lib.codegen_workflow import WorkflowHook, WorkflowResult
from agents.lib.errors import ErrorCode, OnexError
from agents.lib.mixin_learner import MixinLearner
from agents.lib.persistence import CodegenPersistence

__all__ = ["MixinWiring", "app", "parse_requested"]

_T = TypeVar("_T")

app = typer.Typer(
    name="mixins",
    help="Mixins: the catalogue, learned recommendations and compatibility, training, behavioural trials.",
    no_args_is_help=True,
    add_completion=False,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ModelPath = Annotated[
    Path | None, typer.Option("--model-path", help="The model file (default: the user's, else the shipped one).")
]


@app.callback()
def _callback() -> None:
    """Mixins: the catalogue, learned recommendations and compatibility, training, behavioural trials."""
    log_to_file()


def _echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def _node_type(value: str) -> str:
    kind = value.strip().upper()
    if kind not in NODE_TYPES:
        raise OnexError(
            f"unknown node type {value!r}; use one of {', '.join(NODE_TYPES)}",
            ErrorCode.VALIDATION_ERROR,
            {"node_type": value},
        )
    return kind


def _mixin(name: str) -> str:
    try:
        mixin_info(name)
    except (KeyError, ValueError):
        raise OnexError(
            f"unknown mixin {name!r}; known: {', '.join(sorted(MIXIN_CATALOGUE))}",
            ErrorCode.VALIDATION_ERROR,
            {"mixin": name},
        ) from None
    return name


def _learner(model_path: Path | None, persistence: CodegenPersistence | None = None) -> MixinLearner:
    return MixinLearner(model_path=model_path, persistence=persistence)


def _with_persistence(action: Callable[[CodegenPersistence], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        async with CodegenPersistence() as persistence:
            return await action(persistence)

    return asyncio.run(run())


@app.command("list")
def list_command(
    node_type: Annotated[str | None, typer.Option("--node-type", "-t", help="Only mixins suited to it.")] = None,
    as_json: AsJson = False,
) -> None:
    """Show the catalogue: each mixin's category, capabilities, node types, hooks and traits."""
    kind = _node_type(node_type) if node_type else None
    rows = []
    for name in MIXIN_CATALOGUE:
        info = mixin_info(name)
        if kind is None or kind in info.node_types:
            rows.append((name, info))
    if as_json:
        _echo_json(
            [
                {
                    "name": name,
                    "category": i.category,
                    "capabilities": list(i.capabilities),
                    "node_types": list(i.node_types),
                    "hooks": list(i.hooks),
                    "traits": list(i.traits),
                    "modifies_state": i.modifies_state,
                    "resource_intensive": i.resource_intensive,
                    "external_dependencies": list(i.external_dependencies),
                }
                for name, i in rows
            ]
        )
        return
    table = Table("mixin", "category", "capabilities", "node types", "hooks", "traits", title="Mixin catalogue")
    for name, i in rows:
        table.add_row(
            name,
            i.category,
            ", ".join(i.capabilities),
            ", ".join(i.node_types),
            ", ".join(i.hooks),
            ", ".join(i.traits),
        )
    Console(highlight=False).print(table)


@app.command("recommend")
def recommend_command(
    node_type: Annotated[str, typer.Argument(help="EFFECT, COMPUTE, REDUCER or ORCHESTRATOR.")],
    capabilities: Annotated[list[str], typer.Argument(help="Capabilities wanted (caching, retries, ...).")],
    existing: Annotated[
        list[str] | None, typer.Option("--existing", "-e", help="A mixin the node already has (repeatable).")
    ] = None,
    max_recommendations: Annotated[int, typer.Option("--max", min=1, help="At most this many.")] = 5,
    model_path: ModelPath = None,
    as_json: AsJson = False,
) -> None:
    """Recommend mixins covering CAPABILITIES for a node, compatible with the --existing ones."""
    kind = _node_type(node_type)
    have = [_mixin(m) for m in existing or []]
    found = _learner(model_path).recommend_mixins(
        node_type=kind,
        required_capabilities=capabilities,
        existing_mixins=have,
        max_recommendations=max_recommendations,
    )
    if as_json:
        _echo_json([{"mixin": m, "confidence": c, "explanation": e} for m, c, e in found])
        return
    console = Console(highlight=False)
    if not found:
        console.print(f"no mixin suited to {kind} covers {escape(', '.join(capabilities))}")
        return
    table = Table("mixin", "confidence", "why", title=f"Recommended for {kind}")
    for mixin, confidence, explanation in found:
        table.add_row(mixin, f"{confidence:.1%}", escape(explanation))
    console.print(table)


@app.command("check")
def check_command(
    node_type: Annotated[str, typer.Argument(help="EFFECT, COMPUTE, REDUCER or ORCHESTRATOR.")],
    mixins: Annotated[list[str], typer.Argument(help="Two or more mixins used together.")],
    model_path: ModelPath = None,
    as_json: AsJson = False,
) -> None:
    """Predict the compatibility of every pair of MIXINS on a node; exit 1 when a pair is incompatible."""
    kind = _node_type(node_type)
    names = [_mixin(m) for m in mixins]
    if len(set(names)) < 2:
        raise OnexError("give at least two different mixins", ErrorCode.VALIDATION_ERROR, {"mixins": names})
    learner = _learner(model_path)
    unique = list(dict.fromkeys(names))
    pairs = [(a, b) for i, a in enumerate(unique) for b in unique[i + 1 :]]
    predictions = [learner.predict_compatibility(a, b, kind) for a, b in pairs]  # each as asked: a + b
    bad = [p for p in predictions if not p.compatible]
    if as_json:
        _echo_json(
            [
                {
                    "mixin_a": p.mixin_a,
                    "mixin_b": p.mixin_b,
                    "node_type": p.node_type,
                    "compatible": p.compatible,
                    "confidence": p.confidence,
                    "explanation": p.explanation,
                    "learned_from_samples": p.learned_from_samples,
                }
                for p in predictions
            ]
        )
    else:
        table = Table("pair", "compatible", "confidence", "samples", "why", title=f"Compatibility on {kind}")
        for (a, b), p in zip(pairs, predictions, strict=True):
            verdict = "[green]yes[/]" if p.compatible else "[red]no[/]"
            table.add_row(
                f"{a} + {b}",
                verdict,
                f"{p.confidence:.1%}",
                str(p.learned_from_samples),
                escape(p.explanation),
            )
        Console(highlight=False).print(table)
    if bad:
        raise typer.Exit(1)


@app.command("train")
def train_command(
    min_samples: Annotated[int, typer.Option("--min-samples", min=1, help="Refuse with fewer outcomes.")] = 50,
    test_size: Annotated[
        float, typer.Option("--test-size", min=0.05, max=0.5, help="Share of pairs held out.")
    ] = 0.2,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Grouped cross-validation folds.")] = 5,
    model_path: ModelPath = None,
    as_json: AsJson = False,
) -> None:
    """Train the model on the shipped trials and the recorded outcomes; save it; print its held-out metrics."""

    async def train(persistence: CodegenPersistence) -> Any:
        learner = _learner(model_path, persistence)
        try:
            metrics = await learner.train_model(
                min_samples=min_samples, test_size=test_size, cross_val_folds=folds
            )
        except ValueError as exc:  # too few outcomes, a bad split: the user's input
            raise OnexError(str(exc), ErrorCode.VALIDATION_ERROR, {"min_samples": min_samples}) from None
        return learner, metrics

    learner, metrics = _with_persistence(train)
    if as_json:
        _echo_json({**metrics.to_dict(), "model_path": str(learner.model_path)})
        return
    console = Console(highlight=False)
    cv = metrics.cross_val_scores
    console.print(
        f"accuracy {metrics.accuracy:.1%}, precision {metrics.precision:.1%}, recall {metrics.recall:.1%}, "
        f"F1 {metrics.f1_score:.1%} on {metrics.test_samples} held-out outcomes "
        f"({metrics.training_samples} trained on); grouped cross-validation "
        f"{sum(cv) / len(cv):.1%} over {len(cv)} folds"
    )
    console.print(f"model saved: {escape(str(learner.model_path))}")


@app.command("trial")
def trial_command(
    node_types: Annotated[
        list[str] | None, typer.Option("--node-type", "-t", help="Only these node types (repeatable).")
    ] = None,
    pairs: Annotated[
        list[str] | None, typer.Option("--pair", "-p", help="Only this pair, as MixinA,MixinB (repeatable).")
    ] = None,
    write: Annotated[Path | None, typer.Option("--write", help="Also write the outcomes as trials JSON.")] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Record the outcomes in the database.")
    ] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Trial batches run at once.")] = 2,
    as_json: AsJson = False,
) -> None:
    """Generate a node of each type with each pair of mixins, run its tests and both mixins' checks, record."""
    kinds = [_node_type(t) for t in node_types] if node_types else None
    chosen = trial_pairs(kinds)
    if pairs:
        wanted = set()
        for text in pairs:
            names = [n.strip() for n in text.split(",")]
            if len(names) != 2:
                raise OnexError(f"--pair takes A,B; got {text!r}", ErrorCode.VALIDATION_ERROR, {"pair": text})
            wanted.add(tuple(sorted(_mixin(n) for n in names)))
        chosen = [t for t in chosen if (t[0], t[1]) in wanted]
    if not chosen:
        raise OnexError("no applicable pair to try", ErrorCode.VALIDATION_ERROR, {"pairs": pairs or []})

    async def trial() -> list[TrialOutcome]:
        if not record:
            return await run_trials(chosen, jobs=jobs)
        async with CodegenPersistence() as persistence:
            return await run_trials(chosen, persistence=persistence, jobs=jobs)

    outcomes = asyncio.run(trial())
    if write is not None:
        write_trials(write, outcomes)
    failed = [o for o in outcomes if not o.success]
    if as_json:
        _echo_json([{**o.__dict__, "checks": list(o.checks)} for o in outcomes])
        return
    console = Console(highlight=False)
    console.print(f"{len(outcomes)} trials: {len(outcomes) - len(failed)} compatible, {len(failed)} conflicts")
    for o in failed:
        console.print(f"[red]{o.mixin_a} + {o.mixin_b} on {o.node_type}:[/] {escape(o.conflict_reason or '')}")
    if record:
        console.print("outcomes recorded in the database (agents mixins train learns from them)")
    if write is not None:
        console.print(f"written: {escape(str(write))}")


def parse_requested(values: Sequence[str] | None) -> dict[str, list[str]]:
    """Parse ``--mixin TYPE:Name`` options into ``{node type: [mixin, ...]}`` (VALIDATION_ERROR when bad)."""
    requested: dict[str, list[str]] = {}
    for value in values or []:
        kind, sep, name = value.partition(":")
        if not sep or not name.strip():
            raise OnexError(
                f"--mixin takes NODE_TYPE:MixinName (EFFECT:MixinCaching); got {value!r}",
                ErrorCode.VALIDATION_ERROR,
                {"mixin": value},
            )
        node_type, mixin = _node_type(kind), _mixin(name.strip())
        if node_type not in mixin_info(mixin).node_types:
            raise OnexError(
                f"{mixin} does not suit {node_type} nodes (it suits {', '.join(mixin_info(mixin).node_types)})",
                ErrorCode.VALIDATION_ERROR,
                {"mixin": value},
            )
        requested.setdefault(node_type, []).append(mixin)
    return requested


class MixinWiring:
    """What ``agents generate`` gets from the learner: a recommender, a guard around the planner, a hook."""

    def __init__(
        self,
        persistence: CodegenPersistence | None,
        *,
        requested: dict[str, list[str]] | None = None,
        force: bool = False,
    ) -> None:
        self.learner = MixinLearner(persistence=persistence)
        self.recommender = LearnedMixinRecommender(self.learner, requested)
        self.force = force
        self.guard: MixinGuard | None = None
        self.hook = MixinFeedbackHook(self.learner) if persistence is not None else None

    def planner(self, inner: SpecPlanner | None) -> MixinGuard:
        """Return the guard around ``inner`` (pattern detection)."""
        self.guard = MixinGuard(self.learner, inner, recommender=self.recommender, force=self.force)
        return self.guard

    def hooks(self) -> list[WorkflowHook]:
        """Return the feedback hook (only when outcomes are recorded)."""
        return [self.hook] if self.hook is not None else []

    def to_dict(self, result: WorkflowResult) -> dict[str, Any]:
        """Return the JSON of ``agents generate --json``'s ``mixins``: per node, warnings, feedback recorded."""
        return {
            "nodes": {r.node_type: list(r.spec.mixins) for r in result.results if r.spec is not None},
            "recommended": {
                t: [{"mixin": m, "confidence": c, "explanation": e} for m, c, e in found]
                for t, found in self.recommender.recommended.items()
            },
            "notes": list(self.guard.notes) if self.guard is not None else [],
            "warnings": list(self.guard.warnings) if self.guard is not None else [],
            "feedback_recorded": self.hook.recorded if self.hook is not None else 0,
        }

    def summary(self, result: WorkflowResult) -> list[str]:
        """Return the lines ``agents generate`` prints: the mixins per node, warnings, what was learned."""
        lines = []
        for r in result.results:
            if r.spec is not None and r.spec.mixins:
                lines.append(f"mixins {r.node_type}: {', '.join(r.spec.mixins)}")
        if self.guard is not None:
            lines += [f"mixins: {n}" for n in self.guard.notes]
            lines += [f"warning: kept with --force: {w}" for w in self.guard.warnings]
        if self.hook is not None and self.hook.recorded:
            lines.append(f"mixin feedback: {self.hook.recorded} pair outcomes recorded")
        return lines
