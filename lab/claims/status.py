"""The four statuses a claim can have (see :mod:`lab.claims` and :mod:`lab.claims.rules`)."""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    REPRODUCED = "reproduced"
    PARTLY = "partly reproduced"
    NOT_REPRODUCED = "not reproduced"
    NOT_CHECKABLE = "not checkable at this tier"

    @property
    def mark(self) -> str:
        """A one-character mark that common fonts carry (no emoji)."""
        return {"reproduced": "✓", "partly reproduced": "~", "not reproduced": "✗"}.get(self.value, "–")
