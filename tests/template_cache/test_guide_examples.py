"""The user guide's Stream 2 examples and Quick Start Example 1, as written, on real files.

Only the placeholder paths (``/templates/...``, ``/path/to/...``) are replaced by files under ``tmp_path``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from tests.template_cache.conftest import BASE_MTIME_NS, write


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    write(root / "effect_template.py", "class {{ node_name }}(NodeEffect):\n    pass\n")
    write(root / "compute_template.py", "class {{ node_name }}(NodeCompute):\n    pass\n")
    write(root / "reducer_template.py", "class {{ node_name }}(NodeReducer):\n    pass\n")
    write(root / "orchestrator_template.py", "class {{ node_name }}(NodeOrchestrator):\n    pass\n")
    write(root / "template.py", "generated at {{timestamp}}\n")
    return root


def test_stream_2_basic_usage(templates: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --- Initializing the Cache ---
    from agents.lib.template_cache import TemplateCache

    # Create cache with custom configuration
    cache = TemplateCache(
        max_templates=100,  # Maximum templates to cache
        max_size_mb=50,  # Maximum memory usage (MB)
        ttl_seconds=3600,  # Time-to-live (1 hour)
        enable_persistence=True,  # Track metrics in database
    )

    # --- Loading Templates ---
    from pathlib import Path

    # First load (cache miss)
    content, hit = cache.get(
        template_name="NodeAPIEffect",
        template_type="EFFECT",
        file_path=Path(templates / "effect_template.py"),
        loader_func=lambda p: p.read_text(),
    )
    print(f"First load - Cache hit: {hit}")  # False

    # Second load (cache hit)
    content, hit = cache.get(
        template_name="NodeAPIEffect",
        template_type="EFFECT",
        file_path=Path(templates / "effect_template.py"),
        loader_func=lambda p: p.read_text(),
    )
    print(f"Second load - Cache hit: {hit}")  # True

    # --- Cache Warmup ---
    cache.warmup(templates_dir=Path(templates), template_types=["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"])
    print("Cache warmed up with common templates")

    # --- Monitoring Cache Performance ---
    # Get basic stats
    stats = cache.get_stats()
    print(f"Hit rate: {stats['hit_rate']:.1%}")
    print(f"Cached templates: {stats['cached_templates']}")
    print(f"Time saved: {stats['time_saved_ms']:.0f}ms")
    print(f"Performance improvement: {stats['improvement_percent']:.1f}%")

    # Get detailed stats with per-template breakdown
    detailed = cache.get_detailed_stats()
    print("\nMost accessed templates:")
    for template in detailed["templates"][:5]:
        print(f"  {template['name']}: {template['access_count']} accesses")

    # --- Cache Invalidation ---
    # Invalidate specific template (e.g., after file modification)
    cache.invalidate("NodeAPIEffect")

    # Invalidate all templates (e.g., during deployment)
    cache.invalidate_all()

    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "First load - Cache hit: False",
        "Second load - Cache hit: True",
        "Cache warmed up with common templates",
    ]
    assert out[3] == "Hit rate: 50.0%"
    assert out[4] == "Cached templates: 5"  # NodeAPIEffect + the four warmed files
    assert out[5].startswith("Time saved: ")
    assert out[6].startswith("Performance improvement: ")
    assert out[8] == "Most accessed templates:"
    assert out[9] == "  NodeAPIEffect: 2 accesses"
    assert out[10:] == [
        "  compute_template: 0 accesses",
        "  effect_template: 0 accesses",
        "  orchestrator_template: 0 accesses",
        "  reducer_template: 0 accesses",
    ]
    assert content.startswith("class {{ node_name }}(NodeEffect)")
    assert cache.get_stats()["cached_templates"] == 0
    assert cache.get_stats()["invalidations"] == 5


def test_stream_2_advanced_usage(templates: Path) -> None:
    from datetime import datetime

    from agents.lib.template_cache import TemplateCache

    cache = TemplateCache()
    effect = templates / "effect_template.py"
    cache.get("NodeAPIEffect", "EFFECT", effect, lambda p: p.read_text())

    # --- Content-Based Invalidation ---
    # Template file is modified externally
    write(effect, "class {{ node_name }}(NodeEffect):\n    changed = True\n", mtime_ns=BASE_MTIME_NS + 10**9)
    # Next access automatically invalidates and reloads:
    content, hit = cache.get(
        template_name="NodeAPIEffect",
        template_type="EFFECT",
        file_path=Path(effect),
        loader_func=lambda p: p.read_text(),
    )
    # hit will be False if file was modified
    assert hit is False
    assert "changed = True" in content

    # --- Custom Loader Functions ---
    def load_with_preprocessing(file_path: Path) -> str:
        """Custom loader with preprocessing"""
        raw_content = file_path.read_text()
        # Add custom preprocessing
        processed = raw_content.replace("{{timestamp}}", str(datetime.now()))
        return processed

    content, hit = cache.get(
        template_name="ProcessedTemplate",
        template_type="EFFECT",
        file_path=Path(templates / "template.py"),
        loader_func=load_with_preprocessing,
    )
    assert hit is False
    assert content.startswith("generated at 2")
    assert "{{timestamp}}" not in content
    again, hit = cache.get("ProcessedTemplate", "EFFECT", templates / "template.py", load_with_preprocessing)
    assert (again, hit) == (content, True)  # the preprocessed content is what is cached


def test_quick_start_example_1(templates: Path, capsys: pytest.CaptureFixture[str]) -> None:
    effect_template = templates / "effect_template.py"
    os.utime(effect_template, ns=(BASE_MTIME_NS, BASE_MTIME_NS))

    from pathlib import Path
    from uuid import uuid4

    from agents.lib.structured_logger import get_logger
    from agents.lib.template_cache import TemplateCache

    # Initialize logger
    logger = get_logger(__name__, component="codegen-basic")
    logger.set_correlation_id(uuid4())

    # Initialize template cache
    cache = TemplateCache(max_templates=50, ttl_seconds=1800)

    # Warmup cache with common templates
    cache.warmup(templates_dir=Path(templates), template_types=["EFFECT", "COMPUTE", "REDUCER", "ORCHESTRATOR"])

    # Load template (will use cache on subsequent calls)
    content, hit = cache.get(
        template_name="NodeDatabaseEffect",
        template_type="EFFECT",
        file_path=Path(effect_template),
        loader_func=lambda p: p.read_text(),
    )

    logger.info("Template loaded", metadata={"cache_hit": hit, "content_size": len(content)})

    # Check cache statistics
    stats = cache.get_stats()
    print(f"Cache hit rate: {stats['hit_rate']:.1%}")
    print(f"Time saved: {stats['time_saved_ms']:.0f}ms")

    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["Cache hit rate: 0.0%", "Time saved: 0ms"]
    line = orjson.loads(captured.err.strip().splitlines()[-1])
    assert line["message"] == "Template loaded"
    assert line["component"] == "codegen-basic"
    assert line["correlation_id"] == logger.get_correlation_id()
    assert line["metadata"] == {"cache_hit": False, "content_size": len(effect_template.read_text())}
    # The warmed copy is keyed by its file name; the one named in the example is now cached too.
    assert cache.get_stats()["cached_templates"] == 5
    assert cache.get("NodeDatabaseEffect", "EFFECT", effect_template, lambda p: p.read_text())[1] is True
    assert cache.get("effect_template", "EFFECT", effect_template, lambda p: p.read_text())[1] is True
