"""One station as its own process, for tests/test_stations.py (several against one PostgreSQL database).

A station is a process of its own with its own connection, forked from a server process that has
already imported the program (multiprocessing's forkserver, `stations_context()`): a fresh
interpreter per station spent about 1.5 s of CPU importing SQLAlchemy, psycopg and the service
before its one step, a quarter of the suite's subprocess time. What the tests race is unchanged:
each station opens its own service after the fork, and nothing is open in the server.

`run_station` opens the service as the station, sends "ready", waits for "go" (so that the test
can release every station at once), does the action and sends one result: {"ok": true, ...} or
{"ok": false, "error": the exception's class, "message": ...}; anything else that goes wrong is
sent as {"crashed": traceback}. Actions:
    step PREP_ID EVENT USER            record one step
    vial PREP_ID CODE USER             record one scanned vial
    wrong-pins NAME COUNT              COUNT sign-ins with a wrong PIN
    sign-in NAME PIN                   one sign-in
"""

from __future__ import annotations

import multiprocessing
import os
import traceback

# What every station imports before its first step: loaded once, in the forkserver.
PRELOAD = ["infusion_app.service", "infusion_app.storage.repository", "infusion_app.storage.database", "psycopg", "tests.station_worker"]

_CONTEXT = None


def stations_context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
    return _CONTEXT


def run_station(connection, data_dir: str, database: str, station: str, action: str, *rest: str) -> None:
    try:
        # As the program runs at a station: not under the test guard (which refuses the real
        # user data folder), and the PIN key derivation at the program's cost.
        os.environ.pop("INFUSION_PREP_TESTING", None)
        from infusion_app.service import open_service

        service = open_service(data_dir=data_dir, database=database, station=station)
        connection.send("ready")
        connection.recv()
        try:
            result = _act(service, action, rest)
        except Exception as exc:
            result = {"ok": False, "error": type(exc).__name__, "message": str(exc), "code": getattr(exc, "code", None)}
        finally:
            service.close()
    except BaseException:
        result = {"crashed": traceback.format_exc()}
    connection.send(result)
    connection.close()


def _act(service, action: str, rest: tuple[str, ...]) -> dict:
    if action == "step":
        prep_id, event, user = rest
        status = service.record_event(prep_id, event, service.user(user))
        return {"ok": True, "events": len(status.prep.events)}
    if action == "vial":
        prep_id, code, user = rest
        status = service.add_vial(prep_id, code, service.user(user))
        return {"ok": True, "vials": len(status.prep.vials)}
    if action == "wrong-pins":
        name, count = rest[0], int(rest[1])
        messages = []
        for _ in range(count):
            try:
                service.authenticate(name, "000000")
            except Exception as exc:  # AuthenticationError: the message says which kind
                messages.append(str(exc))
        return {"ok": True, "messages": messages}
    if action == "sign-in":
        name, pin = rest
        return {"ok": True, "user": service.authenticate(name, pin).name}
    raise ValueError(f"unknown action {action}")
