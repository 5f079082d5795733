// Usage metrics (/v1/metrics) through the official TypeScript SDK: account, basin and stream
// sets count what this test did (counts not yet flushed are part of every answer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const ENDPOINT = process.env.STRAND_ENDPOINT;
if (!ENDPOINT) throw new Error('STRAND_ENDPOINT is not set');
const require = createRequire(process.env.STRAND_TS_SDK + '/');
const { S2, AppendRecord, AppendInput } = require('@s2-dev/streamstore');
const s2 = new S2({ accessToken: 'ignored', endpoints: { account: ENDPOINT, basin: ENDPOINT }, retry: { maxAttempts: 1 } });

const total = (metrics, name) => {
  const found = metrics.values.find((m) => m.accumulation?.name === name);
  assert.ok(found, `no accumulation ${name} in ${JSON.stringify(metrics)}`);
  return found.accumulation.values.reduce((sum, [, v]) => sum + v, 0);
};

test('usage metrics count appends, reads and operations', async () => {
  const name = `ts-usage-${randomBytes(5).toString('hex')}`;
  await s2.basins.create({ basin: name });
  const basin = s2.basin(name);
  await basin.streams.create({ stream: 's' });
  const stream = basin.stream('s');
  // Two records of 10 bytes: 18 metered bytes each.
  await stream.append(AppendInput.create([AppendRecord.string({ body: '0123456789' }), AppendRecord.string({ body: 'abcdefghij' })]));
  const batch = await stream.read({ start: { from: { seqNum: 0 } } });
  assert.equal(batch.records.length, 2);
  const end = new Date(Date.now() + 1000);
  const start = new Date(Date.now() - 600_000);
  const range = { basin: name, start, end };

  const appended = await s2.metrics.basin({ ...range, set: 'append-throughput' });
  assert.equal(total(appended, 'append-throughput'), 36);
  const ops = await s2.metrics.basin({ ...range, set: 'append-ops', interval: 'hour' });
  assert.equal(total(ops, 'express'), 1);
  const reads = await s2.metrics.basin({ ...range, set: 'read-ops' });
  assert.equal(total(reads, 'unary'), 1);
  const read = await s2.metrics.basin({ ...range, set: 'read-throughput' });
  assert.equal(total(read, 'read-throughput'), 36);
  const basinOps = await s2.metrics.basin({ ...range, set: 'basin-ops' });
  assert.equal(total(basinOps, 'create-stream'), 1);
  assert.ok(basinOps.values[0].accumulation.values[0][0] instanceof Date);

  const storage = await s2.metrics.stream({ ...range, stream: 's', set: 'storage' });
  const points = storage.values[0].gauge.values;
  assert.equal(points[points.length - 1][1], 36, JSON.stringify(storage));

  const active = await s2.metrics.account({ set: 'active-basins', start, end });
  assert.equal(active.values[0].label.name, 'active-basins');
  const account = await s2.metrics.account({ set: 'account-ops', start, end });
  assert.ok(total(account, 'create-basin') >= 1);

  const bad = await s2.metrics.basin({ basin: name, set: 'append-ops', start: end, end: start }).then(() => null, (e) => e);
  assert.equal(bad?.status, 422);
  await s2.basins.delete({ basin: name });
});
