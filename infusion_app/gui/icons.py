"""The application's identity on the desktop: its id, its name and its icon.

APP_ID is the reverse-DNS id shared by the .desktop entry, the AppStream metainfo, the icon file
names and the Wayland app id, so that the task bar matches the running window to its launcher.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap

from ..domain.resources import resource_path

APP_ID = "org.infusionprep.InfusionPrep"
APP_NAME = "Infusion Prep"
ICON_SIZES = (16, 32, 48, 64, 128, 256)


def icon_png(size: int):
    """The shipped PNG of the icon at `size` px (a Traversable: works from a wheel and a bundle)."""
    return resource_path("icons", "hicolor", f"{size}x{size}", "apps", f"{APP_ID}.png")


def application_icon() -> QIcon:
    """The window and task-bar icon, with every shipped size so Qt never scales a tiny one up.

    Needs a QGuiApplication to exist (QPixmap does). Raises FileNotFoundError if the icon files
    are missing from the installation, rather than quietly showing a blank window icon.
    """
    icon = QIcon()
    for size in ICON_SIZES:
        png = icon_png(size)
        if isinstance(png, Path):
            # An installed file: Qt reads and decodes it when a size is first drawn, not here; six
            # PNGs decoded up front were ~5 ms before the first window (issue 19).
            if not png.is_file():
                raise FileNotFoundError(f"application icon {size}x{size} is missing: {png}")
            icon.addFile(str(png), QSize(size, size))
            continue
        pixmap = QPixmap()  # inside a zip (a bundle): only the bytes can be handed over
        if not pixmap.loadFromData(png.read_bytes(), "PNG"):
            raise FileNotFoundError(f"application icon {size}x{size} is not a readable PNG")
        icon.addPixmap(pixmap)
    return icon
