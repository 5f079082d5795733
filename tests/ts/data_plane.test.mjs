// End-to-end test of the data plane (append, read, check tail, S2S sessions) through the official
// TypeScript SDK (@s2-dev/streamstore 0.27.0). Must pass against both Strand and the reference `s2 lite`.
//
// Run: STRAND_ENDPOINT=http://127.0.0.1:8088 STRAND_TS_SDK=<dir>/node_modules node --test tests/ts/
// Wire formats used by the SDK in Node: string-only appends and string reads are unary JSON (HTTP/1.1);
// any bytes record, or `as: 'bytes'`, is unary protobuf; sessions are S2S over h2c.
// forceTransport 'fetch' makes read sessions use SSE and append sessions unary POSTs: all three run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const ENDPOINT = process.env.STRAND_ENDPOINT;
if (!ENDPOINT) throw new Error('STRAND_ENDPOINT is not set (e.g. http://127.0.0.1:8088)');
if (!process.env.STRAND_TS_SDK) throw new Error('STRAND_TS_SDK is not set (node_modules dir holding @s2-dev/streamstore)');
const require = createRequire(process.env.STRAND_TS_SDK + '/');
const {
  S2, S2Error, AppendRecord, AppendInput, SeqNumMismatchError, FencingTokenMismatchError, RangeNotSatisfiableError,
} = require('@s2-dev/streamstore');

// Direct mode (one endpoint, `s2-basin` header); maxAttempts 1 so no retry masks a server error.
const s2 = new S2({
  accessToken: 'ignored',
  endpoints: { account: ENDPOINT, basin: ENDPOINT },
  retry: { maxAttempts: 1 },
});

const BASIN = `ts-data-${randomBytes(5).toString('hex')}`; // unique per run
const TRANSPORTS = [['default', undefined], ['s2s', { forceTransport: 's2s' }], ['fetch (SSE)', { forceTransport: 'fetch' }]];
let basin;
let streamCounter = 0;
const openStreams = [];

before(async () => {
  await s2.basins.create({ basin: BASIN });
  basin = s2.basin(BASIN);
});

after(async () => {
  for (const stream of openStreams) await stream.close().catch(() => {});
  await s2.basins.delete({ basin: BASIN }).catch(() => {});
});

/** Creates a fresh stream and returns its handle (closed in `after`, which releases the h2 pool). */
async function newStream(options) {
  const name = `s-${++streamCounter}`;
  await basin.streams.create({ stream: name });
  const stream = basin.stream(name, options);
  openStreams.push(stream);
  return stream;
}

const bytes = (...xs) => new Uint8Array(xs);
const utf8 = (s) => new TextEncoder().encode(s);
const pos = (seqNum, timestamp) => ({ seqNum, timestamp: new Date(timestamp) });
const plain = (records) => records.map(({ seqNum, timestamp, headers, body }) => ({
  seqNum, timestamp: timestamp.getTime(), headers: headers.map(([k, v]) => [k, v]), body,
}));
const strings = (...bodies) => bodies.map((body) => AppendRecord.string({ body }));

async function expectRejection(promise, ErrorClass, status) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${ErrorClass.name} ${status}, got success: ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof ErrorClass, `expected ${ErrorClass.name}, got ${err?.name}: ${err?.message}`);
  assert.ok(err instanceof S2Error);
  assert.equal(err.status, status, err.message);
  return err;
}

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Fails the test instead of hanging if `promise` does not settle in time. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('string records round-trip through unary JSON append and read, headers and all', async () => {
  const stream = await newStream();
  const ack = await stream.append(AppendInput.create([
    AppendRecord.string({ body: 'hello', timestamp: 1000 }),
    AppendRecord.string({ body: 'world', headers: [['k', 'v'], ['k', 'v2'], ['x-ü', 'ümlaut']], timestamp: 1001 }),
    AppendRecord.string({ body: '', timestamp: 1002 }),
  ]));
  assert.deepEqual(ack, { start: pos(0, 1000), end: pos(3, 1002), tail: pos(3, 1002) });

  const expected = [
    { seqNum: 0, timestamp: 1000, headers: [], body: 'hello' },
    { seqNum: 1, timestamp: 1001, headers: [['k', 'v'], ['k', 'v2'], ['x-ü', 'ümlaut']], body: 'world' },
    { seqNum: 2, timestamp: 1002, headers: [], body: '' },
  ];
  const batch = await stream.read({ start: { from: { seqNum: 0 } } });
  assert.deepEqual(plain(batch.records), expected);
  assert.equal(batch.tail, undefined, 'a read that starts below the tail carries no tail');

  const asBytes = await stream.read({ start: { from: { seqNum: 1 } }, stop: { limits: { count: 1 } } }, { as: 'bytes' });
  assert.deepEqual(plain(asBytes.records), [{
    seqNum: 1, timestamp: 1001, headers: [[utf8('k'), utf8('v')], [utf8('k'), utf8('v2')], [utf8('x-ü'), utf8('ümlaut')]], body: utf8('world'),
  }]);
  assert.deepEqual(await stream.checkTail(), { tail: pos(3, 1002) });
});

test('bytes records round-trip through unary protobuf append and read, binary-safe', async () => {
  const stream = await newStream();
  await stream.append(AppendInput.create([AppendRecord.string({ body: 'first', timestamp: 10 })])); // seq 0 via JSON
  const binary = bytes(0, 0xff, 0xfe, 0x80, 10);
  const ack = await stream.append(AppendInput.create([
    AppendRecord.bytes({ body: binary, headers: [[bytes(0x01, 0xc3), bytes(0xff)], ['name', 'value']], timestamp: 5000 }),
    AppendRecord.bytes({ body: new Uint8Array(0), timestamp: 5001 }),
    AppendRecord.string({ body: 'mixed batch goes protobuf', timestamp: 5002 }),
  ]));
  assert.equal(ack.start.seqNum, 1);
  assert.deepEqual(ack.end, pos(4, 5002));
  assert.deepEqual(ack.tail, pos(4, 5002));

  const batch = await stream.read({ start: { from: { seqNum: 1 } } }, { as: 'bytes' });
  assert.deepEqual(plain(batch.records), [
    { seqNum: 1, timestamp: 5000, headers: [[bytes(0x01, 0xc3), bytes(0xff)], [utf8('name'), utf8('value')]], body: binary },
    { seqNum: 2, timestamp: 5001, headers: [], body: new Uint8Array(0) },
    { seqNum: 3, timestamp: 5002, headers: [], body: utf8('mixed batch goes protobuf') },
  ]);
  // The JSON (raw) view of the same records: valid UTF-8 is unchanged.
  const asStrings = await stream.read({ start: { from: { seqNum: 3 } } });
  assert.deepEqual(plain(asStrings.records), [{ seqNum: 3, timestamp: 5002, headers: [], body: 'mixed batch goes protobuf' }]);
});

test('checkTail reports 0/0 on a new stream, then the next seq_num and last timestamp', async () => {
  const stream = await newStream();
  assert.deepEqual(await stream.checkTail(), { tail: pos(0, 0) });
  await stream.append(AppendInput.create([AppendRecord.string({ body: 'a', timestamp: 42 }), AppendRecord.string({ body: 'b', timestamp: 43 })]));
  assert.deepEqual(await stream.checkTail(), { tail: pos(2, 43) });
});

test('client timestamps are kept but never decrease (client-prefer default)', async () => {
  const stream = await newStream();
  const withTs = (...ts) => AppendInput.create(ts.map((timestamp) => AppendRecord.string({ body: `t${timestamp}`, timestamp })));
  const ack = await stream.append(withTs(1000, 500, 2000));
  assert.deepEqual(ack, { start: pos(0, 1000), end: pos(3, 2000), tail: pos(3, 2000) });
  const ack2 = await stream.append(withTs(1500));
  assert.deepEqual(ack2.start, pos(3, 2000));
  const before = Date.now();
  await stream.append(AppendInput.create(strings('no timestamp: arrival time')));
  const { records } = await stream.read({ start: { from: { seqNum: 0 } } });
  assert.deepEqual(records.slice(0, 4).map((r) => r.timestamp.getTime()), [1000, 1000, 2000, 2000]);
  const arrival = records[4].timestamp.getTime();
  assert.ok(arrival >= before - 1000 && arrival <= Date.now() + 1000, `arrival timestamp ${arrival} near now`);
});

test('matchSeqNum mismatch is 412 SeqNumMismatchError and writes nothing', async () => {
  const stream = await newStream();
  const first = await stream.append(AppendInput.create(strings('a'), { matchSeqNum: 0 }));
  assert.equal(first.end.seqNum, 1);
  const err = await expectRejection(stream.append(AppendInput.create(strings('b', 'c'), { matchSeqNum: 5 })), SeqNumMismatchError, 412);
  assert.equal(err.expectedSeqNum, 1);
  // The protobuf path reports the same condition failure.
  const errProto = await expectRejection(
    stream.append(AppendInput.create([AppendRecord.bytes({ body: bytes(1) })], { matchSeqNum: 0 })), SeqNumMismatchError, 412);
  assert.equal(errProto.expectedSeqNum, 1);
  assert.equal((await stream.checkTail()).tail.seqNum, 1);
  assert.equal((await stream.append(AppendInput.create(strings('b'), { matchSeqNum: 1 }))).start.seqNum, 1);
});

test('a fence command sets the fencing token; a wrong token is 412 FencingTokenMismatchError', async () => {
  const stream = await newStream();
  const fenced = await stream.append(AppendInput.create([AppendRecord.fence('token-1')]));
  assert.equal(fenced.start.seqNum, 0);
  const err = await expectRejection(stream.append(AppendInput.create(strings('x'), { fencingToken: 'wrong' })), FencingTokenMismatchError, 412);
  assert.equal(err.expectedFencingToken, 'token-1');
  // Fencing is checked before matchSeqNum when both mismatch.
  await expectRejection(stream.append(AppendInput.create(strings('x'), { fencingToken: 'nope', matchSeqNum: 9 })), FencingTokenMismatchError, 412);
  const ok = await stream.append(AppendInput.create(strings('y'), { fencingToken: 'token-1', matchSeqNum: 1 }));
  assert.equal(ok.start.seqNum, 1);
  // Unfenced appends (no token given) are still accepted.
  assert.equal((await stream.append(AppendInput.create(strings('z')))).start.seqNum, 2);
  const { records } = await stream.read({ start: { from: { seqNum: 0 } } });
  assert.deepEqual(records.map((r) => [r.headers, r.body]), [[[['', 'fence']], 'token-1'], [[], 'y'], [[], 'z']]);
});

test('reading past the tail, or at it without waiting, is 416 RangeNotSatisfiableError', async () => {
  const stream = await newStream();
  await stream.append(AppendInput.create(strings('a', 'b')));
  for (const start of [{ from: { seqNum: 5 } }, { from: { seqNum: 2 } }, { from: { seqNum: 9 }, clamp: true }]) {
    for (const as of ['string', 'bytes']) {
      const err = await expectRejection(stream.read({ start }, { as }), RangeNotSatisfiableError, 416);
      assert.equal(err.tail?.seqNum, 2, `${as} ${JSON.stringify(start)}: ${err.message}`);
    }
  }
  for (const [label, options] of TRANSPORTS) {
    // The SDK may surface the 416 when opening the session or on the first read.
    const reading = basin.stream(stream.name, options);
    openStreams.push(reading);
    const attempt = reading.readSession({ start: { from: { seqNum: 3 } } }).then(collect);
    const err = await expectRejection(attempt, RangeNotSatisfiableError, 416);
    assert.equal(err.tail?.seqNum, 2, `read session (${label}): ${err.message}`);
  }
});

for (const [label, options] of TRANSPORTS) {
  test(`append session (${label}) pipelines batches and acks them in order with contiguous ranges`, async () => {
    const stream = await newStream(options);
    await stream.append(AppendInput.create(strings('pre')));
    const session = await stream.appendSession();
    const sizes = [3, 1, 5, 2];
    const tickets = [];
    for (const [i, n] of sizes.entries()) {
      const records = Array.from({ length: n }, (_, j) => AppendRecord.string({ body: `b${i}-${j}`, headers: [['batch', String(i)]] }));
      tickets.push(await session.submit(AppendInput.create(records))); // no await of acks: pipelined
    }
    const acks = await withTimeout(Promise.all(tickets.map((t) => t.ack())), 10_000, 'append session acks');
    let next = 1;
    for (const [i, ack] of acks.entries()) {
      assert.equal(ack.start.seqNum, next, `batch ${i} starts where the previous ended`);
      assert.equal(ack.end.seqNum, next + sizes[i]);
      assert.ok(ack.tail.seqNum >= ack.end.seqNum);
      assert.ok(ack.end.timestamp >= ack.start.timestamp);
      next = ack.end.seqNum;
    }
    await withTimeout(session.close(), 10_000, 'append session close');
    assert.equal(session.failureCause(), undefined);
    assert.equal(session.lastAckedPosition()?.end.seqNum, 12);
    assert.equal((await stream.checkTail()).tail.seqNum, 12);
    const { records } = await stream.read({ start: { from: { seqNum: 1 } } });
    assert.deepEqual(records.map((r) => r.body), sizes.flatMap((n, i) => Array.from({ length: n }, (_, j) => `b${i}-${j}`)));
    assert.deepEqual(records[3].headers, [['batch', '1']]);
  });

  test(`append session (${label}) fails with 412 on a matchSeqNum mismatch after earlier acks`, async () => {
    const stream = await newStream(options);
    const session = await stream.appendSession();
    const ok = await session.submit(AppendInput.create(strings('a', 'b'), { matchSeqNum: 0 }));
    assert.equal((await withTimeout(ok.ack(), 10_000, 'first ack')).end.seqNum, 2);
    const bad = await session.submit(AppendInput.create(strings('c'), { matchSeqNum: 7 }));
    await expectRejection(withTimeout(bad.ack(), 10_000, 'mismatch ack'), SeqNumMismatchError, 412);
    await session.close().catch(() => {}); // close surfaces the fatal error again
    assert.ok(session.failureCause() instanceof SeqNumMismatchError);
    assert.equal((await stream.checkTail()).tail.seqNum, 2);
  });

  test(`bounded read session (${label}) from seq 0 yields exactly count records, then ends`, async () => {
    const stream = await newStream(options);
    await stream.append(AppendInput.create([
      AppendRecord.string({ body: 'r0', headers: [['h', '0']], timestamp: 100 }),
      ...['r1', 'r2', 'r3'].map((body, i) => AppendRecord.string({ body, timestamp: 101 + i })),
      AppendRecord.bytes({ body: bytes(0xff), timestamp: 200 }),
    ]));
    const session = await stream.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 4 } } });
    const got = await withTimeout(collect(session), 10_000, 'bounded read session');
    assert.deepEqual(plain(got), [
      { seqNum: 0, timestamp: 100, headers: [['h', '0']], body: 'r0' },
      { seqNum: 1, timestamp: 101, headers: [], body: 'r1' },
      { seqNum: 2, timestamp: 102, headers: [], body: 'r2' },
      { seqNum: 3, timestamp: 103, headers: [], body: 'r3' },
    ]);
    // as bytes, all records up to the tail (count larger than the stream, with wait 0)
    const bytesSession = await stream.readSession({ start: { from: { seqNum: 3 } }, stop: { limits: { count: 100 }, waitSecs: 0 } }, { as: 'bytes' });
    const tail = await withTimeout(collect(bytesSession), 10_000, 'bytes read session');
    assert.deepEqual(plain(tail), [
      { seqNum: 3, timestamp: 103, headers: [], body: utf8('r3') },
      { seqNum: 4, timestamp: 200, headers: [], body: bytes(0xff) },
    ]);
  });

  test(`follow read session (${label}) from the tail sees records appended afterwards`, { timeout: 30_000 }, async () => {
    const stream = await newStream(options);
    await stream.append(AppendInput.create(strings('old-0', 'old-1')));
    const session = await stream.readSession({ start: { from: { tailOffset: 0 } } });
    const iterator = session[Symbol.asyncIterator]();
    // Let the session reach the tail before appending, so the records arrive live.
    await withTimeout(session.caughtUp(), 10_000, 'session caught up');
    assert.deepEqual(session.lastObservedTail()?.seqNum, 2);
    const writer = basin.stream(stream.name); // separate handle, unary appends
    await writer.append(AppendInput.create(strings('live-0')));
    await writer.append(AppendInput.create([AppendRecord.string({ body: 'live-1', headers: [['k', 'v']] }), ...strings('live-2')]));
    const got = [];
    while (got.length < 3) {
      const { value, done } = await withTimeout(iterator.next(), 10_000, `live record #${got.length}`);
      assert.equal(done, false, 'follow session ended early');
      got.push(value);
    }
    assert.deepEqual(got.map((r) => [r.seqNum, r.body, r.headers]), [[2, 'live-0', []], [3, 'live-1', [['k', 'v']]], [4, 'live-2', []]]);
    assert.equal(session.lastObservedTail()?.seqNum, 5);
    await withTimeout(iterator.return(), 5_000, 'ending follow session'); // cancels the session cleanly
  });
}

// Client-supplied encryption (API.md §10): records of a stream with a cipher are sealed with the
// key the client sends; every transport reads them back with it, a wrong key reads 400.
for (const [label, options] of TRANSPORTS) {
  test(`encrypted stream (${label}) round-trips with the right key only`, async () => {
    const name = `${BASIN.replace('ts-data', 'ts-ciph')}-${label.split(' ')[0]}`.slice(0, 48);
    await s2.basins.create({ basin: name, config: { streamCipher: 'aes-256-gcm' } });
    try {
      const cb = s2.basin(name);
      await cb.streams.create({ stream: 'c' });
      const keyed = cb.stream('c', options).withEncryptionKey(new Uint8Array(32).fill(5));
      openStreams.push(keyed);
      const session = await keyed.appendSession();
      const ticket = await session.submit(AppendInput.create([
        AppendRecord.string({ body: 'sealed-1', headers: [['h', 'v']], timestamp: 10 }),
        AppendRecord.string({ body: 'sealed-2', timestamp: 11 }),
      ]));
      assert.equal((await withTimeout(ticket.ack(), 10_000, 'encrypted ack')).end.seqNum, 2);
      await withTimeout(session.close(), 10_000, 'append session close');
      const { records } = await keyed.read({ start: { from: { seqNum: 0 } } });
      assert.deepEqual(plain(records), [
        { seqNum: 0, timestamp: 10, headers: [['h', 'v']], body: 'sealed-1' },
        { seqNum: 1, timestamp: 11, headers: [], body: 'sealed-2' },
      ]);
      const read = await keyed.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } });
      assert.deepEqual((await withTimeout(collect(read), 10_000, 'encrypted read session')).map((r) => r.body), ['sealed-1', 'sealed-2']);
      const wrong = cb.stream('c', options).withEncryptionKey(new Uint8Array(32).fill(6));
      openStreams.push(wrong);
      const err = await wrong.read({ start: { from: { seqNum: 0 } } }).then(() => assert.fail('wrong key read'), (e) => e);
      assert.equal(err.status, 400, err.message);
      assert.match(err.message, /decryption failed/);
    } finally {
      await s2.basins.delete({ basin: name }).catch(() => {});
    }
  });
}

// Retention is exact for readers: past its age a record is never read, while the tail stays.
test('records past their retention are not read', async () => {
  const name = `s-${++streamCounter}`;
  await basin.streams.create({ stream: name, config: { retentionPolicy: { ageSecs: 1 } } });
  const stream = basin.stream(name);
  openStreams.push(stream);
  await stream.append(AppendInput.create(strings('short-lived')));
  assert.equal((await stream.read({ start: { from: { seqNum: 0 } } })).records.length, 1);
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal((await stream.read({ start: { from: { seqNum: 0 } } })).records.length, 0);
  assert.equal((await stream.checkTail()).tail.seqNum, 1);
});
