"""The code generator's steps, from a PRD analysis to a verified node package.

``builder`` and ``spec`` make validated node specs; ``engine``, ``context`` and ``render`` render them;
``writing`` and ``formatting`` put the files on disk; ``generator`` does one node; ``verify`` (with
``static_checks``, ``runner``, ``probe``, ``report`` and ``mypy_seed``) checks it; ``job`` is the per-node job
and ``hooks`` the observer interface of a run; ``runtime`` is copied into every generated service.
"""

__all__: list[str] = []
