"""Reading the data files shipped in infusion_app.resources (the repository's resources/)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataFileError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def installed_monograph_ids() -> list[str]:
    """The ids of the monographs shipped in resources/monographs/ (one <id>.toml each), sorted. Here
    rather than in monograph.py so that `--version` and `drugs` can list them without importing pint."""
    folder = resource_path("monographs")
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def resource_path(*parts: str) -> Traversable:
    return _resource_root().joinpath(*parts)


@cache
def _resource_root() -> Traversable:
    """The data package's folder. For a package on the file system (a wheel or an editable install)
    this is importlib.resources' own answer, `files()` being the folder of the package's
    `__init__` file as a Path (its FileReader); found here from the package's spec because
    importing importlib.resources (zipfile, tempfile, threading, its readers) was a few ms of every
    headless start. Anything else (a zip import) is asked of importlib.resources."""
    import importlib.util
    from importlib.machinery import SourceFileLoader, SourcelessFileLoader

    spec = importlib.util.find_spec("infusion_app.resources")
    if spec is not None and isinstance(spec.loader, (SourceFileLoader, SourcelessFileLoader)):
        return Path(spec.loader.path).parent
    from importlib import resources

    return resources.files("infusion_app.resources")


def load_toml(source: str | Path | Traversable) -> dict[str, Any]:
    """Load a TOML data file: a resource-relative name ("monographs/x.toml"), a Path or a Traversable."""
    if isinstance(source, str):
        source = resource_path(*source.split("/"))
    try:
        with source.open("rb") as handle:
            content = handle.read()
        return _parsed(content)
    except FileNotFoundError as exc:
        raise DataFileError(f"data file not found: {source}") from exc
    except ValueError as exc:  # tomllib.TOMLDecodeError is one (tomllib imported only to parse)
        import tomllib

        if isinstance(exc, tomllib.TOMLDecodeError):
            raise DataFileError(f"data file {source} is not valid TOML: {exc}") from exc
        raise


def _parsed(content: bytes) -> dict[str, Any]:
    """tomllib's reading of a data file's bytes, kept in the cache folder with those bytes: a
    monograph's TOML is about 30 ms to parse at every start of a headless command, its kept
    reading under 1 ms. Used only when the kept bytes are the file's bytes, never by a file
    date: an edited file is read again. Kept with marshal (plain values only; a file holding a
    TOML date is parsed each time); a cache that cannot be read or written costs only the time."""
    import marshal
    import zlib

    from .quantities import _cache_folder

    folder = _cache_folder()
    kept = folder.parent / "toml" / f"{zlib.crc32(content):08x}-{len(content)}.marshal" if folder is not None else None
    if kept is not None:
        try:
            found = marshal.loads(kept.read_bytes())
            if isinstance(found, tuple) and len(found) == 2 and found[0] == content and isinstance(found[1], dict):
                return found[1]
        except (OSError, ValueError, EOFError, TypeError):
            pass
    import tomllib

    data = tomllib.loads(content.decode("utf-8"))
    if kept is not None:
        try:
            dumped = marshal.dumps((content, data))
            kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = kept.with_name(f"{kept.name}.{os.getpid()}.partial")
            partial.write_bytes(dumped)
            os.replace(partial, kept)
        except (OSError, ValueError):
            pass
    return data
