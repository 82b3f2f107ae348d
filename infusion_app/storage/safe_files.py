"""Writing output files (prep sheets, labels, audit exports, anchors) without destroying anything.

A mistyped `--out` once replaced the live database. Every output goes through `write_output`:
- the name may not be blank, hold control characters, or have a component over 255 bytes;
- a symbolic link, a folder, a device, a FIFO or a socket is refused before anything is opened;
- an existing SQLite database (any file with the SQLite header), a database's -wal/-shm/-journal
  file and anything in a database's backups folder are refused, even with `force`;
- an existing regular file is replaced only with `force`;
- the content goes to a new temporary file beside the target (created exclusively, owner-only),
  is flushed to disk, and only then takes the target's name: a crash leaves the old file or the
  new one, never half of one. Without `force` the name is taken with link(), which fails if a
  file appeared meanwhile, so a race cannot make us overwrite either.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

SQLITE_HEADER = b"SQLite format 3\x00"
# The magic numbers SQLite writes at the start of a write-ahead log.
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
NAME_MAX_BYTES = 255


class OutputRefused(ValueError):
    """The output path cannot be written safely; the message says why (without 'invalid out')."""


def file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def starts_with(path: Path, prefixes: Iterable[bytes]) -> bool:
    """Whether a regular file begins with one of `prefixes`; opened without following a link or blocking."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        head = os.read(descriptor, 16)
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return any(head.startswith(prefix) for prefix in prefixes)


def is_sqlite_file(path: Path) -> bool:
    return starts_with(path, (SQLITE_HEADER,))


def path_text_problem(text: str) -> tuple[str, int] | None:
    """What makes a typed path unusable before the OS ever sees it, or None: ("empty", 0),
    ("control", 0), ("unencodable", 0) or ("long", the longest component's size in bytes).
    Callers word it for their own field; the OS would otherwise answer with a traceback."""
    if not isinstance(text, str) or not text.strip():
        return ("empty", 0)
    if any(not ch.isprintable() for ch in text):
        return ("control", 0)
    for part in Path(text).parts:
        try:
            size = len(os.fsencode(part))
        except UnicodeError:
            return ("unencodable", 0)
        if size > NAME_MAX_BYTES:
            return ("long", size)
    return None


def check_output_name(text: str) -> Path:
    """The path a user typed, checked as text (blank, control characters, over-long components)."""
    problem = path_text_problem(text)
    if problem is not None:
        kind, size = problem
        raise OutputRefused(
            {
                "empty": "the file name is empty; give a file name such as sheet.pdf",
                "control": "the file name holds control characters; give a plain file name such as sheet.pdf",
                "unencodable": "the file name cannot be encoded for this system",
                "long": f"a part of the file name is {size} bytes long; at most {NAME_MAX_BYTES}",
            }[kind]
        )
    return Path(text).expanduser()


# Files beside a database that an output must never replace: losing the key makes every later
# command refuse to start, and a replaced anchor log makes audit verify fail for good.
GUARDED_NAMES = ("audit.key", "audit-anchor.log")


def _real(path: Path) -> Path:
    absolute = Path(os.path.abspath(Path(path).expanduser()))
    try:
        return absolute.parent.resolve() / absolute.name
    except (OSError, RuntimeError):
        return absolute


def guarded_files() -> list[Path]:
    """The audit key and anchor log the environment names, the site configuration files and the
    PostgreSQL password files: each is refused as an output like the database."""
    from .audit_seal import ANCHOR_ENV, KEY_ENV

    found = [Path(os.environ[name]) for name in (KEY_ENV, ANCHOR_ENV, "PGPASSFILE") if os.environ.get(name)]
    found.append(Path("~/.pgpass").expanduser())
    try:
        from .site_config import config_files

        found.extend(config_files())
    except Exception:  # no user config folder: nothing more to guard
        pass
    return found


def refuse_protected(path: Path, protected: Iterable[Path] = ()) -> None:
    """Refuse a database, its side files, its backups folder, its audit key and anchor log, the
    site configuration, or anything that is not a regular file."""
    absolute = Path(os.path.abspath(path))
    try:
        info = os.lstat(absolute)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputRefused(f"cannot examine '{path}': {exc.strerror}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputRefused(f"'{path}' is {file_kind(info.st_mode)}, not a regular file; give the name of a new or regular file")
    parent = absolute.parent
    try:
        real_parent = parent.resolve(strict=True)
    except (OSError, RuntimeError):
        raise OutputRefused(f"folder '{parent}' does not exist") from None
    if not real_parent.is_dir():
        raise OutputRefused(f"'{parent}' is not a folder")
    real = real_parent / absolute.name
    if absolute.name in GUARDED_NAMES:
        raise OutputRefused(f"'{path}' is the name of an audit key or anchor log; choose another name")
    protected = list(protected)
    for guarded in [*guarded_files(), *(Path(p).parent / name for p in protected for name in GUARDED_NAMES)]:
        if real == _real(guarded):
            raise OutputRefused(f"'{path}' is the audit key, the anchor log, the site configuration or a password file; choose another name")
    for guarded in protected:
        guarded = Path(os.path.abspath(guarded))
        guarded_real = guarded.parent.resolve() / guarded.name
        names = {guarded_real} | {Path(f"{guarded_real}{suffix}") for suffix in SIDE_FILE_SUFFIXES}
        if real in names:
            raise OutputRefused(f"'{path}' is the database or one of its files; choose another name")
        if real_parent == guarded_real.parent / "backups" or guarded_real.parent / "backups" in real_parent.parents:
            raise OutputRefused(f"'{path}' is in the database's backups folder; choose another folder")
    if info is not None and is_sqlite_file(absolute):
        raise OutputRefused(f"'{path}' is an SQLite database; it is never overwritten")
    if info is not None and starts_with(absolute, WAL_MAGIC):
        raise OutputRefused(f"'{path}' is an SQLite write-ahead log; it is never overwritten")
    for suffix in SIDE_FILE_SUFFIXES:
        if absolute.name.endswith(suffix) and is_sqlite_file(real_parent / absolute.name[: -len(suffix)]):
            raise OutputRefused(f"'{path}' belongs to the SQLite database beside it; choose another name")
    if real_parent.name == "backups" and any(is_sqlite_file(p) for p in real_parent.parent.glob("*.sqlite3")):
        raise OutputRefused(f"'{path}' is in a database's backups folder; choose another folder")


def write_output(text: str | os.PathLike, render: Callable[[BinaryIO], None], *, force: bool = False, protected: Iterable[Path] = ()) -> Path:
    """Write what `render(stream)` produces to the path named by `text`; see the module docstring.

    Raises OutputRefused (the path) or OSError (the disk) with nothing changed at the target.
    """
    path = check_output_name(os.fspath(text))
    protected = list(protected)
    refuse_protected(path, protected)
    if not force and os.path.lexists(path):
        raise OutputRefused(f"'{path}' already exists; add --force to replace it, or choose another name")
    folder = Path(os.path.abspath(path)).parent
    descriptor, temporary = tempfile.mkstemp(prefix=".infusion-prep-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            render(stream)
            stream.flush()
            os.fsync(stream.fileno())
        # The checks again, as close to the rename as possible (a file may have appeared).
        refuse_protected(path, protected)
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise OutputRefused(f"'{path}' already exists; add --force to replace it, or choose another name") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                # A file system without hard links: O_EXCL on the target, then rename over it.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
                os.replace(temporary, path)
            finally:
                if os.path.lexists(temporary):
                    os.unlink(temporary)
        _sync_folder(folder)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    return path


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
