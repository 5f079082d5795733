// TLS through the official TypeScript SDK: unary calls (fetch, HTTP/1.1 over TLS) and S2S
// sessions (HTTP/2 negotiated by ALPN) against a Strand serving --tls-cert/--tls-key. The
// certificate is trusted through NODE_EXTRA_CA_CERTS (tests/run-sdk-suites.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const ENDPOINT = process.env.STRAND_TLS_ENDPOINT;
if (!ENDPOINT) throw new Error('STRAND_TLS_ENDPOINT is not set (e.g. https://localhost:8443)');
const require = createRequire(process.env.STRAND_TS_SDK + '/');
const { S2, AppendRecord, AppendInput } = require('@s2-dev/streamstore');

test('TLS: basins, unary append and read, and S2S sessions', async () => {
  const s2 = new S2({ accessToken: 'ignored', endpoints: { account: ENDPOINT, basin: ENDPOINT }, retry: { maxAttempts: 1 } });
  const name = `ts-tls-${randomBytes(5).toString('hex')}`;
  await s2.basins.create({ basin: name });
  const basin = s2.basin(name);
  try {
    await basin.streams.create({ stream: 's' });
    for (const [label, options] of [['fetch', { forceTransport: 'fetch' }], ['s2s', { forceTransport: 's2s' }]]) {
      const stream = basin.stream('s', options);
      const session = await stream.appendSession();
      const ticket = await session.submit(AppendInput.create([AppendRecord.string({ body: `over-tls-${label}` })]));
      await ticket.ack();
      await session.close();
      const read = await stream.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1 } } });
      const got = [];
      for await (const r of read) got.push(r.body);
      assert.deepEqual(got, ['over-tls-fetch']);
      await stream.close();
    }
    const { records } = await basin.stream('s').read({ start: { from: { seqNum: 0 } } });
    assert.deepEqual(records.map((r) => r.body), ['over-tls-fetch', 'over-tls-s2s']);
  } finally {
    await s2.basins.delete({ basin: name }).catch(() => {});
  }
});
