"""When an infusion ends the administration goes to the site folder or an MLLP listener; a failed send waits in the outbox."""

from __future__ import annotations

from tests.drugs import BESPONSA

import json
import socket
import threading

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.service import open_service
from infusion_app.service.outbox import MLLP_END, MLLP_START, Interchange
from tests.test_interchange import T0, _finished


class Listener:
    """A one-message-at-a-time MLLP receiver on 127.0.0.1 that acknowledges with AA."""

    def __init__(self, port: int = 0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.stopping = False
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(MLLP_END):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    continue
                text = data[1:-2].decode()
                self.received.append(text)
                control = parse_message(text).msh.msh_10.to_er7()
                ack = f"MSH|^~\\&|EHR||INFUSION-PREP||20260310130000||ACK^O17|A{control}|P|2.5\rMSA|AA|{control}"
                conn.sendall(MLLP_START + ack.encode() + MLLP_END)

    def close(self):
        self.stopping = True
        # close() alone leaves the thread blocked in accept() until its 10 s timeout (Linux does not
        # wake an accept on close); shutdown() wakes it at once.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected: nothing to wake
        self.sock.close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "the MLLP listener thread did not stop"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def world(tmp_path):
    clock = FakeClock(T0)
    service = open_service(data_dir=tmp_path / "data", clock=clock)
    pharmacist = service.add_user("Priya Raman", Role.PHARMACIST, "222222")
    people = {
        "pharmacist": pharmacist,
        "tech": service.add_user("Tomás Ortega", Role.TECHNICIAN, "111111", actor=pharmacist),
        "nurse": service.add_user("Nina Kowalski", Role.NURSE, "333333", actor=pharmacist),
    }
    yield service, clock, people, pharmacist
    service.close()


@pytest.mark.slow
def test_mllp_listener_down_then_up_receives_the_message_once(world):
    service, clock, people, pharmacist = world
    port = _free_port()  # nobody listens yet: the hospital's interface engine is down
    service.set_setting("interchange_mode", "mllp", pharmacist)
    service.set_setting("interchange_host", "127.0.0.1", pharmacist)
    service.set_setting("interchange_port", str(port), pharmacist)
    prep = _finished(service, clock, people)
    interchange = Interchange(service)
    assert interchange.pending_count() == 1  # the step is recorded; the message waits
    waiting = interchange.pending()[0]
    assert waiting.attempts == 1 and "127.0.0.1" in waiting.last_error
    listener = Listener(port)
    try:
        assert interchange.retry_due() == 0  # the wait after a failure is not over
        clock.advance(minutes=1)
        assert interchange.retry_due() == 1
        assert interchange.pending_count() == 0
        clock.advance(hours=1)
        assert interchange.retry_due() == 0  # delivered messages are not sent again
    finally:
        listener.close()
    assert len(listener.received) == 1
    message = parse_message(listener.received[0], validation_level=VALIDATION_LEVEL.STRICT)
    message.validate()
    assert message.ras_o17_order.orc.orc_3.to_er7() == prep.id
    actions = [(e.action, json.loads(e.after).get("attempt")) for e in service.audit_entries() if e.action.startswith("interchange.")]
    assert actions == [("interchange.queued", None), ("interchange.failed", 1), ("interchange.sent", 2)]
    assert service.verify_audit().intact


def test_folder_mode_writes_the_message_and_a_missing_folder_queues_it(world, tmp_path):
    service, clock, people, pharmacist = world
    folder = tmp_path / "out"
    service.set_setting("interchange_mode", "folder", pharmacist)
    service.set_setting("interchange_folder", str(folder), pharmacist)
    service.set_setting("interchange_format", "fhir", pharmacist)
    prep = _finished(service, clock, people)
    interchange = Interchange(service)
    assert interchange.pending_count() == 1  # the share is not mounted
    folder.mkdir()
    clock.advance(minutes=1)
    assert interchange.retry_due() == 1
    written = list(folder.iterdir())
    assert len(written) == 1 and written[0].name.startswith(prep.id) and written[0].suffix == ".json"
    from fhir.resources.bundle import Bundle

    assert Bundle.model_validate(json.loads(written[0].read_text())).entry[0].resource.subject.identifier.value == prep.patient.mrn


def test_off_sends_nothing(world):
    service, clock, people, _ = world
    _finished(service, clock, people)
    assert Interchange(service).pending_count() == 0


def test_cli_outbox_lists_and_retries(world, tmp_path):
    from tests.cli_helpers import run_cli

    service, clock, people, pharmacist = world
    service.set_setting("interchange_mode", "folder", pharmacist)
    service.set_setting("interchange_folder", str(tmp_path / "share"), pharmacist)
    _finished(service, clock, people)
    data_dir = tmp_path / "data"
    listed = run_cli("outbox", "--json", "--data-dir", str(data_dir))
    assert listed.code == 1 and len(listed.json()["waiting"]) == 1
    (tmp_path / "share").mkdir()
    retried = run_cli("outbox", "--retry", "--json", "--data-dir", str(data_dir))  # real clock: hours after T0
    assert retried.code == 0, retried.stderr
    assert retried.json() == {"delivered": 1, "waiting": []}
    assert len(list((tmp_path / "share").iterdir())) == 1


def test_an_id_stored_nowhere_is_named_not_a_crash(world):
    """Interchange.infusion_ended used the looked-up preparation without checking it was found:
    an AttributeError on None instead of the 'no preparation ... is stored here' every client names."""
    from infusion_app.service.ids import new_preparation_id
    from infusion_app.service.preparations import PreparationNotFound

    service, _, _, pharmacist = world
    service.set_setting("interchange_mode", "folder", pharmacist)
    missing = new_preparation_id(BESPONSA.id_prefix)
    with pytest.raises(PreparationNotFound, match="is stored here"):
        Interchange(service).infusion_ended(missing)


def test_a_closed_service_has_no_outbox_and_says_so(tmp_path):
    """Interchange on a service with no database (closed, or built without one) named nothing: an
    AttributeError on None from the outbox repository. It is refused as CourseService refuses it."""
    from infusion_app.domain.errors import ValidationError

    service = open_service(data_dir=tmp_path / "data", clock=FakeClock(T0))
    service.close()
    with pytest.raises(ValidationError, match="no open database"):
        Interchange(service)


@pytest.mark.parametrize("failing", ["link", "write"])
def test_a_failed_folder_write_leaves_no_temporary_copy(tmp_path, monkeypatch, failing):
    """A share without hard links (EPERM from os.link) or a full disk left a '.<name>.*.tmp' in the
    receiver's folder at every retry: only a target already there removed its temporary copy."""
    import errno
    import os

    from infusion_app.service import outbox

    def no_hard_links(*_args: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    def disk_full(handle: int, *_args: object) -> None:
        os.close(handle)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "link":
        monkeypatch.setattr(outbox.os, "link", no_hard_links)
    else:
        monkeypatch.setattr(outbox.os, "fdopen", disk_full)
    with pytest.raises(outbox.SendFailed, match="folder"):
        outbox.write_to_folder(str(tmp_path), "ABC-administration-1.hl7", "MSH|...")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_write_leaves_the_message_alone_and_no_temporary_copy(tmp_path):
    from infusion_app.service import outbox

    target = outbox.write_to_folder(str(tmp_path), "ABC-administration-1.hl7", "MSH|1")
    assert [p.name for p in tmp_path.iterdir()] == ["ABC-administration-1.hl7"] and target.read_text() == "MSH|1"
    with pytest.raises(outbox.SendFailed, match="already exists"):
        outbox.write_to_folder(str(tmp_path), "ABC-administration-1.hl7", "MSH|2")
    assert [p.name for p in tmp_path.iterdir()] == ["ABC-administration-1.hl7"] and target.read_text() == "MSH|1"
