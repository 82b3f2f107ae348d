"""infusion-prep prep: create, record steps of, show and list stored preparations.

Every command that changes something acts as the user named by --user and asks for that user's
PIN (typed, from --pin-fd N, or INFUSION_PREP_PIN); `show` and `list` only read, and need none (whoever can run
them can read the database file anyway). `prep new` with a calculation hard stop stores nothing and exits 1 with the
calculation (a dose that cannot be prepared as labelled goes back to the prescriber; there is
no bag to track). `prep record` exits 1 when the state machine refuses the step, with the reason;
A label time limit is never overridden: the refusal says "discard and prepare again". A fact that
breaks a limit (an infusion ended after its time limit or faster than its minimum, a step entered
after its limit passed) is recorded with --deviation-reason. --override-by names a pharmacist
(PIN typed, from --override-pin-fd N, or INFUSION_PREP_OVERRIDE_PIN) for a site-policy limit the monograph marks
overridable, with --override-reason.
"""

from __future__ import annotations

import argparse
import sys

from .common import CliError, Exit, add_drug_options, add_response_option, add_storage_options, emit_json, not_blank, one_line

# SQLite's LIMIT is a 64-bit integer; a bigger --limit is a typo, not a request for more rows.
MAX_LIST_LIMIT = 1_000_000

# What the command line calls each event (EventType values are already kebab-case).
RECORDABLE = (
    "order-verified",
    "reconstituted",
    "reconstituted-to-fridge",
    "reconstituted-from-fridge",
    "diluted",
    "bag-to-fridge",
    "bag-from-fridge",
    "verified",
    "labelled",
    "dispensed",
    "premedication",
    "premedication-corrected",
    "patient-confirmed",
    "infusion-started",
    "infusion-ended",
    "observation-ended",
    "discarded",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prep",
        help="stored preparations: new, record, show, list",
        description="Create a preparation, record its steps, show it with its deadlines, list them.",
    )
    commands = parser.add_subparsers(dest="prep_command", metavar="ACTION", required=True, parser_class=type(parser))

    new = commands.add_parser("new", help="calculate and store a new preparation; prints its id")
    add_drug_options(new)
    new.add_argument("--patient-name", required=True, help='"Family, Given"')
    new.add_argument("--mrn", required=True, help="medical record number")
    new.add_argument("--dob", required=True, metavar="YYYY-MM-DD", help="date of birth")
    new.add_argument("--height", required=True, help='height with its unit: "170 cm", "5 ft 7 in"')
    new.add_argument("--weight", required=True, help='weight with its unit: "70 kg", "154 lb"')
    new.add_argument("--cycle", help="cycle number (default: the course's next dose; required when no course is on file)")
    new.add_argument("--day", help="a dose day of the drug's (or regimen's) cycle, e.g. 1 (default: the course's next dose)")
    add_response_option(new, "latest response, for a drug whose dose the response decides (not a regimen): one of its responses (infusion-prep drugs)")
    new.add_argument("--formula", default=None, type=not_blank("--formula mosteller"), help="BSA formula (default: the site's)")
    new.add_argument(
        "--reduce-pct", default=None, metavar="PCT", help="reduce the cycle's total dose by PCT percent (with a course on file it must match the course's)"
    )
    new.add_argument(
        "--vial",
        action="append",
        default=[],
        metavar="LOT:YYYY-MM-DD",
        help="a vial opened (lot and expiry, LOT:YYYY-MM-DDTHH:MM with a time printed); repeat for each",
    )
    new.add_argument("--vial-code", action="append", default=[], metavar="GS1", help="a vial's scanned GS1 DataMatrix text; repeat for each")
    new.add_argument(
        "--product-confirmed", action="store_true", help="the typed --vial cartons were read: they are the monograph's product and NDC (needed for typed vials)"
    )
    _user_options(new)
    new.set_defaults(func=run_new)

    record = commands.add_parser("record", help="record a step (exit 1 with the reason when it is refused)")
    record.add_argument("id", help="the preparation id on the label: its drug's prefix, a hyphen and five characters")
    record.add_argument("event", metavar="EVENT", help="one of: " + ", ".join(RECORDABLE))
    record.add_argument("--at", metavar="ISO", type=not_blank("--at 2026-11-27T09:00+01:00"), help="when it happened, with UTC offset (default: now)")
    record.add_argument("--downtime", action="store_true", help="a late entry of a step done on paper during a downtime (needs --at)")
    record.add_argument("--storage", choices=["room", "fridge"], help="diluted: where the bag is kept")
    record.add_argument("--reason", help="discarded, premedication-corrected: why")
    record.add_argument("--drug-class", help="premedication: corticosteroid, antipyretic or antihistamine")
    record.add_argument("--drug", help="premedication: the drug given")
    record.add_argument("--dose", help='premedication: the dose with its unit, e.g. "10 mg"')
    record.add_argument("--other", action="store_true", help="premedication: the drug is not on the monograph's list for its class (needs --dose-checked)")
    record.add_argument(
        "--dose-checked", action="store_true", help="premedication --other: the dose was checked against the order (no range can check it here)"
    )
    record.add_argument(
        "--corrects",
        metavar="N",
        help="premedication-corrected: the premedication's event number (prep show); give --drug, --dose "
        "and/or --at (the time it was given) and --reason; only the nurse who recorded it, before the start",
    )
    record.add_argument("--confirm-name", metavar="NAME", help="patient-confirmed: the name the patient states")
    record.add_argument("--confirm-dob", metavar="YYYY-MM-DD", help="patient-confirmed: the date of birth (or give --confirm-mrn)")
    record.add_argument("--confirm-mrn", metavar="MRN", help="patient-confirmed: the MRN on the wristband (or give --confirm-dob)")
    # The independent double check: all five re-entered, blind, or the check is refused.
    record.add_argument("--check-mrn", metavar="MRN", help="verified: the MRN read from the patient's record")
    record.add_argument("--check-height", metavar="H", help='verified: the height read from the order, e.g. "170 cm"')
    record.add_argument("--check-weight", metavar="W", help='verified: the weight read from the order, e.g. "70 kg"')
    record.add_argument("--check-dose-mg", metavar="MG", help="verified: the dose in mg read from the order and the syringe")
    record.add_argument("--check-volume-ml", metavar="ML", help="verified: the volume in mL read from the syringe")
    # Order verification of a dose with no course on file: the labs the pharmacist checked (labs before every dose).
    labs = record.add_argument_group("order-verified with no course on file: the labs checked (or --labs-override-reason)")
    labs.add_argument("--labs-taken", metavar="ISO", help="when the CBC and liver tests were taken, with UTC offset (within the site's lab window)")
    labs.add_argument(
        "--baseline-taken",
        metavar="ISO",
        type=not_blank("--baseline-taken 2026-11-27T07:30+01:00"),
        help="when the baseline ECG and electrolytes were taken (default: --labs-taken)",
    )
    for option, text in (
        ("--anc", "ANC, 10⁹/L (or per µL with its unit, e.g. 1500/uL)"),
        ("--platelets", "platelets, 10⁹/L (transfusion-independent)"),
        ("--bilirubin-x-uln", "total bilirubin as a multiple of ULN"),
        ("--bilirubin", 'total bilirubin, e.g. "34 umol/L" (with --bilirubin-uln)'),
        ("--bilirubin-uln", "the lab's ULN for bilirubin"),
        ("--ast-alt-x-uln", "the higher of AST and ALT as a multiple of ULN"),
        ("--ast", 'AST, e.g. "80 U/L" (with --ast-uln)'),
        ("--ast-uln", "the lab's ULN for AST"),
        ("--alt", "ALT (with --alt-uln)"),
        ("--alt-uln", "the lab's ULN for ALT"),
        ("--qtc", "baseline QTc, ms"),
        ("--potassium", "baseline potassium, mmol/L"),
        ("--magnesium", 'baseline magnesium, mmol/L, or with its unit ("2.0 mg/dL", mEq/L)'),
    ):
        labs.add_argument(option, help=text)
    labs.add_argument("--transfusion-independent", choices=["yes", "no"], help="the platelet count is transfusion-independent")
    for option in ("--weight-gain", "--hepatomegaly", "--ascites", "--bilirubin-rising"):
        labs.add_argument(option, choices=["yes", "no"], help="VOD/SOS sign (asked at each dose after the first)")
    labs.add_argument("--labs-override-reason", metavar="TEXT", help="the verifying pharmacist lets the dose go on without the missing labs: why")
    record.add_argument(
        "--deviation-reason",
        metavar="TEXT",
        help="infusion-ended, observation-ended, a premedication entered after the start, given before its window or one its class total cannot count (an unlisted drug beside another of its class): record a fact that breaks a limit (ended late or too fast, entered late) with why",
    )
    record.add_argument("--override-by", metavar="PHARMACIST", help="a pharmacist overriding a site-policy limit (label limits are never overridden)")
    record.add_argument("--override-reason", metavar="TEXT", help="why the limit is overridden")
    _user_options(record, override=True)
    record.set_defaults(func=run_record)

    vial = commands.add_parser("vial", help="record a vial opened for a preparation")
    vial.add_argument("id")
    vial.add_argument("--lot")
    vial.add_argument(
        "--expiry", metavar="YYYY-MM-DD", help='the expiry printed; with its time when the carton prints one: "2026-12-03 10:00" (the site\'s clock)'
    )
    vial.add_argument(
        "--serial", metavar="SN", help="with --lot/--expiry: the serial printed after SN on the carton, so the vial is checked as its scan would be"
    )
    vial.add_argument("--code", metavar="GS1", help="the vial's scanned GS1 DataMatrix text instead of --lot/--expiry")
    vial.add_argument(
        "--product-confirmed",
        action="store_true",
        help="with --lot/--expiry: the carton was read and is the monograph's product and NDC (needed for a typed vial)",
    )
    _user_options(vial)
    vial.set_defaults(func=run_vial)

    show = commands.add_parser("show", help="a preparation with its events, deadlines, current step and allowed next events")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(show)
    show.set_defaults(func=run_show)

    listing = commands.add_parser("list", help="list preparations (newest first; --active: most urgent first)")
    listing.add_argument("--active", action="store_true", help="only preparations still in progress")
    listing.add_argument("--limit", type=int, default=None, metavar="N", help="at most N preparations (the newest)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(listing)
    listing.set_defaults(func=run_list)


def _user_options(parser: argparse.ArgumentParser, override: bool = False) -> None:
    from .service_access import add_pin_options

    parser.add_argument("--user", required=True, metavar="NAME", help="who does this (PIN typed, from --pin-fd N, or INFUSION_PREP_PIN)")
    add_pin_options(parser, override=override)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(parser)


def _parse_date(text: str, field: str):
    from datetime import date

    from ..domain.errors import ValidationError, check_calendar_year

    try:
        parsed = date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ValidationError(field, f"'{text}' is not a date; give YYYY-MM-DD") from None
    return check_calendar_year(field, parsed)


def _parse_vial(text: str):
    import re

    from ..domain.errors import ValidationError

    # The expiry may carry its time ("LOT:2026-12-03T10:00"): the lot ends at the colon a date follows.
    match = re.fullmatch(r"(?P<lot>.+?):(?P<expiry>\d{4}-?\d{2}-?\d{2}(?:[Tt ].*)?)", text.strip(), re.ASCII | re.DOTALL)
    if match is None or not match.group("lot").strip():
        raise ValidationError("vial", f"'{text}' must be LOT:YYYY-MM-DD, or with the expiry time printed LOT:YYYY-MM-DDTHH:MM")
    return _typed_vial(match.group("lot").strip(), match.group("expiry"), "vial expiry")


def _typed_vial(lot: str, expiry: str, field: str):
    """A vial typed from its carton: the expiry date, with the time when the carton prints one."""
    from ..domain.instants import read_vial_expiry
    from ..domain.records import VialRecord

    day, instant = read_vial_expiry(expiry, field)
    return VialRecord(lot=lot, expiry=day, expires_at=instant)


def _refused(exc) -> CliError:
    hint = ""
    if getattr(exc, "overridable", False):
        hint = " (overridable: --override-by PHARMACIST --override-reason TEXT)"
    elif getattr(exc, "deviation_allowed", False):
        hint = " (if it happened: --deviation-reason TEXT)"
    elif exc.code == "labs_needed":
        # The one line holds about 300 characters: the labs missing first, then the options, short.
        from ..domain.preparation import NO_COURSE_LABS_HOW

        message = exc.message.replace(f". {NO_COURSE_LABS_HOW}", "")
        return CliError(f"refused [{exc.code}]: {message} (--labs-taken ISO and the values, see --help; or --labs-override-reason TEXT)", Exit.HARD_STOP)
    elif exc.code == "double_check_incomplete":
        hint = " (re-enter each with --check-mrn, --check-height, --check-weight, --check-dose-mg, --check-volume-ml)"
    return CliError(f"refused [{exc.code}]: {exc.message}{hint}", Exit.HARD_STOP)


def run_new(args: argparse.Namespace) -> int:
    from ..domain.dosing import DoseOrder
    from ..domain.records import Patient
    from ..service import PreparationBlocked, StepRefused
    from .service_access import open_service_for, sign_in
    from ..domain.errors import ValidationError
    from .common import as_regimen_option, chosen_monograph, chosen_response

    drug = chosen_monograph(args)  # an unknown drug or a missing regimen is refused before any sign-in
    response = chosen_response(args, drug)

    from ..domain.numbers import read_number

    # Not typed is not 0: with a course on file the course's reduction is used, and a typed 0 that
    # contradicts it (a re-escalation) is refused.
    reduce_pct = read_number("reduce-pct", args.reduce_pct, "0 to under 100") if args.reduce_pct is not None else None
    patient = Patient(name=args.patient_name, mrn=args.mrn, date_of_birth=_parse_date(args.dob, "dob"))
    order = DoseOrder(height=args.height, weight=args.weight, cycle=args.cycle, day=args.day, response=response, formula=args.formula, reduce_pct=reduce_pct)
    vials = [_parse_vial(v) for v in args.vial]
    with open_service_for(args) as service:
        for code in args.vial_code:
            try:
                vials.append(service.read_vial_code(code, drug))
            except StepRefused as exc:
                raise _refused(exc) from None
        try:
            service.calculate(
                service.order_from_course(patient.mrn, order, drug, patient.date_of_birth)[0], monograph=drug
            )  # invalid input before the PIN is asked for
        except StepRefused as exc:
            if args.json:
                from .common import refusal_json

                refusal_json(f"refused [{exc.code}]: {exc.message}")
            print(f"infusion-prep prep new: not stored: refused [{exc.code}]: {exc.message}", file=sys.stderr)
            return Exit.HARD_STOP
        except ValidationError as exc:  # --regimen not the course's: named as the option
            raise as_regimen_option(exc, drug) from None
        user = sign_in(service, args.user, args.pin_fd)
        try:
            status = service.create_preparation(patient, order, user, vials=vials, product_confirmed=args.product_confirmed, monograph=drug)
        except PreparationBlocked as blocked:
            if args.json:
                emit_json({"id": None, "stored": False, "hard_stops": blocked.hard_stops, "calculation": blocked.calculation.to_dict()})
            else:
                print("\n".join(blocked.calculation.summary_lines(drug)))
            print(f"infusion-prep prep new: not stored: hard stop: {'; '.join(blocked.hard_stops)}", file=sys.stderr)
            return Exit.HARD_STOP
        except StepRefused as exc:
            raise _refused(exc) from None
    calculation = status.prep.order.calculation
    if args.json:
        emit_json(
            {
                "id": status.id,
                "stored": True,
                "calculation": calculation.to_dict(),
                "current_step": status.current_step,
                "course": status.prep.order.course.to_dict() if status.prep.order.course is not None else None,
            }
        )
    else:
        print(status.id)  # alone on stdout, so that scripts can capture it
        course = status.prep.order.course
        if course is not None and not course.on_file:
            print(f"flag: {course.flag}: {drug.order_choices_words} as typed (no course to check them against)", file=sys.stderr)
        for text in course.declined_discontinuations + course.flags if course is not None else ():
            print(f"flag: {text}", file=sys.stderr)
        for warning in calculation.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return Exit.OK


def _details(args: argparse.Namespace, event: str) -> dict:
    from ..domain.errors import ValidationError

    given = {
        "--storage": args.storage,
        "--reason": args.reason,
        "--drug-class": args.drug_class,
        "--drug": args.drug,
        "--dose": args.dose,
        "--corrects": args.corrects,
        "--other": args.other or None,
        "--dose-checked": args.dose_checked or None,
        "--confirm-name": args.confirm_name,
        "--confirm-dob": args.confirm_dob,
        "--confirm-mrn": args.confirm_mrn,
        "--check-mrn": args.check_mrn,
        "--check-height": args.check_height,
        "--check-weight": args.check_weight,
        "--check-dose-mg": args.check_dose_mg,
        "--check-volume-ml": args.check_volume_ml,
    }
    wanted = {
        "diluted": ("--storage",),
        "discarded": ("--reason",),
        "premedication": ("--drug-class", "--drug", "--dose", "--other", "--dose-checked"),
        "premedication-corrected": ("--corrects", "--drug", "--dose", "--reason", "--other", "--dose-checked"),
        "patient-confirmed": ("--confirm-name", "--confirm-dob", "--confirm-mrn"),
        "verified": ("--check-mrn", "--check-height", "--check-weight", "--check-dose-mg", "--check-volume-ml"),
    }.get(event, ())
    lab_fields = {option: getattr(args, option.lstrip("-").replace("-", "_")) for option in _LAB_OPTIONS}
    given.update(lab_fields)
    if event == "order-verified":
        wanted = tuple(_LAB_OPTIONS)
    stray = [k for k, v in given.items() if v is not None and k not in wanted]
    if stray:
        raise ValidationError(stray[0], f"does not apply to '{event}'")
    if event == "order-verified":
        return _order_labs(args)
    if event == "patient-confirmed":
        # The domain compares these with the stored patient (domain/identity.py).
        confirmed = {"name": args.confirm_name or "", "date_of_birth": args.confirm_dob, "mrn": args.confirm_mrn}
        return {k: v for k, v in confirmed.items() if v is not None}
    if event == "verified":
        # Always sent, even empty: the domain refuses an incomplete check (double_check_incomplete).
        checked = {
            "mrn": args.check_mrn,
            "height": args.check_height,
            "weight": args.check_weight,
            "dose_mg": args.check_dose_mg,
            "volume_ml": args.check_volume_ml,
        }
        return {"entered": {k: v for k, v in checked.items() if v is not None}}
    return {k.lstrip("-").replace("-", "_"): given[k] for k in wanted if given[k] is not None}


_LAB_OPTIONS = (
    "--labs-taken",
    "--baseline-taken",
    "--anc",
    "--platelets",
    "--transfusion-independent",
    "--bilirubin-x-uln",
    "--bilirubin",
    "--bilirubin-uln",
    "--ast-alt-x-uln",
    "--ast",
    "--ast-uln",
    "--alt",
    "--alt-uln",
    "--qtc",
    "--potassium",
    "--magnesium",
    "--weight-gain",
    "--hepatomegaly",
    "--ascites",
    "--bilirubin-rising",
    "--labs-override-reason",
)


def _order_labs(args: argparse.Namespace) -> dict:
    """The order verification's labs (domain/labs.verification_labs reads and checks each value)."""
    from ..domain import labs
    from ..domain.errors import ValidationError
    from .common import instant_option

    fields = {
        "anc": args.anc,
        "platelets": args.platelets,
        "transfusion_independent": args.transfusion_independent,
        "bilirubin_x_uln": args.bilirubin_x_uln,
        "bilirubin": args.bilirubin,
        "bilirubin_uln": args.bilirubin_uln,
        "ast_alt_x_uln": args.ast_alt_x_uln,
        "ast": args.ast,
        "ast_uln": args.ast_uln,
        "alt": args.alt,
        "alt_uln": args.alt_uln,
        "qtc_ms": args.qtc,
        "potassium": args.potassium,
        "magnesium": args.magnesium,
        "weight_gain": args.weight_gain,
        "hepatomegaly": args.hepatomegaly,
        "ascites": args.ascites,
        "bilirubin_rising": args.bilirubin_rising,
    }
    details: dict = {}
    if any(v is not None for v in fields.values()):
        if args.labs_taken is None:
            raise ValidationError("--labs-taken", "give when the labs were taken, e.g. --labs-taken 2026-11-27T07:30+01:00")
        taken = instant_option(args.labs_taken, "--labs-taken")
        baseline = instant_option(args.baseline_taken, "--baseline-taken") if args.baseline_taken else None
        details["labs"] = labs.verification_labs(taken, baseline_taken_at=baseline, **fields)
    elif args.labs_taken is not None or args.baseline_taken is not None:
        raise ValidationError("--labs-taken", "give the values checked with it, e.g. --anc 2 --platelets 150 ...")
    if args.labs_override_reason is not None:
        details["labs_override"] = args.labs_override_reason
    return details


def run_record(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from ..service import StepRefused
    from .common import instant_option
    from .service_access import open_service_for, override_pin, sign_in

    event = args.event.strip().lower()
    if event not in RECORDABLE:
        raise ValidationError("event", f"'{args.event}' is not an event; events are {', '.join(RECORDABLE)}")
    details = _details(args, event)
    at = instant_option(args.at, "--at") if args.at else None
    if args.downtime and at is None:
        raise ValidationError("--at", "a downtime entry needs the time it happened on paper, e.g. --at 2026-01-15T09:30+01:00")
    if (args.override_by is None) != (args.override_reason is None):
        raise ValidationError(
            "--override-by" if args.override_by is None else "--override-reason", "an override needs both --override-by PHARMACIST and --override-reason TEXT"
        )
    with open_service_for(args) as service:
        if service.get(args.id) is None:  # also validates the id's form
            raise ValidationError("preparation id", f"no preparation {args.id} is stored here")
        user = sign_in(service, args.user, args.pin_fd)
        override = None
        try:
            if args.override_by is not None:
                override = service.authorize_override(args.override_by, override_pin(args), args.override_reason)
            status = service.record_event(
                args.id, event, user, at=at, details=details, override=override, downtime=args.downtime, deviation_reason=args.deviation_reason
            )
        except StepRefused as exc:
            raise _refused(exc) from None
    if args.json:
        emit_json(status.to_dict())
    else:
        print(f"{status.id}: recorded {event}; next: {status.current_step}")
        _print_deadlines(status)
    if args.deviation_reason is not None:
        print(f"infusion-prep prep record: recorded as a deviation (by {user.name}): shown on the board, the sheet and the audit log", file=sys.stderr)
    return Exit.OK


def run_vial(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from ..service import StepRefused
    from .service_access import open_service_for, sign_in

    if args.code is None and (args.lot is None or args.expiry is None):
        raise ValidationError("--lot", "give --lot and --expiry, or --code")
    if args.code is not None and args.serial is not None:
        raise ValidationError("--serial", "the scanned --code carries the serial; give --serial only with --lot and --expiry")
    vial = args.code if args.code is not None else _typed_vial(args.lot, args.expiry, "--expiry")
    if args.serial is not None:
        import dataclasses

        from ..domain.gs1 import typed_serial

        vial = dataclasses.replace(vial, serial=typed_serial(args.serial, "--serial"))
    with open_service_for(args) as service:
        if service.get(args.id) is None:
            raise ValidationError("preparation id", f"no preparation {args.id} is stored here")
        user = sign_in(service, args.user, args.pin_fd)
        try:
            status = service.add_vial(args.id, vial, user, product_confirmed=args.product_confirmed)
        except StepRefused as exc:
            raise _refused(exc) from None
    if args.json:
        emit_json(status.to_dict())
    else:
        print(f"{status.id}: {len(status.prep.vials)} vial(s) recorded")
    return Exit.OK


def _print_deadlines(status) -> None:
    from ..domain.formatting import format_instant

    for deadline in status.deadlines:
        state = getattr(deadline.state, "value", deadline.state)
        late = f" ({deadline.entered_late})" if deadline.entered_late else ""
        print(f"  {deadline.label}: {format_instant(deadline.at)} [{state}]{deadline.review_mark}{late}")
    for stop in status.hard_stops:
        print(f"  HARD STOP: {stop}")
    for warning in status.warnings:
        print(f"  WARNING: {warning}")
    from ..domain.preparation import deviation_text, deviations_of

    for deviation in deviations_of(status.prep):
        print(f"  DEVIATION: {deviation_text(deviation)}")


def _print_premedication(prep) -> None:
    """What was given, as last corrected: the events above keep what was first entered."""
    from ..domain.formatting import format_instant
    from ..domain.preparation import numbered_premedications

    given = numbered_premedications(prep)
    if not given:
        return
    print("  Premedication given (as corrected):")
    for number, event in given:
        d = event.details
        other = " (other, dose checked)" if d.get("other") else ""
        corrected = ""
        if d.get("corrected_by"):
            first = d.get("original") or {}
            corrected = f"; corrected by {d['corrected_by']} ({d.get('correction_reason', '')}), first entered {first.get('drug', '')} {first.get('dose', '')}"
        print(
            f"    [{number}] {d.get('drug_class', '')}: {d.get('drug', '')} {d.get('dose', '')}{other} at {format_instant(event.at)} by {event.user}{corrected}"
        )


def run_show(args: argparse.Namespace) -> int:
    from ..domain.formatting import format_dose, format_instant, format_vial_expiry
    from .service_access import open_service_for

    with open_service_for(args) as service:
        status = service.status(args.id)
    if args.json:
        emit_json(status.to_dict())
        return Exit.OK
    prep = status.prep
    calc = prep.order.calculation
    print(f"{prep.id}  {prep.patient.name}  MRN {prep.patient.mrn}  DOB {prep.patient.date_of_birth.isoformat()}")
    print(f"Cycle {calc.cycle}, Day {calc.day}: {format_dose(calc.dose_mg)}; next: {status.current_step}")
    if status.stored_instant_ahead is not None:
        # The text view said nothing (only --json had it): a deadline read here may be timed by a wrong clock.
        print(
            f"  WARNING: a time stored with this preparation or another ({format_instant(status.stored_instant_ahead)}) is ahead "
            f"of this workstation's clock (now {format_instant(status.now)}): one of the clocks is wrong; ask IT to check them (NTP)"
        )
    for vial in prep.vials:
        print(f"  vial lot {vial.lot}, expires {format_vial_expiry(vial.expiry, vial.expires_at)}")
    for number, event in enumerate(prep.events, start=1):
        late = f"  (downtime entry, recorded {format_instant(event.recorded_at)})" if event.details.get("downtime") else ""
        # The number is what premedication-corrected --corrects names.
        given = f"  [{number}: {event.details.get('drug', '')} {event.details.get('dose', '')}]" if event.type.value == "premedication" else ""
        if event.type.value == "premedication-corrected":
            given = f"  [corrects {event.details.get('corrects')}: {event.details.get('reason', '')}]"
        print(f"  {format_instant(event.at)}  {event.type.value}  by {event.user}{given}{late}")
    _print_premedication(prep)
    _print_deadlines(status)
    return Exit.OK


def _list_entry(status) -> dict:
    # to_dict() serialises the whole preparation (events, deadlines): once per record, not per field.
    record = status.to_dict()
    deadline = status.next_deadline
    return {
        "id": status.id,
        "patient": status.prep.patient.name,
        "mrn": status.prep.patient.mrn,
        "dose_mg": status.prep.order.calculation.dose_mg,
        "current_step": status.current_step,
        "active": status.active,
        "next_deadline": (
            {"key": deadline.key, "label": deadline.label, "at": record["next_deadline"]["at"], "state": getattr(deadline.state, "value", deadline.state)}
            if deadline
            else None
        ),
        "created_at": record["created_at"],
    }


def run_list(args: argparse.Namespace) -> int:
    from ..domain.formatting import format_instant
    from .service_access import open_service_for

    from ..domain.errors import ValidationError

    if args.limit is not None and not 1 <= args.limit <= MAX_LIST_LIMIT:
        raise ValidationError("--limit", f"{args.limit} is not accepted; must be 1 to {MAX_LIST_LIMIT:,}")
    unreadable: dict[str, str] = {}
    with open_service_for(args) as service:
        statuses = service.list_active(unreadable=unreadable) if args.active else service.list_preparations(limit=args.limit, unreadable=unreadable)
    if args.active and args.limit is not None:
        statuses = statuses[: args.limit]
    if args.json:
        emit_json({"preparations": [_list_entry(s) for s in statuses]})
    else:
        for s in statuses:
            deadline = f"{s.next_deadline.label} {format_instant(s.next_deadline.at)}" if s.next_deadline else ""
            print(f"{s.id}\t{s.prep.patient.name}\t{s.current_step}\t{deadline}")
    if unreadable:
        # The others are listed; each one that cannot be read is one line, and the exit says so.
        for _prep_id, why in sorted(unreadable.items()):
            print(one_line(f"infusion-prep prep list: data file error: {why}; run 'infusion-prep audit verify' and restore a backup"), file=sys.stderr)
        return 3
    return Exit.OK
