"""Printed outputs: the prep sheet and the bag label (reportlab only; no Qt, no database).

data = SheetData.from_preparation(prep, monograph, deadlines, printed_at, program_version)
render_prep_sheet(data, "sheet.pdf", page_size="a4")
render_bag_label(data, "label.pdf", size=parse_label_size("102x51mm"))
"""

from .label import DEFAULT_LABEL_SIZE, layout_bag_label, parse_label_size, render_bag_label
from .model import SheetData
from .sheet import PAPER_SIZES, paper_size, render_prep_sheet

__all__ = [
    "DEFAULT_LABEL_SIZE",
    "PAPER_SIZES",
    "SheetData",
    "layout_bag_label",
    "paper_size",
    "parse_label_size",
    "render_bag_label",
    "render_prep_sheet",
]
