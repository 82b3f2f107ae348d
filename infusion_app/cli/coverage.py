"""infusion-prep coverage: the payer-policy check, headless."""

from __future__ import annotations

import argparse
import sys

from ..domain.errors import DataFileError
from .common import Exit, add_drug_options, chosen_monograph, emit_json


def installed_facts():
    """Every fact some installed payer policy declares ([[facts]] in resources/policies/*.toml), by
    option, first declaration first: the command's options are the policies' facts, not a list here."""
    from ..domain.coverage import installed_policies

    found = {}
    for policy in installed_policies():
        for fact in policy.facts:
            found.setdefault(fact.option, fact)
    return found


EPILOG = """\
decisions:
  meets_criteria    every criterion of the policy is met
  criteria_not_met  a given fact fails a criterion (decided even when other facts are missing)
  experimental      the ICD-10 code is listed as not covered, or is any other indication
  incomplete        nothing fails, but facts the decision needs were not given (they are listed)

exit codes:
  0 = meets_criteria
  1 = not covered as given: criteria_not_met, experimental or incomplete (the result is still printed)
  1 = also: no payer policy is installed for the drug (it is not judged by another drug's policy)
  2 = invalid input (one line on stderr naming the field)
  3 = a policy file cannot be read

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
    add_drug_options(parser, regimen=False)
    try:
        facts = installed_facts()
    except DataFileError:
        facts = {}  # the command says which file when run; the parser must still build
    for option, fact in facts.items():
        # Required facts are checked once the drug's policy is known: a drug with no policy needs none.
        kwargs: dict = {"metavar": fact.metavar or option.replace("-", "_").upper(), "help": fact.help + (" (required)" if fact.required else "")}
        if fact.accepted:
            kwargs["choices"] = list(fact.accepted)
            del kwargs["metavar"]
        if fact.kind == "code":
            kwargs["action"] = "append"
        parser.add_argument(f"--{option}", dest=f"fact_{fact.id}", **kwargs)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..domain.coverage import CoverageFacts, check_coverage, policy_for_billing_code
    from ..domain.errors import ValidationError

    monograph = chosen_monograph(args, with_regimen=False)
    policy = policy_for_billing_code(monograph.text("billing.hcpcs"))
    given = {name.removeprefix("fact_"): value for name, value in vars(args).items() if name.startswith("fact_") and value is not None}
    if policy is None:
        # Judging this drug by another drug's policy would be a forged answer.
        print(
            f"{monograph.brand_name} ({monograph.id}): no payer policy is installed for it "
            f"(HCPCS {monograph.text('billing.hcpcs')}; resources/policies/ has none); coverage is not checked",
            file=sys.stderr,
        )
        if args.json:
            emit_json({"decision": None, "drug": monograph.id, "policy": None, "reason": "no payer policy is installed for this drug"})
        return Exit.HARD_STOP
    option_of = {f.id: f.option for f in policy.facts}
    for fact_id, typed in given.items():
        fact = policy.fact(fact_id)
        option = fact.option if fact is not None else fact_id.replace("_", "-")
        if fact is None:
            raise ValidationError(
                option,
                f"is not a fact the {policy.payer} policy for {monograph.brand_name} judges; it judges {', '.join('--' + f.option for f in policy.facts)}",
            )
        # An option typed empty is a slip, not "not given": leaving it out is how to say that.
        for text in typed if isinstance(typed, list) else [typed]:
            if not text.strip():
                raise ValidationError(option, "is empty; leave the option out if the fact is not known")
    for fact in policy.facts:
        if fact.required and fact.id not in given:
            raise ValidationError(
                f"--{fact.option}",
                f"is required for the {policy.payer} policy ({fact.description}), e.g. "
                f"--{fact.option} {fact.placeholder.removeprefix('e.g. ') or (fact.accepted[0] if fact.accepted else '45')}",
            )
    try:
        result = check_coverage(CoverageFacts(**given), policy)
    except ValidationError as exc:
        raise ValidationError(option_of.get(exc.field, exc.field), exc.message) from None
    if args.json:
        emit_json(result.to_dict())
    else:
        print("\n".join(result.summary_lines()))
        if result.missing_facts:
            options = ", ".join(f"--{option_of.get(name, name)}" for name in result.missing_facts)
            print(f"To decide, also give: {options}")
    return Exit.OK if result.decision == "meets_criteria" else Exit.HARD_STOP
