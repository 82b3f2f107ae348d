"""infusion-prep course: a stored patient's treatment course, headless.

    course new MRN --hsct yes|no [--dob DATE] [--child --child-reason TEXT] [--drug ID [--regimen NAME]] --user NAME
                                                                  open a course (pharmacist; --regimen for a drug dosed by regimen)
    course show MRN [--json]                                    where it stands: next dose, last cycle and why, advice
    course list [--json]                                        MRNs with a course
    course blasts MRN --count N --date DATE --user NAME         circulating blasts per mm³ before the first dose
    course weight MRN --weight "70 kg" --date DATE [--dosing] --user NAME
    course response MRN --response RESPONSE [--mrd negative|positive] --date DATE --user NAME
    course hsct MRN --hsct yes|no --user NAME
    course start MRN --date DATE [--extend-to-28 --reason TEXT] --user NAME     start the next cycle
    course move MRN --date DATE --user NAME                     move the latest cycle's Day 1 (none given yet)
    course extend MRN --reason TEXT --user NAME                 cycle 1 to the monograph's extended length
    course given MRN --cycle N --day D --date DATE [--prep ID] [--override-by PHARMACIST --override-reason TEXT] --user NAME
    course assess MRN --kind KIND [...] --user NAME             run a dose-modification rule, store its advice
    course decide MRN ADVICE_NO --accept|--decline --by CLINICIAN --reason TEXT --user NAME
    course lab MRN --kind cbc|liver|ecg|electrolytes|vod-signs [values] [--taken INSTANT] --user NAME
                                                                a lab result; its dose-modification advice is stored at once
    course lab-override MRN --reason TEXT --user PHARMACIST     the next dose without the labs it needs (audited)
    course checklist MRN --sex female|male --reproductive-potential yes|no [--pregnancy-test negative|positive
        --pregnancy-test-date DATE] [--contraception-counselled yes] [--breastfeeding-counselled yes]
        [--hsct-precautions yes] --user PHARMACIST              the course-start checklist (gates the first dose)

Exit codes: 0 done; 1 a clinical hard stop refused the step (nothing stored; the reasons on stderr,
and with --json the JSON too); 2 invalid input (one stderr line naming the field).
Writing commands ask for the --user's PIN (typed, from --pin-fd N, or INFUSION_PREP_PIN), as `prep` does.
"""

from __future__ import annotations

import argparse
import sys

from .common import CliError, Exit, add_drug_options, add_response_option, add_storage_options, emit_json, not_blank

LAB_KINDS = ("cbc", "liver", "ecg", "electrolytes", "vod-signs")
# Which options each lab kind reads (the option's dest is the value's name in labs.lab_values).
LAB_OPTIONS = {
    "cbc": ("anc", "platelets", "transfusion_independent"),
    "liver": ("bilirubin_x_uln", "bilirubin", "bilirubin_uln", "ast_alt_x_uln", "ast", "ast_uln", "alt", "alt_uln", "cause"),
    "ecg": ("qtc",),
    "electrolytes": ("potassium", "magnesium"),
    "vod-signs": ("weight_gain", "hepatomegaly", "ascites", "bilirubin_rising"),
}
KINDS = ("overdue", "interruption", "hematologic", "liver", "vod", "non-hematologic", "infusion-reaction")


def _writer(commands, name: str, help_text: str, override: bool = False) -> argparse.ArgumentParser:
    from .service_access import add_pin_options

    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("mrn", metavar="MRN", help="the patient's medical record number")
    parser.add_argument("--user", required=True, metavar="NAME", help="who does this (PIN typed, from --pin-fd N, or INFUSION_PREP_PIN)")
    add_pin_options(parser, override=override)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(parser)
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "course",
        help="a patient's treatment course: cycles, doses given, responses, advice",
        description="The treatment course of a stored patient: which cycle and day is next, "
        "when and at what dose, and whether the label says to hold, reduce or stop.",
    )
    commands = parser.add_subparsers(dest="course_command", metavar="ACTION", required=True, parser_class=type(parser))

    new = _writer(commands, "new", "open a treatment course for a patient (pharmacist)")
    new.add_argument(
        "--hsct",
        choices=["yes", "no"],
        help="is a stem-cell transplant (HSCT) planned? (required for a drug whose cycles the response decides; default no for a regimen)",
    )
    new.add_argument(
        "--dob",
        metavar="YYYY-MM-DD",
        type=not_blank("--dob 1970-05-17"),
        help="date of birth: the age decides the children's weight-change threshold (default: the one stored with the patient's preparations)",
    )
    new.add_argument("--child", action="store_true", help="apply the children's threshold whatever the age (give --child-reason)")
    new.add_argument("--child-reason", metavar="TEXT", help="why the children's threshold applies")
    add_drug_options(new)
    new.set_defaults(func=run_new)

    show = commands.add_parser("show", help="where the course stands today")
    show.add_argument("mrn", metavar="MRN")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(show)
    show.set_defaults(func=run_show)

    listing = commands.add_parser("list", help="MRNs with a stored course")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(listing)
    listing.set_defaults(func=run_list)

    blasts = _writer(commands, "blasts", "record circulating blasts (per mm³) before the first dose")
    blasts.add_argument("--count", required=True, help='circulating blasts per mm³, e.g. 8000, or with the unit, e.g. "8 x10^9/L"')
    blasts.add_argument("--date", required=True, metavar="DATE", help="when measured, YYYY-MM-DD")
    blasts.set_defaults(func=run_blasts)

    weight = _writer(commands, "weight", "record a weight; --dosing makes it the dosing weight")
    weight.add_argument("--weight", required=True, help='weight with its unit: "70 kg", "154 lb"')
    weight.add_argument("--date", required=True, metavar="DATE", help="when measured, YYYY-MM-DD")
    weight.add_argument("--dosing", action="store_true", help="use this weight for dosing from now on (BSA re-checked)")
    weight.set_defaults(func=run_weight)

    response = _writer(commands, "response", "record a response assessment")
    add_response_option(response, "the response assessed: one of the course's drug's responses (infusion-prep drugs)", required=True)
    response.add_argument("--mrd", choices=["negative", "positive"], help="minimal residual disease, when assessed")
    response.add_argument("--date", required=True, metavar="DATE", help="when assessed, YYYY-MM-DD")
    response.set_defaults(func=run_response)

    hsct = _writer(commands, "hsct", "change whether HSCT is planned (pharmacist)")
    hsct.add_argument("--hsct", required=True, choices=["yes", "no"])
    hsct.set_defaults(func=run_hsct)

    start = _writer(commands, "start", "start the next cycle on DATE (pharmacist)")
    start.add_argument("--date", required=True, metavar="DATE", help="the cycle's Day 1, YYYY-MM-DD")
    start.add_argument("--extend-to-28", action="store_true", help="cycle 1 only: the monograph's extended length (give --reason)")
    start.add_argument("--reason", help="why cycle 1 is extended (a reason the drug's monograph gives for it)")
    start.set_defaults(func=run_start)

    move = _writer(commands, "move", "move the latest cycle's start while none of its doses is given (pharmacist)")
    move.add_argument("--date", required=True, metavar="DATE", help="the new Day 1, YYYY-MM-DD")
    move.set_defaults(func=run_move)

    extend = _writer(commands, "extend", "extend cycle 1 to the monograph's extended length (pharmacist)")
    extend.add_argument("--reason", required=True, help="why (a reason the drug's monograph gives for the extension)")
    extend.set_defaults(func=run_extend)

    given = _writer(commands, "given", "record a dose given (exit 1 outside its window unless a pharmacist overrides)", override=True)
    given.add_argument("--cycle", required=True, help="cycle number")
    given.add_argument("--day", required=True, help="a dose day of the course's cycle (its drug's or regimen's data, e.g. 1); see course show")
    given.add_argument("--date", required=True, metavar="DATE", help="when given, YYYY-MM-DD")
    given.add_argument("--prep", metavar="ID", help="the preparation given (same patient, cycle and day)")
    given.add_argument(
        "--override-by", metavar="PHARMACIST", help="a pharmacist overriding the hard stop (PIN typed, from --override-pin-fd N, or INFUSION_PREP_OVERRIDE_PIN)"
    )
    given.add_argument("--override-reason", metavar="TEXT", help="why the hard stop is overridden")
    given.set_defaults(func=run_given)

    assess = _writer(commands, "assess", "apply a dose-modification rule and store its advice for a decision")
    assess.add_argument(
        "--kind", required=True, choices=KINDS, help="which rule; 'overdue' stores what 'course show' advises today for an overdue dose or a held cycle"
    )
    assess.add_argument("--days", help="interruption: its length in days")
    assess.add_argument("--anc", help="hematologic: ANC now, 10⁹/L (or per µL with its unit, e.g. 1500/uL)")
    assess.add_argument("--platelets", help="hematologic: platelets now, 10⁹/L (or per µL with its unit, e.g. 150000/uL)")
    assess.add_argument("--baseline-anc", help="hematologic: ANC before treatment, 10⁹/L")
    assess.add_argument("--baseline-platelets", help="hematologic: platelets before treatment, 10⁹/L")
    assess.add_argument("--prior-anc", help="hematologic: ANC at the start of the prior cycle, 10⁹/L")
    assess.add_argument("--prior-platelets", help="hematologic: platelets at the start of the prior cycle, 10⁹/L")
    assess.add_argument("--within-cycle", action="store_true", help="hematologic: the next dose is a later dose day of this cycle")
    assess.add_argument("--disease-stable", action="store_true", help="hematologic: stable or improved disease on the latest marrow")
    assess.add_argument("--disease-related", action="store_true", help="hematologic: the fall in counts is judged disease-related")
    assess.add_argument("--low-counts-days", help="hematologic: how many days counts have been low")
    assess.add_argument("--not-drug-related", action="store_true", help="hematologic: low counts judged not drug-related")
    assess.add_argument("--bilirubin-x-uln", help="liver: total bilirubin as a multiple of ULN")
    assess.add_argument("--ast-alt-x-uln", help="liver: the higher of AST and ALT as a multiple of ULN")
    assess.add_argument("--cause", help="liver: gilbert or hemolysis when the rise is due to it")
    assess.add_argument("--no-recovery", action="store_true", help="liver: bilirubin and AST/ALT did not recover")
    assess.add_argument("--grade", help="non-hematologic or infusion reaction: CTCAE grade")
    assess.add_argument("--pretreatment-grade", default="0", help="non-hematologic: the grade before treatment")
    assess.set_defaults(func=run_assess)

    decide = _writer(commands, "decide", "record the clinician's decision on stored advice (pharmacist)")
    decide.add_argument("advice", metavar="ADVICE_NO", help="the advice number shown by 'course show'")
    choice = decide.add_mutually_exclusive_group(required=True)
    choice.add_argument("--accept", action="store_true", help="the advice is followed")
    choice.add_argument("--decline", action="store_true", help="the advice is not followed")
    decide.add_argument("--by", required=True, metavar="CLINICIAN", help="who decided (e.g. the prescriber)")
    decide.add_argument("--reason", required=True, help="why")
    decide.set_defaults(func=run_decide)

    lab = _writer(commands, "lab", "record a lab result or the VOD/SOS questions; the advice its values drive is stored at once")
    lab.add_argument("--kind", required=True, choices=LAB_KINDS, help="cbc, liver, ecg, electrolytes or vod-signs")
    lab.add_argument(
        "--taken",
        metavar="INSTANT",
        type=not_blank("--taken 2026-11-27T09:00+01:00"),
        help="when taken (asked), with its offset, e.g. 2026-11-27T09:00+01:00; default now",
    )
    lab.add_argument("--anc", help="cbc: ANC, 10⁹/L (or per µL with its unit, e.g. 1500/uL)")
    lab.add_argument("--platelets", help="cbc: platelets, 10⁹/L (or per µL with its unit, e.g. 150000/uL)")
    lab.add_argument(
        "--transfusion-independent", choices=["yes", "no"], help="cbc: is the platelet count transfusion-independent? (the label doses on such a count)"
    )
    lab.add_argument("--bilirubin-x-uln", help="liver: total bilirubin as a multiple of ULN")
    lab.add_argument("--bilirubin", help='liver: total bilirubin with its unit, e.g. "34 umol/L" (with --bilirubin-uln)')
    lab.add_argument("--bilirubin-uln", help='liver: the lab\'s upper limit of normal for bilirubin, e.g. "21 umol/L"')
    lab.add_argument("--ast-alt-x-uln", help="liver: the higher of AST and ALT as a multiple of ULN")
    lab.add_argument("--ast", help='liver: AST, e.g. "80 U/L" (with --ast-uln)')
    lab.add_argument("--ast-uln", help='liver: the lab\'s ULN for AST, e.g. "40 U/L"')
    lab.add_argument("--alt", help='liver: ALT, e.g. "60 U/L" (with --alt-uln)')
    lab.add_argument("--alt-uln", help='liver: the lab\'s ULN for ALT, e.g. "45 U/L"')
    lab.add_argument("--cause", help="liver: gilbert or hemolysis when the rise is due to it")
    lab.add_argument("--qtc", help="ecg: QTc in ms")
    lab.add_argument("--potassium", help="electrolytes: potassium, mmol/L")
    lab.add_argument("--magnesium", help='electrolytes: magnesium, mmol/L, or with its unit ("2.0 mg/dL", mEq/L)')
    for sign, text in (
        ("weight-gain", "rapid weight gain"),
        ("hepatomegaly", "painful hepatomegaly"),
        ("ascites", "ascites"),
        ("bilirubin-rising", "rising bilirubin"),
    ):
        lab.add_argument(f"--{sign}", choices=["yes", "no"], help=f"vod-signs: {text}?")
    lab.set_defaults(func=run_lab)

    lab_override = _writer(commands, "lab-override", "prepare the next dose without the labs it needs (pharmacist, with a reason)")
    lab_override.add_argument("--reason", required=True, help="why the dose goes ahead without them")
    lab_override.set_defaults(func=run_lab_override)

    check = _writer(commands, "checklist", "complete the course-start checklist (pharmacist); the first dose waits for it")
    check.add_argument("--sex", required=True, choices=["female", "male"], help="sex at birth")
    check.add_argument(
        "--reproductive-potential",
        required=True,
        choices=["yes", "no"],
        help="a female of reproductive potential, or a male with a female partner of reproductive potential",
    )
    check.add_argument("--pregnancy-test", choices=["negative", "positive"], help="female of reproductive potential: the result")
    check.add_argument("--pregnancy-test-date", metavar="DATE", help="when the pregnancy test was done, YYYY-MM-DD")
    check.add_argument("--contraception-counselled", choices=["yes", "no"], help="contraception after the last dose counselled")
    check.add_argument("--breastfeeding-counselled", choices=["yes", "no"], help="female: no breastfeeding after the last dose counselled")
    check.add_argument("--hsct-precautions", choices=["yes", "no"], help="HSCT planned: post-HSCT VOD/SOS precautions discussed")
    check.set_defaults(func=run_checklist)


# -- shared -----------------------------------------------------------------------------------------


def _date(text: str, field: str):
    from ..domain.course import parse_date

    return parse_date(field, text)


class _Session:
    """The service, the course service and the signed-in user, closed on exit."""

    def __init__(self, args: argparse.Namespace, sign_in: bool = True, check=None):
        self.args = args
        self.sign_in = sign_in
        self.check = check  # check(status): the input judged by the stored course, before the PIN is asked for

    def __enter__(self):
        from ..service.course import CourseService
        from .service_access import open_service_for, sign_in

        self.service = open_service_for(self.args)
        try:
            self.courses = CourseService(self.service)
            if self.sign_in:
                # Refuse an unknown MRN before asking for a PIN (except when opening a course).
                if getattr(self.args, "course_command", "") != "new":
                    status = self.courses.status(self.args.mrn)
                    if self.check is not None:
                        self.check(status)
                self.user = sign_in(self.service, self.args.user, self.args.pin_fd)
        except BaseException:
            self.service.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.service.close()


def _blocked(args: argparse.Namespace, exc) -> int:
    if args.json:
        emit_json({"stored": False, "hard_stops": exc.reasons})
    print(f"infusion-prep course {args.course_command}: not stored: hard stop: {'; '.join(exc.reasons)}", file=sys.stderr)
    return Exit.HARD_STOP


def _refused(exc) -> CliError:
    return CliError(f"refused [{exc.code}]: {exc.message}", Exit.HARD_STOP)


def _finish(args: argparse.Namespace, status) -> int:
    if args.json:
        emit_json(status.to_dict())
    else:
        print("\n".join(status_lines(status)))
    return Exit.OK


def _write(args: argparse.Namespace, action, check=None) -> int:
    from ..domain.course import CourseBlocked
    from ..service import StepRefused

    with _Session(args, check=check) as s:
        try:
            status = action(s)
        except CourseBlocked as exc:
            return _blocked(args, exc)
        except StepRefused as exc:
            raise _refused(exc) from None
    return _finish(args, status)


def status_lines(status) -> list[str]:
    from ..domain.formatting import format_amount, format_instant

    c = status.course
    m = status.monograph  # the course's drug
    if m.regimen is not None:
        # A regimen's course: no HSCT or response rule decides its cycles (none is shown).
        lines = [
            f"MRN {status.mrn}: {m.brand_name} ({m.generic_name}), {m.regimen_name(m.regimen.id)}; "
            f"limit {status.limit.max_cycles} cycle{'s' if status.limit.max_cycles != 1 else ''} ({status.limit.why})"
        ]
    else:
        lines = [
            f"MRN {status.mrn}: HSCT {'planned' if status.hsct_planned else 'not planned'}; limit {status.limit.max_cycles} cycles ({status.limit.why})",
        ]
    if c.date_of_birth is not None or c.is_child:
        from ..domain.course import child_rules

        child, why = child_rules(c, status.today)
        lines.append(f"Weight re-check threshold: {status.weight.threshold_percent:g}% ({'children' if child else 'adults'}: {why})")
    if status.discontinued:
        lines.append(f"DISCONTINUED {c.discontinued_on.isoformat()}: {c.discontinued_reason}")
    nd = status.next_dose
    if nd:
        dose = format_amount(nd.mg_per_m2, "mg/m²") if nd.mg_per_m2 is not None else "dose not known yet"
        window = nd.planned.isoformat() if nd.earliest == nd.latest else f"{nd.earliest.isoformat()} to {nd.latest.isoformat()}"
        lines.append(f"Next: cycle {nd.cycle} Day {nd.day}, {window}, {dose} [{nd.state}]")
        lines += [f"  BLOCKED: {b}" for b in nd.blocked_by]
        lines += [f"  FLAG: {f}" for f in nd.flags]
    elif not status.discontinued:
        lines.append("Next: no further dose")
    if status.why_last:
        lines.append(f"Last cycle: {status.why_last}")
    for plan in status.plans:
        lines += plan.summary_lines(m)
    for advice in status.advice:
        lines.append(f"ADVICE ({advice.action.value}): {advice.message}")
    for record in status.open_advice:
        lines.append(f"OPEN ADVICE #{record.id} ({record.advice.action.value}): {record.advice.message} — decide with 'course decide {status.mrn} {record.id}'")
    if c.labs:
        from ..domain.labs import LAB_TITLES, latest, lab_summary

        for kind in LAB_TITLES:
            found = latest(c, kind, counted=False)
            if found is not None:
                lines.append(f"Latest {LAB_TITLES[kind]}: {format_instant(found.taken_at)}: {lab_summary(found)}")
    from ..domain import checklist

    lines += [f"CHECKLIST: {text}" for text in checklist.lines(c, m)]
    if m.raw.get("warnings", {}).get("other"):
        lines.append("Warnings and precautions: " + "; ".join(str(w) for w in m.items("warnings.other")) + f" ({m.fact('warnings.other').citation})")
    for override in c.lab_overrides:
        lines.append(
            f"LABS OVERRIDDEN for cycle {override.cycle} Day {override.day} by {override.pharmacist}: {override.reason} "
            f"(missing: {'; '.join(override.missing)})"
        )
    from ..domain.course import declined_discontinuations

    lines += [f"DISCONTINUATION NOT FOLLOWED: {text}" for text in declined_discontinuations(c)]
    for record in c.advice:
        if record.decision:
            d = record.decision
            lines.append(f"Decided #{record.id}: {'accepted' if d.accepted else 'declined'} by {d.decided_by} (recorded by {d.recorded_by}): {d.reason}")
    return lines


# -- handlers -------------------------------------------------------------------------------------


def run_new(args: argparse.Namespace) -> int:
    from ..domain.course import transplant_plan_decides
    from ..domain.errors import ValidationError
    from .common import chosen_monograph, chosen_regimen

    drug = chosen_monograph(args, with_regimen=False)
    regimen = getattr(args, "regimen", None)
    chosen_regimen(args, drug)  # a regimen drug without (or with a wrong) --regimen, or a --regimen for a drug without regimens: exit 2
    if args.hsct is None and transplant_plan_decides(drug):
        raise ValidationError("--hsct", f"is required for a course of {drug.brand_name}: yes or no (e.g. --hsct no)")
    dob = _date(args.dob, "dob") if args.dob else None
    if args.child and not (args.child_reason or "").strip():
        raise ValidationError("--child-reason", "is required with --child: why the children's threshold applies whatever the age")
    return _write(
        args,
        lambda s: s.courses.new_course(
            args.mrn, args.hsct == "yes", s.user, is_child=args.child, date_of_birth=dob, child_reason=args.child_reason or "", monograph=drug, regimen=regimen
        ),
    )


def run_show(args: argparse.Namespace) -> int:
    with _Session(args, sign_in=False) as s:
        status = s.courses.status(args.mrn)
    return _finish(args, status)


def run_list(args: argparse.Namespace) -> int:
    with _Session(args, sign_in=False) as s:
        mrns = s.courses.mrns()
    if args.json:
        emit_json({"courses": mrns})
    else:
        print("\n".join(mrns) if mrns else "no courses stored")
    return Exit.OK


def run_blasts(args: argparse.Namespace) -> int:
    measured = _date(args.date, "date")
    return _write(args, lambda s: s.courses.record_blasts(args.mrn, args.count, measured, s.user))


def run_weight(args: argparse.Namespace) -> int:
    from ..domain.measurements import parse_weight

    parse_weight(args.weight)  # refuse a bad weight before the PIN is asked for
    measured = _date(args.date, "date")
    return _write(args, lambda s: s.courses.record_weight(args.mrn, args.weight, measured, s.user, args.dosing))


def run_response(args: argparse.Namespace) -> int:
    assessed = _date(args.date, "date")
    mrd = None if args.mrd is None else args.mrd == "negative"
    from .common import chosen_response

    # The course's own drug says which responses there are (and a regimen's course records none).
    return _write(
        args, lambda s: s.courses.record_response(args.mrn, assessed, args.response, mrd, s.user), check=lambda status: chosen_response(args, status.monograph)
    )


def run_hsct(args: argparse.Namespace) -> int:
    return _write(args, lambda s: s.courses.set_hsct(args.mrn, args.hsct == "yes", s.user))


def run_start(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError

    start = _date(args.date, "date")
    if args.reason and not args.extend_to_28:
        raise ValidationError("reason", "only with --extend-to-28")
    return _write(args, lambda s: s.courses.start_cycle(args.mrn, start, s.user, args.extend_to_28, args.reason or ""))


def run_move(args: argparse.Namespace) -> int:
    start = _date(args.date, "date")
    return _write(args, lambda s: s.courses.move_cycle_start(args.mrn, start, s.user))


def run_extend(args: argparse.Namespace) -> int:
    return _write(args, lambda s: s.courses.extend_first_cycle(args.mrn, args.reason, s.user))


def run_given(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from .service_access import override_pin

    given_on = _date(args.date, "date")
    if (args.override_by is None) != (args.override_reason is None):
        raise ValidationError(
            "--override-by" if args.override_by is None else "--override-reason", "an override needs both --override-by PHARMACIST and --override-reason TEXT"
        )

    def action(s):
        override = None
        if args.override_by is not None:
            override = s.service.authorize_override(args.override_by, override_pin(args), args.override_reason)
        return s.courses.record_dose(args.mrn, args.cycle, args.day, given_on, s.user, args.prep, override)

    return _write(args, action)


def _required(args: argparse.Namespace, *names: str) -> None:
    from ..domain.errors import ValidationError

    for name in names:
        if getattr(args, name.replace("-", "_")) is None:
            raise ValidationError(f"--{name}", f"is required for --kind {args.kind}")


def build_advice(args: argparse.Namespace, course, monograph):
    from ..domain import dose_modification as dm

    kind = args.kind
    if kind == "interruption":
        _required(args, "days")
        advice = dm.interruption_advice(args.days, course.reduction_level, monograph=monograph)
    elif kind == "hematologic":
        _required(args, "anc", "platelets", "baseline-anc", "baseline-platelets")
        prior = None
        if args.prior_anc is not None or args.prior_platelets is not None:
            _required(args, "prior-anc", "prior-platelets")
            prior = dm.Counts.of(args.prior_anc, args.prior_platelets, "prior-")
        low_days = None
        if args.low_counts_days is not None:
            from ..domain.course import _whole

            low_days = _whole("low-counts-days", args.low_counts_days, 0, 10_000)
        advice = dm.hematologic_advice(
            dm.Counts.of(args.baseline_anc, args.baseline_platelets, "baseline-"),
            dm.Counts.of(args.anc, args.platelets),
            within_cycle=args.within_cycle,
            prior_cycle_baseline=prior,
            disease_stable_or_improved=args.disease_stable,
            decrease_disease_related=args.disease_related,
            low_counts_days=low_days,
            drug_related=not args.not_drug_related,
            monograph=monograph,
        )
    elif kind == "liver":
        _required(args, "bilirubin-x-uln", "ast-alt-x-uln")
        from ..domain.course import last_bilirubin_x_uln

        advice = dm.liver_advice(
            args.bilirubin_x_uln,
            args.ast_alt_x_uln,
            cause=args.cause,
            no_recovery=args.no_recovery,
            previous_bilirubin_x_uln=last_bilirubin_x_uln(course) if course else None,
            monograph=monograph,
        )
    elif kind == "vod":
        advice = dm.vod_sos_advice(monograph)
    elif kind == "non-hematologic":
        _required(args, "grade")
        advice = dm.non_hematologic_advice(args.grade, args.pretreatment_grade, monograph=monograph)
    else:
        _required(args, "grade")
        advice = dm.infusion_reaction_advice(args.grade, monograph)
    return advice


def run_assess(args: argparse.Namespace) -> int:
    from ..service import StepRefused

    with _Session(args) as s:
        try:
            if args.kind == "overdue":
                records = s.courses.assess_overdue(args.mrn, s.user)
                advice = [r.advice for r in records]
            else:
                course = s.courses.course(args.mrn)
                # The course's own drug judges the finding (another drug's table is not this patient's).
                advice = build_advice(args, course, s.courses.monograph_of(course))
                records = s.courses.assess(args.mrn, advice, s.user)
        except StepRefused as exc:
            raise _refused(exc) from None
    stored = {r.advice.code: r.id for r in records}
    if args.json:
        emit_json({"advice": [{**a.to_dict(), "id": stored.get(a.code)} for a in advice]})
    else:
        if not advice:
            print("nothing to advise")
        for a in advice:
            number = f"#{stored[a.code]} " if a.code in stored else ""
            sources = "; ".join(f"{src.path} ({src.citation}{', pending verification' if src.verify else ''})" for src in a.sources)
            print(f"{number}{a.action.value}: {a.message} [{sources}]")
    blocking = [a for a in advice if a.blocks_dosing]
    if blocking:
        # A hold or a permanent discontinuation is a refusal of the next dose: scripts see exit 1.
        print("infusion-prep course assess: " + "; ".join(f"{a.code}: {a.message}" for a in blocking), file=sys.stderr)
        return Exit.HARD_STOP
    return Exit.OK


def run_decide(args: argparse.Namespace) -> int:
    from ..service import StepRefused

    with _Session(args) as s:
        try:
            record = s.courses.decide(args.mrn, args.advice, bool(args.accept), args.by, args.reason, s.user)
        except StepRefused as exc:
            raise _refused(exc) from None
        status = s.courses.status(args.mrn)
    if args.json:
        emit_json({"decided": record.to_dict(), "status": status.to_dict()})
    else:
        print(f"advice #{record.id} {'accepted' if record.decision.accepted else 'declined'}")
        print("\n".join(status_lines(status)))
    return Exit.OK


def run_lab(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from ..domain.instants import parse_iso_instant
    from ..domain.labs import lab_values
    from ..service import StepRefused

    wanted = set(LAB_OPTIONS[args.kind])
    for kind, names in LAB_OPTIONS.items():
        for name in names:
            if name not in wanted and getattr(args, name) is not None:
                raise ValidationError(f"--{name.replace('_', '-')}", f"is not a value of --kind {args.kind}; it belongs to --kind {kind}")
    values = {name: getattr(args, name) for name in wanted}
    if "qtc" in values:
        values["qtc_ms"] = values.pop("qtc")
    lab_values(args.kind, **values)  # refuse a bad value before the PIN is asked for
    taken = parse_iso_instant(args.taken, "--taken") if args.taken else None
    with _Session(args) as s:
        try:
            done = s.courses.record_lab(args.mrn, args.kind, values, taken, s.user)
        except StepRefused as exc:
            raise _refused(exc) from None
        status = s.courses.status(args.mrn)
    stored = {r.advice.code: r.id for r in done.records}
    if args.json:
        emit_json({"lab": done.result.to_dict(), "advice": [{**a.to_dict(), "id": stored.get(a.code)} for a in done.advice], "status": status.to_dict()})
    else:
        from ..domain.labs import LAB_TITLES, lab_summary

        print(f"recorded {LAB_TITLES[done.result.kind]}: {lab_summary(done.result)}")
        for a in done.advice:
            number = f"#{stored[a.code]} " if a.code in stored else ""
            print(f"{number}{a.action.value}: {a.message}")
        print("\n".join(status_lines(status)))
    blocking = [a for a in done.advice if a.blocks_dosing]
    if blocking:
        # Stored, and the next dose is refused: scripts see exit 1 as with 'course assess'.
        print("infusion-prep course lab: " + "; ".join(f"{a.code}: {a.message}" for a in blocking), file=sys.stderr)
        return Exit.HARD_STOP
    return Exit.OK


def run_lab_override(args: argparse.Namespace) -> int:
    return _write(args, lambda s: s.courses.override_labs(args.mrn, args.reason, s.user))


def run_checklist(args: argparse.Namespace) -> int:
    answers = {
        "sex": args.sex,
        "reproductive_potential": args.reproductive_potential,
        "pregnancy_test": args.pregnancy_test,
        "pregnancy_test_on": args.pregnancy_test_date,
        "contraception_counselled": args.contraception_counselled,
        "breastfeeding_counselled": args.breastfeeding_counselled,
        "hsct_precautions": args.hsct_precautions,
    }
    return _write(args, lambda s: s.courses.complete_checklist(args.mrn, answers, s.user))
