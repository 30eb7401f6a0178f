"""`bookd analytics rebuild`, run as an operator runs it after an upgrade: the counters of an
existing database made again, equal to what the changes kept."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import text

from tests import factories
from tests.analytics.test_counters import counters
from tests.conftest import Api
from tests.processes import BOOKD, bookd_env


def test_the_command_makes_the_counters_again(api: Api, database_url: str, tmp_path: Path) -> None:
    svc = factories.service(api)
    made = factories.booking(api, service_uid=svc["service_uid"])
    assert api.post(f"/v1/bookings/{made['id']}/cancel", {"reason": "Ill"}).status_code == 200
    assert api.post(f"/v1/bookings/{made['id']}/rating", {"rating": 2}).status_code == 200
    kept = api.run(lambda s: counters(s, api.workspace_id))
    assert kept["days"] and kept["reasons"]

    async def forget(session: object) -> None:
        for table in ("booking_days", "booking_reasons"):
            await session.execute(  # type: ignore[attr-defined]
                text(f"DELETE FROM {table} WHERE workspace_id = :w"), {"w": api.workspace_id}
            )

    api.run(forget)
    assert api.run(lambda s: counters(s, api.workspace_id)) == {"days": {}, "reasons": {}}
    done = subprocess.run(
        [str(BOOKD), "analytics", "rebuild", "--workspace", str(api.workspace_id)],
        cwd=tmp_path, env=bookd_env(database_url), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"bookings_counted": {str(api.workspace_id): 1}}
    assert api.run(lambda s: counters(s, api.workspace_id)) == kept
