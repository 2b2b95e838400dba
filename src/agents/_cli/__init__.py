"""Subcommands of the ``agents`` command line, one module per stream."""
