"""Preview a prep sheet or bag label PDF, print it through the system dialog, or save a copy.

The PDF is produced by infusion_app.reports (never drawn here); this dialog only shows it with
QtPdf and sends it to a printer. The two system dialogs (print, save file) are injected so that
tests and scripted runs never block on a modal window.

Printing after the system dialog: when the printer chosen is a CUPS queue, the PDF itself goes to
it with the document's media (service.printing: vector text, 100 %, unrotated). Otherwise (a file,
a printer CUPS does not know) each page is drawn as a picture at the printer's own resolution and
at 100 % (never scaled to the printable area: a 4 x 2 in label stays 4 x 2 in).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMarginsF, QPointF, QRectF, QSize, QSizeF
from PySide6.QtGui import QKeySequence, QPageLayout, QPageSize, QPainter, QShortcut
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

# Asks where to save; returns the chosen path or None when cancelled.
SavePathChooser = Callable[[QWidget, str], "str | None"]
# Shows the print dialog for a printer; returns True when the user chose to print.
PrintDialogRunner = Callable[[QPrinter, QWidget], bool]

# The raster fallback draws at the printer's own resolution, up to this (beyond, images only grow).
MAX_RENDER_DPI = 1200


def ask_save_path(parent: QWidget, suggested_name: str) -> str | None:
    path, _filter = QFileDialog.getSaveFileName(parent, "Save as PDF", suggested_name, "PDF files (*.pdf)")
    return path or None


def run_system_print_dialog(printer: QPrinter, parent: QWidget) -> bool:
    dialog = QPrintDialog(printer, parent)
    return dialog.exec() == QDialog.DialogCode.Accepted


class PrintPreview(QDialog):
    """Shows one PDF; Print, Save as PDF and Close."""

    def __init__(
        self,
        pdf_path: str | Path,
        title: str,
        parent: QWidget | None = None,
        *,
        suggested_name: str | None = None,
        choose_save_path: SavePathChooser = ask_save_path,
        run_print_dialog: PrintDialogRunner = run_system_print_dialog,
        document=None,
        on_issued: Callable[[str], None] | None = None,
    ):
        super().__init__(parent)
        self.source_document = document  # service.documents.Document, when the PDF came from the service
        self._on_issued = on_issued or (lambda destination: None)
        self.pdf_path = Path(pdf_path)
        self.suggested_name = suggested_name or self.pdf_path.name
        self._choose_save_path = choose_save_path
        self._run_print_dialog = run_print_dialog
        self.setWindowTitle(title)
        self.setObjectName("printPreview")

        self.document = QPdfDocument(self)
        error = self.document.load(str(self.pdf_path))

        self.view = QPdfView(self)
        self.view.setObjectName("pdfView")
        self.view.setPageMode(QPdfView.PageMode.MultiPage)
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.view.setDocument(self.document)

        self.status = QLabel(self)
        self.status.setObjectName("previewStatus")
        self.status.setWordWrap(True)

        self.whole_page_button = QPushButton("&Whole page", self)
        self.whole_page_button.setObjectName("wholePageButton")
        self.whole_page_button.setCheckable(True)
        self.whole_page_button.toggled.connect(self._set_whole_page)

        self.print_button = QPushButton("&Print…", self)
        self.print_button.setObjectName("printButton")
        self.save_button = QPushButton("&Save as PDF…", self)
        self.save_button.setObjectName("saveButton")
        self.close_button = QPushButton("&Close", self)
        self.close_button.setObjectName("closeButton")
        self.print_button.clicked.connect(self.print_document)
        self.save_button.clicked.connect(self.save_copy)
        self.close_button.clicked.connect(self.reject)
        QShortcut(QKeySequence.StandardKey.Print, self, activated=self.print_document)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=self.save_copy)

        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.whole_page_button)
        buttons.addWidget(self.print_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.resize(900, 720)

        loaded = error == QPdfDocument.Error.None_ and self.document.pageCount() > 0
        self.print_button.setEnabled(loaded)
        self.save_button.setEnabled(loaded)
        if loaded:
            pages = self.document.pageCount()
            self.status.setText(f"{pages} page" + ("" if pages == 1 else "s"))
            first = self.document.pagePointSize(0)
            # A label is wider than tall and small: show all of it at once.
            self.whole_page_button.setChecked(first.width() > first.height())
        else:
            self.status.setText(f"Could not open {self.pdf_path.name}: {error.name}")
        self.close_button.setFocus()

    # -- actions -----------------------------------------------------------------------------

    def _set_whole_page(self, whole: bool) -> None:
        self.view.setZoomMode(QPdfView.ZoomMode.FitInView if whole else QPdfView.ZoomMode.FitToWidth)

    def page_count(self) -> int:
        return self.document.pageCount()

    def save_copy(self) -> Path | None:
        """Copy the generated PDF where the user chooses. Returns the written path, or None."""
        chosen = self._choose_save_path(self, self.suggested_name)
        if not chosen:
            return None
        target = Path(chosen)
        if target.suffix.lower() != ".pdf":
            target = target.with_suffix(target.suffix + ".pdf") if target.suffix else target.with_suffix(".pdf")
        try:
            shutil.copyfile(self.pdf_path, target)
        except OSError as exc:
            QMessageBox.warning(self, "Save as PDF", f"Could not save {target}: {exc.strerror or exc}")
            self.status.setText(f"Not saved: {exc.strerror or exc}")
            return None
        self.status.setText(f"Saved to {target}")
        self._on_issued(f"file {target}")
        return target

    def make_printer(self) -> QPrinter:
        """A printer whose page size is the PDF's own (a 4 x 2 in label stays 4 x 2 in)."""
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setDocName(self.suggested_name)
        if self.document.pageCount() > 0:
            points = self.document.pagePointSize(0)
            landscape = points.width() > points.height()
            # QPageLayout wants the size upright and turns it for landscape itself.
            upright = QSizeF(min(points.width(), points.height()), max(points.width(), points.height()))
            size = QPageSize(upright, QPageSize.Unit.Point, "", QPageSize.SizeMatchPolicy.FuzzyMatch)
            orientation = QPageLayout.Orientation.Landscape if landscape else QPageLayout.Orientation.Portrait
            printer.setPageLayout(QPageLayout(size, orientation, QMarginsF()))
            printer.setFullPage(True)
        printer.setFromTo(1, max(1, self.document.pageCount()))
        return printer

    def print_document(self) -> bool:
        """Ask the system print dialog, then send the document. True when it was sent."""
        printer = self.make_printer()
        if not self._run_print_dialog(printer, self):
            self.status.setText("Printing cancelled")
            return False
        if self._is_cups_queue(printer):
            return self._send_pdf_to_queue(self._printer_name(printer))
        sent = self.render_to(printer)
        self.status.setText(f"Sent {sent} page" + ("" if sent == 1 else "s") + " to the printer")
        if sent:
            self._on_issued(f"system dialog: {printer.printerName() or printer.outputFileName() or 'printer'}")
        return sent > 0

    def _is_cups_queue(self, printer: QPrinter) -> bool:
        # By name, not by Qt's own printer list: Qt reads CUPS's queues once per process, so a
        # queue added later (or on another CUPS server) would otherwise be drawn as a picture.
        if self.source_document is None or printer.outputFileName():
            return False
        from ..service.printing import queues

        name = self._printer_name(printer)
        return bool(name) and name in queues()

    @staticmethod
    def _printer_name(printer: QPrinter) -> str:
        return printer.printerName()

    def _send_pdf_to_queue(self, queue: str) -> bool:
        from ..service.printing import PrintError, print_document

        try:
            job = print_document(self.source_document, queue)
        except PrintError as exc:
            self.status.setText(f"Not printed: {exc.message}")
            QMessageBox.warning(self, "Print", f"Not printed: {exc.message}")
            return False
        self.status.setText(f"Sent to {job.queue} (job {job.job_id or '?'}, {job.media})")
        self._on_issued(f"queue {job.queue} job {job.job_id}")
        return True

    def render_to(self, printer: QPrinter) -> int:
        """Draw the chosen pages as pictures at the printer's resolution, at 100 %. Returns pages sent."""
        count = self.document.pageCount()
        first, last = printer.fromPage(), printer.toPage()
        if first <= 0 or last <= 0:
            first, last = 1, count
        first, last = max(1, first), min(count, last)
        if first > last:
            return 0
        dpi = min(printer.resolution(), MAX_RENDER_DPI)
        painter = QPainter()
        if not painter.begin(printer):
            QMessageBox.warning(self, "Print", "The printer could not be opened.")
            return 0
        sent = 0
        try:
            for index in range(first - 1, last):
                if sent:
                    printer.newPage()
                points = self.document.pagePointSize(index)
                pixels = QSize(round(points.width() / 72 * dpi), round(points.height() / 72 * dpi))
                image = self.document.render(index, pixels)
                # The page's own size in the printer's device units: 100 %, from the page's corner.
                device = printer.resolution() / 72
                painter.drawImage(QRectF(QPointF(0, 0), QSizeF(points.width() * device, points.height() * device)), image)
                sent += 1
        finally:
            painter.end()
        return sent


def preview_document(document, parent: QWidget | None = None, **kwargs) -> PrintPreview:
    """Preview a service.documents.Document; Print… sends the PDF itself to a CUPS queue."""
    dialog = preview_pdf_bytes(document.pdf, document.title, document.filename, parent, document=document, **kwargs)
    dialog.setObjectName(f"{document.kind}Preview")
    return dialog


def preview_pdf_bytes(
    data: bytes,
    title: str,
    suggested_name: str,
    parent: QWidget | None = None,
    **kwargs,
) -> PrintPreview:
    """Write PDF bytes to a temporary file owned by the dialog and preview it."""
    folder = Path(tempfile.mkdtemp(prefix="infusion-prep-preview-"))
    path = folder / suggested_name
    path.write_bytes(data)
    dialog = PrintPreview(path, title, parent, suggested_name=suggested_name, **kwargs)
    dialog.destroyed.connect(lambda *_: shutil.rmtree(folder, ignore_errors=True))
    return dialog
