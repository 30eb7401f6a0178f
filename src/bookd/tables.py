"""Every table, imported once so that `Base.metadata` knows them all (migrations, tests)."""

from bookd.availability import models as _availability
from bookd.bookings import counts as _booking_counts
from bookd.bookings import models as _bookings
from bookd.calendars import models as _calendars
from bookd.catalog import models as _catalog
from bookd.console import models as _console
from bookd.events import models as _events
from bookd.hosts import models as _hosts
from bookd.kit.db import Base
from bookd.scheduling import models as _scheduling
from bookd.webhooks import models as _webhooks
from bookd.workspaces import models as _workspaces

metadata = Base.metadata

__all__ = [
    "_availability",
    "_booking_counts",
    "_bookings",
    "_calendars",
    "_catalog",
    "_console",
    "_events",
    "_hosts",
    "_scheduling",
    "_webhooks",
    "_workspaces",
    "metadata",
]
