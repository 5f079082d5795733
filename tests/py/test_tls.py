"""TLS through the official Python SDK (HTTP/2 over TLS, ALPN h2): unary calls and an
append session against a Strand serving --tls-cert/--tls-key, trusted through
SSL_CERT_FILE (tests/run-sdk-suites.sh)."""

import asyncio
import os
import secrets
import unittest

from s2_sdk import S2, AppendInput, Endpoints, Record, Retry, SeqNum

ENDPOINT = os.environ.get("STRAND_TLS_ENDPOINT")
if not ENDPOINT:
    raise RuntimeError("STRAND_TLS_ENDPOINT must be set, e.g. https://localhost:8443")


class TlsTest(unittest.IsolatedAsyncioTestCase):
    async def test_unary_and_session_over_tls(self):
        s2 = S2("ignored", endpoints=Endpoints(ENDPOINT, ENDPOINT), retry=Retry(max_attempts=1))
        name = f"py-tls-{secrets.token_hex(5)}"
        await s2.create_basin(name)
        try:
            basin = s2.basin(name)
            await basin.create_stream("s")
            stream = basin.stream("s")
            await stream.append(AppendInput(records=[Record(body=b"unary-over-tls")]))
            async with stream.append_session() as session:
                ticket = await session.submit(AppendInput(records=[Record(body=b"session-over-tls")]))
                await asyncio.wait_for(ticket, 10)
            batch = await stream.read(start=SeqNum(0))
            self.assertEqual([r.body for r in batch.records], [b"unary-over-tls", b"session-over-tls"])
        finally:
            await s2.delete_basin(name, ignore_not_found=True)
            await s2.close()
