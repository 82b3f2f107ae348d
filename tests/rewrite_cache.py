"""The test modules' assertion rewriting, done once and shared by every worker.

pytest rewrites each test module's asserts at import and keeps the result in __pycache__, unless
bytecode writing is off. PYTHONDONTWRITEBYTECODE is set on this machine, so every worker of every
run rewrote all 220-odd modules: about 11 s of one core's CPU per worker, most of the collection,
with both workers collecting the same files at the same time.

conftest lets the test processes write that cache again (sys.dont_write_bytecode = False; a program
started as a subprocess keeps the environment's setting), and before the xdist workers start, the
controller has the modules not yet in the cache rewritten by one process per worker, each a share.
The workers then read them from the cache. What is written is exactly what pytest writes itself
(its own functions, with the same file names), so a worker finding a module changed or missing
rewrites it as before. If a later pytest drops these functions the pass is not made: the suite
runs as before, only slower.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_REWRITE = """
import sys, types
from pathlib import Path
from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, _rewrite_test, _write_pyc, get_cache_dir, try_makedirs
state = types.SimpleNamespace(trace=lambda message: None)
for name in sys.argv[1:]:
    source = Path(name)
    cache = get_cache_dir(source)
    pyc = cache / (source.name[:-3] + PYC_TAIL)
    if _read_pyc(source, pyc) is None and try_makedirs(cache):
        source_hash, code = _rewrite_test(source, None)
        _write_pyc(state, code, source_hash, pyc)
"""


def _missing(modules: list[Path]) -> list[Path]:
    try:
        from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, get_cache_dir
    except ImportError:
        return []
    return [m for m in modules if _read_pyc(m, get_cache_dir(m) / (m.name[:-3] + PYC_TAIL)) is None]


def _shares(modules: list[Path], count: int) -> list[list[Path]]:
    """Split by source size (the rewrite's cost follows it), largest first onto the lightest share."""
    shares: list[list[Path]] = [[] for _ in range(count)]
    sizes = [0] * count
    for module in sorted(modules, key=lambda m: m.stat().st_size, reverse=True):
        lightest = sizes.index(min(sizes))
        shares[lightest].append(module)
        sizes[lightest] += module.stat().st_size
    return [share for share in shares if share]


def test_modules(tests_dir: Path) -> list[Path]:
    """The modules pytest rewrites here: test files (python_files: test_*.py) and conftests."""
    return sorted(p for p in tests_dir.rglob("*.py") if "__pycache__" not in p.parts and (p.name.startswith("test_") or p.name == "conftest.py"))


def prepare(config, tests_dir: Path) -> None:
    """On the xdist controller, before its workers start: fill the cache, one process per worker."""
    if hasattr(config, "workerinput") or config.getoption("assertmode", "rewrite") != "rewrite":
        return
    workers = config.getoption("numprocesses", None)
    if not isinstance(workers, int) or workers < 2 or config.getini("enable_assertion_pass_hook"):
        return  # one process collects once anyway; the pass hook changes what is written
    missing = _missing(test_modules(tests_dir))
    if not missing:
        return
    rewrite_into_cache(_shares(missing, workers))


def rewrite_into_cache(shares: list[list[Path]]) -> None:
    """Rewrite each share in a process of its own, at once; return when all are done."""
    running = [subprocess.Popen([sys.executable, "-c", _REWRITE, *map(str, share)]) for share in shares]
    for process in running:
        process.wait()  # a failed share is rewritten by the workers themselves, as before
