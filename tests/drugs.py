"""The monographs and payer policy tests pass to domain functions, which have no default drug and
no default policy."""

from __future__ import annotations

from infusion_app.domain.coverage import load_policy
from infusion_app.domain.monograph import load_monograph

BESPONSA = load_monograph("inotuzumab-ozogamicin")
MYLOTARG = load_monograph("gemtuzumab-ozogamicin")
# BESPONSA's payer policy, as the service finds it by the drug's billing code.
BESPONSA_POLICY = load_policy("policies/aetna-inotuzumab-ozogamicin.toml")
