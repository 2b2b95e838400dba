"""The template engine: Jinja2 over the package's templates, loaded through the template cache.

Templates render with ``StrictUndefined``; values reach generated Python only through the ``pyrepr`` filter (a
Python literal). See docs/codegen.md ("Rendering").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from types import CodeType
from typing import Any, cast

import jinja2

from agents.lib.template_cache import TemplateCache

__all__ = ["TEMPLATES_DIR", "TemplateEngine", "pyrepr"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
"""Where the node templates live."""

_TEMPLATE_TYPES = {"effect": "EFFECT", "compute": "COMPUTE", "reducer": "REDUCER", "orchestrator": "ORCHESTRATOR"}


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def pyrepr(value: object) -> str:
    """Return ``value`` as a Python literal (strings, numbers, booleans, None, lists, tuples, dicts of those)."""
    # Exact built-in types first (what render contexts hold); subclasses take the general path below.
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return repr(value)
    if kind is list:
        return "[" + ", ".join([pyrepr(v) for v in cast("list[object]", value)]) + "]"
    if kind is dict:
        items = cast("dict[object, object]", value).items()
        return "{" + ", ".join([f"{pyrepr(k)}: {pyrepr(v)}" for k, v in items]) + "}"
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(pyrepr(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{pyrepr(k)}: {pyrepr(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot embed {type(value).__name__} in generated code")


def _template_type(name: str) -> str:
    """Return the template cache type of the template file ``name`` (EFFECT, ..., or COMMON)."""
    stem = name.split(".", 1)[0]
    for key, value in _TEMPLATE_TYPES.items():
        if stem.endswith(key):
            return value
    return "COMMON"


def _never_up_to_date() -> bool:
    return False


_LOCATE_MEMO_LIMIT = 1024
_CODE_MEMO_LIMIT = 256
_code_memo: dict[tuple[object, ...], CodeType] = {}
"""Compiled templates for the process, shared by every engine: a new TemplateEngine (one per CodeGenerator, say)
compiles a template only when no engine of the process compiled the same source the same way before."""
_code_memo_lock = threading.Lock()


def _compile_signature(environment: jinja2.Environment) -> tuple[object, ...]:
    """Return what Jinja2's compiled code depends on besides the source, name and file name.

    That is the syntax and whitespace options, and which filters and tests exist (their objects: the compiler
    decides how each is called).
    """
    return (
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        environment.is_async,
        environment.autoescape,
        environment.finalize,
        environment.code_generator_class,
        environment.policies.get("compiler.ascii_str"),
        tuple(environment.extensions.items()),
        tuple(sorted(environment.filters.items())),
        tuple(sorted(environment.tests.items())),
    )


def _compile(environment: jinja2.Environment, source: str, name: str, filename: str) -> CodeType:
    """Return ``environment.compile(source, name, filename)``, compiled once per process."""
    key = (source, name, filename, _compile_signature(environment))
    try:
        hash(key)
    except TypeError:  # a filter or test object that cannot be a key: compiled every time, as before
        return environment.compile(source, name, filename)
    with _code_memo_lock:
        code = _code_memo.get(key)
    if code is None:
        code = environment.compile(source, name, filename)
        with _code_memo_lock:
            if len(_code_memo) >= _CODE_MEMO_LIMIT:
                _code_memo.pop(next(iter(_code_memo)))
            _code_memo[key] = code
    return code


class _CachedLoader(jinja2.BaseLoader):
    """Loads templates through a TemplateCache; reuses the compiled template while the content is the same."""

    def __init__(self, directory: Path, cache: TemplateCache) -> None:
        self.directory = directory
        self.cache = cache
        self._compiled: dict[str, tuple[str, jinja2.Template]] = {}
        self._located: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def _locate(self, name: str) -> tuple[str, str]:
        """Return the template file's path and its cache type; checked and computed once per name."""
        found = self._located.get(name)
        if found is None:
            if "/" in name or "\\" in name or name.startswith("."):
                raise jinja2.TemplateNotFound(name)
            found = (str(self.directory / name), _template_type(name))
            if len(self._located) < _LOCATE_MEMO_LIMIT:
                self._located[name] = found
        return found

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        """Return the template's source through the cache."""
        path, template_type = self._locate(template)
        try:
            source, _ = self.cache.get(template, template_type, path, _read)
        except FileNotFoundError:
            raise jinja2.TemplateNotFound(template) from None
        return source, path, _never_up_to_date

    def load(
        self,
        environment: jinja2.Environment,
        name: str,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        """Return the compiled template, compiling only when the cached content changed."""
        source, filename, _ = self.get_source(environment, name)
        with self._lock:
            memo = self._compiled.get(name)
        if memo is not None and (memo[0] is source or memo[0] == source):
            return memo[1]
        code = _compile(environment, source, name, filename)
        template = environment.template_class.from_code(environment, code, globals or {}, None)
        with self._lock:
            self._compiled[name] = (source, template)
        return template


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class TemplateEngine:
    """Renders the package's templates; thread-safe, shareable between generation jobs."""

    def __init__(self, cache: TemplateCache | None = None, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.cache = cache if cache is not None else TemplateCache(enable_persistence=False)
        self._owns_cache = cache is None
        self.environment = jinja2.Environment(
            loader=_CachedLoader(templates_dir, self.cache),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 - we generate Python and YAML; values go through pyrepr/safe_dump
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            cache_size=0,
        )
        self.environment.filters["pyrepr"] = pyrepr
        self.templates_dir = templates_dir

    def warmup(self) -> int:
        """Load every template into the cache under the names rendering asks for; return how many were loaded.

        Done once before a parallel batch, it turns the workers' first renders into cache hits instead of
        loads (or waits on another worker's load).
        """
        files = [
            (path.name, _template_type(path.name), path)
            for path in sorted(self.templates_dir.iterdir())
            if path.is_file() and not path.name.startswith(".")
        ]
        return self.cache.warmup(self.templates_dir, (), files=files, loader_func=_read)

    def render(self, template: str, **context: Any) -> str:
        """Render one template with ``context``."""
        return self.environment.get_template(template).render(**context)

    def close(self) -> None:
        """Close the cache if this engine created it."""
        if self._owns_cache:
            self.cache.close()
