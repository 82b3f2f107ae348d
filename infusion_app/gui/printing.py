"""The print actions of the desktop program: the board, the bench wizard and the chair share them.

    printer = DocumentPrinter(service, user, parent)
    printer.print_label_now(prep_id)        # one action, no dialog: the site's label queue
    printer.preview(prep_id, "sheet")       # the preview, whose Print… offers the system dialog

Documents come from service.documents (the same builder as the command line); sending them to
CUPS from service.printing. A failure (no queue set, a queue gone, a discarded preparation) is a
message on screen, never an exception out of a click. Every print is audited; a print after
labelling is a REPRINT on paper and in the log.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from ..domain.errors import ValidationError
from ..domain.preparation import StepRefused
from ..service.documents import LABEL, SHEET, Document, DocumentService
from ..service.printing import PrintError, PrintJob, print_document

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService
    from ..domain.records import User

# Shows a message: (parent, title, text). Injected so that tests never block on a modal box.
Warn = Callable[[QWidget, str, str], None]


def warn_box(parent: QWidget, title: str, text: str) -> None:
    QMessageBox.warning(parent, title, text)


class DocumentPrinter:
    def __init__(self, service: PreparationService, user: User, parent: QWidget, *, warn: Warn = warn_box, **preview_options):
        self.documents = DocumentService(service)
        self.service = service
        self.user = user
        self.parent = parent
        self.warn = warn
        self.preview_options = preview_options
        self.last_message = ""
        self.last_preview = None

    def _say(self, title: str, text: str) -> None:
        self.last_message = text
        self.warn(self.parent, title, text)

    def document(self, prep_id: str, kind: str) -> Document | None:
        """The document, or None after saying on screen why it cannot be produced."""
        title = "Bag label" if kind == LABEL else "Prep sheet"
        try:
            return self.documents.label(prep_id) if kind == LABEL else self.documents.sheet(prep_id)
        except StepRefused as exc:
            self._say(title, exc.message)
        except (ValidationError, ValueError, OSError) as exc:
            self._say(title, f"The {title.lower()} could not be produced: {getattr(exc, 'message', None) or exc}")
        return None

    def print_label_now(self, prep_id: str) -> PrintJob | None:
        """Send the label to the site's label queue without a dialog. None (and a message) when it cannot."""
        return self.print_now(prep_id, LABEL)

    def print_label_and_sheet_now(self, prep_id: str) -> list[PrintJob]:
        """The label to the label queue and the sheet to the sheet queue, in one action; the jobs sent."""
        jobs = []
        messages = []
        for kind in (LABEL, SHEET):
            job = self.print_now(prep_id, kind)
            if job is not None:
                jobs.append(job)
                messages.append(self.last_message)
        self.last_message = " ".join(messages)
        return jobs

    def print_now(self, prep_id: str, kind: str) -> PrintJob | None:
        """Send the label or the sheet to its queue without a dialog. None (and a message) when it cannot."""
        document = self.document(prep_id, kind)
        if document is None:
            return None
        what = "label" if kind == LABEL else "sheet"
        title = f"Print {what}"
        if document.unprintable:
            # Never silently: said on screen before the document goes out.
            self._say(title, f"Some characters {document.unprintable}. The {what} is printed with a box in their place.")
        settings = self.service.settings()
        queue = settings.label_queue if kind == LABEL else settings.sheet_queue
        try:
            job = print_document(document, queue)
        except PrintError as exc:
            self._say(title, f"The {what} was not printed: {exc.message}")
            return None
        self.documents.record_issued(document, self.user.name, f"queue {job.queue} job {job.job_id}")
        self.last_message = f"{document.title} sent to {job.queue} (job {job.job_id or '?'}, {job.media})."
        if document.unprintable:
            self.last_message += f" Some characters {document.unprintable}."
        return job

    def preview(self, prep_id: str, kind: str, *, show: bool = True):
        """The print preview of the document; its Print… offers the system dialog. None when it cannot be produced."""
        document = self.document(prep_id, kind)
        if document is None:
            return None
        from .print_preview import preview_document

        dialog = preview_document(
            document,
            self.parent,
            on_issued=lambda destination: self.documents.record_issued(document, self.user.name, destination),
            **self.preview_options,
        )
        self.last_preview = dialog
        if document.unprintable:
            dialog.status.setText(f"Some characters {document.unprintable}.")
        if show:
            dialog.exec()
        return dialog
