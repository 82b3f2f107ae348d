"""The printed documents of a stored preparation: one builder for the desktop program and the command line.

    documents = DocumentService(service)
    label = documents.label(prep_id)                  # Document: .pdf bytes, .page_size, .stock, .reprint
    sheet = documents.sheet(prep_id, paper="a4")
    documents.record_issued(label, actor_name, "printed to queue labels")   # audited; reprints named so

Both clients get the same SheetData (order, course, payer decision, deadlines as of now) and the
same renderers, so a sheet from the GUI and one from `infusion-prep sheet` never differ. A label
(or sheet) produced after the preparation was labelled is a reprint: marked "REPRINT <time>" on
the paper and recorded in the audit log as such when it is issued.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..domain.errors import ValidationError
from ..domain.formatting import format_instant
from ..domain.preparation import StepRefused
from ..domain.records import EventType
from ..domain.ports import AuditDraft

if TYPE_CHECKING:
    from ..reports.model import SheetData
    from .preparations import PreparationService

LABEL = "label"
SHEET = "sheet"


@dataclass(frozen=True)
class Document:
    kind: str  # LABEL or SHEET
    prep_id: str
    pdf: bytes
    page_size: tuple[float, float]  # points, width x height, as the PDF's pages are
    stock: str  # "4x2in", "letter", "a4": the media the printer must load
    reprint: bool
    printed_at: str  # local time with the date, as on the paper
    unprintable: str = ""  # "" or which characters of the names no embedded font has (said before printing)

    @property
    def filename(self) -> str:
        return f"{self.prep_id}-{self.kind}.pdf"

    @property
    def title(self) -> str:
        return ("Bag label" if self.kind == LABEL else "Prep sheet") + (" (REPRINT)" if self.reprint else "")


class DocumentService:
    """Builds, and audits the issue of, the bag label and the prep sheet of stored preparations."""

    def __init__(self, service: PreparationService):
        self.service = service

    # -- content -----------------------------------------------------------------------------

    def sheet_data(self, prep_id: str) -> SheetData:
        """Everything printed, as of the service's clock: the order, the course and the payer decision."""
        from .. import __version__
        from ..domain.monograph import load_monograph
        from ..reports.model import SheetData

        status = self.service.status(prep_id)
        prep = status.prep
        monograph = load_monograph(prep.monograph_id)
        data = SheetData.from_preparation(
            prep,
            monograph,
            status.deadlines,
            printed_at=status.now,
            program_version=__version__,
            course_info=self._course_status(prep.patient.mrn),
            policy_decision=prep.order.coverage,
            site_policy=self.service.policy(),
        )
        if prep.last(EventType.LABELLED) is not None:
            data = replace(data, reprint_at=format_instant(status.now))
        anchor_text = getattr(self.service, "audit_anchor_text", None)
        if anchor_text is not None:
            data = replace(data, audit_anchor=anchor_text())
        return data

    def _course_status(self, mrn: str) -> Any:
        """The patient's course, when one is kept; a sheet prints without it."""
        from .course import CourseService

        try:
            courses = CourseService(self.service)
            return courses.status(mrn) if courses.course(mrn) is not None else None
        except ValidationError:
            return None

    # -- documents ---------------------------------------------------------------------------

    def label(self, prep_id: str, size: str | None = None) -> Document:
        """The bag label on `size` (default: the site's label stock). Refused for a discarded preparation."""
        from ..reports.label import parse_label_size, render_bag_label

        stock = size or self.service.settings().label_size
        dimensions = parse_label_size(stock)
        data = self.sheet_data(prep_id)
        if data.discarded:
            raise StepRefused("preparation_discarded", f"preparation {data.prep_id} was discarded: no label is printed for it")
        prep = self.service.get(data.prep_id)
        if prep is None or prep.last(EventType.VERIFIED) is None:
            # A label on an unchecked bag makes it look ready to give (issue 15, item 20).
            raise StepRefused(
                "not_verified", f"preparation {data.prep_id} is not verified yet: the bag label prints only after the pharmacist's independent check"
            )
        out = io.BytesIO()
        render_bag_label(data, out, size=dimensions)
        return Document(LABEL, data.prep_id, out.getvalue(), dimensions, stock, bool(data.reprint_at), data.printed_at, _unprintable(data))

    def sheet(self, prep_id: str, paper: str | None = None) -> Document:
        """The prep sheet on `paper` (letter or a4; default: the site's paper)."""
        from ..reports.sheet import paper_size, render_prep_sheet

        stock = (paper or self.service.settings().paper_size).strip().lower()
        dimensions = paper_size(stock)
        data = self.sheet_data(prep_id)
        out = io.BytesIO()
        render_prep_sheet(data, out, page_size=stock)
        return Document(SHEET, data.prep_id, out.getvalue(), dimensions, stock, bool(data.reprint_at), data.printed_at, _unprintable(data))

    def record_issued(self, document: Document, actor: str, destination: str) -> None:
        """Audit that a document left the program (printed or written to a file); a reprint says so."""
        action = f"document.{'reprinted' if document.reprint else 'printed'}"
        self.service.repository.append_audit(
            AuditDraft(
                self.service.now(),
                actor,
                action,
                document.prep_id,
                None,
                {"document": document.kind, "stock": document.stock, "destination": destination, "printed_at": document.printed_at},
            )
        )


def _unprintable(data: SheetData) -> str:
    """Which characters of the names and notes no embedded font has: "" when everything prints."""
    from ..reports.fonts import describe_unprintable

    texts = [data.patient_name, data.prepared, data.checked_by, data.discard_reason, *data.overrides]
    texts += [s.name for s in data.signatures]
    return describe_unprintable(" ".join(t for t in texts if t))
