"""infusion-prep coverage: not built yet (see the open issues)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds no subcommand until this module is built."""
