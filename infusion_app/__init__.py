"""Preparation and administration assistant for inotuzumab ozogamicin (BESPONSA)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("infusion-prep")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
