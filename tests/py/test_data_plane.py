"""End-to-end tests of the data plane (appends, reads, sessions) through the official Python SDK.

Run: STRAND_ENDPOINT=http://127.0.0.1:8088 $STRAND_PY -m unittest discover -s tests/py -v
Unary calls use protobuf (application/x-protobuf); sessions use S2S (content-type: s2s/proto).
Retries are disabled so that a server error is never masked by a successful second attempt.
"""

import asyncio
import os
import secrets
import time
import unittest

from s2_sdk import (
    S2,
    AppendInput,
    BasinConfig,
    CommandRecord,
    Compression,
    Encryption,
    Endpoints,
    FencingTokenMismatchError,
    ReadLimit,
    ReadUnwrittenError,
    Record,
    Retry,
    S2ServerError,
    SeqNum,
    SeqNumMismatchError,
    StreamConfig,
    StreamPosition,
    TailOffset,
)

ENDPOINT = os.environ.get("STRAND_ENDPOINT")
if not ENDPOINT:
    raise RuntimeError("STRAND_ENDPOINT must be set, e.g. http://127.0.0.1:8088")

RUN = secrets.token_hex(4)  # unique per run, so basin names never collide
_counter = 0
TIMEOUT = 10.0  # upper bound for anything that waits on the server


def basin_name(tag: str) -> str:
    global _counter
    _counter += 1
    return f"pyd-{RUN}-{_counter:02d}-{tag}"


def records(*bodies: bytes) -> list[Record]:
    return [Record(body=b) for b in bodies]


class DataPlaneTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.s2 = S2(
            "ignored", endpoints=Endpoints(ENDPOINT, ENDPOINT), retry=Retry(max_attempts=1)
        )
        self.created: list[str] = []

    async def asyncTearDown(self):
        for name in self.created:
            await self.s2.delete_basin(name, ignore_not_found=True)
        await self.s2.close()

    async def new_stream(self, tag: str):
        name = basin_name(tag)
        await self.s2.create_basin(name)
        self.created.append(name)
        basin = self.s2.basin(name)
        await basin.create_stream("s")
        return basin.stream("s")

    async def assert_server_error(self, coro, cls, status: int) -> S2ServerError:
        with self.assertRaises(cls) as cm:
            await coro
        self.assertEqual(cm.exception.status_code, status, cm.exception.message)
        return cm.exception

    async def read_all(self, stream, start: int = 0):
        batch = await stream.read(start=SeqNum(start))
        return batch.records

    # ---- unary append / read ---------------------------------------------------

    async def test_unary_append_and_read_round_trip_headers_and_bodies(self):
        stream = await self.new_stream("rt")
        now_ms = int(time.time() * 1000)
        batch = [
            Record(body=b"hello", headers=[(b"k", b"v")]),
            Record(body=b"", headers=[(b"dup", b"1"), (b"dup", b"2"), (b"bin", b"\x00\xff")]),
            Record(body=bytes(range(256))),
        ]
        ack = await stream.append(AppendInput(records=batch))
        self.assertEqual((ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num), (0, 3, 3))
        self.assertLess(abs(ack.start.timestamp - now_ms), 60_000)  # arrival time, in ms
        self.assertEqual(ack.tail.timestamp, ack.end.timestamp)

        ack2 = await stream.append(AppendInput(records=records(b"four", b"five")))
        self.assertEqual((ack2.start.seq_num, ack2.end.seq_num), (3, 5))
        self.assertGreaterEqual(ack2.start.timestamp, ack.end.timestamp)

        read = await stream.read(start=SeqNum(0))
        self.assertIsNone(read.tail)  # start below the tail: historical read, no tail
        got = read.records
        self.assertEqual([r.seq_num for r in got], [0, 1, 2, 3, 4])
        self.assertEqual([r.body for r in got[:3]], [b.body for b in batch])
        self.assertEqual([r.headers for r in got[:3]], [b.headers for b in batch])
        self.assertEqual([(r.body, r.headers) for r in got[3:]], [(b"four", []), (b"five", [])])
        self.assertEqual(got[0].timestamp, ack.start.timestamp)
        self.assertEqual(got[4].timestamp, ack2.end.timestamp)
        timestamps = [r.timestamp for r in got]
        self.assertEqual(timestamps, sorted(timestamps))

        self.assertEqual(await stream.check_tail(), StreamPosition(5, ack2.end.timestamp))
        partial = await stream.read(start=SeqNum(2), limit=ReadLimit(count=2))
        self.assertEqual([r.seq_num for r in partial.records], [2, 3])

    async def test_new_stream_tail_is_zero(self):
        stream = await self.new_stream("empty")
        self.assertEqual(await stream.check_tail(), StreamPosition(0, 0))

    async def test_client_timestamps_never_decrease(self):
        stream = await self.new_stream("ts")
        batch = [Record(body=b"a", timestamp=1000), Record(body=b"b", timestamp=500),
                 Record(body=b"c", timestamp=2000)]
        ack = await stream.append(AppendInput(records=batch))
        self.assertEqual((ack.start.timestamp, ack.end.timestamp), (1000, 2000))
        ack = await stream.append(AppendInput(records=[Record(body=b"d", timestamp=1500)]))
        self.assertEqual(ack.end.timestamp, 2000)
        got = await self.read_all(stream)
        self.assertEqual([r.timestamp for r in got], [1000, 1000, 2000, 2000])
        self.assertEqual(await stream.check_tail(), StreamPosition(4, 2000))

    # ---- append conditions -----------------------------------------------------

    async def test_match_seq_num_mismatch_rejects_whole_batch(self):
        stream = await self.new_stream("msn")
        await stream.append(AppendInput(records=records(b"a", b"b")))
        err = await self.assert_server_error(
            stream.append(AppendInput(records=records(b"x", b"y"), match_seq_num=5)),
            SeqNumMismatchError, 412,
        )
        self.assertEqual(err.expected_seq_num, 2)
        self.assertEqual((await stream.check_tail()).seq_num, 2)
        ack = await stream.append(AppendInput(records=records(b"c"), match_seq_num=2))
        self.assertEqual((ack.start.seq_num, ack.end.seq_num), (2, 3))
        self.assertEqual([r.body for r in await self.read_all(stream)], [b"a", b"b", b"c"])

    async def test_fence_command_then_wrong_token_is_rejected(self):
        stream = await self.new_stream("fence")
        ack = await stream.append(AppendInput(records=[CommandRecord.fence("writer-1")]))
        self.assertEqual((ack.start.seq_num, ack.end.seq_num), (0, 1))
        err = await self.assert_server_error(
            stream.append(AppendInput(records=records(b"x"), fencing_token="writer-2")),
            FencingTokenMismatchError, 412,
        )
        self.assertEqual(err.expected_fencing_token, "writer-1")
        self.assertEqual((await stream.check_tail()).seq_num, 1)
        ack = await stream.append(AppendInput(records=records(b"ok"), fencing_token="writer-1"))
        self.assertEqual(ack.start.seq_num, 1)
        # Fencing wins over a simultaneous seq-num mismatch.
        await self.assert_server_error(
            stream.append(AppendInput(records=records(b"x"), fencing_token="nope", match_seq_num=9)),
            FencingTokenMismatchError, 412,
        )
        fence, plain = await self.read_all(stream)
        self.assertTrue(fence.is_command_record())
        self.assertEqual((fence.headers, fence.body), ([(b"", b"fence")], b"writer-1"))
        self.assertEqual((plain.seq_num, plain.body), (1, b"ok"))

    # ---- reads beyond the tail -------------------------------------------------

    async def test_read_past_tail_is_read_unwritten(self):
        stream = await self.new_stream("416")
        ack = await stream.append(AppendInput(records=records(b"a", b"b")))
        for start in (5, 2):  # beyond the tail, and exactly at it without waiting
            err = await self.assert_server_error(
                stream.read(start=SeqNum(start)), ReadUnwrittenError, 416
            )
            self.assertEqual(err.tail, StreamPosition(2, ack.end.timestamp))

    # ---- sessions --------------------------------------------------------------

    async def test_append_session_acks_pipelined_batches_in_order(self):
        stream = await self.new_stream("asess")
        await stream.append(AppendInput(records=records(b"first")))
        sizes = [3, 1, 2, 5, 4]
        async with stream.append_session() as session:
            tickets = [
                await session.submit(
                    AppendInput(records=records(*(f"{i}-{j}".encode() for j in range(n))))
                )
                for i, n in enumerate(sizes)
            ]
            acks = await asyncio.wait_for(asyncio.gather(*tickets), TIMEOUT)
        expected_start = 1
        for n, ack in zip(sizes, acks):
            self.assertEqual((ack.start.seq_num, ack.end.seq_num),
                             (expected_start, expected_start + n))
            self.assertGreaterEqual(ack.tail.seq_num, ack.end.seq_num)
            expected_start += n
        self.assertEqual(acks[-1].tail.seq_num, expected_start)
        self.assertEqual((await stream.check_tail()).seq_num, expected_start)
        got = await self.read_all(stream)
        want = [b"first"] + [f"{i}-{j}".encode() for i, n in enumerate(sizes) for j in range(n)]
        self.assertEqual([r.body for r in got], want)
        self.assertEqual([r.seq_num for r in got], list(range(expected_start)))

    async def test_append_session_stops_at_first_failed_condition(self):
        stream = await self.new_stream("apoison")
        session = stream.append_session()
        ok = await session.submit(AppendInput(records=records(b"a", b"b"), match_seq_num=0))
        bad = await session.submit(AppendInput(records=records(b"x"), match_seq_num=7))
        later = await session.submit(AppendInput(records=records(b"y")))
        ack = await asyncio.wait_for(ok, TIMEOUT)
        self.assertEqual((ack.start.seq_num, ack.end.seq_num), (0, 2))
        for ticket in (bad, later):  # the session is poisoned by the 412
            with self.assertRaises(SeqNumMismatchError) as cm:
                await asyncio.wait_for(ticket, TIMEOUT)
            self.assertEqual(cm.exception.expected_seq_num, 2)
        with self.assertRaises(SeqNumMismatchError):
            await session.close()
        self.assertEqual([r.body for r in await self.read_all(stream)], [b"a", b"b"])

    async def test_encrypted_stream_round_trips_with_the_right_key_only(self):
        name = basin_name("ciph")
        await self.s2.create_basin(name, config=BasinConfig(stream_cipher=Encryption.AEGIS_256))
        self.created.append(name)
        basin = self.s2.basin(name)
        await basin.create_stream("s")
        keyed = basin.stream("s", encryption_key=bytes([3]) * 32)
        async with keyed.append_session() as session:
            ticket = await session.submit(AppendInput(records=[Record(body=b"sealed", headers=[(b"h", b"v")])]))
            await asyncio.wait_for(ticket, TIMEOUT)
        got = await self.read_all(keyed)
        self.assertEqual([(r.body, list(r.headers)) for r in got], [(b"sealed", [(b"h", b"v")])])

        async def collect():
            out = []
            async with keyed.read_session(start=SeqNum(0), limit=ReadLimit(count=1)) as s:
                async for batch in s:
                    out.extend(batch.records)
            return out

        self.assertEqual([r.body for r in await asyncio.wait_for(collect(), TIMEOUT)], [b"sealed"])
        wrong = basin.stream("s", encryption_key=bytes([4]) * 32)
        err = await self.assert_server_error(self.read_all(wrong), S2ServerError, 400)
        self.assertIn("decryption", err.message)
        await self.assert_server_error(self.read_all(basin.stream("s")), S2ServerError, 400)

    async def test_records_past_their_retention_are_not_read(self):
        name = basin_name("ret")
        await self.s2.create_basin(name)
        self.created.append(name)
        basin = self.s2.basin(name)
        await basin.create_stream("s", config=StreamConfig(retention_policy=1))
        stream = basin.stream("s")
        await stream.append(AppendInput(records=records(b"short-lived")))
        self.assertEqual(len(await self.read_all(stream)), 1)
        await asyncio.sleep(1.3)
        self.assertEqual(len(await self.read_all(stream)), 0)
        self.assertEqual((await stream.check_tail()).seq_num, 1)

    async def test_read_session_bounded_by_count_ends_after_limit(self):
        stream = await self.new_stream("rsess")
        await stream.append(AppendInput(records=records(*(b"r%d" % i for i in range(6)))))
        await stream.append(AppendInput(records=records(*(b"r%d" % i for i in range(6, 10)))))

        async def collect():
            out = []
            async with stream.read_session(start=SeqNum(0), limit=ReadLimit(count=7)) as session:
                async for batch in session:
                    out.extend(batch.records)
            return out

        got = await asyncio.wait_for(collect(), TIMEOUT)
        self.assertEqual([r.seq_num for r in got], list(range(7)))
        self.assertEqual([r.body for r in got], [b"r%d" % i for i in range(7)])

    async def test_follow_read_session_from_tail_sees_later_appends(self):
        stream = await self.new_stream("follow")
        await stream.append(AppendInput(records=records(b"old-0", b"old-1", b"old-2")))
        session = stream.read_session(start=TailOffset(0))
        try:
            caught_up = await asyncio.wait_for(session.caught_up(), TIMEOUT)
            self.assertEqual(caught_up.seq_num, 3)  # heartbeat reports the tail
            await stream.append(AppendInput(records=records(b"new-3", b"new-4")))
            ack = await stream.append(AppendInput(records=[Record(b"new-5", [(b"h", b"v")])]))

            async def collect(n):
                out, tails = [], []
                async for batch in session:
                    out.extend(batch.records)
                    tails.append(batch.tail)
                    if len(out) >= n:
                        return out, tails

            got, tails = await asyncio.wait_for(collect(3), TIMEOUT)
        finally:
            await session.close()
        self.assertEqual([r.seq_num for r in got], [3, 4, 5])
        self.assertEqual([r.body for r in got], [b"new-3", b"new-4", b"new-5"])
        self.assertEqual(got[2].headers, [(b"h", b"v")])
        self.assertNotIn(None, tails)  # live batches carry the tail
        self.assertEqual(tails[-1], ack.tail)
        with self.assertRaises(StopAsyncIteration):  # closed cleanly, nothing more
            await session.__anext__()

    # ---- trim --------------------------------------------------------------------

    async def test_trim_command_moves_read_start_but_not_tail(self):
        stream = await self.new_stream("trim")
        await stream.append(AppendInput(records=records(*(b"%d" % i for i in range(10)))))
        ack = await stream.append(AppendInput(records=[CommandRecord.trim(4)]))
        self.assertEqual((ack.start.seq_num, ack.end.seq_num), (10, 11))
        tail = await stream.check_tail()
        self.assertEqual(tail, StreamPosition(11, ack.end.timestamp))

        deadline = time.monotonic() + TIMEOUT  # trimming is asynchronous but prompt
        while (got := await self.read_all(stream))[0].seq_num != 4:
            self.assertEqual(got[0].seq_num, 0)
            self.assertLess(time.monotonic(), deadline, "trim not applied after 10 s")
            await asyncio.sleep(0.1)
        self.assertEqual([r.seq_num for r in got], list(range(4, 11)))
        self.assertEqual([r.body for r in got[:-1]], [b"%d" % i for i in range(4, 10)])
        trim = got[-1]
        self.assertTrue(trim.is_command_record())
        self.assertEqual((trim.headers, trim.body), ([(b"", b"trim")], (4).to_bytes(8, "big")))
        self.assertEqual([r.seq_num for r in await self.read_all(stream, start=2)],
                         list(range(4, 11)))
        self.assertEqual(await stream.check_tail(), tail)


    # ---- compression ----------------------------------------------------------

    async def test_compressed_requests_and_session_frames_round_trip(self):
        for compression in (Compression.ZSTD, Compression.GZIP):
            client = S2(
                "ignored",
                endpoints=Endpoints(ENDPOINT, ENDPOINT),
                retry=Retry(max_attempts=1),
                compression=compression,
            )
            try:
                name = basin_name(f"z{compression.value}")
                await client.create_basin(name)
                self.created.append(name)
                basin = client.basin(name)
                await basin.create_stream("s")
                stream = basin.stream("s")
                big = [b"x" * 2000, b"y" * 3000]
                ack = await stream.append(AppendInput(records=records(*big)))
                self.assertEqual((ack.start.seq_num, ack.end.seq_num), (0, 2))
                async with stream.append_session() as session:
                    ticket = await session.submit(AppendInput(records=records(b"z" * 5000)))
                    ack = await asyncio.wait_for(ticket, TIMEOUT)
                self.assertEqual((ack.start.seq_num, ack.end.seq_num), (2, 3))
                got = await self.read_all(stream)
                self.assertEqual([r.body for r in got], big + [b"z" * 5000])
            finally:
                await client.close()


if __name__ == "__main__":
    unittest.main()
