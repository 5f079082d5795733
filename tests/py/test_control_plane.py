"""End-to-end tests of the basin/stream control plane through the official Python SDK.

Run: STRAND_ENDPOINT=http://127.0.0.1:8088 $STRAND_PY -m unittest discover -s tests/py -v
The SDK (s2-sdk 0.13.0) speaks h2c only and uses "direct" basin mode (s2-basin header).
"""

import asyncio
import os
import secrets
import unittest
from datetime import datetime, timedelta, timezone

from s2_sdk import (
    S2,
    BasinConfig,
    Endpoints,
    EnsureStatus,
    S2ServerError,
    StreamConfig,
    Timestamping,
    TimestampingMode,
)

ENDPOINT = os.environ.get("STRAND_ENDPOINT")
if not ENDPOINT:
    raise RuntimeError("STRAND_ENDPOINT must be set, e.g. http://127.0.0.1:8088")

RUN = secrets.token_hex(4)  # unique per run, so basin names never collide
_counter = 0

DEFAULT_STREAM_CONFIG = StreamConfig(
    storage_class="express",
    retention_policy=604800,
    timestamping=Timestamping(mode=TimestampingMode.CLIENT_PREFER, uncapped=False),
    delete_on_empty_min_age=0,
)
DEFAULT_BASIN_CONFIG = BasinConfig(
    default_stream_config=None,
    stream_cipher=None,
    create_stream_on_append=False,
    create_stream_on_read=False,
)


def basin_name(tag: str) -> str:
    global _counter
    _counter += 1
    return f"py-{RUN}-{_counter:02d}-{tag}"


class ControlPlaneTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.s2 = S2("ignored", endpoints=Endpoints(ENDPOINT, ENDPOINT))
        self.created: list[str] = []

    async def asyncTearDown(self):
        for name in self.created:
            await self.s2.delete_basin(name, ignore_not_found=True)
        await self.s2.close()

    async def new_basin(self, tag: str, config: BasinConfig | None = None) -> str:
        name = basin_name(tag)
        info = await self.s2.create_basin(name, config=config)
        self.created.append(name)
        self.assertEqual(info.name, name)
        return name

    async def assert_server_error(self, coro, status: int, code: str) -> S2ServerError:
        with self.assertRaises(S2ServerError) as cm:
            await coro
        err = cm.exception
        self.assertEqual((err.status_code, err.code), (status, code), err.message)
        self.assertTrue(err.message)
        return err

    async def eventually_not_found(self, probe, pending_code: str, code: str):
        """Deletion is asynchronous: accept `pending_code` (409) until 404 `code`."""
        for _ in range(100):
            try:
                await probe()
            except S2ServerError as e:
                if (e.status_code, e.code) == (404, code):
                    return
                self.assertEqual((e.status_code, e.code), (409, pending_code))
            await asyncio.sleep(0.1)
        self.fail(f"resource still present 10 s after delete (expected 404 {code})")

    # ---- basins ----------------------------------------------------------------

    async def test_create_basin_returns_info_and_default_config(self):
        name = basin_name("info")
        before = datetime.now(timezone.utc)
        info = await self.s2.create_basin(name)
        self.created.append(name)
        self.assertEqual(info.name, name)
        self.assertIsNone(info.location)
        self.assertIsNone(info.deleted_at)
        self.assertLess(abs(info.created_at - before), timedelta(minutes=5))
        self.assertEqual(await self.s2.get_basin_config(name), DEFAULT_BASIN_CONFIG)
        page = await self.s2.list_basins(prefix=name)
        self.assertEqual([b.name for b in page.items], [name])
        self.assertFalse(page.has_more)
        self.assertEqual(page.items[0].created_at, info.created_at)

    async def test_duplicate_basin_create_is_conflict(self):
        name = await self.new_basin("dup")
        await self.assert_server_error(
            self.s2.create_basin(name), 409, "resource_already_exists"
        )

    async def test_list_basins_filters_by_prefix_and_paginates(self):
        prefix = f"py-{RUN}-lb-"
        names = [f"{prefix}{i}" for i in ("a1", "a2", "a3", "b1", "b2")]
        for n in reversed(names):
            await self.s2.create_basin(n)
            self.created.append(n)
        page = await self.s2.list_basins(prefix=prefix, limit=2)
        self.assertEqual([b.name for b in page.items], names[0:2])
        self.assertTrue(page.has_more)
        page = await self.s2.list_basins(prefix=prefix, start_after=names[1], limit=2)
        self.assertEqual([b.name for b in page.items], names[2:4])
        self.assertTrue(page.has_more)
        page = await self.s2.list_basins(prefix=prefix, start_after=names[3], limit=2)
        self.assertEqual([b.name for b in page.items], names[4:])
        self.assertFalse(page.has_more)
        page = await self.s2.list_basins(prefix=prefix + "a")
        self.assertEqual([b.name for b in page.items], names[:3])
        self.assertFalse(page.has_more)
        page = await self.s2.list_basins(prefix=prefix, start_after=names[-1])
        self.assertEqual((page.items, page.has_more), ([], False))
        page = await self.s2.list_basins(prefix=prefix + "zz")
        self.assertEqual((page.items, page.has_more), ([], False))
        everything = [b.name async for b in self.s2.list_all_basins(prefix=prefix)]
        self.assertEqual(everything, names)

    async def test_ensure_basin_creates_then_reports_unchanged_or_updated(self):
        name = basin_name("ens")
        self.created.append(name)
        first = await self.s2.ensure_basin(name)
        self.assertEqual((first.status, first.basin.name), (EnsureStatus.CREATED, name))
        again = await self.s2.ensure_basin(name)
        self.assertEqual(again.status, EnsureStatus.CONFIG_UNCHANGED)
        self.assertEqual(again.basin.created_at, first.basin.created_at)
        updated = await self.s2.ensure_basin(
            name, config=BasinConfig(create_stream_on_append=True)
        )
        self.assertEqual(updated.status, EnsureStatus.CONFIG_UPDATED)
        cfg = await self.s2.get_basin_config(name)
        self.assertTrue(cfg.create_stream_on_append)
        self.assertFalse(cfg.create_stream_on_read)
        # Ensure replaces the config wholesale: no config means back to defaults.
        reverted = await self.s2.ensure_basin(name)
        self.assertEqual(reverted.status, EnsureStatus.CONFIG_UPDATED)
        self.assertEqual(await self.s2.get_basin_config(name), DEFAULT_BASIN_CONFIG)

    async def test_reconfigure_basin_is_partial_and_only_affects_new_streams(self):
        name = await self.new_basin("rcb")
        basin = self.s2.basin(name)
        await basin.create_stream("before")
        cfg = await self.s2.reconfigure_basin(
            name,
            config=BasinConfig(
                default_stream_config=StreamConfig(
                    retention_policy=3600, timestamping=Timestamping(uncapped=True)
                )
            ),
        )
        expected_defaults = StreamConfig(
            retention_policy=3600, timestamping=Timestamping(mode=None, uncapped=True)
        )
        self.assertEqual(cfg.default_stream_config, expected_defaults)
        self.assertFalse(cfg.create_stream_on_append)
        cfg = await self.s2.reconfigure_basin(
            name, config=BasinConfig(create_stream_on_read=True)
        )
        self.assertEqual(cfg.default_stream_config, expected_defaults)
        self.assertTrue(cfg.create_stream_on_read)
        self.assertEqual(await self.s2.get_basin_config(name), cfg)

        await basin.create_stream("after")
        self.assertEqual(await basin.get_stream_config("before"), DEFAULT_STREAM_CONFIG)
        self.assertEqual(
            await basin.get_stream_config("after"),
            StreamConfig(
                storage_class="express",
                retention_policy=3600,
                timestamping=Timestamping(TimestampingMode.CLIENT_PREFER, True),
                delete_on_empty_min_age=0,
            ),
        )

    async def test_delete_empty_basin_disappears(self):
        name = await self.new_basin("del")
        await self.s2.delete_basin(name)
        await self.eventually_not_found(
            lambda: self.s2.get_basin_config(name), "basin_deletion_pending", "basin_not_found"
        )
        page = await self.s2.list_basins(prefix=name)
        self.assertEqual(page.items, [])
        await self.assert_server_error(self.s2.delete_basin(name), 404, "basin_not_found")
        await self.s2.create_basin(name)  # the name is reusable afterwards

    async def test_missing_basin_is_basin_not_found(self):
        name = basin_name("nope")
        for call in (
            self.s2.get_basin_config(name),
            self.s2.reconfigure_basin(name, config=BasinConfig(create_stream_on_read=True)),
            self.s2.delete_basin(name),
            self.s2.basin(name).list_streams(),
            self.s2.basin(name).create_stream("s"),
            self.s2.basin(name).reconfigure_stream("s", config=StreamConfig(retention_policy=60)),
        ):
            await self.assert_server_error(call, 404, "basin_not_found")
        await self.s2.delete_basin(name, ignore_not_found=True)
        # Stream get/delete do not check the basin (s2 lite behaviour).
        await self.assert_server_error(
            self.s2.basin(name).get_stream_config("s"), 404, "stream_not_found"
        )
        await self.assert_server_error(
            self.s2.basin(name).delete_stream("s"), 404, "stream_not_found"
        )

    # ---- streams ---------------------------------------------------------------

    async def test_new_stream_gets_resolved_default_config(self):
        basin = self.s2.basin(await self.new_basin("sdef"))
        info = await basin.create_stream("events")
        self.assertEqual(info.name, "events")
        self.assertIsNone(info.deleted_at)
        self.assertIsNone(info.cipher)
        self.assertEqual(await basin.get_stream_config("events"), DEFAULT_STREAM_CONFIG)

    async def test_create_stream_with_explicit_config_round_trips(self):
        basin = self.s2.basin(await self.new_basin("sexp"))
        config = StreamConfig(
            storage_class="standard",
            retention_policy="infinite",
            timestamping=Timestamping(mode=TimestampingMode.ARRIVAL, uncapped=True),
            delete_on_empty_min_age=60,
        )
        await basin.create_stream("custom", config=config)
        self.assertEqual(await basin.get_stream_config("custom"), config)

    async def test_stream_names_with_reserved_characters_round_trip(self):
        basin = self.s2.basin(await self.new_basin("sname"))
        names = ["a/b c?d", "x#y%z", "ünï-☃"]
        for n in names:
            await basin.create_stream(n, config=StreamConfig(retention_policy=42))
            self.assertEqual((await basin.get_stream_config(n)).retention_policy, 42)
        page = await basin.list_streams()
        self.assertEqual([s.name for s in page.items], sorted(names, key=str.encode))

    async def test_duplicate_stream_create_is_conflict(self):
        basin = self.s2.basin(await self.new_basin("sdup"))
        await basin.create_stream("once")
        await self.assert_server_error(
            basin.create_stream("once"), 409, "resource_already_exists"
        )

    async def test_reconfigure_stream_changes_only_given_fields(self):
        basin = self.s2.basin(await self.new_basin("srcf"))
        await basin.create_stream("s")
        cfg = await basin.reconfigure_stream("s", config=StreamConfig(retention_policy=86400))
        expected = StreamConfig(
            storage_class="express",
            retention_policy=86400,
            timestamping=Timestamping(TimestampingMode.CLIENT_PREFER, False),
            delete_on_empty_min_age=0,
        )
        self.assertEqual(cfg, expected)
        cfg = await basin.reconfigure_stream(
            "s",
            config=StreamConfig(
                timestamping=Timestamping(mode=TimestampingMode.ARRIVAL),
                delete_on_empty_min_age=120,
            ),
        )
        expected.timestamping = Timestamping(TimestampingMode.ARRIVAL, False)
        expected.delete_on_empty_min_age = 120
        self.assertEqual(cfg, expected)
        self.assertEqual(await basin.reconfigure_stream("s", config=StreamConfig()), expected)
        self.assertEqual(await basin.get_stream_config("s"), expected)

    async def test_ensure_stream_creates_then_reports_unchanged_or_updated(self):
        basin = self.s2.basin(await self.new_basin("sens"))
        first = await basin.ensure_stream("e")
        self.assertEqual((first.status, first.stream.name), (EnsureStatus.CREATED, "e"))
        again = await basin.ensure_stream("e")
        self.assertEqual(again.status, EnsureStatus.CONFIG_UNCHANGED)
        self.assertEqual(again.stream.created_at, first.stream.created_at)
        same = await basin.ensure_stream("e", config=DEFAULT_STREAM_CONFIG)
        self.assertEqual(same.status, EnsureStatus.CONFIG_UNCHANGED)
        updated = await basin.ensure_stream(
            "e", config=StreamConfig(retention_policy=100, storage_class="standard")
        )
        self.assertEqual(updated.status, EnsureStatus.CONFIG_UPDATED)
        cfg = await basin.get_stream_config("e")
        self.assertEqual((cfg.retention_policy, cfg.storage_class), (100, "standard"))
        # Ensure replaces the config wholesale: omitted retention reverts to the default.
        reverted = await basin.ensure_stream("e", config=StreamConfig(storage_class="standard"))
        self.assertEqual(reverted.status, EnsureStatus.CONFIG_UPDATED)
        cfg = await basin.get_stream_config("e")
        self.assertEqual((cfg.retention_policy, cfg.storage_class), (604800, "standard"))

    async def test_list_streams_paginates_in_lexicographic_order(self):
        basin = self.s2.basin(await self.new_basin("slist"))
        names = [f"s-{i:02d}" for i in range(25)]
        for n in reversed(names):
            await basin.create_stream(n)
        await basin.create_stream("other")
        await basin.create_stream("s")  # a prefix match of its own, sorts first

        pages, start_after = [], ""
        while True:
            page = await basin.list_streams(prefix="s-", start_after=start_after, limit=10)
            pages.append(([s.name for s in page.items], page.has_more))
            if not page.has_more:
                break
            start_after = page.items[-1].name
        self.assertEqual(
            pages, [(names[0:10], True), (names[10:20], True), (names[20:25], False)]
        )
        page = await basin.list_streams(start_after="s-23")
        self.assertEqual(([s.name for s in page.items], page.has_more), (["s-24"], False))
        page = await basin.list_streams(prefix="s-1", limit=3)
        self.assertEqual(([s.name for s in page.items], page.has_more), (names[10:13], True))
        page = await basin.list_streams(prefix="zzz")
        self.assertEqual((page.items, page.has_more), ([], False))
        everything = [s.name async for s in basin.list_all_streams()]
        self.assertEqual(everything, ["other", "s"] + names)

    async def test_missing_stream_is_stream_not_found(self):
        basin = self.s2.basin(await self.new_basin("smiss"))
        for call in (
            basin.get_stream_config("ghost"),
            basin.reconfigure_stream("ghost", config=StreamConfig(retention_policy=60)),
            basin.delete_stream("ghost"),
        ):
            await self.assert_server_error(call, 404, "stream_not_found")
        await basin.delete_stream("ghost", ignore_not_found=True)

    async def test_delete_stream_removes_it_and_frees_the_name(self):
        basin = self.s2.basin(await self.new_basin("sdel"))
        await basin.create_stream("doomed", config=StreamConfig(retention_policy=77))
        await basin.create_stream("kept")
        await basin.delete_stream("doomed")
        await self.eventually_not_found(
            lambda: basin.get_stream_config("doomed"), "stream_deletion_pending", "stream_not_found"
        )
        self.assertEqual([s.name async for s in basin.list_all_streams()], ["kept"])
        await basin.create_stream("doomed")
        self.assertEqual(await basin.get_stream_config("doomed"), DEFAULT_STREAM_CONFIG)

    async def test_zero_retention_age_is_rejected_as_invalid(self):
        name = await self.new_basin("inval")
        basin = self.s2.basin(name)
        zero = StreamConfig(retention_policy=0)
        await self.assert_server_error(basin.create_stream("z", config=zero), 422, "invalid")
        await self.assert_server_error(basin.ensure_stream("z", config=zero), 422, "invalid")
        await self.assert_server_error(basin.get_stream_config("z"), 404, "stream_not_found")
        await basin.create_stream("ok")
        await self.assert_server_error(
            basin.reconfigure_stream("ok", config=zero), 422, "invalid"
        )
        self.assertEqual(await basin.get_stream_config("ok"), DEFAULT_STREAM_CONFIG)
        await self.assert_server_error(
            self.s2.reconfigure_basin(name, config=BasinConfig(default_stream_config=zero)),
            422,
            "invalid",
        )
        self.assertEqual(await self.s2.get_basin_config(name), DEFAULT_BASIN_CONFIG)
        other = basin_name("inval2")
        await self.assert_server_error(
            self.s2.create_basin(other, config=BasinConfig(default_stream_config=zero)),
            422,
            "invalid",
        )
        await self.assert_server_error(self.s2.get_basin_config(other), 404, "basin_not_found")


if __name__ == "__main__":
    unittest.main()
