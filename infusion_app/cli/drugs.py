"""infusion-prep drugs: the installed monographs (id, names, revision), headless."""

from __future__ import annotations

import argparse

from .common import Exit, emit_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "drugs",
        help="list the installed drugs (monographs): id, names, revision",
        description="List the drugs this installation can prepare: each monograph's id (for --drug), generic and "
        "brand names, monograph revision and label revision, its regimens where a regimen decides the dose, its "
        "responses where a response does, and the default drug: the only one installed (with several, every "
        "command names its --drug).",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The [meta] tables only: listing the drugs needs no unit registry.
    from ..domain.resources import installed_monograph_ids, load_toml, resource_path

    ids = installed_monograph_ids()
    # No default drug but the only one installed: two installed conjugates look and sound alike.
    default = ids[0] if len(ids) == 1 else ""
    drugs = []
    for monograph_id in ids:
        raw = load_toml(resource_path("monographs", f"{monograph_id}.toml"))
        meta = raw["meta"]
        drugs.append(
            {
                "id": meta["id"],
                "generic_name": meta["generic_name"],
                "brand_name": meta["brand_name"],
                "monograph_revision": meta["monograph_revision"],
                "label_revision": meta["label_revision"],
                "regimens": [str(r["id"]) for r in raw.get("dosing", {}).get("regimens", [])],
                # The values --response takes for this drug (none where a regimen decides the dose).
                "responses": [str(r) for r in raw.get("dosing", {}).get("responses", {})],
                "default": meta["id"] == default,
            }
        )
    if args.json:
        emit_json({"drugs": drugs, "default": default or None})
    else:
        for drug in drugs:
            regimens = f"; regimens {', '.join(drug['regimens'])}" if drug["regimens"] else ""
            regimens += f"; responses {', '.join(drug['responses'])}" if drug["responses"] else ""
            mark = " (default)" if drug["default"] else ""
            print(f"{drug['id']}{mark}: {drug['generic_name']} ({drug['brand_name']}), monograph revision {drug['monograph_revision']}{regimens}")
    return Exit.OK
