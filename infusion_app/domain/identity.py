"""Positive patient identification at the chair: two identifiers, compared in the domain.

The name is always one identifier; the second is the date of birth or the MRN (ONS/ASCO
standards: two identifiers before every administration). The comparison forgives case,
spacing, accents, word order and punctuation ("ADA  LOVELACE", "Jose"/"José", "LOVELACE, ADA")
but not the letters themselves, and its
messages never show the stored values, so the check cannot be passed by reading the screen.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import Patient  # for the annotations only: records (its enums and dataclasses) stays out of `calc`


def normal_name(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.casefold().split())


def name_tokens(text: str) -> list[str]:
    """The name's words, sorted: "Jane Doe", "Doe Jane" and "DOE, JANE" are one name.

    Order and punctuation vary with who writes the name (wristband "DOE, JANE", the patient says
    "Jane Doe"); the letters of every word must still all be there. Apostrophes join ("O'Brien" =
    "OBrien"); other punctuation separates words ("Lefèvre-Dubois" = "Lefèvre Dubois").
    """
    folded = normal_name(text).replace("'", "").replace("’", "")
    spaced = "".join(c if c.isalnum() else " " for c in folded)
    return sorted(spaced.split())


def identifier_mismatches(patient: Patient, name: str, date_of_birth: date | None, mrn: str | None) -> list[str]:
    """What does not match; an empty list means both identifiers match the stored patient."""
    problems = []
    if not name.strip():
        problems.append("full name: enter the name the patient states")
    elif name_tokens(name) != name_tokens(patient.name):
        problems.append("full name does not match the bag")
    if date_of_birth is None and mrn is None:
        problems.append("second identifier: enter the date of birth or the MRN")
    if date_of_birth is not None and date_of_birth != patient.date_of_birth:
        problems.append("date of birth does not match the bag")
    # Every identifier given is compared: a wrong MRN next to a right date of birth is a wrong patient.
    if mrn is not None:
        if not mrn.strip():
            if date_of_birth is None:
                problems.append("MRN: scan the wristband or type the MRN")
        elif "".join(mrn.split()).casefold() != "".join(patient.mrn.split()).casefold():
            problems.append("MRN does not match the bag")
    return problems


def confirmation_mismatches(patient: Patient, details: dict[str, Any]) -> list[str]:
    """The same check on a patient-confirmed event's details: name, and date_of_birth (ISO) or mrn."""
    dob_text = details.get("date_of_birth")
    date_of_birth: date | None = None
    if dob_text not in (None, ""):
        try:
            date_of_birth = date.fromisoformat(str(dob_text))
        except ValueError:
            return ["date of birth: give it as YYYY-MM-DD"]
    mrn = details.get("mrn")
    return identifier_mismatches(patient, str(details.get("name") or ""), date_of_birth, None if mrn is None else str(mrn))


def completed_years(born: date, today: date) -> int:
    """Age in whole years on `today` (the payer policy's age criterion; adult from 18)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
