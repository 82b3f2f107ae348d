"""The downtime snapshot: what is in progress, gathered for the printed copy (CLI and GUI alike)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .preparations import PreparationService


def snapshot_pdf(service: PreparationService, paper: str | None = None) -> tuple[bytes, int]:
    """The snapshot PDF of every active preparation and open course, and how many preparations it lists."""
    from ..reports.downtime import SnapshotCourse, SnapshotPreparation, dose_text, render_downtime_snapshot
    from .course import CourseService

    preparations = []
    for status in service.list_active():
        preparations.append(
            SnapshotPreparation(
                prep_id=status.id,
                patient=status.prep.patient.name,
                mrn=status.prep.patient.mrn,
                dose=dose_text(status.prep.order.calculation.dose_mg),
                step=status.current_step,
                deadlines=[(d.label, d.at, "met" if d.met_at else str(getattr(d.state, "value", d.state))) for d in status.deadlines],
            )
        )
    courses = []
    course_service = CourseService(service)
    for mrn in course_service.mrns():
        state = course_service.status(mrn)
        nxt = getattr(state, "next_dose", None)
        if nxt is None:
            continue
        dose = f", {nxt.mg_per_m2:g} mg/m²" if nxt.mg_per_m2 is not None else ""
        blocks = f"; blocked: {'; '.join(nxt.blocked_by)}" if nxt.blocked_by else ""
        courses.append(
            SnapshotCourse(
                mrn,
                f"cycle {nxt.cycle} day {nxt.day}: {nxt.planned.isoformat()} "
                f"(window {nxt.earliest.isoformat()} to {nxt.latest.isoformat()}){dose}, {nxt.state}{blocks}",
            )
        )
    buffer = io.BytesIO()
    # Each listed preparation's and course's own drug heads the copy; none listed: every installed drug.
    ids = [s.prep.monograph_id for s in service.list_active()] + [c.monograph_id for c in map(course_service.course, course_service.mrns()) if c]
    drugs = [service.registered(i) for i in dict.fromkeys(ids)] or service.drugs()
    render_downtime_snapshot(drugs, buffer, service.now(), preparations, courses, paper or service.settings().paper_size)
    return buffer.getvalue(), len(preparations)
