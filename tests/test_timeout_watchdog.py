"""The per-test timeout's one watchdog thread (tests/conftest.py _Watchdog): it ends a test that runs
past its deadline, never one that finished, and starts no thread per test."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest_timeout

from tests.conftest import _Watchdog


def watchdog_that_records(monkeypatch):
    fired: list[object] = []
    done = threading.Event()

    def timeout_timer(item, settings):  # pytest-timeout's own: prints the stacks and os._exit(1)
        fired.append(item)
        done.set()

    monkeypatch.setattr(pytest_timeout, "timeout_timer", timeout_timer)
    return _Watchdog(), fired, done


def test_a_test_past_its_deadline_is_ended_with_pytest_timeouts_own_report(monkeypatch):
    watchdog, fired, done = watchdog_that_records(monkeypatch)
    watchdog.arm("the first test", SimpleNamespace(timeout=300))
    watchdog.disarm()
    watchdog.arm("a test that hangs", SimpleNamespace(timeout=0.05))  # sooner than the thread's wait: it is woken
    assert done.wait(10), "the watchdog never fired"
    assert fired == ["a test that hangs"]


def test_a_finished_test_is_never_ended_and_no_thread_is_started_per_test(monkeypatch):
    watchdog, fired, done = watchdog_that_records(monkeypatch)
    before = threading.active_count()
    for number in range(50):
        watchdog.arm(f"test {number}", SimpleNamespace(timeout=0.05 if number == 0 else 300))
        watchdog.disarm()
    assert threading.active_count() == before + 1  # one watchdog for the 50 tests
    assert not done.wait(0.2), fired  # past the first test's deadline: it had finished
