"""The recorder's spool (pot.server.spool): what it keeps of delivered records."""

from __future__ import annotations

from pathlib import Path

from pot.server.spool import Delivery, Spool


def test_the_spool_keeps_the_newest_delivered_records_and_every_waiting_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync=False, keep_delivered=3)
    try:
        for n in range(6):
            spool.add("m", f"key-{n}", "checkpoint", "{}", n + 1)
        for n in range(5):  # delivered one by one, as the server answers; key-5 still waits
            [sent] = spool.take(1)
            assert sent.idempotency_key == f"key-{n}"
            spool.settle("m", [sent], [Delivery(sent.idempotency_key, f"id-{n}", n)])
        assert [spool.delivery(f"key-{n}") for n in range(2)] == [None, None]  # the oldest are dropped
        assert [d.record_id for n in range(2, 5) if (d := spool.delivery(f"key-{n}")) is not None] == \
            ["id-2", "id-3", "id-4"]
        assert spool.waiting("m") == 1 and spool.take(1)[0].idempotency_key == "key-5"  # nothing waiting is lost
    finally:
        spool.close()
