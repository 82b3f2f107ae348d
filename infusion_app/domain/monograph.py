"""The drug monograph: every drug number the program uses, read from resources/monographs/.

A monograph file holds facts. Each fact is a value (a quantity with its unit, a text, a list or a
flag) with the source it comes from and a `verify` mark for values awaiting pharmacist review.
The code asks for facts by their dotted path ("time_limits.reconstitution_to_dilution") and
never holds a drug number of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from importlib.resources.abc import Traversable

from .errors import DataFileError
from .quantities import Quantity, ureg
from .resources import SHIPPED_MONOGRAPH, load_toml, resource_path

DEFAULT_MONOGRAPH = SHIPPED_MONOGRAPH

Response = Literal["none", "cr", "cri"]
RESPONSES: tuple[str, ...] = ("none", "cr", "cri")
# How each response is written for people: "CRi" keeps its lowercase i (never "CRI").
RESPONSE_LABELS = {"none": "none", "cr": "CR", "cri": "CRi"}


def response_label(response: str | None) -> str:
    return RESPONSE_LABELS.get(str(response or "").strip().lower(), str(response or ""))


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
    response: Literal["any", "cr_cri", "none"]
    mg_per_m2_by_day: dict[int, Fact]


@dataclass(frozen=True)
class PremedicationDrug:
    drug_class: str
    name: str
    aliases: tuple[str, ...]
    typical: str
    dose_min: Fact
    dose_max: Fact

    def is_named(self, text: str) -> bool:
        return " ".join(str(text).split()).casefold() in (self.name, *self.aliases)


@dataclass
class Monograph:
    """A parsed monograph. Use `fact()`/`quantity()` for any value; helpers cover the common ones."""

    raw: dict[str, Any]
    facts: dict[str, Fact] = field(default_factory=dict)
    dose_rows: list[DoseRow] = field(default_factory=list)
    # Deadlines ask for the same few time limits on every repaint; pint conversions dominate.
    _durations: dict[str, timedelta] = field(default_factory=dict, repr=False, compare=False)
    _premedication_drugs: list[PremedicationDrug] | None = field(default=None, repr=False, compare=False)

    # -- identity -------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.raw["meta"]["id"]

    @property
    def generic_name(self) -> str:
        return self.raw["meta"]["generic_name"]

    @property
    def brand_name(self) -> str:
        return self.raw["meta"]["brand_name"]

    @property
    def revision(self) -> str:
        return self.raw["meta"]["monograph_revision"]

    @property
    def label_revision(self) -> str:
        return self.raw["meta"]["label_revision"]

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
        return float(self.quantity(path, unit).magnitude)

    def duration(self, path: str) -> timedelta:
        found = self._durations.get(path)
        if found is None:
            found = self._durations[path] = timedelta(seconds=self.magnitude(path, "second"))
        return found

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
                    drugs.append(PremedicationDrug(
                        drug_class=str(node["drug_class"]).strip().lower(),
                        name=str(node["name"]).strip().lower(),
                        aliases=tuple(str(a).strip().lower() for a in node.get("aliases", [])),
                        typical=str(node.get("typical", "")),
                        dose_min=low,
                        dose_max=high,
                    ))
                except (KeyError, TypeError) as exc:
                    raise DataFileError(f"monograph {self.id}: {path} is missing {exc}") from exc
            self._premedication_drugs = drugs
        return list(self._premedication_drugs)

    def pending_verification(self) -> list[Fact]:
        """Facts still awaiting pharmacist verification, in file order."""
        return [f for f in self.facts.values() if f.verify]

    # -- dosing -----------------------------------------------------------------------------
    @property
    def dose_days(self) -> list[int]:
        return [int(d) for d in self.items("cycles.dose_days")]

    def dose_row(self, cycle: int, response: Response | None) -> DoseRow:
        later_from = int(self.raw["dosing"]["later_cycles_from"])
        if cycle < later_from:
            wanted = ("first", "any")
        else:
            wanted = ("later", "cr_cri" if response in ("cr", "cri") else "none")
        for row in self.dose_rows:
            if (row.cycles, row.response) == wanted:
                return row
        raise DataFileError(f"monograph {self.id} has no dosing row for {wanted}")

    def mg_per_m2(self, cycle: int, day: int, response: Response | None) -> Fact:
        row = self.dose_row(cycle, response)
        try:
            return row.mg_per_m2_by_day[day]
        except KeyError:
            raise DataFileError(f"monograph {self.id} has no Day {day} dose") from None


def _is_fact(node: Any) -> bool:
    return isinstance(node, dict) and "source" in node and any(
        k in node for k in ("value", "text", "items", "flag")
    )


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


def parse_monograph(raw: dict[str, Any]) -> Monograph:
    for section in ("meta", "sources", "dosing"):
        if section not in raw:
            raise DataFileError(f"monograph has no [{section}] section")
    sources = {str(k): str(v) for k, v in raw["sources"].items()}
    facts: dict[str, Fact] = {}
    _collect({k: v for k, v in raw.items() if k not in ("meta", "sources", "dosing")}, "", sources, facts)
    rows: list[DoseRow] = []
    for index, row in enumerate(raw["dosing"].get("table", [])):
        by_day: dict[int, Fact] = {}
        for key, node in row.items():
            if key.startswith("day") and _is_fact(node):
                day = int(key[3:])
                fact = _parse_fact(f"dosing.table[{index}].{key}", node, sources)
                if fact.value.dimensionality != ureg("mg/m**2").dimensionality:
                    raise DataFileError(f"dose {fact.path} must be in mg/m²")
                by_day[day] = fact
                facts[fact.path] = fact
        rows.append(DoseRow(cycles=row["cycles"], response=row["response"], mg_per_m2_by_day=by_day))
    monograph = Monograph(raw=raw, facts=facts, dose_rows=rows)
    for day in monograph.dose_days:
        for row in rows:
            if day not in row.mg_per_m2_by_day:
                raise DataFileError(f"dosing row {row.cycles}/{row.response} has no Day {day} dose")
    return monograph


def load_monograph(source: str | Path | Traversable = DEFAULT_MONOGRAPH) -> Monograph:
    """Load a monograph by id (a file in resources/monographs/) or from a path."""
    if isinstance(source, str) and "/" not in source and not source.endswith(".toml"):
        return _load_shipped(source)
    return parse_monograph(load_toml(Path(source) if isinstance(source, str) else source))


@cache
def _load_shipped(monograph_id: str) -> Monograph:
    return parse_monograph(load_toml(resource_path("monographs", f"{monograph_id}.toml")))
