"""infusion-prep sheet / label: the printed prep sheet and bag label of a stored preparation, as PDF.

infusion-prep sheet ID --out FILE.pdf [--paper letter|a4] [--data-dir DIR] [--database URL]
infusion-prep label ID --out FILE.pdf [--label-size 4x2in] [--data-dir DIR] [--database URL]
infusion-prep sheet --demo --out FILE.pdf      (a sample preparation; touches no stored data)
infusion-prep print label|sheet ID [--queue QUEUE]   (to the site's CUPS printer; see service/printing.py)
"""

from __future__ import annotations

import argparse
import sys
from .common import CliError, Exit, add_drug_options, add_output_options, add_storage_options, check_output_file, chosen_monograph, not_blank, write_output_file

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
    register_print(subparsers)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", nargs="?", metavar="ID", help="the preparation id (omit with --demo)")
    add_output_options(parser, "FILE.pdf")
    parser.add_argument("--demo", action="store_true", help="print a sample preparation; reads and writes no stored data")
    # The sample's drug: --drug as calc takes it (a stored preparation is printed with its own drug).
    add_drug_options(parser)
    add_storage_options(parser)


def _document(args: argparse.Namespace, kind: str, deliver):
    """Build the document (the demo in memory, or a stored one through the one document service),
    `deliver(document, site settings or None) -> destination text`, and audit the issue of a stored one. Returns the document."""
    from ..reports.label import parse_label_size
    from ..reports.sheet import paper_size

    if args.demo and args.id:
        raise CliError("give either a preparation ID or --demo, not both")
    if not args.demo and (args.drug is not None or args.regimen is not None):
        flag = "--drug" if args.drug is not None else "--regimen"
        raise CliError(f"invalid {flag}: a stored preparation is printed with its own drug; give {flag} only with --demo")
    # Refuse a bad size before any work.
    size = getattr(args, "label_size", None)
    paper = getattr(args, "paper", None)
    if size is not None:
        parse_label_size(size)
    if paper is not None:
        paper_size(paper)
    if args.demo:
        document = _demo_document(kind, size, paper, chosen_monograph(args))
        deliver(document, None)
        return document
    if not args.id:
        raise CliError("invalid ID: give a preparation ID (or --demo for a sample)")
    from ..domain.preparation import StepRefused
    from ..service.documents import DocumentService
    from ..service.preparations import local_admin_name
    from .service_access import open_service_for

    with open_service_for(args) as service:
        documents = DocumentService(service)
        # ValidationError (exit 2) for a malformed or unknown id; StepRefused (exit 1) for a discarded label.
        try:
            document = documents.label(args.id, size) if kind == "label" else documents.sheet(args.id, paper)
        except StepRefused as exc:
            raise CliError(exc.message, Exit.HARD_STOP) from None
        if document.unprintable:
            print(f"warning: some characters {document.unprintable}", file=sys.stderr)
        destination = deliver(document, service.settings())
        # Issued from the command line: recorded as the operating-system account that ran it.
        documents.record_issued(document, local_admin_name(), destination)
    return document


def _demo_document(kind: str, size: str | None, paper: str | None, monograph):
    import io

    from ..reports import render_bag_label, render_prep_sheet
    from ..reports.demo import demo_sheet_data
    from ..reports.label import parse_label_size
    from ..reports.sheet import paper_size
    from ..service.documents import LABEL, SHEET, Document

    data = demo_sheet_data(monograph=monograph)
    out = io.BytesIO()
    if kind == "label":
        stock = size or DEFAULT_LABEL_SIZE
        dimensions = parse_label_size(stock)
        render_bag_label(data, out, size=dimensions)
        return Document(LABEL, data.prep_id, out.getvalue(), dimensions, stock, False, data.printed_at)
    stock = (paper or DEFAULT_PAPER).lower()
    render_prep_sheet(data, out, page_size=stock)
    return Document(SHEET, data.prep_id, out.getvalue(), paper_size(stock), stock, False, data.printed_at)


def _write(args: argparse.Namespace):
    def deliver(document, _settings) -> str:
        out = write_output_file(args, lambda stream: stream.write(document.pdf))
        args.written_to = out
        return f"file {out}"

    return deliver


def run_sheet(args: argparse.Namespace) -> int:
    check_output_file(args)
    document = _document(args, "sheet", _write(args))
    print(f"prep sheet for {document.prep_id}{' (REPRINT)' if document.reprint else ''} written to {args.written_to}")
    return Exit.OK


def run_label(args: argparse.Namespace) -> int:
    check_output_file(args)
    document = _document(args, "label", _write(args))
    print(f"bag label for {document.prep_id}{' (REPRINT)' if document.reprint else ''} written to {args.written_to}")
    return Exit.OK


def register_print(subparsers: argparse._SubParsersAction) -> None:
    printing = subparsers.add_parser(
        "print",
        help="print the bag label or prep sheet on the site's printer (CUPS)",
        description=(
            "Send the bag label or prep sheet to a CUPS queue as PDF, at 100 %, unrotated, on its stock. "
            "The queue is the site's label or sheet printer unless --queue names one. A print after "
            "labelling is marked REPRINT and recorded in the audit log."
        ),
    )
    printing.add_argument("kind", choices=("label", "sheet"), help="what to print")
    printing.add_argument("id", nargs="?", metavar="ID", help="the preparation id (omit with --demo)")
    printing.add_argument(
        "--queue", metavar="QUEUE", type=not_blank("--queue pharmacy-labels"), help="the CUPS queue (default: the site's label or sheet printer)"
    )
    printing.add_argument("--label-size", metavar="WxH(mm|in)", help=f"label stock (default: the site setting, else {DEFAULT_LABEL_SIZE})")
    printing.add_argument("--paper", metavar="letter|a4", help=f"sheet paper (default: the site setting, else {DEFAULT_PAPER})")
    printing.add_argument("--demo", action="store_true", help="print a sample preparation; reads and writes no stored data")
    # The sample's drug, as sheet and label --demo take it: with several drugs installed it is named.
    add_drug_options(printing)
    add_storage_options(printing)
    printing.set_defaults(func=run_print)


def run_print(args: argparse.Namespace) -> int:
    from ..service.printing import PrintError, print_document

    if args.queue is not None:
        from ..service.settings import validate_queue_name

        validate_queue_name("queue", args.queue)
    if args.kind == "sheet" and args.label_size is not None:
        raise CliError("invalid label-size: a sheet is printed on --paper, not a label stock")
    if args.kind == "label" and args.paper is not None:
        raise CliError("invalid paper: a label is printed on --label-size stock, not paper")
    jobs = []

    def deliver(document, settings) -> str:
        site_queue = "" if settings is None else (settings.label_queue if document.kind == "label" else settings.sheet_queue)
        queue = args.queue or site_queue
        try:
            job = print_document(document, queue)
        except PrintError as exc:
            raise CliError(f"not printed: {exc.message}", Exit.HARD_STOP) from None
        jobs.append(job)
        return f"queue {job.queue} job {job.job_id} media {job.media}"

    document = _document(args, args.kind, deliver)
    job = jobs[0]
    what = "bag label" if args.kind == "label" else "prep sheet"
    print(f"{what} for {document.prep_id}{' (REPRINT)' if document.reprint else ''} sent to {job.queue} as job {job.job_id or '?'} on {job.media}")
    return Exit.OK
