"""The PRD analyzer's parts (private): import the public names from :mod:`agents.lib.prd_analyzer`.

``source`` reads the input, ``parse`` finds its sections and blocks, ``requirements``, ``entities`` (with
``drafts`` and ``code_entities``), ``rules`` (with ``rule_text``, ``rule_clause``, ``rule_reader``,
``rule_counts``, ``rule_dates`` and ``formulas``), ``signals``, ``steps`` and ``lifecycle`` read what they say,
and ``models`` holds the frozen result. How each part reads a PRD is in docs/codegen.md ("Writing a PRD").
"""
