"""Premedication equivalence: how much of one drug of a class has the effect of another, so that two
different drugs of the class given for one dose are added up (resources/premedication/<class>-equivalence.toml:
corticosteroids, by their glucocorticoid equivalent doses). Every ratio is data with its source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .errors import DataFileError
from .lookalikes import skeleton
from .quantities import Quantity
from .resources import load_toml, resource_path


@dataclass(frozen=True)
class Equivalent:
    name: str
    aliases: tuple[str, ...]
    mg: float  # the amount with the class's reference effect (dexamethasone 0.75 = prednisolone 5)
    source: str
    verify: bool

    def is_named(self, text: str) -> bool:
        return skeleton(str(text)) in {skeleton(n) for n in (self.name, *self.aliases)}


@dataclass(frozen=True)
class EquivalenceTable:
    drug_class: str
    reference: str
    drugs: tuple[Equivalent, ...]

    def of(self, *names: str) -> Equivalent | None:
        """The first of `names` (the entry as typed, then its listed drug's name) the table knows."""
        for text in names:
            found = next((d for d in self.drugs if d.is_named(text)), None)
            if found is not None:
                return found
        return None

    @property
    def pending_review(self) -> bool:
        return any(d.verify for d in self.drugs)


@cache
def equivalence_table(drug_class: str) -> EquivalenceTable | None:
    """The class's equivalence table, or None when there is none (no two drugs of it are added up)."""
    name = f"{drug_class.strip().lower()}-equivalence.toml"
    if not resource_path("premedication", name).is_file():
        return None
    raw = load_toml(f"premedication/{name}")
    path = f"premedication/{name}"
    try:
        sources = {str(k): str(v) for k, v in raw["sources"].items()}
        node = raw[drug_class]
        drugs = []
        for index, row in enumerate(node["drugs"]):
            fact = row["equivalent"]
            if fact["source"] not in sources:
                raise DataFileError(f"{path}: drugs[{index}] cites unknown source '{fact['source']}'")
            mg = float(Quantity(fact["value"], fact["unit"]).to("mg").magnitude)
            if not mg > 0:
                raise DataFileError(f"{path}: drugs[{index}] equivalent must be above 0 mg")
            drugs.append(
                Equivalent(
                    str(row["name"]).strip().lower(),
                    tuple(str(a).strip().lower() for a in row.get("aliases", [])),
                    mg,
                    sources[fact["source"]],
                    bool(fact.get("verify", False)),
                )
            )
        table = EquivalenceTable(drug_class, str(node["reference"]).strip().lower(), tuple(drugs))
    except (KeyError, TypeError) as exc:
        raise DataFileError(f"{path} is missing {exc}") from exc
    if table.of(table.reference) is None:
        raise DataFileError(f"{path}: the reference {table.reference} is not one of its drugs")
    return table
