"""The drug monograph: every drug number the program uses, read from resources/monographs/.

A monograph file holds facts. Each fact is a value (a quantity with its unit, a text, a list or a
flag) with the source it comes from and a `verify` mark for values awaiting pharmacist review.
The code asks for facts by their dotted path ("time_limits.reconstitution_to_dilution") and
never holds a drug number of its own.
"""

from __future__ import annotations

import re

import math
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import DataFileError, ValidationError
from .lookalikes import skeleton
from .quantities import Quantity, has_dimension
from .resources import installed_monograph_ids, load_toml, resource_path

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # importing it imports importlib.resources (zipfile, tempfile)

# A response is a key of the monograph's [dosing] responses (BESPONSA: none, cr, cri): the program
# knows no response of its own, nor which of them is a remission ([dosing] remission says).
Response = str


@dataclass(frozen=True)
class Fact:
    path: str
    value: Any  # pint Quantity, str, list, bool
    source: str
    source_text: str
    where: str
    verify: bool
    # A time limit a pharmacist may override. Label limits never are (the file says so per limit);
    # every other value is not a limit and is never overridden.
    overridable: bool = False

    @property
    def citation(self) -> str:
        return f"{self.source_text}, {self.where}" if self.where else self.source_text


@dataclass(frozen=True)
class DoseRow:
    cycles: Literal["first", "later"]
    # A later cycles' row doses the responses that are a remission (True) or those that are not
    # (False), as the label's table says "achieved CR or CRi"; None: any response (the first cycles).
    in_remission: bool | None
    mg_per_m2_by_day: dict[int, Fact]


@dataclass(frozen=True)
class Regimen:
    """A dosing regimen a pharmacist picks at order entry (a drug whose dose no response decides)."""

    id: str
    name: str
    cap_per_dose: Fact | None  # the label's most per dose in mg, or None (not capped)


@dataclass(frozen=True)
class DeadlineRule:
    """What one deadline governs, from the monograph's [deadlines]: the steps (event type values) that
    meet it, the last chain step it refuses until met (a hard deadline), or the step it holds back (a minimum)."""

    key: str
    met_by: tuple[str, ...] = ()
    blocks_until: str | None = None
    holds: str | None = None


@dataclass(frozen=True)
class PremedicationDrug:
    drug_class: str
    name: str
    aliases: tuple[str, ...]
    typical: str
    dose_min: Fact
    dose_max: Fact
    # A child's dose per kg of body weight and its cap (issue 16), when the monograph gives them.
    child_per_kg: Fact | None = None
    child_max: Fact | None = None

    def is_named(self, text: str) -> bool:
        # By skeleton: full-width letters, a look-alike Cyrillic letter or a zero-width space do not make another drug.
        return skeleton(str(text)) in {skeleton(n) for n in (self.name, *self.aliases)}

    def named_within(self, text: str) -> bool:
        """The drug's name or an alias appears as a word in `text` ("acetaminophen PO", "Solu-Medrol 125")."""
        words = " ".join(re.split(r"[^\w-]+", skeleton(str(text))))
        return any(re.search(rf"(?<![\w-]){re.escape(skeleton(name))}(?![\w-])", words) for name in (self.name, *self.aliases))


@dataclass
class Monograph:
    """A parsed monograph. Use `fact()`/`quantity()` for any value; helpers cover the common ones."""

    raw: dict[str, Any]
    facts: dict[str, Fact] = field(default_factory=dict)
    dose_rows: list[DoseRow] = field(default_factory=list)
    # A dose calculation reads a dozen facts in fixed units (about 16 reads per calculation, a
    # third of its time in pint) and deadlines the same few time limits at every repaint; a
    # monograph's facts never change once parsed.
    _magnitudes: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _premedication_drugs: list[PremedicationDrug] | None = field(default=None, repr=False, compare=False)
    # The regimen this view of the monograph doses by (None: the drug has none, or none is chosen yet).
    regimen: Regimen | None = None
    regimens: tuple[Regimen, ...] = ()

    # -- identity -------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.raw["meta"]["id"])

    @property
    def generic_name(self) -> str:
        return str(self.raw["meta"]["generic_name"])

    @property
    def brand_name(self) -> str:
        return str(self.raw["meta"]["brand_name"])

    @property
    def revision(self) -> str:
        return str(self.raw["meta"]["monograph_revision"])

    @property
    def label_revision(self) -> str:
        return str(self.raw["meta"]["label_revision"])

    @property
    def id_prefix(self) -> str:
        """The preparation id prefix of this drug (BSP-7K3QX)."""
        return str(self.raw["meta"].get("id_prefix", "")).strip().upper()

    @property
    def decided_by(self) -> str:
        """What decides the dose per m²: "response" (rows by cycle and response) or "regimen"."""
        return str(self.raw["dosing"].get("decided_by", "response"))

    @property
    def order_choices_words(self) -> str:
        """What an order says that a course on file would check, in words: the cycle, the day and what
        decides the dose ([dosing] decided_by): "cycle, day and response" (BESPONSA), "cycle, day and
        regimen" (MYLOTARG, which has no responses)."""
        return f"cycle, day and {self.decided_by}"

    def response_words(self, response: str | None) -> str:
        """How a response is written where it is picked, on the sheet and in the course's advice
        ("none (no CR/CRi)", "CRi"), from the monograph's [dosing] responses; the response itself
        when the monograph names no words for it."""
        words = self.raw["dosing"].get("responses", {})
        return str(words.get(str(response or "").strip().lower(), response or ""))

    def in_remission(self, response: str | None) -> bool:
        """Whether the response is a remission ([dosing] remission: BESPONSA's CR or CRi): it picks the
        later cycles' dose row, and the course's rules (discontinue without one, HSCT) count it."""
        return "dosing.remission" in self.facts and str(response or "").strip().lower() in self.items("dosing.remission")

    def remission_words(self, joiner: str = "/") -> str:
        """The remission responses as written for people, joined: "CR/CRi", or with " or ": "CR or CRi"."""
        return joiner.join(self.response_words(r) for r in self.items("dosing.remission"))

    def response_given(self, response: str | None) -> Response | None:
        """A typed response as stored (lower case), or None when none is given; refused naming the
        field (ValidationError 'response') when it is not one of this drug's responses, or when the
        drug's dose is decided by a regimen (a response would be ignored there, never given)."""
        text = str(response or "").strip().lower()
        if not text:
            return None
        accepted = [key for key, _ in self.response_choices()]
        if self.decided_by != "response" or not accepted:
            raise ValidationError("response", f"does not decide the dose of {self.brand_name} (its regimen does); leave it out")
        if text not in accepted:
            raise ValidationError("response", f"'{response}' is not a response of {self.brand_name}; must be one of {', '.join(accepted)}")
        return text

    def regimen_name(self, regimen: str) -> str:
        """How a regimen is written for people (its [[dosing.regimens]] name), or its id."""
        return next((r.name for r in self.regimens if r.id == regimen), regimen)

    def response_choices(self) -> list[tuple[str, str]]:
        """(response, words) for every response that decides this drug's dose; empty for a regimen drug."""
        return [(key, str(text)) for key, text in self.raw["dosing"].get("responses", {}).items()]

    @property
    def needs_regimen(self) -> bool:
        """A drug dosed by regimen and no regimen chosen yet: nothing can be dosed from this view."""
        return self.decided_by == "regimen" and self.regimen is None

    def with_regimen(self, regimen: str | None) -> Monograph:
        """The monograph as dosed by one regimen (its dose days, cycles and cap); itself for a drug
        whose dose the response decides. Raises ValidationError naming --regimen for a bad choice."""
        ids = [r.id for r in self.regimens]
        if self.decided_by != "regimen":
            if regimen:
                raise ValidationError("regimen", f"{self.brand_name} has no regimens: its dose is decided by the cycle and response; give no regimen")
            return self
        wanted = str(regimen or "").strip().lower()
        if not wanted:
            raise ValidationError("regimen", f"{self.brand_name} is dosed by regimen: give one of {', '.join(ids)} (e.g. {ids[0]})")
        if wanted not in ids:
            raise ValidationError("regimen", f"'{regimen}' is not a regimen of {self.brand_name}; must be one of {', '.join(ids)}")
        if self.regimen is not None and self.regimen.id == wanted:
            return self
        return parse_monograph(self.raw, regimen=wanted)

    # -- lookup ---------------------------------------------------------------------------
    def fact(self, path: str) -> Fact:
        try:
            return self.facts[path]
        except KeyError:
            raise DataFileError(f"monograph {self.id} has no value '{path}'") from None

    def quantity(self, path: str, unit: str | None = None) -> Quantity:
        value = self.fact(path).value
        if not isinstance(value, Quantity):
            raise DataFileError(f"monograph value '{path}' is not a quantity")
        return value.to(unit) if unit else value

    def magnitude(self, path: str, unit: str) -> float:
        found = self._magnitudes.get((path, unit))
        if found is None:
            found = self._magnitudes[path, unit] = float(self.quantity(path, unit).magnitude)
        return found

    def duration(self, path: str) -> timedelta:
        return timedelta(seconds=self.magnitude(path, "second"))

    def text(self, path: str) -> str:
        value = self.fact(path).value
        if not isinstance(value, str):
            raise DataFileError(f"monograph value '{path}' is not a text")
        return value

    def items(self, path: str) -> list[Any]:
        value = self.fact(path).value
        if not isinstance(value, list):
            raise DataFileError(f"monograph value '{path}' is not a list")
        return list(value)

    def flag(self, path: str) -> bool:
        value = self.fact(path).value
        if not isinstance(value, bool):
            raise DataFileError(f"monograph value '{path}' is not a flag")
        return value

    def premedication_drugs(self) -> list[PremedicationDrug]:
        """The drugs accepted for each premedication class, with their plausible single-dose range."""
        if self._premedication_drugs is None:
            sources = {str(k): str(v) for k, v in self.raw["sources"].items()}
            drugs = []
            for index, node in enumerate(self.raw.get("premedication", {}).get("drugs", [])):
                path = f"premedication.drugs[{index}]"
                try:
                    low = _parse_fact(f"{path}.dose_min", node["dose_min"], sources)
                    high = _parse_fact(f"{path}.dose_max", node["dose_max"], sources)
                    drugs.append(
                        PremedicationDrug(
                            drug_class=str(node["drug_class"]).strip().lower(),
                            name=str(node["name"]).strip().lower(),
                            aliases=tuple(str(a).strip().lower() for a in node.get("aliases", [])),
                            typical=str(node.get("typical", "")),
                            dose_min=low,
                            dose_max=high,
                            child_per_kg=_parse_fact(f"{path}.child_per_kg", node["child_per_kg"], sources) if "child_per_kg" in node else None,
                            child_max=_parse_fact(f"{path}.child_max", node["child_max"], sources) if "child_max" in node else None,
                        )
                    )
                except (KeyError, TypeError) as exc:
                    raise DataFileError(f"monograph {self.id}: {path} is missing {exc}") from exc
            self._premedication_drugs = drugs
        return list(self._premedication_drugs)

    def premedication_classes(self) -> list[str]:
        """The premedication classes asked for before a dose, lower case (as a recorded class is
        compared), in the file's order."""
        return [str(c).strip().lower() for c in self.items("premedication.classes")]

    def deadline_rule(self, key: str) -> DeadlineRule:
        """What the deadline `key` governs ([deadlines] in the monograph file)."""
        node = self.raw.get("deadlines", {}).get(key)
        if not isinstance(node, dict):
            raise DataFileError(f"monograph {self.id} says nothing of deadline '{key}' (add it to [deadlines])")
        return DeadlineRule(
            key=key,
            met_by=tuple(str(e) for e in node.get("met_by", [])),
            blocks_until=str(node["blocks_until"]) if "blocks_until" in node else None,
            holds=str(node["holds"]) if "holds" in node else None,
        )

    def pending_verification(self) -> list[Fact]:
        """Facts still awaiting pharmacist verification, in file order."""
        return [f for f in self.facts.values() if f.verify]

    # -- dosing -----------------------------------------------------------------------------
    @property
    def dose_days(self) -> list[int]:
        if self.needs_regimen:
            raise ValidationError("regimen", f"{self.brand_name} is dosed by regimen: give one of {', '.join(r.id for r in self.regimens)}")
        return [int(d) for d in self.items("cycles.dose_days")]

    def dose_days_at_age(self, age_years: int | None, adult_from_years: int) -> list[int]:
        """The dose days of a cycle for a patient of this age: a child's (the regimen's
        children.dose_days, where its data give them) under the adult age, else the regimen's. The
        order check and the course plan both read them here, so that a course never offers a child
        a day the order refuses."""
        days = self.dose_days
        if age_years is None or age_years >= adult_from_years or "children.dose_days" not in self.facts:
            return days
        child = {int(d) for d in self.items("children.dose_days")}
        return [d for d in days if d in child]

    def cycle_choices(self) -> str:
        """What a cycle number must be, completing "must be ...": "1 to 6", or, for a regimen of one
        cycle, "1 (the fractionated regimen has one cycle)" (never "1 to 1")."""
        most = int(self.magnitude("cycles.max_cycles_without_hsct", ""))
        if most > 1:
            return f"1 to {most}"
        of = f"the {self.regimen.id} regimen" if self.regimen is not None else self.brand_name
        return f"1 ({of} has one cycle)"

    @property
    def dose_cap(self) -> Fact | None:
        """The label's most per dose (mg) in this regimen, or None."""
        return self.regimen.cap_per_dose if self.regimen is not None else None

    def dose_row(self, cycle: int, response: Response | None) -> DoseRow:
        later_from = int(self.raw["dosing"]["later_cycles_from"])
        wanted: tuple[str, bool | None] = ("first", None) if cycle < later_from else ("later", self.in_remission(response))
        for row in self.dose_rows:
            if (row.cycles, row.in_remission) == wanted:
                return row
        raise DataFileError(f"monograph {self.id} has no dosing row for {wanted}")

    def mg_per_m2(self, cycle: int, day: int, response: Response | None) -> Fact:
        row = self.dose_row(cycle, response)
        try:
            return row.mg_per_m2_by_day[day]
        except KeyError:
            raise DataFileError(f"monograph {self.id} has no Day {day} dose") from None


def _is_fact(node: Any) -> bool:
    return isinstance(node, dict) and "source" in node and any(k in node for k in ("value", "text", "items", "flag"))


def _parse_fact(path: str, node: dict[str, Any], sources: dict[str, str]) -> Fact:
    source = node["source"]
    if source not in sources and not source.startswith("program design"):
        raise DataFileError(f"value '{path}' cites unknown source '{source}'")
    if "value" in node:
        magnitude = node["value"]
        if isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)) or not math.isfinite(magnitude):
            raise DataFileError(f"value '{path}' must be a finite number")
        unit = node.get("unit")
        if unit is None:
            raise DataFileError(f"value '{path}' has no unit (use unit = \"\" for a plain number)")
        try:
            value: Any = Quantity(magnitude, unit) if unit else Quantity(magnitude)
        except Exception as exc:  # pint raises several error types for a bad unit string
            raise DataFileError(f"value '{path}' has an unknown unit '{unit}': {exc}") from exc
    elif "text" in node:
        value = str(node["text"])
    elif "items" in node:
        value = list(node["items"])
    else:
        value = bool(node["flag"])
    return Fact(
        path=path,
        value=value,
        source=source,
        source_text=sources.get(source, source),
        where=str(node.get("where", "")),
        verify=bool(node.get("verify", False)),
        overridable=node.get("overridable", False) is True,
    )


def _collect(node: dict[str, Any], prefix: str, sources: dict[str, str], out: dict[str, Fact]) -> None:
    for key, child in node.items():
        path = f"{prefix}.{key}" if prefix else key
        if _is_fact(child):
            out[path] = _parse_fact(path, child, sources)
        elif isinstance(child, dict):
            _collect(child, path, sources, out)


def _dose_days_of(row: dict[str, Any], prefix: str, sources: dict[str, str], facts: dict[str, Fact]) -> dict[int, Fact]:
    by_day: dict[int, Fact] = {}
    for key, node in row.items():
        if key.startswith("day") and key[3:].isdigit() and _is_fact(node):
            fact = _parse_fact(f"{prefix}.{key}", node, sources)
            if not isinstance(fact.value, Quantity) or not has_dimension(fact.value, "mg/m**2"):
                raise DataFileError(f"dose {fact.path} must be in mg/m²")
            by_day[int(key[3:])] = fact
            facts[fact.path] = fact
    return by_day


def parse_monograph(raw: dict[str, Any], regimen: str | None = None) -> Monograph:
    """Parse a monograph file; with `regimen`, the view dosed by that regimen (its [dosing.regimens]
    entry gives the dose days, the mg/m² of each, the cap and the cycle values that replace [cycles])."""
    for section in ("meta", "sources", "dosing"):
        if section not in raw:
            raise DataFileError(f"monograph has no [{section}] section")
    sources = {str(k): str(v) for k, v in raw["sources"].items()}
    facts: dict[str, Fact] = {}
    _collect({k: v for k, v in raw.items() if k not in ("meta", "sources", "dosing")}, "", sources, facts)
    for key in ("basis", "remission"):
        if _is_fact(raw["dosing"].get(key)):
            facts[f"dosing.{key}"] = _parse_fact(f"dosing.{key}", raw["dosing"][key], sources)
    rows: list[DoseRow] = []
    regimens: list[Regimen] = []
    chosen: Regimen | None = None
    for index, node in enumerate(raw["dosing"].get("regimens", [])):
        prefix = f"dosing.regimens[{index}]"
        try:
            cap = _parse_fact(f"{prefix}.cap_per_dose", node["cap_per_dose"], sources) if "cap_per_dose" in node else None
            if cap is not None and (not isinstance(cap.value, Quantity) or not has_dimension(cap.value, "gram")):
                raise DataFileError(f"{prefix}.cap_per_dose must be a mass (mg)")
            entry = Regimen(id=str(node["id"]).strip().lower(), name=str(node["name"]), cap_per_dose=cap)
        except KeyError as exc:
            raise DataFileError(f"monograph: {prefix} is missing {exc}") from exc
        regimens.append(entry)
        if entry.id != regimen:
            continue
        chosen = entry
        if cap is not None:
            facts[cap.path] = cap
        own: dict[str, Fact] = {}
        # The regimen's cycle values, and what it says of children (children.*), when it says anything.
        _collect({"cycles": node.get("cycles", {}), "children": node.get("children", {})}, "", sources, own)
        facts.update(own)  # the regimen's cycle values replace the drug's common ones
        rows.append(DoseRow(cycles="first", in_remission=None, mg_per_m2_by_day=_dose_days_of(node, prefix, sources, facts)))
    if regimen is not None and chosen is None:
        raise DataFileError(f"monograph {raw['meta'].get('id')} has no regimen '{regimen}'")
    if chosen is not None:
        # One induction cycle per regimen: every cycle the regimen has is a "first" cycle.
        raw = {**raw, "dosing": {**raw["dosing"], "later_cycles_from": int(facts["cycles.max_cycles_without_hsct"].value.magnitude) + 1}}
    for index, row in enumerate(raw["dosing"].get("table", [])):
        by_day = _dose_days_of(row, f"dosing.table[{index}]", sources, facts)
        remission = row.get("in_remission")
        if (row["cycles"] == "later") != isinstance(remission, bool):
            raise DataFileError(f"dosing.table[{index}]: a later cycles' row says in_remission = true or false, a first cycles' row does not")
        rows.append(DoseRow(cycles=row["cycles"], in_remission=remission, mg_per_m2_by_day=by_day))
    monograph = Monograph(raw=raw, facts=facts, dose_rows=rows, regimen=chosen, regimens=tuple(regimens))
    if monograph.decided_by == "regimen" and not regimens:
        raise DataFileError(f"monograph {monograph.id} is dosed by regimen but has no [[dosing.regimens]]")
    if monograph.decided_by == "response":
        accepted = [key for key, _ in monograph.response_choices()]
        if not accepted or "dosing.remission" not in facts:
            raise DataFileError(f"monograph {monograph.id} is dosed by response: [dosing] names its responses and which are a remission (remission)")
        unknown = [r for r in monograph.items("dosing.remission") if r not in accepted]
        if unknown:
            raise DataFileError(
                f"monograph {monograph.id}: dosing.remission names {', '.join(map(str, unknown))}, not among its responses ({', '.join(accepted)})"
            )
    if not monograph.needs_regimen:
        for day in monograph.dose_days:
            for row in rows:
                if day not in row.mg_per_m2_by_day:
                    raise DataFileError(f"dosing row {row.cycles}/{_remission_words(row.in_remission)} has no Day {day} dose")
    return monograph


def _remission_words(in_remission: bool | None) -> str:
    return {None: "any response", True: "in remission", False: "not in remission"}[in_remission]


def load_monograph(source: str | Path | Traversable) -> Monograph:
    """Load a monograph by id (a file in resources/monographs/) or from a path. There is no default
    drug: every caller names the monograph (a preparation's monograph_id, the --drug given)."""
    if isinstance(source, str) and "/" not in source and not source.endswith(".toml"):
        return _load_shipped(source)
    return parse_monograph(load_toml(Path(source) if isinstance(source, str) else source))


def installed_monographs() -> list[Monograph]:
    """Every monograph shipped in resources/monographs/, by id."""
    return [_load_shipped(monograph_id) for monograph_id in installed_monograph_ids()]


def resolve_drug(given: str | None) -> str:
    """The monograph id a command works on: the one given (--drug), else the only one installed.
    Several installed and none given is ambiguous (ValidationError 'drug'): there is no default drug,
    not even a site's, since two installed conjugates (BESPONSA, MYLOTARG: both "-zumab ozogamicin")
    look and sound alike, and a drug taken by default is a wrong-drug error waiting to happen."""
    ids = installed_monograph_ids()
    if given is not None and str(given).strip():
        wanted = str(given).strip().lower()
        if wanted in ids:
            return wanted
        by_brand = {_load_shipped(i).brand_name.lower(): i for i in ids}
        if wanted in by_brand:
            return by_brand[wanted]
        raise ValidationError("drug", f"'{given}' is not an installed drug; must be one of {', '.join(ids)}")
    if len(ids) == 1:
        return ids[0]
    raise ValidationError("drug", f"several drugs are installed ({', '.join(ids)}); name one, e.g. {ids[0]}")


@cache
def _load_shipped(monograph_id: str) -> Monograph:
    if monograph_id not in installed_monograph_ids():
        raise DataFileError(f"no monograph '{monograph_id}' is installed (resources/monographs/{monograph_id}.toml)")
    return parse_monograph(load_toml(resource_path("monographs", f"{monograph_id}.toml")))


def validate_response(cycle: int, day: int, response: str | None, monograph: Monograph) -> Response | None:
    """The response as the dose rules read it (one of the drug's [dosing] responses, or None), refused naming the field."""
    checked = monograph.response_given(response)
    if checked is None and monograph.decided_by == "response" and cycle >= int(monograph.raw["dosing"]["later_cycles_from"]):
        accepted = [key for key, _ in monograph.response_choices()]
        by_response = {monograph.mg_per_m2(cycle, day, r).value for r in accepted}
        if len(by_response) > 1:
            raise ValidationError(
                "response",
                f"is required from cycle {monograph.raw['dosing']['later_cycles_from']} on Day {day}: it decides the dose per m²; give one of {', '.join(accepted)}",
            )
    return checked
