"""Usage metrics (/v1/metrics) through the official Python SDK: account, basin and stream
sets count what this test did (counts not yet flushed are part of every answer).

Run: STRAND_ENDPOINT=http://127.0.0.1:8088 $STRAND_PY -m unittest discover -s tests/py -v
"""

import os
import secrets
import time
import unittest

from s2_sdk import (
    S2,
    AccountMetricSet,
    AppendInput,
    BasinMetricSet,
    Endpoints,
    Record,
    Retry,
    S2ServerError,
    SeqNum,
    StreamMetricSet,
    TimeseriesInterval,
)
from s2_sdk._types import Accumulation, Gauge, Label

ENDPOINT = os.environ.get("STRAND_ENDPOINT")
if not ENDPOINT:
    raise RuntimeError("STRAND_ENDPOINT must be set, e.g. http://127.0.0.1:8088")


def total(metrics, name: str) -> float:
    for m in metrics:
        if isinstance(m, Accumulation) and m.name == name:
            return sum(v for _, v in m.values)
    raise AssertionError(f"no accumulation {name} in {metrics}")


class UsageMetricsTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.s2 = S2("ignored", endpoints=Endpoints(ENDPOINT, ENDPOINT), retry=Retry(max_attempts=1))
        self.basin = f"py-usage-{secrets.token_hex(4)}"

    async def asyncTearDown(self):
        await self.s2.delete_basin(self.basin, ignore_not_found=True)
        await self.s2.close()

    async def test_usage_counts_appends_reads_and_operations(self):
        await self.s2.create_basin(self.basin)
        basin = self.s2.basin(self.basin)
        await basin.create_stream("s")
        stream = basin.stream("s")
        # Three records of 4 bytes: 12 metered bytes each.
        await stream.append(AppendInput(records=[Record(body=b"abcd") for _ in range(3)]))
        batch = await stream.read(start=SeqNum(0))
        self.assertEqual(len(batch.records), 3)
        now = int(time.time())
        rng = dict(start=now - 600, end=now + 1)

        m = await self.s2.basin_metrics(self.basin, set=BasinMetricSet.APPEND_THROUGHPUT, **rng)
        self.assertEqual(total(m, "append-throughput"), 36)
        m = await self.s2.basin_metrics(
            self.basin, set=BasinMetricSet.APPEND_OPS, interval=TimeseriesInterval.DAY, **rng
        )
        self.assertEqual(total(m, "express"), 1)
        self.assertEqual(total(m, "standard"), 0)
        m = await self.s2.basin_metrics(self.basin, set=BasinMetricSet.READ_OPS, **rng)
        self.assertEqual(total(m, "unary"), 1)
        m = await self.s2.basin_metrics(self.basin, set=BasinMetricSet.READ_THROUGHPUT, **rng)
        self.assertEqual(total(m, "read-throughput"), 36)
        m = await self.s2.basin_metrics(self.basin, set=BasinMetricSet.BASIN_OPS, **rng)
        self.assertEqual(total(m, "create-stream"), 1)

        m = await self.s2.stream_metrics(self.basin, "s", set=StreamMetricSet.STORAGE, **rng)
        self.assertIsInstance(m[0], Gauge)
        self.assertEqual(m[0].values[-1][1], 36)

        m = await self.s2.account_metrics(set=AccountMetricSet.ACTIVE_BASINS, **rng)
        self.assertIsInstance(m[0], Label)
        m = await self.s2.account_metrics(set=AccountMetricSet.ACCOUNT_OPS, **rng)
        self.assertGreaterEqual(total(m, "create-basin"), 1)

        with self.assertRaises(S2ServerError) as cm:
            await self.s2.basin_metrics(self.basin, set=BasinMetricSet.APPEND_OPS, start=now, end=now - 5)
        self.assertEqual(cm.exception.status_code, 422)


if __name__ == "__main__":
    unittest.main()
