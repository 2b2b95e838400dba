"""Trials: which mixin pairs work together, found by running generated nodes (the learner's ground truth).

For each applicable ``(mixin_a, mixin_b, node_type)`` a node of that type is generated with both mixins applied
(through the code generator's renderer: a :class:`NodeSpec` with ``mixins=`` the pair), and its generated tests
run together with the behavioural checks of both mixins (:mod:`agents.lib._mixins.checks`). A trial fails when
any of them fails; its ``conflict_reason`` is the first failure (node tests first, then the checks of ``mixin_a``,
then of ``mixin_b``): ``"<check name>: <message>"``. No table says which pairs conflict: the mixins' behaviour and
``WRAP_ORDER`` do.

Many trial nodes are written into one generated service and run by one pytest process per batch (``jobs``
batches in parallel); a conftest in the service writes each test's result to JSON. Regenerate the shipped data
with ``python -m agents.lib._mixins.trials --write src/agents/lib/_mixins/data/trials.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from agents.lib._mixins.checks import checks_for
from agents.lib.codegen.builder import required_mixins
from agents.lib.codegen.engine import TemplateEngine
from agents.lib.codegen.render import contract_of, render_node, render_shared, shared_packages
from agents.lib.codegen.runner import run_command, service_environment
from agents.lib.codegen.runtime.mixin_info import NODE_TYPES
from agents.lib.codegen.runtime.mixins import MIXIN_CATALOGUE, mixin_info
from agents.lib.codegen.spec import (
    EntitySpec,
    FieldSpec,
    FsmSpec,
    NodeSpec,
    OperationSpec,
    PortSpec,
    StepSpec,
    TransitionSpec,
)
from agents.lib.codegen.writing import write_tree

__all__ = [
    "FORMAT",
    "MixinOutcomeSink",
    "TrialOutcome",
    "load_shipped_trials",
    "read_trials",
    "run_trials",
    "trial_pairs",
    "write_trials",
]

FORMAT = 1
"""The version of the trials JSON format."""
SERVICE = "MixinTrial"
CHECKS_MODULE = "mixin_trial_checks"
RESULTS_ENV = "MIXIN_TRIAL_RESULTS"
_BATCH_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class TrialOutcome:
    """The outcome of one trial: a pair of mixins (``mixin_a < mixin_b``) on one node type."""

    mixin_a: str
    mixin_b: str
    node_type: str
    success: bool
    conflict_reason: str | None
    checks: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as JSON-ready values."""
        data = asdict(self)
        data["checks"] = list(self.checks)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialOutcome:
        """Read an outcome written by :meth:`as_dict`."""
        return cls(
            mixin_a=str(data["mixin_a"]),
            mixin_b=str(data["mixin_b"]),
            node_type=str(data["node_type"]),
            success=bool(data["success"]),
            conflict_reason=None if data.get("conflict_reason") is None else str(data["conflict_reason"]),
            checks=tuple(str(c) for c in data.get("checks", ())),
        )


class MixinOutcomeSink(Protocol):
    """Where trial outcomes are recorded (``CodegenPersistence`` is one)."""

    async def record_mixin_compatibility(
        self, mixin_a: str, mixin_b: str, node_type: str, success: bool, conflict_reason: str | None = None
    ) -> Any:
        """Add one outcome for the pair."""
        ...


def trial_pairs(node_types: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """Return every ``(mixin_a, mixin_b, node_type)`` both mixins apply to, ``mixin_a < mixin_b``."""
    wanted = NODE_TYPES if node_types is None else tuple(node_types)
    unknown = sorted(set(wanted) - set(NODE_TYPES))
    if unknown:
        raise ValueError(f"unknown node types {unknown}; known: {list(NODE_TYPES)}")
    names = sorted(MIXIN_CATALOGUE)
    return [
        (a, b, node_type)
        for node_type in NODE_TYPES
        if node_type in wanted
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if node_type in mixin_info(a).node_types and node_type in mixin_info(b).node_types
    ]


_ITEM = EntitySpec(name="TrialItem", fields=(FieldSpec(name="title"), FieldSpec(name="copies", type="int")))


def trial_spec(node_type: str, domain: str, mixins: Sequence[str]) -> NodeSpec:
    """Return the spec of a trial node: a small node of ``node_type`` with ``mixins`` (and those it requires)."""
    applied = tuple(dict.fromkeys([*mixins, *required_mixins(node_type)]))
    common: dict[str, Any] = {"service_name": SERVICE, "domain": domain, "mixins": applied}
    if node_type == "EFFECT":
        names: list[tuple[Any, str]] = [("create", "create_trial_item"), ("read", "get_trial_item")]
        names += [("update", "update_trial_item"), ("delete", "delete_trial_item"), ("list", "list_trial_items")]
        ops = tuple(OperationSpec(name=name, kind=kind, entity="TrialItem") for kind, name in names)
        return NodeSpec(
            node_type="EFFECT",
            entities=(_ITEM,),
            operations=ops,
            ports=(PortSpec(kind="record_store", system="database"),),
            **common,
        )
    if node_type == "COMPUTE":
        return NodeSpec(
            node_type="COMPUTE",
            entities=(_ITEM,),
            operations=(OperationSpec(name="validate_trial_item", kind="validate", entity="TrialItem"),),
            **common,
        )
    if node_type == "REDUCER":
        fsm = FsmSpec(
            states=("open", "closed"),
            initial="open",
            terminal=("closed",),
            transitions=(TransitionSpec(source="open", event="close", target="closed"),),
        )
        return NodeSpec(
            node_type="REDUCER", fsm=fsm, operations=(OperationSpec(name="reduce", kind="aggregate"),), **common
        )
    return NodeSpec(
        node_type="ORCHESTRATOR",
        steps=(StepSpec(name="review"),),
        operations=(OperationSpec(name="run", kind="coordinate"),),
        **common,
    )


@dataclass(frozen=True)
class _Trial:
    index: int
    mixin_a: str
    mixin_b: str
    node_type: str
    spec: NodeSpec

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(checks_for(self.mixin_a, self.node_type) + checks_for(self.mixin_b, self.node_type))


_CONFTEST = '''"""Writes every test's result to the JSON file $MIXIN_TRIAL_RESULTS names (for the mixin trials)."""

import json
import os

RESULTS = []


def _message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.removeprefix("Failed: ").strip().splitlines()[0] if text.strip() else "failed"


def pytest_runtest_logreport(report):
    if report.when == "call" or report.failed:
        message = "" if report.passed else _message(report)
        RESULTS.append({"nodeid": report.nodeid, "passed": report.passed, "message": message})


def pytest_collectreport(report):
    if report.failed:
        RESULTS.append({"nodeid": report.nodeid, "passed": False, "message": "collection: " + _message(report)})


def pytest_sessionfinish(session):
    with open(os.environ["MIXIN_TRIAL_RESULTS"], "w", encoding="utf-8") as handle:
        json.dump(RESULTS, handle)
'''

_TRIAL_TEST = '''"""The behavioural checks of {mixins} against this node (mixin trials)."""

import pytest

import {checks} as checks
from {package}.node import {class_name}

CHECKS = {names!r}


@pytest.mark.parametrize("check", range(len(CHECKS)))
def test_check(check):
    try:
        checks.run_check(CHECKS[check], {class_name}, {node_type!r})
    except checks.CheckFailed as failure:
        pytest.fail(f"{{CHECKS[check]}}: {{failure}}", pytrace=False)
    except Exception as error:
        pytest.fail(f"{{CHECKS[check]}}: {{type(error).__name__}}: {{error}}", pytrace=False)
'''


def _render(trials: Sequence[_Trial], root: Path) -> None:
    engine = TemplateEngine()
    try:
        files: dict[str, str] = {}
        per_type: dict[str, dict[str, Any]] = {}
        for trial in trials:
            spec = trial.spec
            files |= render_node(spec, engine)
            files[f"{spec.package_name}/tests/test_trial.py"] = _TRIAL_TEST.format(
                mixins=f"{trial.mixin_a} and {trial.mixin_b}",
                checks=CHECKS_MODULE,
                package=spec.package_name,
                class_name=spec.class_name,
                names=list(trial.checks),
                node_type=trial.node_type,
            )
            per_type.setdefault(trial.node_type, contract_of(spec))
        _, app = shared_packages(SERVICE)
        shared = render_shared(SERVICE, list(per_type.values()), engine)
        files |= {k: v for k, v in shared.items() if not k.startswith(f"{app}/") and k != "README.md"}
    finally:
        engine.close()
    files["conftest.py"] = _CONFTEST
    source = importlib.resources.files("agents.lib._mixins").joinpath("checks.py").read_text(encoding="utf-8")
    files[f"{CHECKS_MODULE}.py"] = source
    write_tree(root, files)


def _package(nodeid: str) -> str:
    return nodeid.split("/", 1)[0].split("::", 1)[0]


def _outcome(trial: _Trial, results: Sequence[dict[str, Any]]) -> TrialOutcome:
    mine = [r for r in results if _package(str(r["nodeid"])) == trial.spec.package_name]
    ran_checks = [r for r in mine if "test_trial.py" in str(r["nodeid"])]
    failed = [r for r in mine if not r["passed"]]
    reason: str | None = None
    if not mine:
        reason = "node tests: no test ran"
    elif failed:
        first = failed[0]
        if "test_trial.py" in str(first["nodeid"]):
            reason = str(first["message"])
        else:
            test = str(first["nodeid"]).rsplit("::", 1)[-1]
            reason = f"node tests: {test}: {first['message']}"
    elif len(ran_checks) != len(trial.checks):
        reason = f"checks: {len(ran_checks)} of {len(trial.checks)} ran"
    return TrialOutcome(trial.mixin_a, trial.mixin_b, trial.node_type, reason is None, reason, trial.checks)


def _run_batch(root: Path, trials: Sequence[_Trial], batch: int) -> list[dict[str, Any]]:
    results = root / f".results-{batch}.json"
    env = service_environment(root) | {RESULTS_ENV: str(results)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *(t.spec.package_name for t in trials),
    ]
    completed = run_command(command, root, env, _BATCH_TIMEOUT_S, None)
    if not results.is_file():
        raise RuntimeError(f"the trial batch {batch} wrote no results: {completed.output[-2000:]}")
    loaded: list[dict[str, Any]] = json.loads(results.read_text(encoding="utf-8"))
    return loaded


async def run_trials(
    pairs: Sequence[tuple[str, str, str]] | None = None,
    *,
    workdir: Path | None = None,
    persistence: MixinOutcomeSink | None = None,
    jobs: int = 2,
) -> list[TrialOutcome]:
    """Run the trials of ``pairs`` (default: :func:`trial_pairs`); return their outcomes in the order given.

    The generated service goes into ``workdir`` (kept) or a temporary directory (removed). With ``persistence``,
    each outcome is recorded through ``record_mixin_compatibility``.
    """
    chosen = trial_pairs() if pairs is None else list(pairs)
    trials = []
    for index, (a, b, node_type) in enumerate(chosen):
        first, second = sorted((a, b))
        if first == second:
            raise ValueError(f"a trial needs two different mixins, not {first} twice")
        spec = trial_spec(node_type, f"t{index:04d}", (first, second))
        trials.append(_Trial(index, first, second, node_type, spec))
    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="mixin-trials-")) if workdir is None else Path(workdir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_render, trials, root)
        batches = [trials[i :: max(1, jobs)] for i in range(max(1, jobs))]
        batches = [b for b in batches if b]
        loaded = await asyncio.gather(*(asyncio.to_thread(_run_batch, root, b, i) for i, b in enumerate(batches)))
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)
    results = [r for batch in loaded for r in batch]
    outcomes = [_outcome(t, results) for t in trials]
    if persistence is not None:
        for o in outcomes:
            await persistence.record_mixin_compatibility(
                o.mixin_a, o.mixin_b, o.node_type, o.success, o.conflict_reason
            )
    return outcomes


def _sort_key(outcome: TrialOutcome) -> tuple[int, str, str]:
    return (NODE_TYPES.index(outcome.node_type), outcome.mixin_a, outcome.mixin_b)


def write_trials(path: Path, outcomes: Sequence[TrialOutcome]) -> None:
    """Write ``outcomes`` and the catalogue's ``INFO`` as the trials JSON (format 1), sorted deterministically."""
    data = {
        "format": FORMAT,
        "catalogue": {name: mixin_info(name).as_dict() for name in sorted(MIXIN_CATALOGUE)},
        "trials": [o.as_dict() for o in sorted(outcomes, key=_sort_key)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def read_trials(text: str) -> list[TrialOutcome]:
    """Return the outcomes of a trials JSON document; ValueError for another format."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a trials file of format {FORMAT}")
    return [TrialOutcome.from_dict(t) for t in data["trials"]]


def load_shipped_trials() -> list[TrialOutcome]:
    """Return the trial outcomes shipped with the package (``agents/lib/_mixins/data/trials.json``)."""
    resource = importlib.resources.files("agents.lib._mixins").joinpath("data", "trials.json")
    return read_trials(resource.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agents.lib._mixins.trials --write PATH [--node-type T ...] [--jobs N]``."""
    parser = argparse.ArgumentParser(prog="python -m agents.lib._mixins.trials", description=__doc__)
    parser.add_argument("--write", type=Path, required=True, help="where to write the trials JSON")
    parser.add_argument("--node-type", action="append", choices=NODE_TYPES, help="only these node types")
    parser.add_argument("--jobs", type=int, default=2, help="pytest processes at once (default 2)")
    args = parser.parse_args(argv)
    outcomes = asyncio.run(run_trials(trial_pairs(args.node_type), jobs=args.jobs))
    write_trials(args.write, outcomes)
    failed = [o for o in outcomes if not o.success]
    print(f"{len(outcomes)} trials, {len(failed)} conflicts -> {args.write}")
    for o in failed:
        print(f"  {o.node_type:<12} {o.mixin_a} + {o.mixin_b}: {o.conflict_reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
