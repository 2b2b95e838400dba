"""Rendering benchmark: a 4-node service (EFFECT, COMPUTE, REDUCER, ORCHESTRATOR) rendered to strings by our
engine, side by side with bare Jinja2 rendering the same templates with the same context dicts, in one process.

The service is the one ``examples/prd/marketplace_payouts.md`` describes (``analyze_prd`` then
``build_node_specs``: all four node types); ``--prd`` picks another PRD. One "service" is what generation renders
for it: per node ``node_<type>.py.j2``, ``models.py.j2``, ``enums.py.j2`` and ``test_node.py.j2`` (which
includes ``tests_<type>.j2``), then ``pyproject.toml.j2`` and ``README.md.j2``: 18 renders, 22 template loads.
The (template, context) pairs are recorded from one real ``render_node`` / ``render_shared`` run, so every case
renders exactly the same templates with exactly the same context dicts, and the script checks that every case
produces byte-identical strings.

Cases (only rendering to strings: no ruff formatting, no file writing, no verification):

* ``jinja2``: ``Environment(loader=FileSystemLoader(templates), <our options>)`` with Jinja2's defaults
  (``auto_reload=True``: each ``get_template``, includes too, checks the file's mtime), contexts given;
* ``jinja2-no-reload``: the same with ``auto_reload=False`` (no validation: the floor);
* ``engine``: our ``TemplateEngine.render`` (templates through the stat-validated ``TemplateCache``), contexts
  given: the engine's own overhead;
* ``engine+context``: what our rendering does per service to produce the template outputs: build each node's
  context from its spec (``node_context``), then ``TemplateEngine.render``; the shared templates' contexts given;
* ``render_node+render_shared``: the two public functions as generation calls them; beyond ``engine+context``
  they also produce the files that are not templates: ``contract.yaml`` (``yaml.safe_dump`` of the contract),
  ``__init__.py`` strings and the runtime package's sources (read from disk);
* ``jinja2+files``: bare Jinja2 plus the same non-template files (the contracts given as data, dumped with the
  same ``yaml.safe_dump``): the reference for ``render_node+render_shared``.

Cases run in rounds (a burst of every case per round, in a rotated order); the tables give the best and median
time per service and the median over rounds of the ratio to the ``jinja2`` burst of the same round (paired).
Target: ``engine+context`` (our rendering) within 1.5x of ``jinja2``.

Run: ``.venv/bin/python bench/bench_render.py [--quick] [--prd PATH]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from agents.lib.codegen import context as render_context
from agents.lib.codegen import engine as render_engine
from agents.lib.codegen import render
from agents.lib.codegen.builder import build_node_specs
from agents.lib.codegen.spec import NodeSpec
from agents.lib.prd_analyzer import analyze_prd
from agents.lib.structured_logger import configure_logging

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PRD = ROOT / "examples" / "prd" / "marketplace_payouts.md"
REFERENCE = "jinja2"
TARGET_CASE = "engine+context"
TARGET_RATIO = 1.5
NODE_TYPES = {"EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"}

Call = tuple[str, dict[str, Any]]


class RecordingEngine(render_engine.TemplateEngine):
    """A TemplateEngine that records every (template, context) it renders."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def render(self, template: str, **context: Any) -> str:
        self.calls.append((template, context))
        return super().render(template, **context)


@dataclass
class Service:
    specs: list[NodeSpec]
    node_calls: list[list[Call]]  # per spec, the node's renders
    shared_calls: list[Call]  # pyproject.toml, README.md
    contracts: list[dict[str, Any]]
    outputs: list[str]  # of every call, in order: node calls, then shared calls

    @property
    def calls(self) -> list[Call]:
        return [c for node in self.node_calls for c in node] + self.shared_calls


def record_service(prd: Path) -> Service:
    analysis = analyze_prd(prd)
    specs = build_node_specs(analysis)
    types = {s.node_type for s in specs}
    if types != NODE_TYPES:
        raise SystemExit(f"{prd} yields node types {sorted(types)}, not all four; pick another PRD")
    recorder = RecordingEngine()
    node_calls: list[list[Call]] = []
    outputs: list[str] = []
    for spec in specs:
        recorder.calls = []
        files = render.render_node(spec, recorder)
        node_calls.append(recorder.calls)
        by_template = _node_outputs(spec, files)
        outputs += [by_template[t] for t, _ in recorder.calls]
    contracts = [render.contract_of(s) for s in specs]
    recorder.calls = []
    shared = render.render_shared(specs[0].service_name, contracts, recorder)
    # the service's Python files are formatted after rendering: only the two plain files compare as rendered
    shared_calls = [c for c in recorder.calls if c[0] in ("pyproject.toml.j2", "README.md.j2")]
    outputs += [shared["pyproject.toml"], shared["README.md"]]
    recorder.close()
    return Service(specs, node_calls, shared_calls, contracts, outputs)


def _node_outputs(spec: NodeSpec, files: dict[str, str]) -> dict[str, str]:
    """Each template of a node's render and the file it gave, in the order render_node renders them."""
    pkg = spec.package_name
    by_template = {
        f"node_{spec.node_type.lower()}.py.j2": files[f"{pkg}/node.py"],
        "models.py.j2": files[f"{pkg}/models.py"],
        "enums.py.j2": files[f"{pkg}/enums.py"],
        "test_node.py.j2": files[f"{pkg}/tests/test_node.py"],
    }
    if f"{pkg}/interfaces.py" in files:
        by_template["interfaces.py.j2"] = files[f"{pkg}/interfaces.py"]
    return by_template


def bare_environment(auto_reload: bool) -> jinja2.Environment:
    """Bare Jinja2 over the same directory, with the options our engine sets (the output depends on them)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(render_engine.TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=auto_reload,
    )
    env.filters["pyrepr"] = render_engine.pyrepr
    return env


def case_bare(env: jinja2.Environment, service: Service) -> Callable[[], list[str]]:
    get_template = env.get_template
    calls = service.calls

    def run() -> list[str]:
        return [get_template(t).render(**ctx) for t, ctx in calls]

    return run


def case_bare_files(env: jinja2.Environment, service: Service) -> Callable[[], list[str]]:
    """Bare Jinja2 producing every string render_node/render_shared produce (contracts as data, given)."""
    get_template = env.get_template
    nodes = list(zip(service.specs, service.node_calls, service.contracts, strict=True))
    shared = service.shared_calls
    runtime = sorted(render.RUNTIME_DIR.glob("*.py"))

    def run() -> list[str]:
        out: list[str] = []
        files: list[str] = []
        for spec, calls, contract in nodes:
            out += [get_template(t).render(**ctx) for t, ctx in calls]
            files.append(
                f'"""The {spec.node_type} node of the {spec.service_name} service."""\n\n'
                f"from .node import {spec.class_name}\n\n__all__ = [{spec.class_name!r}]\n"
            )
            files.append(yaml.safe_dump(contract, sort_keys=False, allow_unicode=True, width=100))
        files += [source.read_text(encoding="utf-8") for source in runtime]
        out += [get_template(t).render(**ctx) for t, ctx in shared]
        return out

    return run


def case_engine(engine: render_engine.TemplateEngine, service: Service) -> Callable[[], list[str]]:
    calls = service.calls
    do = engine.render

    def run() -> list[str]:
        return [do(t, **ctx) for t, ctx in calls]

    return run


def case_engine_context(engine: render_engine.TemplateEngine, service: Service) -> Callable[[], list[str]]:
    do = engine.render
    context_of = render_context.node_context
    nodes = [(spec, [t for t, _ in calls]) for spec, calls in zip(service.specs, service.node_calls, strict=True)]
    shared = service.shared_calls

    def run() -> list[str]:
        out: list[str] = []
        for spec, templates in nodes:
            ctx = context_of(spec)
            out += [do(t, spec=spec, ctx=ctx) for t in templates]
        out += [do(t, **ctx) for t, ctx in shared]
        return out

    return run


def case_render_functions(engine: render_engine.TemplateEngine, service: Service) -> Callable[[], list[str]]:
    specs = service.specs
    contracts = service.contracts
    name = specs[0].service_name

    def run() -> list[str]:
        out: list[str] = []
        for spec in specs:
            files = render.render_node(spec, engine)
            out += list(_node_outputs(spec, files).values())
        shared = render.render_shared(name, contracts, engine)
        out += [shared["pyproject.toml"], shared["README.md"]]
        return out

    return run


@dataclass
class Case:
    name: str
    fn: Callable[[], list[str]]
    per_service_ns: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def measure(fn: Callable[[], object], iterations: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(iterations):
        fn()
    return (time.perf_counter_ns() - start) / iterations


def pieces(engine: render_engine.TemplateEngine, service: Service, iterations: int) -> list[tuple[str, float]]:
    """Time, per service, the parts of ``render_node+render_shared`` that are not template rendering."""
    specs = service.specs
    runtime = sorted(render.RUNTIME_DIR.glob("*.py"))
    parts: list[tuple[str, Callable[[], object]]] = [
        ("build the 4 node contexts (`node_context`)", lambda: [render_context.node_context(s) for s in specs]),
        ("build the 4 contracts (`contract_of`)", lambda: [render.contract_of(s) for s in specs]),
        (
            "dump the 4 contracts to YAML (`_yaml`, as render_node does)",
            lambda: [render._yaml(c) for c in service.contracts],
        ),
        ("read the runtime sources (render_shared)", lambda: [p.read_text(encoding="utf-8") for p in runtime]),
    ]
    c_dumper = getattr(yaml, "CSafeDumper", None)
    if c_dumper is not None:
        parts.insert(
            3,
            (
                "the same with libyaml's CSafeDumper (not used: see docs/performance.md)",
                lambda: [
                    yaml.dump(c, Dumper=c_dumper, sort_keys=False, allow_unicode=True, width=100)
                    for c in service.contracts
                ],
            ),
        )
    return [(label, measure(fn, iterations)) for label, fn in parts]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations and rounds")
    parser.add_argument("--prd", type=Path, default=DEFAULT_PRD, help="the PRD to render (all four node types)")
    args = parser.parse_args()
    iterations, rounds = (5, 5) if args.quick else (30, 25)
    configure_logging("WARNING")

    service = record_service(args.prd)
    engine = render_engine.TemplateEngine()
    cases = [
        Case(REFERENCE, case_bare(bare_environment(auto_reload=True), service)),
        Case("jinja2-no-reload", case_bare(bare_environment(auto_reload=False), service)),
        Case("engine", case_engine(engine, service)),
        Case(TARGET_CASE, case_engine_context(engine, service)),
        Case("render_node+render_shared", case_render_functions(engine, service)),
        Case("jinja2+files", case_bare_files(bare_environment(auto_reload=True), service)),
    ]
    for case in cases:  # warm up (compiles), and check every case renders the same strings
        for _ in range(3):
            outputs = case.fn()
        if outputs != service.outputs:
            bad = next(i for i, (a, b) in enumerate(zip(outputs, service.outputs, strict=True)) if a != b)
            print(f"error: {case.name} renders {service.calls[bad][0]} differently")
            return 1
    counters_before = engine.cache.get_counters()
    for round_no in range(rounds):
        shift = round_no % len(cases)
        for case in cases[shift:] + cases[:shift]:
            case.per_service_ns.append(measure(case.fn, iterations))
    counters = engine.cache.get_counters()
    if (
        counters["misses"] != counters_before["misses"]
        or counters["revalidated"] != counters_before["revalidated"]
    ):
        print("error: the engine's template cache missed or re-hashed during the measured rounds")
        return 1
    reference = next(c for c in cases if c.name == REFERENCE)
    for case in cases:
        case.ratios = [a / b for a, b in zip(case.per_service_ns, reference.per_service_ns, strict=True)]
    breakdown = pieces(engine, service, iterations * 5)
    engine.close()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    n_loads = len(service.calls) + len(service.specs)  # each test_node.py.j2 includes one more template
    print(
        f"Python {platform.python_version()} ({os.cpu_count()} CPUs, load {load:.1f}), "
        f"Jinja2 {jinja2.__version__}, PyYAML {yaml.__version__} (libyaml: {yaml.__with_libyaml__}); "
        f"{args.prd.name}: service "
        f"{service.specs[0].service_name}, nodes {', '.join(s.node_type for s in service.specs)}; "
        f"{len(service.calls)} renders and {n_loads} template loads per service; "
        f"{rounds} rounds of {iterations} services per case"
    )
    print()
    print(f"| case | best ms/service | median ms/service | paired ratio vs {REFERENCE} (median) |")
    print("|---|---:|---:|---:|")
    for case in cases:
        print(
            f"| {case.name} | {min(case.per_service_ns) / 1e6:.3f} | "
            f"{statistics.median(case.per_service_ns) / 1e6:.3f} | {statistics.median(case.ratios):.2f}x |"
        )
    print()
    print("| piece of render_node+render_shared (per service) | ms |")
    print("|---|---:|")
    for label, ns in breakdown:
        print(f"| {label} | {ns / 1e6:.3f} |")
    target = next(c for c in cases if c.name == TARGET_CASE)
    ratio = statistics.median(target.ratios)
    passed = ratio <= TARGET_RATIO
    print()
    print(
        f"{'PASS' if passed else 'FAIL'}: our rendering ({TARGET_CASE}) {ratio:.2f}x bare Jinja2 "
        f"(target <= {TARGET_RATIO}x)"
    )
    full = next(c for c in cases if c.name == "render_node+render_shared")
    files = next(c for c in cases if c.name == "jinja2+files")
    paired = statistics.median([a / b for a, b in zip(full.per_service_ns, files.per_service_ns, strict=True)])
    print(
        f"info: render_node+render_shared (adds contract.yaml, __init__ strings, runtime sources) "
        f"{statistics.median(full.ratios):.2f}x bare Jinja2 rendering the templates alone, "
        f"{paired:.2f}x bare Jinja2 producing the same files (jinja2+files)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
