"""The code generator's steps: node specs, rendering through the template cache, writing, and verification.

``builder`` turns a PRD analysis into validated :class:`~agents.lib.codegen.spec.NodeSpec` objects, ``render``
renders them with Jinja2 templates loaded through :class:`~agents.lib.template_cache.TemplateCache`,
``generator`` writes node packages atomically, ``verify`` checks what was written, and ``runtime`` is the
support package copied into every generated service.
"""

__all__: list[str] = []
