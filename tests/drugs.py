"""The monographs tests pass to domain functions, which have no default drug."""

from __future__ import annotations

from infusion_app.domain.monograph import load_monograph

BESPONSA = load_monograph("inotuzumab-ozogamicin")
MYLOTARG = load_monograph("gemtuzumab-ozogamicin")
