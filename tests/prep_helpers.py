"""Test helpers for the checks every preparation now passes: the order verification before
reconstitution and the blind double check's five re-entered values."""

from __future__ import annotations

from datetime import date

from infusion_app.domain.records import EventType, Role, VialRecord

# A typed vial in date for any fake clock the tests use.
VIAL = VialRecord(lot="TESTLOT1", expiry=date(2099, 12, 31))


def vials_for(order) -> list[VialRecord]:
    """In-date vials covering a PreparationOrder's count (domain tests building a Preparation)."""
    return [VIAL] * order.calculation.vials


def record_vials(service, prep_id: str, user=None) -> None:
    """Record typed, product-confirmed vials until the calculation's count is covered (the domain
    refuses reconstitution and every later step using the product before it)."""
    prep = service.get(prep_id)
    if user is None or user.role not in (Role.PHARMACIST, Role.TECHNICIAN):
        user = next(u for u in sorted(service.users(), key=lambda u: u.name) if u.active and u.role in (Role.TECHNICIAN, Role.PHARMACIST))
    for _ in range(prep.order.calculation.vials - len(prep.vials)):
        service.add_vial(prep_id, VIAL, user, product_confirmed=True)


def checked(service, prep_id: str) -> dict:
    """The details of a complete, matching independent double check of the stored preparation."""
    prep = service.get(prep_id)
    calc = prep.order.calculation
    return {
        "entered": {
            "mrn": prep.patient.mrn,
            "height": f"{calc.height_cm} cm",
            "weight": f"{calc.weight_kg} kg",
            "dose_mg": str(calc.dose_mg),
            "volume_ml": str(calc.withdraw_ml),
        }
    }


def verify_order(service, prep_id: str, pharmacist=None, at=None):
    """Record order-verified (once) by a pharmacist who did not enter the order, and the vials the
    dose needs (the step after it, reconstitution, is refused without them)."""
    prep = service.get(prep_id)
    if prep.last(EventType.ORDER_VERIFIED) is not None:
        return None
    if not prep.vials and prep.order.calculation.vials:
        record_vials(service, prep_id)
    if pharmacist is None:
        candidates = sorted(
            (u for u in service.users() if u.role is Role.PHARMACIST and u.name != prep.created_by),
            key=lambda u: u.name,
            reverse=True,
        )
        pharmacist = candidates[0]
    from tests.lab_helpers import order_labs

    details = order_labs(at or service.now()) if not (prep.order.course and prep.order.course.on_file) else {}
    return service.record_event(prep_id, EventType.ORDER_VERIFIED, pharmacist, at=at, details=details)


def verify_order_by_another(service, prep_id: str, pharmacist):
    """Order verification for a setup with one pharmacist: a second one ("Vera Verify") is added by
    `pharmacist` when needed, since the one who entered the order may not verify it."""
    prep = service.get(prep_id)
    others = [u for u in service.users() if u.role is Role.PHARMACIST and u.name != prep.created_by]
    if not others:
        others = [service.add_user("Vera Verify", Role.PHARMACIST, "909090", actor=pharmacist)]
    return verify_order(service, prep_id, others[0])
