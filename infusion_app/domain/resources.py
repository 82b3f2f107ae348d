"""Reading the data files shipped in infusion_app.resources (the repository's resources/)."""

from __future__ import annotations

import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .errors import DataFileError



def installed_monograph_ids() -> list[str]:
    """The ids of the monographs shipped in resources/monographs/ (one <id>.toml each), sorted. Here
    rather than in monograph.py so that `--version` and `drugs` can list them without importing pint."""
    folder = resource_path("monographs")
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def resource_path(*parts: str) -> Traversable:
    return resources.files("infusion_app.resources").joinpath(*parts)


def load_toml(source: str | Path | Traversable) -> dict[str, Any]:
    """Load a TOML data file: a resource-relative name ("monographs/x.toml"), a Path or a Traversable."""
    if isinstance(source, str):
        source = resource_path(*source.split("/"))
    try:
        with source.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise DataFileError(f"data file not found: {source}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"data file {source} is not valid TOML: {exc}") from exc
