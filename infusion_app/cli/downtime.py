"""infusion-prep downtime: the paper a site works from when the program cannot run.

    infusion-prep downtime --out FILE.pdf [--drug ID] [--paper letter|a4] [--formula NAME] [--force]
        blank prep worksheet, the monograph's numbers and limits, dose steps, BSA table, bag labels
    infusion-prep downtime snapshot --out FILE.pdf [--paper letter|a4] [--force] [--data-dir DIR]
        every active preparation with its deadlines and the next dose of every open course

The blank kit reads no database (it must print when the database is what is down).
"""

from __future__ import annotations

import argparse
import io
import sys

from .common import Exit, add_drug_options, add_storage_options, chosen_monograph, not_blank


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "downtime",
        help="print the downtime kit (blank worksheet, limits, BSA table, labels) or, with 'snapshot', what is in progress",
        description="Print the paper for a downtime: the blank kit, or 'snapshot' for every active preparation and open course.",
    )
    parser.add_argument("what", nargs="?", default="kit", metavar="snapshot", help="'snapshot' for the active preparations; omit for the blank kit")
    parser.add_argument("--out", required=True, metavar="FILE.pdf", help="where to write the PDF")
    parser.add_argument("--paper", default=None, metavar="letter|a4", help="paper size (default letter; snapshot: the site setting)")
    parser.add_argument(
        "--formula",
        default=None,
        metavar="NAME",
        type=not_blank("--formula mosteller"),
        help="BSA formula of the table (default: the site default in site-defaults.toml)",
    )
    parser.add_argument("--force", action="store_true", help="replace --out when it exists")
    # The kit is one drug's (its containers, syringe path, infusion, filter, premedication): the drug's
    # as calc picks it. The snapshot lists every drug's preparations and takes none.
    add_drug_options(parser, regimen=False)
    add_storage_options(parser)
    parser.set_defaults(func=run_downtime)


def _paper(text: str | None) -> str | None:
    from ..domain.errors import ValidationError

    if text is None:
        return None
    paper = text.strip().lower()
    if paper not in ("letter", "a4"):
        raise ValidationError("paper", f"'{text}' is not accepted; must be letter or a4")
    return paper


def run_downtime(args: argparse.Namespace) -> int:
    from ..domain.bsa import get_formula
    from ..domain.errors import ValidationError
    from ..domain.limits import site_defaults
    from .export import write_new_file_bytes

    from .common import check_output_file

    check_output_file(args)  # a refused --out before any work
    what = args.what.strip().lower()
    if what not in ("kit", "snapshot"):
        raise ValidationError("what", f"'{args.what}' is not accepted; give 'snapshot' or nothing (e.g. infusion-prep downtime snapshot --out s.pdf)")
    paper = _paper(args.paper)
    formula = args.formula or site_defaults().default_bsa_formula
    get_formula(formula)  # an unknown formula is refused before any work
    if what == "kit":
        from datetime import datetime, timezone

        from ..reports.downtime import render_downtime_kit

        buffer = io.BytesIO()
        # Every regimen of a drug dosed by one is on the kit: the pharmacist picks it on paper.
        render_downtime_kit(chosen_monograph(args, with_regimen=False), buffer, datetime.now(timezone.utc), formula, paper or "letter")
        write_new_file_bytes(args, buffer.getvalue())
        print(f"downtime kit written to {args.out}", file=sys.stderr)
        return Exit.OK
    if args.drug is not None:
        raise ValidationError(
            "drug",
            "the snapshot lists every drug's preparations; give --drug only for the kit "
            "(e.g. infusion-prep downtime --drug ID --out kit.pdf; infusion-prep drugs lists the ids)",
        )
    from ..service.downtime import snapshot_pdf
    from .service_access import open_service_for

    with open_service_for(args) as service:
        pdf, count = snapshot_pdf(service, paper)
    write_new_file_bytes(args, pdf)
    print(f"downtime snapshot of {count} active preparation(s) written to {args.out}", file=sys.stderr)
    return Exit.OK
