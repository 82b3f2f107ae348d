"""infusion-prep coverage: the payer-policy check, headless."""

from __future__ import annotations

import argparse

from .common import Exit, emit_json

# The domain names facts as the policy file does; a user typed the command's options.
OPTION_FOR_FACT = {
    "age_years": "age",
    "disease_status": "disease-status",
    "icd10": "icd10",
    "cd22_percent": "cd22-percent",
    "ph": "ph",
    "tki_failed": "tki-failed",
    "chemo_failed": "chemo-failed",
}

EPILOG = """\
decisions:
  meets_criteria    every criterion of the policy is met
  criteria_not_met  a given fact fails a criterion (decided even when other facts are missing)
  experimental      the ICD-10 code is listed as not covered, or is any other indication
  incomplete        nothing fails, but facts the decision needs were not given (they are listed)

exit codes:
  0 = meets_criteria
  1 = not covered as given: criteria_not_met, experimental or incomplete (the result is still printed)
  2 = invalid input (one line on stderr naming the field)

Coverage and dosing are separate questions: the label covers children, this policy adults
only. `infusion-prep calc` still calculates the dose for a patient the policy does not cover.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "coverage",
        help="check a payer policy's criteria for a drug (resources/policies/)",
        description="Check the patient's facts against the payer policy's criteria (resources/policies/). "
        "Facts not given are never assumed: the decision is then 'incomplete' and names them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--age", required=True, metavar="YEARS", help="age in years")
    parser.add_argument("--icd10", required=True, action="append", metavar="CODE",
                        help="ICD-10 diagnosis code (the dot may be left out; case does not matter); a claim with several "
                        "codes: repeat the option or separate them with commas, e.g. --icd10 Z51.11,C91.00")
    parser.add_argument("--disease-status", choices=["relapsed", "refractory", "newly-diagnosed"],
                        help="relapsed or refractory disease (the policy's first criterion); newly diagnosed does not meet it")
    parser.add_argument("--cd22-percent", metavar="P", help="percent of blasts CD22-positive")
    parser.add_argument("--ph", choices=["positive", "negative"], help="Philadelphia chromosome status")
    parser.add_argument("--tki-failed", choices=["yes", "no"], help="intolerant or refractory to tyrosine kinase inhibitors")
    parser.add_argument("--chemo-failed", choices=["yes", "no"], help="intolerant or refractory to standard chemotherapy")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..domain.coverage import CoverageFacts, check_coverage
    from ..domain.errors import ValidationError

    for fact, option in OPTION_FOR_FACT.items():
        typed = getattr(args, option.replace("-", "_"))
        # An option typed empty is a slip, not "not given": leaving it out is how to say that.
        for text in typed if isinstance(typed, list) else [typed]:
            if text is not None and not text.strip():
                raise ValidationError(option, "is empty; leave the option out if the fact is not known")
    facts = CoverageFacts(
        age_years=args.age,
        icd10=args.icd10,
        cd22_percent=args.cd22_percent,
        ph=args.ph,
        tki_failed=args.tki_failed,
        chemo_failed=args.chemo_failed,
        disease_status=args.disease_status,
    )
    try:
        result = check_coverage(facts)
    except ValidationError as exc:
        raise ValidationError(OPTION_FOR_FACT.get(exc.field, exc.field), exc.message) from None
    if args.json:
        emit_json(result.to_dict())
    else:
        print("\n".join(result.summary_lines()))
        if result.missing_facts:
            options = ", ".join(f"--{OPTION_FOR_FACT[name]}" for name in result.missing_facts)
            print(f"To decide, also give: {options}")
    return Exit.OK if result.decision == "meets_criteria" else Exit.HARD_STOP
