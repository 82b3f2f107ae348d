"""The assertion-rewrite pass shared by the workers (tests/rewrite_cache.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, get_cache_dir

from tests import rewrite_cache


def _cached(module: Path):
    return _read_pyc(module, get_cache_dir(module) / (module.name[:-3] + PYC_TAIL))


def test_the_shared_pass_writes_what_pytest_reads_back_rewritten(tmp_path):
    module = tmp_path / "test_sample.py"
    module.write_text("def check():\n    seen = 1\n    assert seen == 2\n")
    assert rewrite_cache._missing([module]) == [module]
    rewrite_cache.rewrite_into_cache([[module]])
    assert rewrite_cache._missing([module]) == []
    namespace: dict = {}
    exec(_cached(module), namespace)
    with pytest.raises(AssertionError) as failed:
        namespace["check"]()
    assert "assert 1 == 2" in str(failed.value)  # pytest's explanation: the asserts were rewritten
    module.write_text("def check():\n    assert True\n")
    assert rewrite_cache._missing([module]) == [module]  # an edited module is not read from the cache


def test_every_test_module_falls_in_exactly_one_share_of_about_equal_size():
    modules = rewrite_cache.test_modules(Path(__file__).parent)
    assert Path(__file__) in modules and Path(__file__).with_name("conftest.py") in modules
    assert Path(__file__).with_name("rewrite_cache.py") not in modules  # not a test module: pytest does not rewrite it
    shares = rewrite_cache._shares(modules, 2)
    assert sorted(m for share in shares for m in share) == modules
    sizes = [sum(m.stat().st_size for m in share) for share in shares]
    assert max(sizes) - min(sizes) <= max(m.stat().st_size for m in modules)
