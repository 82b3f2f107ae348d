"""The payer-policy check: do the patient's facts meet a payer policy's criteria for a drug?

The criteria and the facts they judge are data (resources/policies/*.toml), each with the policy
sentence it comes from; this module only applies them and names no fact of its own. A drug's policy
is found by its billing code (`policy_for_billing_code`, the monograph's billing.hcpcs): there is no
default policy, so a drug is never judged by another drug's criteria. Three-valued logic: a
criterion is met (True), not met (False) or unknown (None, its fact was not given).

How the decision is reached, in this order:
1. `experimental`: the diagnosis code is in the policy's list of codes not covered, or is any other
   code than the covered ones when the policy says so ("and all other indications"). This holds
   whatever else is missing or failing, because the policy excludes the indication itself; the
   other failing criteria are still listed in the reasons.
2. `criteria_not_met`: a given fact already fails a criterion. Missing facts cannot change that,
   so the decision is made and the missing facts are named as "not needed for this decision".
3. `incomplete`: no criterion fails but some cannot be judged; the facts needed are listed.
   Never a guess.
4. `meets_criteria`: every criterion is met.

A criterion with cases (its fact's value picks the case) needs only the facts of the case given;
when its fact is unknown only that fact is listed as missing, with a note of what each case would
also need.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import DataFileError, ValidationError
from .formatting import format_count, format_number
from .resources import load_toml

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # importing it imports importlib.resources (zipfile, tempfile)

Decision = Literal["meets_criteria", "criteria_not_met", "experimental", "incomplete"]
DECISIONS: tuple[str, ...] = ("meets_criteria", "criteria_not_met", "experimental", "incomplete")

# How a declared fact is read when typed: each policy file says which facts it judges ([[facts]]).
FACT_KINDS = ("number", "code", "choice", "yes_no")
# What a fact may be derived from instead of being typed (`derived` in the policy file): the
# patient's completed years of age on the day of the check, from the date of birth.
DERIVED_FACTS = ("age_in_years",)
_YES = ("yes", "y", "true")
_NO = ("no", "n", "false")

# ICD-10(-CM) shape: a letter, a digit, a digit or letter (the category), then an optional dot
# and up to four more characters. The dot is optional when typed and always shown.
_ICD10_SHAPE = re.compile(r"^([A-Z][0-9][0-9A-Z])\.?([0-9A-Z]{0,4})$")
_ICD10_EXPECTED = "expected a letter, a digit, a digit or letter, then an optional dot and up to four letters or digits"


# -- facts ------------------------------------------------------------------------------------
class CoverageFacts:
    """What is known about the patient, by the fact ids the payer policy declares ([[facts]] in its
    file): CoverageFacts(**{fact_id: value}). A fact not given is None (never assumed). The facts are the policy's, not this class's: a policy of another drug declares
    its own, and the check reads each by the id its file gives."""

    __slots__ = ("_values",)

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_values", {k: v for k, v in values.items() if v is not None})

    def get(self, fact_id: str) -> Any:
        return self._values.get(fact_id)

    def given(self) -> tuple[str, ...]:
        """The ids of the facts given, in the order given."""
        return tuple(self._values)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._values.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("CoverageFacts is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CoverageFacts) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def __repr__(self) -> str:
        return f"CoverageFacts({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


def normalise_icd10(code: str, fact_id: str) -> str:
    """'c9100', ' C91.00 ' → 'C91.00'. Raises ValidationError(fact_id) for anything not shaped like a
    code: the field is the policy's own diagnosis-code fact, as its file names it."""
    if not isinstance(code, str):
        raise ValidationError(fact_id, f"{code!r} is not a code; {_ICD10_EXPECTED}")
    text = code.strip().upper()
    match = _ICD10_SHAPE.match(text)
    if not match:
        raise ValidationError(fact_id, f"'{code.strip()}' is not an ICD-10 code; {_ICD10_EXPECTED}")
    category, detail = match.groups()
    return f"{category}.{detail}" if detail else category


# -- the policy as data -----------------------------------------------------------------------
@dataclass(frozen=True)
class CodeRange:
    low: str
    high: str
    description: str

    def contains(self, code: str) -> bool:
        """Inclusive, as the policy's table reads. A shorter (header) code counts as inside when
        all its completions are, judged by padding with the lowest and highest digit."""
        width = len(self.low)
        low_end = code.ljust(width, "0")[:width]
        high_end = code.ljust(width, "9")[:width]
        return self.low <= low_end and high_end <= self.high

    @property
    def label(self) -> str:
        return f"{self.low}-{self.high} {self.description}"


@dataclass(frozen=True)
class Criterion:
    id: str
    fact: str
    rule: str  # "min", "one_of", "cases"
    text: str
    summary: str
    where: str
    value: float | None = None
    unit: str = ""
    values: tuple[str, ...] = ()
    cases: dict[str, "Case"] = field(default_factory=dict)
    note_if_not_met: str = ""  # the policy file's note shown beside a failure ([notes], by its key)


@dataclass(frozen=True)
class Case:
    key: str
    requires: tuple[str, ...]
    summary: str
    text: str


@dataclass(frozen=True)
class InputRange:
    low: float
    high: float
    unit: str
    why: str


@dataclass(frozen=True)
class PolicyFact:
    """A fact the policy judges, as its file declares it: how it is read and how it is asked."""

    id: str
    kind: str  # one of FACT_KINDS
    description: str
    label: str = ""  # the order-entry label (with its & mnemonic); empty when not asked there
    placeholder: str = ""
    choices: tuple[str, ...] = ()
    asked: bool = False  # asked at order entry (a derived fact comes from the patient's record)
    option: str = ""  # the command line's option for it (`infusion-prep coverage --<option>`)
    required: bool = False  # the command line refuses a check without it
    help: str = ""  # the option's help
    metavar: str = ""  # the option's value, as its help shows it
    text: str = ""  # the policy sentence the fact is judged by, word for word
    where: str = ""  # where in the policy (section, table)
    name: str = ""  # how a message names it when the form does not ask for it
    derived: str = ""  # read from the patient's record rather than typed: one of DERIVED_FACTS

    @property
    def accepted(self) -> tuple[str, ...]:
        """The values a typed fact may take, when it is one of a list (a choice, yes or no)."""
        if self.kind == "yes_no":
            return ("yes", "no")
        return self.choices


@dataclass(frozen=True)
class Policy:
    raw: dict[str, Any]
    criteria: tuple[Criterion, ...]
    experimental_id: str
    experimental_text: str
    experimental_summary: str
    experimental_ranges: tuple[CodeRange, ...]
    all_other_indications_experimental: bool
    inputs: dict[str, InputRange]
    code_fact: str  # the diagnosis-code fact (kind "code") the experimental finding judges
    notes: dict[str, str] = field(default_factory=dict)
    complete_codes: tuple[str, ...] = ()
    supporting_codes: tuple[str, ...] = ()
    facts: tuple[PolicyFact, ...] = ()

    def fact(self, fact_id: str) -> PolicyFact | None:
        return next((f for f in self.facts if f.id == fact_id), None)

    def asked_facts(self) -> tuple[PolicyFact, ...]:
        """The facts order entry asks for, in the file's order."""
        return tuple(f for f in self.facts if f.asked)

    @property
    def id(self) -> str:
        return str(self.raw["meta"]["id"])

    @property
    def name(self) -> str:
        return str(self.raw["meta"]["name"])

    @property
    def payer(self) -> str:
        return str(self.raw["meta"]["payer"])

    @property
    def hcpcs(self) -> str:
        return str(self.raw["meta"]["hcpcs"])

    @property
    def source_file(self) -> str:
        return str(self.raw["meta"]["source_file"])

    @property
    def revision(self) -> str:
        return str(self.raw["meta"]["policy_revision"])

    def covered_codes(self) -> tuple[str, ...]:
        return tuple(code for c in self.criteria if c.fact == self.code_fact and c.rule == "one_of" for code in c.values)

    @property
    def example(self) -> dict[str, Any]:
        """The facts of a patient who meets every criterion, as the file gives them ([example]): the
        sample sheet's decision, and the tests' starting point."""
        return dict(self.raw.get("example", {}))

    def facts_used(self) -> tuple[str, ...]:
        names: list[str] = []
        for criterion in self.criteria:
            names.append(criterion.fact)
            for case in criterion.cases.values():
                names.extend(case.requires)
        return tuple(dict.fromkeys(names))


def _parse_fact(node: dict[str, Any]) -> PolicyFact:
    kind = str(node["kind"])
    if kind not in FACT_KINDS:
        raise DataFileError(f"fact {node.get('id')} has unknown kind '{kind}' (one of {', '.join(FACT_KINDS)})")
    fact_id = str(node["id"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", fact_id):
        raise DataFileError(f"fact '{fact_id}' must be a lower-case name (letters, digits, underscores)")
    if kind == "choice" and not node.get("choices"):
        raise DataFileError(f"fact {fact_id} is a choice but lists no choices")
    # Each fact names the policy sentence it is judged by: a reviewer checks it against the policy.
    if not str(node.get("text", "")).strip() or not str(node.get("where", "")).strip():
        raise DataFileError(f"fact {fact_id} does not quote the policy text it comes from (text and where)")
    derived = str(node.get("derived", ""))
    if derived and (derived not in DERIVED_FACTS or kind != "number"):
        raise DataFileError(f"fact {fact_id} is derived from '{derived}'; a number fact may be derived from {', '.join(DERIVED_FACTS)}")
    return PolicyFact(
        id=fact_id,
        kind=kind,
        description=str(node["description"]),
        label=str(node.get("label", "")),
        placeholder=str(node.get("placeholder", "")),
        choices=tuple(str(c) for c in node.get("choices", [])),
        asked=bool(node.get("asked", False)),
        option=str(node.get("option", fact_id.replace("_", "-"))),
        required=bool(node.get("required", False)),
        help=str(node.get("help", node["description"])),
        metavar=str(node.get("metavar", "")),
        text=str(node["text"]),
        where=str(node["where"]),
        name=str(node.get("name", "")),
        derived=derived,
    )


def _parse_criterion(node: dict[str, Any], declared: dict[str, PolicyFact], notes: dict[str, str]) -> Criterion:
    rule = node["rule"]
    note = str(node.get("note_if_not_met", ""))
    if note and note not in notes:
        raise DataFileError(f"criterion {node['id']} names note '{note}', which [notes] does not have")
    common = dict(
        id=node["id"],
        fact=node["fact"],
        rule=rule,
        text=node["text"],
        summary=node["summary"],
        where=node.get("where", ""),
        note_if_not_met=notes.get(note, ""),
    )
    if node["fact"] not in declared:
        raise DataFileError(f"criterion {node['id']} asks for unknown fact '{node['fact']}'")
    if rule == "min":
        return Criterion(**common, value=float(node["value"]), unit=node.get("unit", ""))
    if rule == "one_of":
        fact_id = node["fact"]
        return Criterion(**common, values=tuple(normalise_icd10(v, fact_id) if declared[fact_id].kind == "code" else v for v in node["values"]))
    if rule == "cases":
        cases = {key: Case(key=key, requires=tuple(case["requires"]), summary=case["summary"], text=case["text"]) for key, case in node["cases"].items()}
        for case in cases.values():
            unknown = [name for name in case.requires if name not in declared or declared[name].kind != "yes_no"]
            if unknown:
                raise DataFileError(f"criterion {node['id']} case {case.key} requires unknown yes/no facts {unknown}")
        return Criterion(**common, cases=cases)
    raise DataFileError(f"criterion {node['id']} has unknown rule '{rule}'")


def parse_policy(raw: dict[str, Any]) -> Policy:
    try:
        for key in ("id", "name", "payer", "hcpcs", "source_file", "policy_revision"):
            raw["meta"][key]
        facts = tuple(_parse_fact(node) for node in raw["facts"])
        declared = {f.id: f for f in facts}
        notes = {str(k): str(v) for k, v in raw.get("notes", {}).items()}
        criteria = tuple(_parse_criterion(node, declared, notes) for node in raw["criteria"])
        experimental = raw["experimental"]
        code_fact = str(experimental["fact"])
        if code_fact not in declared or declared[code_fact].kind != "code":
            raise DataFileError(f"[experimental] judges '{code_fact}', which is not a declared fact of kind code")
        undeclared = [name for name in raw.get("example", {}) if name not in declared]
        if undeclared:
            raise DataFileError(f"[example] gives {', '.join(undeclared)}, which the policy does not declare ([[facts]])")
        return Policy(
            raw=raw,
            criteria=criteria,
            experimental_id=experimental["id"],
            experimental_text=experimental["text"],
            experimental_summary=experimental["summary"],
            experimental_ranges=tuple(
                CodeRange(normalise_icd10(r["low"], code_fact), normalise_icd10(r["high"], code_fact), r["description"]) for r in experimental.get("ranges", [])
            ),
            all_other_indications_experimental=bool(experimental["all_other_indications"]),
            inputs={
                name: InputRange(float(node["min"]), float(node["max"]), node.get("unit", ""), node.get("why", "")) for name, node in raw["inputs"].items()
            },
            code_fact=code_fact,
            notes=notes,
            complete_codes=tuple(normalise_icd10(c, code_fact) for c in raw.get("codes", {}).get("complete_codes", [])),
            supporting_codes=tuple(normalise_icd10(c, code_fact) for c in raw.get("codes", {}).get("supporting_codes", [])),
            facts=facts,
        )
    except KeyError as exc:
        raise DataFileError(f"policy file is missing {exc}") from exc
    except ValidationError as exc:
        raise DataFileError(f"policy file has a malformed code: {exc}") from exc


@cache
def installed_policies() -> tuple[Policy, ...]:
    """Every payer policy installed (resources/policies/*.toml), by file name."""
    from .resources import resource_path

    entries = sorted(resource_path("policies").iterdir(), key=lambda e: e.name)
    return tuple(load_policy(f"policies/{e.name}") for e in entries if e.name.endswith(".toml"))


@cache
def policy_for_billing_code(hcpcs: str) -> Policy | None:
    """The installed payer policy (resources/policies/) that judges the drug billed under this HCPCS
    code, or None: a drug with no policy file has no coverage check, rather than another drug's."""
    from .resources import resource_path

    for entry in sorted(resource_path("policies").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            policy = load_policy(f"policies/{entry.name}")
            if policy.hcpcs.strip().upper() == str(hcpcs).strip().upper():
                return policy
    return None


def load_policy(source: str | Path | Traversable) -> Policy:
    """The policy read from a resource name ("policies/<file>.toml"), Path or Traversable. There is
    no default policy: a drug's is found by its billing code (policy_for_billing_code)."""
    return parse_policy(load_toml(source))


def patient_facts(policy: Policy, date_of_birth: date | None, on: date) -> dict[str, Any]:
    """The facts the policy derives from the patient's record (`derived` in its file) rather than
    having them typed: today only the age in completed years on `on`, from the date of birth."""
    if date_of_birth is None:
        return {}
    from .identity import completed_years

    return {f.id: completed_years(date_of_birth, on) for f in policy.facts if f.derived == "age_in_years"}


# -- checking typed facts ---------------------------------------------------------------------
def _number(name: str, value: Any, policy: Policy) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    limits = policy.inputs.get(name)
    accepted = f"{format_number(limits.low)} to {format_number(limits.high)} {limits.unit}".rstrip() if limits else "a number"
    if isinstance(value, bool):
        raise ValidationError(name, f"must be a number, {accepted}")
    from .numbers import read_number

    number = read_number(name, value, accepted)
    if not math.isfinite(number):
        raise ValidationError(name, f"'{value}' is not a finite number; must be {accepted}")
    if limits and not limits.low <= number <= limits.high:
        raise ValidationError(name, f"{format_number(number)} is out of range; must be {accepted} ({limits.why})")
    return number


def _yes_no(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValidationError(name, f"'{value}' must be yes or no")


def _choice(fact: PolicyFact, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower().replace(" ", "-").replace("_", "-")
    if not text:
        return None
    # A choice may be typed by its first word ("newly" for "newly-diagnosed").
    found = [c for c in fact.choices if c == text] or [c for c in fact.choices if c.split("-")[0] == text]
    if len(found) != 1:
        accepted = ", ".join(fact.choices)
        raise ValidationError(fact.id, f"'{value}' must be one of: {accepted}")
    return found[0]


def _icd10_codes(value: Any, policy: Policy) -> tuple[str, ...]:
    """Every diagnosis code on the claim, in order: a list, or one text with codes separated by commas."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    texts = [part for item in items for part in str(item).replace(";", ",").split(",")]
    codes = tuple(dict.fromkeys(c for c in (_icd10(t, policy) for t in texts) if c))
    return codes


def _primary_code(codes: tuple[str, ...], policy: Policy) -> str | None:
    """The indication the policy judges: a covered code if the claim has one, else its first non-encounter code."""
    for code in codes:
        if code in policy.covered_codes():
            return code
    for code in codes:
        if code not in policy.supporting_codes:
            return code
    return codes[0] if codes else None


def _icd10(value: Any, policy: Policy) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    code = normalise_icd10(value, policy.code_fact)
    for complete in policy.complete_codes:
        if code != complete and code.replace(".", "").startswith(complete.replace(".", "")):
            raise ValidationError(policy.code_fact, f"'{code}' is not an ICD-10-CM code: {complete} is already complete and has no subcodes (e.g. {complete})")
    # A category such as C91.0 stands for several codes, some covered and some not: asking
    # for the full code is the only answer that is not a guess.
    ambiguous = [covered for covered in policy.covered_codes() if covered != code and covered.replace(".", "").startswith(code.replace(".", ""))]
    if ambiguous:
        raise ValidationError(
            policy.code_fact, f"'{code}' is a category, not a complete code; give the full code (the policy covers {', '.join(policy.covered_codes())})"
        )
    return code


def validated_facts(facts: CoverageFacts, policy: Policy) -> dict[str, Any]:
    """The facts normalised; ValidationError naming the field for anything that cannot be used."""
    found: dict[str, Any] = {}
    unknown = [name for name in facts.given() if policy.fact(name) is None]
    if unknown:
        raise ValidationError(unknown[0], f"is not a fact the {policy.payer} policy {policy.name} judges; it judges {', '.join(f.id for f in policy.facts)}")
    for fact in policy.facts:
        value = facts.get(fact.id)
        if fact.kind == "number":
            found[fact.id] = _number(fact.id, value, policy)
        elif fact.kind == "yes_no":
            found[fact.id] = _yes_no(fact.id, value)
        elif fact.kind == "choice":
            found[fact.id] = _choice(fact, value)
        else:  # code: every code on the claim, and the one the policy judges
            codes = _icd10_codes(value, policy)
            found[fact.id] = _primary_code(codes, policy)
            found[f"{fact.id}_codes"] = list(codes)
    return found


# -- the result -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CriterionResult:
    id: str
    met: bool | None
    text: str  # the policy sentence, word for word
    summary: str
    reason: str
    missing: tuple[str, ...] = ()  # facts not given that this criterion needs to be judged
    not_given: tuple[str, ...] = ()  # facts it would use that were not given, needed or not

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "met": self.met, "text": self.text, "summary": self.summary, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CriterionResult:
        met = data.get("met")
        return cls(
            id=str(data.get("id", "")),
            met=met if isinstance(met, bool) else None,
            text=str(data.get("text", "")),
            summary=str(data.get("summary", "")),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True)
class CoverageDecision:
    decision: Decision
    criteria: tuple[CriterionResult, ...]
    reasons: tuple[str, ...]
    missing_facts: tuple[str, ...]  # needed for the decision (only when incomplete)
    not_given: tuple[str, ...]  # every fact some criterion would use that was not given
    facts: dict[str, Any]
    listed_not_covered: str | None  # the policy's code range the ICD-10 code falls in, if any
    policy_id: str
    policy_name: str
    payer: str
    hcpcs: str
    policy_revision: str
    policy_source: str

    def criterion(self, criterion_id: str) -> CriterionResult:
        for result in self.criteria:
            if result.id == criterion_id:
                return result
        raise KeyError(criterion_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "criteria": [c.to_dict() for c in self.criteria],
            "reasons": list(self.reasons),
            "missing_facts": list(self.missing_facts),
            "not_given": list(self.not_given),
            "facts": dict(self.facts),
            "listed_not_covered": self.listed_not_covered,
            "policy": {
                "id": self.policy_id,
                "name": self.policy_name,
                "payer": self.payer,
                "hcpcs": self.hcpcs,
                "revision": self.policy_revision,
                "source": self.policy_source,
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> CoverageDecision:
        """The decision as stored with a preparation (to_dict). ValueError when it is not one."""
        if not isinstance(data, dict) or data.get("decision") not in DECISIONS:
            raise ValueError("the coverage decision is not one the policy check makes")
        policy: dict[str, Any] = data["policy"] if isinstance(data.get("policy"), dict) else {}
        return cls(
            decision=data["decision"],
            criteria=tuple(CriterionResult.from_dict(c) for c in data.get("criteria", []) if isinstance(c, dict)),
            reasons=tuple(str(r) for r in data.get("reasons", [])),
            missing_facts=tuple(str(f) for f in data.get("missing_facts", [])),
            not_given=tuple(str(f) for f in data.get("not_given", [])),
            facts=dict(data.get("facts") or {}),
            listed_not_covered=data.get("listed_not_covered"),
            policy_id=str(policy.get("id", "")),
            policy_name=str(policy.get("name", "")),
            payer=str(policy.get("payer", "")),
            hcpcs=str(policy.get("hcpcs", "")),
            policy_revision=str(policy.get("revision", "")),
            policy_source=str(policy.get("source", "")),
        )

    def summary_lines(self) -> list[str]:
        marks = {True: "met", False: "NOT MET", None: "unknown"}
        lines = [
            f"Payer policy: {self.payer}, {self.policy_name} ({self.hcpcs}), revision {self.policy_revision}",
            f"Decision: {self.decision.replace('_', ' ').upper()}",
            "Criteria:",
        ]
        for result in self.criteria:
            lines.append(f"  [{marks[result.met]}] {result.id}: {result.reason}")
            lines.append(f'      policy: "{result.text}"')
        lines.append("Reasons:")
        lines.extend(f"  - {reason}" for reason in self.reasons)
        return lines


def fact_labels(policy: Policy | None = None) -> dict[str, str]:
    """Fact id -> how a screen names it, from the policy file: its `name`, else its order-entry label
    without its mnemonic, colon and unit ("Blasts &positive (%):" -> "Blasts positive"): an error
    about a payer fact names it as the form does. With no policy, every installed policy's facts
    (the first declaration of an id wins): a screen that has no drug yet still names them."""
    found: dict[str, str] = {}
    for each in (policy,) if policy is not None else installed_policies():
        for fact in each.facts:
            text = fact.name or fact.label.replace("&", "").rstrip(":").removesuffix(" (%)").strip()
            if text:
                found.setdefault(fact.id, text)
    return found


def _described(policy: Policy, fact_id: str) -> str:
    found = policy.fact(fact_id)
    return found.description if found is not None else fact_id


def _fmt(value: float, unit: str = "") -> str:
    if unit == "percent":
        return f"{format_number(value)}%"
    return format_count(value, unit) if unit else format_number(value)  # '1 year', not '1 years'


def _evaluate(criterion: Criterion, facts: dict[str, Any], policy: Policy) -> CriterionResult:
    value = facts[criterion.fact]
    base: dict[str, Any] = dict(id=criterion.id, text=criterion.text, summary=criterion.summary)
    if criterion.rule == "cases":
        return _evaluate_cases(criterion, value, facts, policy)
    if value is None:
        return CriterionResult(**base, met=None, missing=(criterion.fact,), reason=f"{criterion.fact} ({_described(policy, criterion.fact)}) was not given")
    if criterion.rule == "min":
        met = value >= criterion.value
        given = _fmt(value, criterion.unit)
        if criterion.value is None:
            raise ValueError(f"criterion {criterion.id}: a minimum rule without its value")  # the loader refuses such a file
        minimum = _fmt(criterion.value, criterion.unit)
        verdict = "meets" if met else "is under"
        reason = f"{criterion.fact} {given} {verdict} the policy's minimum of {minimum} ({criterion.summary})"
        if criterion.note_if_not_met and not met:
            reason += ". " + criterion.note_if_not_met
        return CriterionResult(**base, met=met, reason=reason)
    # one_of
    met = value in criterion.values
    listed = ", ".join(criterion.values)
    if criterion.fact == policy.code_fact:
        reason = f"{criterion.fact} {value} {'is' if met else 'is not'} one of the covered codes ({listed})"
        others = [c for c in facts.get(f"{criterion.fact}_codes", []) if c != value]
        if others:
            reason += f"; also on the claim: {', '.join(others)}"
    else:
        reason = f"{criterion.fact} {value} {'meets' if met else 'does not meet'} the policy's criterion: {criterion.summary} (accepted: {listed})"
    return CriterionResult(**base, met=met, reason=reason)


def _evaluate_cases(criterion: Criterion, value: str | None, facts: dict[str, Any], policy: Policy) -> CriterionResult:
    base: dict[str, Any] = dict(id=criterion.id, summary=criterion.summary)
    if value is None:
        needs = sorted({name for case in criterion.cases.values() for name in case.requires})
        conditional = "; ".join(f"if {key}, {' and '.join(case.requires)} are also needed" for key, case in criterion.cases.items() if case.requires)
        reason = f"{criterion.fact} ({_described(policy, criterion.fact)}) was not given" + (f" ({conditional})" if needs else "")
        return CriterionResult(**base, text=criterion.text, met=None, missing=(criterion.fact,), reason=reason)
    case = criterion.cases[value]
    failed = [name for name in case.requires if facts[name] is False]
    unknown = [name for name in case.requires if facts[name] is None]
    if failed:
        met, reason = (
            False,
            f"{criterion.fact} {value}, but not {' and not '.join(_described(policy, n).removesuffix(' (yes or no)') for n in failed)}: {case.summary}",
        )
    elif unknown:
        met, reason = None, f"{criterion.fact} {value}: {case.summary}; not given: {', '.join(unknown)}"
    else:
        met, reason = True, f"{criterion.fact} {value}: {case.summary}" + (" (all given as yes)" if case.requires else "")
    missing = tuple(unknown) if met is None else ()
    return CriterionResult(**base, text=case.text, met=met, missing=missing, not_given=tuple(unknown), reason=reason)


def _evaluate_experimental(code: str | None, policy: Policy) -> tuple[CriterionResult, str | None]:
    base: dict[str, Any] = dict(id=policy.experimental_id, text=policy.experimental_text, summary=policy.experimental_summary)
    if code is None:
        fact = policy.code_fact
        return CriterionResult(**base, met=None, missing=(fact,), reason=f"{fact} ({_described(policy, fact)}) was not given"), None
    for code_range in policy.experimental_ranges:
        if code_range.contains(code):
            reason = f"{policy.code_fact} {code} is in the policy's list of codes not covered ({code_range.label}): experimental and investigational"
            return CriterionResult(**base, met=False, reason=reason), code_range.label
    if code in policy.covered_codes():
        return CriterionResult(**base, met=True, reason=f"{policy.code_fact} {code} is a covered indication"), None
    if policy.all_other_indications_experimental:
        reason = (
            f"{policy.code_fact} {code} is not a covered code ({', '.join(policy.covered_codes())}); "
            "the policy considers all other indications experimental and investigational"
        )
        return CriterionResult(**base, met=False, reason=reason), None
    return CriterionResult(**base, met=True, reason=f"{policy.code_fact} {code} is not listed as experimental"), None


def check_coverage(facts: CoverageFacts, policy: Policy | str | Path | Traversable) -> CoverageDecision:
    """Apply the payer policy to the facts. See the module docstring for the order of decisions.
    The policy is required: the drug's, found by its billing code (policy_for_billing_code)."""
    if not isinstance(policy, Policy):
        policy = load_policy(policy)
    values = validated_facts(facts, policy)

    results = [_evaluate(criterion, values, policy) for criterion in policy.criteria]
    experimental, listed = _evaluate_experimental(values.get(policy.code_fact), policy)
    results.append(experimental)

    missing = tuple(dict.fromkeys(name for r in results if r.met is None for name in r.missing))
    not_given = tuple(dict.fromkeys(name for r in results for name in (*r.missing, *r.not_given)))
    failing = [r for r in results if r.met is False and r is not experimental]
    reasons: list[str] = []
    if experimental.met is False:
        decision: Decision = "experimental"
        reasons.append(experimental.reason)
        reasons.extend(r.reason for r in failing if r.id not in _code_criteria(policy))
    elif failing:
        decision = "criteria_not_met"
        reasons.extend(r.reason for r in failing)
    elif missing:
        decision = "incomplete"
        reasons.append(f"Not given, needed for the decision: {', '.join(missing)}")
        reasons.extend(r.reason for r in results if r.met is None and r.id != experimental.id)
    else:
        decision = "meets_criteria"
        reasons.append(f"Meets every criterion of the {policy.payer} policy {policy.name} for {policy.hcpcs}")
        reasons.extend(r.reason for r in results if r.id != experimental.id)
    if decision in ("experimental", "criteria_not_met") and not_given:
        reasons.append(f"Not given, but not needed for this decision: {', '.join(not_given)}")

    return CoverageDecision(
        decision=decision,
        criteria=tuple(results),
        reasons=tuple(reasons),
        missing_facts=missing if decision == "incomplete" else (),
        not_given=not_given,
        facts=values,
        listed_not_covered=listed,
        policy_id=policy.id,
        policy_name=policy.name,
        payer=policy.payer,
        hcpcs=policy.hcpcs,
        policy_revision=policy.revision,
        policy_source=policy.source_file,
    )


def _code_criteria(policy: Policy) -> set[str]:
    """Criteria judged on the diagnosis code alone: their failure is the experimental finding itself."""
    return {c.id for c in policy.criteria if c.fact == policy.code_fact}
