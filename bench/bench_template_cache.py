"""Template cache benchmark: a validated TemplateCache hit side by side with its peers, in one process.

For a 5 KB and a 50 KB template (valid Jinja2 text), every case returns the template while checking that the
file has not changed:

* ``ours``: ``TemplateCache.get(name, type, Path, default loader)``, a hit validated by one ``os.stat``
  (``ours-str``: the same with a ``str`` path);
* ``jinja2-autoreload``: ``Environment(loader=FileSystemLoader, auto_reload=True).get_template(name)``, a hit
  validated by ``os.path.getmtime``;
* ``read+sha256``: read the file and SHA-256 it on every get, then compare with the cached hash (what the old
  cache did on every hit);
* references: ``jinja2-no-reload`` (``auto_reload=False``: no validation at all) and ``dict+stat`` (a bare dict
  lookup plus ``os.stat``, the floor for any stat-validated cache).

A second group rotates over 20 templates of each size (a generation run touches many templates): Jinja2's
LRU then reorders its queue on most hits.

The template files get an mtime an hour in the past and the run waits out TemplateCache's 2 s "racy" window
(files changed within the last 2 s are re-hashed on every hit), so the steady state of installed templates is
measured. Cases run in rounds (one burst of every case per round, in a rotated order) so drift on a busy
machine hits all of them alike. The table shows the best and the median time per operation over the rounds,
and the median over rounds of the ratio to Jinja2's auto-reload burst of the same round (a paired ratio,
robust against load that comes and goes). Compare ratios, not absolute figures.

Run: ``.venv/bin/python bench/bench_template_cache.py [--quick]``
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from agents.lib.template_cache import TemplateCache

SIZES = {"5 KB": 5 * 1024, "50 KB": 50 * 1024}
ROTATION = 20
REFERENCE = "jinja2-autoreload"
TARGET_RATIO = 1.0  # our validated hit no slower than Jinja2's auto-reload hit

BLOCK = """\
class {{ node_name }}Effect{{ loop_index }}(NodeEffect):
    \"\"\"{{ description | default('An effect node.') }}\"\"\"

    {% for field in fields %}{{ field.name }}: {{ field.type }}
    {% endfor %}
    async def process(self, request: {{ request_type }}) -> {{ response_type }}:
        return await self._port.call(request)

"""


def template_text(size: int) -> str:
    """Valid Jinja2 template text of exactly ``size`` bytes."""
    text = BLOCK * (size // len(BLOCK) + 1)
    cut = text[:size]
    # Do not cut inside a tag: pad the tail with a comment-free filler instead.
    last = cut.rfind("\n\n")
    return cut[: last + 2] + "#" * (size - last - 2)


@dataclass
class Case:
    name: str
    size: str
    group: str
    fn: Callable[[], object]
    per_op_ns: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def make_files(root: Path) -> dict[str, list[Path]]:
    """Write the templates: per size, ``ROTATION`` files (the first one is the single-template case)."""
    files: dict[str, list[Path]] = {}
    past = time.time_ns() - 3600 * 10**9
    for label, size in SIZES.items():
        text = template_text(size)
        paths = []
        for i in range(ROTATION):
            path = root / f"effect_{size // 1024}k_{i}.j2"
            path.write_text(text, encoding="utf-8")
            os.utime(path, ns=(past, past))
            paths.append(path)
        assert len(paths[0].read_bytes()) == size
        files[label] = paths
    return files


def build_cases(files: dict[str, list[Path]], cache: TemplateCache) -> list[Case]:
    env_reload = jinja2.Environment(loader=jinja2.FileSystemLoader(str(files["5 KB"][0].parent)), auto_reload=True)
    env_static = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(files["5 KB"][0].parent)), auto_reload=False
    )
    cases: list[Case] = []
    for label, paths in files.items():
        path = paths[0]
        spath = str(path)
        cases.append(Case("ours", label, "one template", functools.partial(cache.get, path.stem, "EFFECT", path)))
        cases.append(
            Case("ours-str", label, "one template", functools.partial(cache.get, path.stem, "EFFECT", spath))
        )
        cases.append(Case(REFERENCE, label, "one template", functools.partial(env_reload.get_template, path.name)))
        cases.append(
            Case("jinja2-no-reload", label, "one template", functools.partial(env_static.get_template, path.name))
        )
        cases.append(Case("read+sha256", label, "one template", read_and_hash_getter(spath)))
        cases.append(Case("dict+stat", label, "one template", dict_stat_getter(spath)))

        rotation = [(p.stem, p) for p in paths]
        names = [p.name for p in paths]
        cases.append(Case("ours", label, f"{ROTATION} templates", rotating_ours(cache, rotation)))
        cases.append(Case(REFERENCE, label, f"{ROTATION} templates", rotating_jinja(env_reload, names)))
    return cases


def read_and_hash_getter(path: str) -> Callable[[], str]:
    content = Path(path).read_text(encoding="utf-8")
    cached = {path: (hashlib.sha256(content.encode()).hexdigest(), content)}

    def get() -> str:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        known, text = cached[path]
        if digest != known:
            raise AssertionError("file changed during the benchmark")
        return text

    return get


def dict_stat_getter(path: str) -> Callable[[], str]:
    st = os.stat(path)
    cached = {path: (st.st_mtime_ns, st.st_size, Path(path).read_text(encoding="utf-8"))}

    def get() -> str:
        st = os.stat(path)
        mtime, size, text = cached[path]
        if st.st_mtime_ns != mtime or st.st_size != size:
            raise AssertionError("file changed during the benchmark")
        return text

    return get


def rotating_ours(cache: TemplateCache, rotation: list[tuple[str, Path]]) -> Callable[[], object]:
    state = {"i": 0}
    get = cache.get
    n = len(rotation)

    def step() -> object:
        i = state["i"] = (state["i"] + 1) % n
        name, path = rotation[i]
        return get(name, "EFFECT", path)

    return step


def rotating_jinja(env: jinja2.Environment, names: list[str]) -> Callable[[], object]:
    state = {"i": 0}
    get = env.get_template
    n = len(names)

    def step() -> object:
        i = state["i"] = (state["i"] + 1) % n
        return get(names[i])

    return step


def measure(fn: Callable[[], object], iterations: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(iterations):
        fn()
    return (time.perf_counter_ns() - start) / iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats")
    args = parser.parse_args()
    iterations, repeats = (1_000, 5) if args.quick else (4_000, 31)

    root = Path(tempfile.mkdtemp(prefix="bench-template-cache-"))
    try:
        files = make_files(root)
        time.sleep(2.1)  # let the files' ctime leave TemplateCache's racy window
        # Metrics collected as by default, but handed to a sink that drops them: a benchmark must not write
        # into the user's database (the hit path is the same either way).
        cache = TemplateCache(max_templates=100, max_size_mb=50, metrics_sink=lambda records: None)
        cases = build_cases(files, cache)
        for case in cases:  # warm every case: first loads, Jinja2 compiles (every template of a rotation)
            for _ in range(2 * ROTATION):
                case.fn()
        counters_before = cache.get_counters()
        for round_no in range(repeats):
            shift = round_no % len(cases)
            for case in cases[shift:] + cases[:shift]:
                case.per_op_ns.append(measure(case.fn, iterations))
        for case in cases:
            ref = reference_of(cases, case)
            case.ratios = [mine / theirs for mine, theirs in zip(case.per_op_ns, ref.per_op_ns, strict=True)]
        counters = cache.get_counters()
        new_misses = counters["misses"] - counters_before["misses"]
        new_revalidated = counters["revalidated"] - counters_before["revalidated"]
        if new_misses or new_revalidated:
            print(
                f"error: measured gets were not all plain hits ({new_misses} misses, {new_revalidated} re-hashes)"
            )
            return 1
        report(cases, iterations, repeats)
        return verdict(cases)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reference_of(cases: list[Case], case: Case) -> Case:
    return next(r for r in cases if r.name == REFERENCE and r.size == case.size and r.group == case.group)


def report(cases: list[Case], iterations: int, repeats: int) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs, load {load:.1f}), "
        f"Jinja2 {jinja2.__version__}; {repeats} rounds of {iterations} gets per case"
    )
    print()
    print(f"| group | case | size | best µs/op | median µs/op | paired ratio vs {REFERENCE} (median) |")
    print("|---|---|---|---:|---:|---:|")
    for group in dict.fromkeys(c.group for c in cases):
        for size in SIZES:
            for c in cases:
                if c.group != group or c.size != size:
                    continue
                median = statistics.median(c.per_op_ns)
                ratio = statistics.median(c.ratios)
                print(
                    f"| {group} | {c.name} | {size} | {min(c.per_op_ns) / 1000:.2f} | "
                    f"{median / 1000:.2f} | {ratio:.2f}x |"
                )


def verdict(cases: list[Case]) -> int:
    ok = True
    print()
    for c in cases:
        if c.name != "ours":
            continue
        ratio = statistics.median(c.ratios)
        passed = ratio <= TARGET_RATIO
        ok &= passed
        print(
            f"{'PASS' if passed else 'FAIL'}: validated hit, {c.group}, {c.size}: {ratio:.2f}x Jinja2 "
            f"auto-reload hit (target <= {TARGET_RATIO:.2f}x)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
