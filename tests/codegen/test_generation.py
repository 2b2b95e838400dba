"""Generating nodes: output shape, determinism, escaping, safe writing, and the cache underneath."""

from __future__ import annotations

import ast
import filecmp
import shutil
from collections import OrderedDict
from pathlib import Path

import jinja2
import pytest
import yaml

from agents.lib.codegen.engine import TEMPLATES_DIR, TemplateEngine, pyrepr
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.render import render_node
from agents.lib.codegen.verify import verify_generated
from agents.lib.codegen.writing import write_tree
from agents.lib.errors import ErrorCode, OnexError
from tests.codegen.conftest import all_specs, effect_spec

NASTY = 'He said "hi" \\ and \'\'\'x\'\'\' """; import os; os.system("rm -rf /") # {{ jinja }} {% x %}\n\tüñí €'


def test_service_layout(generated_service: Path) -> None:
    names = sorted(p.name for p in generated_service.iterdir())
    assert names == [
        "README.md",
        "conftest.py",
        "library_loans",
        "library_loans_models",
        "node_library_loans_compute",
        "node_library_loans_effect",
        "node_library_loans_orchestrator",
        "node_library_loans_reducer",
        "onex_runtime",
        "pyproject.toml",
    ]
    assert sorted(p.name for p in (generated_service / "library_loans_models").iterdir()) == [
        "__init__.py",
        "book.py",
        "py.typed",
    ]
    assert sorted(p.name for p in (generated_service / "library_loans").iterdir()) == [
        "__init__.py",
        "__main__.py",
        "app.py",
        "http.py",
        "py.typed",
        "tests",
    ]
    node = generated_service / "node_library_loans_effect"
    assert sorted(p.name for p in node.iterdir()) == [
        "__init__.py",
        "contract.yaml",
        "enums.py",
        "models.py",
        "node.py",
        "tests",
    ]
    readme = (generated_service / "README.md").read_text()
    assert "`calculate_late_fee()` raises NOT_IMPLEMENTED" in readme
    assert "Port `record_store` (PostgreSQL)" in readme


def test_contract_content(generated_service: Path) -> None:
    contract = yaml.safe_load((generated_service / "node_library_loans_reducer" / "contract.yaml").read_text())
    assert contract["class_name"] == "NodeLibraryLoansReducer"
    assert contract["node_type"] == "REDUCER"
    assert contract["fsm"]["initial"] == "available"
    assert {"from": "borrowed", "event": "lose", "to": "lost"} in contract["fsm"]["transitions"]
    assert [o["name"] for o in contract["operations"]] == ["reduce", "fold"]


def test_orchestrator_contract_keeps_the_steps_wording(tmp_path: Path) -> None:
    from agents.lib.codegen.contract import NodeContract
    from agents.lib.codegen.spec import StepSpec
    from tests.codegen.conftest import orchestrator_spec

    spec = orchestrator_spec().model_copy(
        update={
            "steps": (
                StepSpec(name="reserve", description='Reserve stock: "all" of it'),
                StepSpec(name="charge", description="Charge the card\n# not code", depends_on=("reserve",)),
            )
        }
    )
    generator = CodeGenerator()
    node = generator.generate_node(spec, tmp_path)
    generator.close()
    contract = yaml.safe_load((node.package_dir / "contract.yaml").read_text(encoding="utf-8"))
    assert contract["steps"] == [
        {"name": "reserve", "description": 'Reserve stock: "all" of it', "depends_on": [], "action": "hook"},
        {
            "name": "charge",
            "description": "Charge the card\n# not code",
            "depends_on": ["reserve"],
            "action": "hook",
        },
    ]
    assert [h["name"] for h in contract["hooks"]] == ["step_reserve", "step_charge"]
    NodeContract.model_validate(contract)


def test_generated_service_passes_every_check(generated_service: Path, tmp_path: Path) -> None:
    copy = tmp_path / "svc"
    shutil.copytree(generated_service, copy)
    report = verify_generated(copy)
    assert [c.name for c in report.checks] == [
        "syntax",
        "yaml",
        "placeholders",
        "naming",
        "contract",
        "self_contained",
        "imports",
        "tests",
        "mypy",
        "ruff",
    ]
    assert report.passed, report.summary()
    assert report.tests_passed == 48  # effect 15, compute 7, reducer 6, orchestrator 13, the service 7
    assert sorted(p.name for p in copy.rglob("*") if p.name.startswith(".")) == []
    assert not list(copy.rglob("__pycache__"))


def test_same_spec_same_bytes(tmp_path: Path) -> None:
    generator = CodeGenerator()
    for out in (tmp_path / "a", tmp_path / "b"):
        for spec in all_specs():
            generator.generate_node(spec, out)
    generator.close()
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    stack = [comparison]
    while stack:
        current = stack.pop()
        assert not current.diff_files and not current.left_only and not current.right_only
        _, mismatch, errors = filecmp.cmpfiles(current.left, current.right, current.common_files, shallow=False)
        assert (mismatch, errors) == ([], [])
        stack.extend(current.subdirs.values())


def test_prd_text_is_only_ever_a_string_literal(tmp_path: Path) -> None:
    generator = CodeGenerator()
    generator.generate_node(effect_spec(description=NASTY), tmp_path)
    generator.close()
    node_py = (tmp_path / "node_library_loans_effect" / "node.py").read_text()
    tree = ast.parse(node_py)
    assigned = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    annotated = {
        node.target.id: node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None
    }
    description = {**assigned, **annotated}["DESCRIPTION"]
    assert isinstance(description, ast.Constant)
    assert description.value == NASTY
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "system"]
    assert calls == []
    contract = yaml.safe_load((tmp_path / "node_library_loans_effect" / "contract.yaml").read_text())
    assert contract["description"] == NASTY
    readme = (tmp_path / "README.md").read_text()
    assert 'rf /") \\# {{ jinja }} {% x %} üñí €' in readme  # Markdown specials escaped, on one line


@pytest.mark.parametrize("value", [NASTY, "", "x" * 5000, "\x00\x01", ["a", ("b",)], {"k": [1, 2.5, None, True]}])
def test_pyrepr_round_trips(value: object) -> None:
    assert ast.literal_eval(pyrepr(value)) == (value if not isinstance(value, list) else ["a", ("b",)])


def test_pyrepr_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="cannot embed object"):
        pyrepr(object())


@pytest.mark.parametrize("value", [[object()], {"k": object()}, {"k": [1, {2: object()}]}, ("a", [object()])])
def test_pyrepr_refuses_other_objects_nested(value: object) -> None:
    with pytest.raises(TypeError, match="cannot embed object"):
        pyrepr(value)


def test_pyrepr_gives_the_same_literal_for_builtins_and_their_subclasses() -> None:
    """Exact built-in types take a fast path; subclasses the general one; both give the same literal."""

    class Text(str):
        pass

    assert pyrepr([True, 1, 1.5, None, "s", ("t",)]) == "[True, 1, 1.5, None, 's', ('t',)]"
    assert pyrepr(OrderedDict(a=[1, (2,)])) == pyrepr({"a": [1, (2,)]}) == "{'a': [1, (2,)]}"
    assert pyrepr(Text("x")) == pyrepr("x") == "'x'"
    assert pyrepr({1: {"n": [None]}}) == "{1: {'n': [None]}}"


@pytest.mark.parametrize("relative", ["../escape.py", "/etc/passwd", "a/../../b.py", "."])
def test_writing_outside_the_output_directory_is_refused(tmp_path: Path, relative: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(OnexError) as caught:
        write_tree(out, {"ok.py": "x = 1\n", relative: "bad"})
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert not (out / "ok.py").exists()
    assert not (tmp_path / "escape.py").exists()


def test_existing_node_needs_force_and_force_removes_stale_files(tmp_path: Path) -> None:
    generator = CodeGenerator()
    spec = effect_spec()
    generator.generate_node(spec, tmp_path)
    stale = tmp_path / spec.package_name / "stale.py"
    stale.write_text("x = 1\n")
    with pytest.raises(OnexError) as caught:
        generator.generate_node(spec, tmp_path)
    assert caught.value.code is ErrorCode.CONFLICT
    assert "--force" in caught.value.message
    assert stale.exists()
    generator.generate_node(spec, tmp_path, force=True)
    generator.close()
    assert not stale.exists()
    assert (tmp_path / spec.package_name / "node.py").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_written_files_and_directories_get_ordinary_permissions(tmp_path: Path) -> None:
    """Not mkstemp's 0600 and mkdtemp's 0700: files 0644 and directories 0755 under umask 022."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_tree(tmp_path / "flat", {"a.py": "x = 1\n", "sub/b.py": "y = 2\n"})
        write_tree(tmp_path / "pkg", {"node/c.py": "z = 3\n"}, replace_dir="node")
    finally:
        os.umask(old)
    modes = {
        str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
        for p in sorted(tmp_path.rglob("*"))
        if p.name in {"a.py", "b.py", "c.py", "node", "sub"}
    }
    assert modes == {
        "flat/a.py": 0o644,
        "flat/sub": 0o755,
        "flat/sub/b.py": 0o644,
        "pkg/node": 0o755,
        "pkg/node/c.py": 0o644,
    }


def test_rewriting_a_file_keeps_its_mode(tmp_path: Path) -> None:
    import stat

    write_tree(tmp_path, {"run.sh": "echo one\n"})
    (tmp_path / "run.sh").chmod(0o750)
    write_tree(tmp_path, {"run.sh": "echo two\n"})
    assert (tmp_path / "run.sh").read_text() == "echo two\n"
    assert stat.S_IMODE((tmp_path / "run.sh").stat().st_mode) == 0o750


def test_a_rendering_failure_writes_nothing(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(Path(TemplateEngine.__module__.replace(".", "/")).name and _templates_dir(), templates)
    (templates / "models.py.j2").write_text("{{ undefined_name }}")
    engine = TemplateEngine(templates_dir=templates)
    out = tmp_path / "out"
    with pytest.raises(Exception, match="undefined_name"):
        CodeGenerator(engine).generate_node(effect_spec(), out)
    assert not out.exists() or not any(out.glob("node_*"))
    engine.close()


def _templates_dir() -> Path:

    return TEMPLATES_DIR


def test_rendering_goes_through_the_template_cache() -> None:
    engine = TemplateEngine()
    first = render_node(effect_spec(), engine)
    misses = engine.cache.get_stats()["misses"]
    assert engine.cache.get_stats()["hits"] == 0
    second = render_node(effect_spec(), engine)
    stats = engine.cache.get_stats()
    engine.close()
    assert first == second
    assert misses == 5  # node, models, enums, test_node and the per-type tests template
    assert stats["misses"] == 5
    assert stats["hits"] == 5


def test_engine_warmup_makes_the_first_render_a_hit() -> None:
    engine = TemplateEngine()
    loaded = engine.warmup()
    templates = sorted(p.name for p in engine.templates_dir.iterdir() if p.suffix == ".j2")
    assert loaded == len(templates) == 22
    assert engine.warmup() == 0  # cached and unchanged: nothing reloaded
    render_node(effect_spec(), engine)
    stats = engine.cache.get_stats()
    engine.close()
    assert (stats["hits"], stats["misses"]) == (5, 0)
    assert stats["cached_templates"] == 22


@pytest.mark.parametrize("name", ["../render.py", "sub/x.j2", ".hidden.j2", "a\\b.j2", "missing.j2"])
def test_template_names_outside_the_directory_or_missing_are_not_found(name: str) -> None:
    engine = TemplateEngine()
    try:
        for _ in range(2):  # the second lookup goes through the loader's memo of names
            with pytest.raises(jinja2.TemplateNotFound):
                engine.render(name)
    finally:
        engine.close()


def test_a_changed_template_is_rendered_anew(tmp_path: Path) -> None:
    template = tmp_path / "x.j2"
    template.write_text("one {{ v }}", encoding="utf-8")
    engine = TemplateEngine(templates_dir=tmp_path)
    try:
        assert engine.render("x.j2", v=1) == "one 1"
        template.write_text("two {{ v }}!", encoding="utf-8")
        assert engine.render("x.j2", v=1) == "two 1!"
    finally:
        engine.close()


def test_engines_share_a_compiled_template_only_when_they_compile_it_alike(tmp_path: Path) -> None:
    """Engines of a process reuse each other's compiled templates, never across different filters or options."""
    (tmp_path / "x.j2").write_text("{% if v %}\n{{ v | shout }}{% endif %}\n", encoding="utf-8")
    loud = TemplateEngine(templates_dir=tmp_path)
    again = TemplateEngine(templates_dir=tmp_path)
    plain = TemplateEngine(templates_dir=tmp_path)
    untrimmed = TemplateEngine(templates_dir=tmp_path)
    try:
        for engine in (loud, again, untrimmed):
            engine.environment.filters["shout"] = str.upper
        untrimmed.environment.trim_blocks = False
        assert loud.render("x.j2", v="hi") == "HI"
        assert again.render("x.j2", v="hi") == "HI"
        assert untrimmed.render("x.j2", v="hi") == "\nHI\n"  # its own compilation: newlines kept
        with pytest.raises(jinja2.TemplateRuntimeError, match="No filter named 'shout'"):
            plain.render("x.j2", v="hi")  # not the code compiled where the filter exists
    finally:
        for engine in (loud, again, plain, untrimmed):
            engine.close()


def test_load_yaml_is_safe_and_gives_plain_data() -> None:
    from agents.lib.codegen.contract import load_yaml

    assert load_yaml("name: x\nsteps:\n- {name: a, depends_on: []}\nwhen: 2025-01-15\n") == {
        "name": "x",
        "steps": [{"name": "a", "depends_on": []}],
        "when": __import__("datetime").date(2025, 1, 15),
    }
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object/apply:os.system ['echo pwned']")
