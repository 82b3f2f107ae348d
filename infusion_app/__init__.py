"""Preparation and administration assistant for the antibody-drug conjugates its monographs describe (BESPONSA, MYLOTARG)."""

# A literal rather than importlib.metadata.version(): reading the installed metadata cost
# 30-37 ms at every start. tests/test_project_files.py keeps it equal to pyproject.toml's.
__version__ = "0.1.0"
