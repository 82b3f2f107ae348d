"""infusion-prep sheet / label: the printed prep sheet and bag label of a stored preparation, as PDF.

    infusion-prep sheet ID --out FILE.pdf [--paper letter|a4] [--data-dir DIR] [--database URL]
    infusion-prep label ID --out FILE.pdf [--label-size 4x2in] [--data-dir DIR] [--database URL]
    infusion-prep sheet --demo --out FILE.pdf      (a sample preparation; touches no stored data)
"""

from __future__ import annotations

import argparse
from .common import CliError, Exit, add_output_options, add_storage_options, check_output_file, write_output_file

DEFAULT_PAPER = "letter"
DEFAULT_LABEL_SIZE = "4x2in"


def register(subparsers: argparse._SubParsersAction) -> None:
    sheet = subparsers.add_parser(
        "sheet",
        help="write the prep sheet of a preparation as PDF",
        description="Write the prep sheet (order, premedication, vials, steps, deadlines, signatures, billing) as PDF.",
    )
    _common_options(sheet)
    sheet.add_argument("--paper", metavar="letter|a4", help=f"paper size (default: the site setting, else {DEFAULT_PAPER})")
    sheet.set_defaults(func=run_sheet)

    label = subparsers.add_parser(
        "label",
        help="write the bag label of a preparation as PDF",
        description="Write the bag label as a PDF page exactly the size of the label stock.",
    )
    _common_options(label)
    label.add_argument(
        "--label-size",
        metavar="WxH(mm|in)",
        help=f"label stock, e.g. 4x2in, 4x6in, 102x51mm (default: the site setting, else {DEFAULT_LABEL_SIZE})",
    )
    label.set_defaults(func=run_label)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", nargs="?", metavar="ID", help="the preparation id (omit with --demo)")
    add_output_options(parser, "FILE.pdf")
    parser.add_argument("--demo", action="store_true", help="print a sample preparation; reads and writes no stored data")
    add_storage_options(parser)


def _sheet_data(args: argparse.Namespace):
    if args.demo and args.id:
        raise CliError("give either a preparation ID or --demo, not both")
    if args.demo:
        from ..reports.demo import demo_sheet_data

        return demo_sheet_data()
    if not args.id:
        raise CliError("invalid ID: give a preparation ID (or --demo for a sample)")
    return _stored_sheet_data(args)


def _stored_sheet_data(args: argparse.Namespace):
    """The preparation from storage, its deadlines as of now, the payer decision and course kept with it."""
    from .. import __version__
    from ..domain.monograph import load_monograph
    from ..reports.model import SheetData
    from .service_access import open_service_for

    with open_service_for(args) as service:
        status = service.status(args.id)  # ValidationError (exit 2) for a malformed or unknown id
        prep = status.prep
        monograph = load_monograph(prep.monograph_id)
        settings = service.settings()
        # The site's paper and label stock, unless the command line names them.
        if hasattr(args, "paper"):
            args.paper = args.paper or settings.paper_size
        if hasattr(args, "label_size"):
            args.label_size = args.label_size or settings.label_size
        return SheetData.from_preparation(
            prep,
            monograph,
            status.deadlines,
            printed_at=status.now,
            program_version=__version__,
            course_info=_course_status(service, prep.patient.mrn),
        )


def _course_status(service, mrn: str):
    """The patient's course, when one is kept; a sheet prints without it."""
    from ..domain.errors import ValidationError
    from ..service.course import CourseService

    try:
        courses = CourseService(service)
        return courses.status(mrn) if courses.course(mrn) is not None else None
    except ValidationError:
        return None


def run_sheet(args: argparse.Namespace) -> int:
    from ..reports.sheet import paper_size, render_prep_sheet

    if args.paper is not None:
        paper_size(args.paper)  # refuse a bad paper size before any work
    check_output_file(args)
    data = _sheet_data(args)
    paper = args.paper or DEFAULT_PAPER
    out = write_output_file(args, lambda stream: render_prep_sheet(data, stream, page_size=paper))
    print(f"prep sheet for {data.prep_id} written to {out}")
    return Exit.OK


def run_label(args: argparse.Namespace) -> int:
    from ..reports.label import parse_label_size, render_bag_label

    if args.label_size is not None:
        parse_label_size(args.label_size)  # refuse a bad size before any work
    check_output_file(args)
    data = _sheet_data(args)
    if data.discarded:
        # The sheet stays printable as the record; a label would put a discarded dose back on a bag.
        raise CliError(f"preparation {data.prep_id} was discarded: no label is printed for it", Exit.HARD_STOP)
    size = parse_label_size(args.label_size or DEFAULT_LABEL_SIZE)
    out = write_output_file(args, lambda stream: render_bag_label(data, stream, size=size))
    print(f"bag label for {data.prep_id} written to {out}")
    return Exit.OK
