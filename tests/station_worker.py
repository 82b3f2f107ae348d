"""One station as its own process, for tests/test_stations.py (several against one PostgreSQL database).

    python tests/station_worker.py DATA_DIR DATABASE_URL STATION ACTION ARGS...

Opens the service as station STATION, prints "ready", waits for one line on stdin (so that the
test can release every station at once), does ACTION and prints one JSON line: {"ok": true, ...}
or {"ok": false, "error": the exception's class, "message": ...}. Actions:
    step PREP_ID EVENT USER            record one step
    vial PREP_ID CODE USER             record one scanned vial
    wrong-pins NAME COUNT              COUNT sign-ins with a wrong PIN
    sign-in NAME PIN                   one sign-in
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    data_dir, database, station, action, *rest = argv
    from infusion_app.service import open_service

    service = open_service(data_dir=data_dir, database=database, station=station)
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        if action == "step":
            prep_id, event, user = rest
            status = service.record_event(prep_id, event, service.user(user))
            result: dict = {"ok": True, "events": len(status.prep.events)}
        elif action == "vial":
            prep_id, code, user = rest
            status = service.add_vial(prep_id, code, service.user(user))
            result = {"ok": True, "vials": len(status.prep.vials)}
        elif action == "wrong-pins":
            name, count = rest[0], int(rest[1])
            messages = []
            for _ in range(count):
                try:
                    service.authenticate(name, "000000")
                except Exception as exc:  # AuthenticationError: the message says which kind
                    messages.append(str(exc))
            result = {"ok": True, "messages": messages}
        elif action == "sign-in":
            name, pin = rest
            result = {"ok": True, "user": service.authenticate(name, pin).name}
        else:
            raise SystemExit(f"unknown action {action}")
    except Exception as exc:
        result = {"ok": False, "error": type(exc).__name__, "message": str(exc), "code": getattr(exc, "code", None)}
    finally:
        service.close()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
