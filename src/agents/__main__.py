"""``python -m agents``: the same command-line interface as the ``agents`` script."""

from agents.cli import main

if __name__ == "__main__":
    main()
