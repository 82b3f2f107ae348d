"""The board's link to the hospital's systems and to downtime paper.

A button exports the selected preparation's administration (once its infusion has ended); a
label counts the messages still waiting in the outbox (retried on a timer); File > Downtime
snapshot prints what is in progress. Widgets only collect the file name and show results:
building, sending and auditing happen in the service (service/interchange.py, service/outbox.py).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QPushButton

log = logging.getLogger(__name__)
RETRY_MS = 60_000


class InterchangeControls:
    def __init__(self, window, file_menu, top_layout, retry_ms: int = RETRY_MS):
        self.window = window
        self.service = window.service
        self.export_button = QPushButton("E&xport…", window)
        self.export_button.setObjectName("exportAdministrationButton")
        self.export_button.setToolTip("Write the selected preparation's administration (HL7 v2 or FHIR) for the hospital's systems")
        self.export_button.clicked.connect(self.export_selected)
        self.outbox_label = QLabel("", window)
        self.outbox_label.setObjectName("outboxLabel")
        self.outbox_label.hide()
        top_layout.insertWidget(3, self.export_button)
        top_layout.insertWidget(5, self.outbox_label)
        self.snapshot_action = QAction("&Downtime snapshot…", window)
        self.snapshot_action.triggered.connect(self.print_snapshot)
        file_menu.addAction(self.snapshot_action)
        self.timer = QTimer(window)
        self.timer.setInterval(retry_ms)
        self.timer.timeout.connect(self.retry)
        self.timer.start()
        self.update_count()

    def _interchange(self):
        from ..service.outbox import Interchange

        return Interchange(self.service)

    def update_count(self) -> int:
        try:
            waiting = self._interchange().pending_count()
        except Exception:  # noqa: BLE001 - the board keeps running; the count says it is unknown
            log.exception("the outbox could not be read")
            self.outbox_label.setText("Outbox: unreadable")
            self.outbox_label.show()
            return -1
        # Short: the board's top bar must fit 1280 px; the tooltip says it in full.
        self.outbox_label.setText(f"Outbox: {waiting} waiting")
        self.outbox_label.setToolTip(f"{waiting} message(s) to the hospital's systems not delivered yet; retried every minute")
        self.outbox_label.setVisible(waiting > 0)
        return waiting

    def retry(self) -> None:
        try:
            self._interchange().retry_due()
        except Exception:  # noqa: BLE001 - a timer slot must never die
            log.exception("the outbox retry failed")
        self.update_count()

    def export_selected(self, path: str | None = None) -> str | None:
        from ..service.interchange import NotExportable, build_message

        prep_id = self.window.print_target()
        if not prep_id:
            QMessageBox.warning(self.window, "Export", "Select a preparation on the board first.")
            return None
        fmt = str(self.service.settings().stored.get("interchange_format", "hl7v2"))
        try:
            status = self.service.status(prep_id)
            text = build_message(status.prep, fmt, "administration", status.now)
        except NotExportable as exc:
            QMessageBox.warning(self.window, "Export", exc.message)
            return None
        if path is None:
            suffix = "hl7" if fmt == "hl7v2" else "json"
            path, _ = QFileDialog.getSaveFileName(self.window, "Export administration", f"{prep_id}-administration.{suffix}")
            if not path:
                return None
        try:
            self._write(path, text.encode("utf-8"))
        except ValueError as exc:  # the safe writer refused the name
            QMessageBox.warning(self.window, "Export", f"{path} was not written: {exc}")
            return None
        except OSError as exc:
            QMessageBox.warning(self.window, "Export", f"{path} could not be written: {exc.strerror}")
            return None
        self.service.record_interchange(prep_id, fmt, "administration", f"file {path}")
        self.window.statusBar().showMessage(f"Administration of {prep_id} written to {path}", 15000)
        return path

    def _write(self, path: str, data: bytes) -> None:
        self.service.write_file(path, data, force=True)  # the dialog asked before replacing

    def print_snapshot(self, path: str | None = None) -> str | None:
        from ..service.downtime import snapshot_pdf

        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.window, "Downtime snapshot", "downtime-snapshot.pdf", "PDF (*.pdf)")
            if not path:
                return None
        try:
            pdf, count = snapshot_pdf(self.service)
            self._write(path, pdf)
        except Exception as exc:  # noqa: BLE001 - said to the person, never lost in a log
            QMessageBox.warning(self.window, "Downtime snapshot", f"The snapshot could not be written: {exc}")
            return None
        self.window.statusBar().showMessage(f"Downtime snapshot of {count} preparation(s) written to {path}", 15000)
        return path
