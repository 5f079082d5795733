// End-to-end test of the basin/stream control plane through the official TypeScript SDK
// (@s2-dev/streamstore 0.27.0). Must pass against both Strand and the reference `s2 lite`.
//
// Run: STRAND_ENDPOINT=http://127.0.0.1:8088 STRAND_TS_SDK=<dir>/node_modules node --test tests/ts/
// (the Makefile exports STRAND_TS_SDK; tests/run-sdk-suites.sh sets STRAND_ENDPOINT).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const ENDPOINT = process.env.STRAND_ENDPOINT;
if (!ENDPOINT) throw new Error('STRAND_ENDPOINT is not set (e.g. http://127.0.0.1:8088)');
if (!process.env.STRAND_TS_SDK) throw new Error('STRAND_TS_SDK is not set (node_modules dir holding @s2-dev/streamstore)');
const require = createRequire(process.env.STRAND_TS_SDK + '/');
const { S2, S2Error } = require('@s2-dev/streamstore');

// Direct mode: one endpoint for account and basin (SDK sends `s2-basin`); token is ignored.
// maxAttempts 1 so every assertion sees the server's first answer (no retries masking errors).
const s2 = new S2({
  accessToken: 'ignored',
  endpoints: { account: ENDPOINT, basin: ENDPOINT },
  retry: { maxAttempts: 1 },
});

const RUN = `ts-${randomBytes(5).toString('hex')}`; // unique per run: reruns never collide
const created = new Set();
const basinName = (suffix) => `${RUN}-${suffix}`;

async function createBasin(suffix, config) {
  const name = basinName(suffix);
  created.add(name);
  const info = await s2.basins.create({ basin: name, ...(config && { config }) });
  return { name, info, basin: s2.basin(name) };
}

async function expectError(promise, status, code, message) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${status} ${code}, got success: ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof S2Error, `expected S2Error, got ${err}`);
  assert.equal(err.origin, 'server', err.message);
  assert.deepEqual({ status: err.status, code: err.code }, { status, code }, err.message);
  if (message !== undefined) assert.equal(err.message, message);
  return err;
}

async function waitFor(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const DEFAULT_BASIN_CONFIG = {
  defaultStreamConfig: null,
  streamCipher: null,
  createStreamOnAppend: false,
  createStreamOnRead: false,
};
const SYSTEM_STREAM_DEFAULTS = {
  storageClass: 'express',
  retentionPolicy: { ageSecs: 604800 },
  timestamping: { mode: 'client-prefer', uncapped: false },
  deleteOnEmpty: { minAgeSecs: 0 },
};

after(async () => {
  for (const name of created) {
    await s2.basins.delete({ basin: name }).catch(() => {}); // already deleted / pending is fine
  }
});

test('basin create returns BasinInfo and the default config', async () => {
  const before = Date.now();
  const { name, info } = await createBasin('plain');
  assert.equal(info.name, name);
  assert.equal(info.location, null);
  assert.equal(info.deletedAt, null);
  assert.ok(info.createdAt instanceof Date);
  assert.ok(Math.abs(info.createdAt.getTime() - before) < 60_000, `createdAt ${info.createdAt.toISOString()}`);
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), DEFAULT_BASIN_CONFIG);
});

test('basin create with config round-trips it, unset default fields as null', async () => {
  const { name } = await createBasin('cfg', {
    createStreamOnAppend: true,
    defaultStreamConfig: { storageClass: 'standard', retentionPolicy: { ageSecs: 3600 }, timestamping: { uncapped: true } },
  });
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), {
    defaultStreamConfig: {
      storageClass: 'standard',
      retentionPolicy: { ageSecs: 3600 },
      timestamping: { mode: null, uncapped: true },
      deleteOnEmpty: null,
    },
    streamCipher: null,
    createStreamOnAppend: true,
    createStreamOnRead: false,
  });
});

test('duplicate basin create is 409 resource_already_exists', async () => {
  const { name } = await createBasin('dup');
  await expectError(s2.basins.create({ basin: name }), 409, 'resource_already_exists', `basin \`${name}\` already exists`);
});

test('basin create with a repeated request token is an idempotent replay', async () => {
  // create() sends a fresh random s2-request-token per call; per-request options are spread into
  // the generated request, so a fixed token can be supplied to simulate a client retry.
  const name = basinName('tok');
  created.add(name);
  const withToken = (token) => ({ headers: { 's2-request-token': token } });
  const first = await s2.basins.create({ basin: name }, withToken('token-1'));
  const replay = await s2.basins.create({ basin: name }, withToken('token-1'));
  assert.equal(replay.createdAt.getTime(), first.createdAt.getTime());
  await expectError(s2.basins.create({ basin: name, config: { createStreamOnRead: true } }, withToken('token-1')),
    409, 'resource_already_exists');
  await expectError(s2.basins.create({ basin: name }, withToken('token-2')), 409, 'resource_already_exists');
  await expectError(s2.basins.create({ basin: basinName('tok-long') }, withToken('x'.repeat(37))), 400, 'bad_header',
    'Invalid header `s2-request-token`: request token was longer than 36 bytes in length: 37');
});

test('invalid basin names are rejected in bodies, paths and list queries', async () => {
  const cases = [
    ['short', 'basin name should be at least 8 bytes in length'],
    ['a'.repeat(49), 'basin name must not exceed 48 bytes in length'],
    ['Uppercase-name', 'basin name must begin with a lowercase letter or number'],
    ['trailing-hyphen-', 'basin name must end with a lowercase letter or number'],
    ['under_score', 'basin name must comprise lowercase letters, numbers, and hyphens'],
  ];
  for (const [bad, msg] of cases) {
    const err = await expectError(s2.basins.create({ basin: bad }), 400, 'bad_json');
    assert.ok(err.message.startsWith(msg), `${bad}: ${err.message}`);
  }
  await expectError(s2.basins.getConfig({ basin: 'short' }), 400, 'bad_path',
    'Invalid URL: basin name should be at least 8 bytes in length');
  await expectError(s2.basins.delete({ basin: 'short' }), 400, 'bad_path');
  await expectError(s2.basins.list({ prefix: '-x' }), 400, 'bad_query',
    'Failed to deserialize query string: prefix: basin prefix must begin with a lowercase letter or number');
  await expectError(s2.basins.list({ startAfter: 'A' }), 400, 'bad_query');
  await expectError(s2.basins.list({ limit: -1 }), 400, 'bad_query');
});

test('missing basin is 404 basin_not_found (stream get/delete report stream_not_found)', async () => {
  const name = basinName('missing');
  const nf = `basin \`${name}\` not found`;
  await expectError(s2.basins.getConfig({ basin: name }), 404, 'basin_not_found', nf);
  await expectError(s2.basins.reconfigure({ basin: name, createStreamOnAppend: true }), 404, 'basin_not_found', nf);
  await expectError(s2.basins.delete({ basin: name }), 404, 'basin_not_found', nf);
  const missing = s2.basin(name);
  await expectError(missing.streams.list(), 404, 'basin_not_found', nf);
  await expectError(missing.streams.create({ stream: 'x' }), 404, 'basin_not_found', nf);
  await expectError(missing.streams.reconfigure({ stream: 'x', storageClass: 'express' }), 404, 'basin_not_found', nf);
  // lite quirk (API.md 6.5/6.7): get config and delete do not check the basin first.
  const snf = `stream \`x\` in basin \`${name}\` not found`;
  await expectError(missing.streams.getConfig({ stream: 'x' }), 404, 'stream_not_found', snf);
  await expectError(missing.streams.delete({ stream: 'x' }), 404, 'stream_not_found', snf);
});

test('zero retention age is 422 invalid everywhere a config is accepted', async () => {
  const zero = { retentionPolicy: { ageSecs: 0 } };
  const msg = 'age must be greater than 0 seconds';
  await expectError(s2.basins.create({ basin: basinName('zero-age'), config: { defaultStreamConfig: zero } }), 422, 'invalid', msg);
  const { name, basin } = await createBasin('zero');
  await expectError(s2.basins.reconfigure({ basin: name, defaultStreamConfig: zero }), 422, 'invalid', msg);
  await expectError(s2.basins.ensure({ basin: name, config: { defaultStreamConfig: zero } }), 422, 'invalid', msg);
  await expectError(basin.streams.create({ stream: 's', config: zero }), 422, 'invalid', msg);
  await expectError(basin.streams.ensure({ stream: 's', config: zero }), 422, 'invalid', msg);
  await basin.streams.create({ stream: 's' });
  await expectError(basin.streams.reconfigure({ stream: 's', ...zero }), 422, 'invalid', msg);
  assert.deepEqual(await basin.streams.getConfig({ stream: 's' }), SYSTEM_STREAM_DEFAULTS);
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), DEFAULT_BASIN_CONFIG);
});

test('basin ensure creates, then no-ops, then replaces the config wholesale', async () => {
  const name = basinName('ensure');
  created.add(name);
  const cfg = { createStreamOnAppend: true, defaultStreamConfig: { storageClass: 'standard' } };
  const c = await s2.basins.ensure({ basin: name, config: cfg });
  assert.equal(c.result, 'created');
  assert.equal(c.basin.name, name);
  const n = await s2.basins.ensure({ basin: name, config: cfg });
  assert.equal(n.result, 'noop');
  assert.equal(n.basin.createdAt.getTime(), c.basin.createdAt.getTime());
  const u = await s2.basins.ensure({ basin: name, config: { createStreamOnRead: true } });
  assert.equal(u.result, 'updated');
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), { ...DEFAULT_BASIN_CONFIG, createStreamOnRead: true });
  assert.equal((await s2.basins.ensure({ basin: name })).result, 'updated');
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), DEFAULT_BASIN_CONFIG);
});

test('basin reconfigure patches only given fields; null resets stream defaults', async () => {
  const { name } = await createBasin('reconf');
  const r1 = await s2.basins.reconfigure({
    basin: name,
    createStreamOnAppend: true,
    defaultStreamConfig: { retentionPolicy: { ageSecs: 3600 }, timestamping: { uncapped: true } },
  });
  const expected = {
    defaultStreamConfig: { storageClass: null, retentionPolicy: { ageSecs: 3600 }, timestamping: { mode: null, uncapped: true }, deleteOnEmpty: null },
    streamCipher: null,
    createStreamOnAppend: true,
    createStreamOnRead: false,
  };
  assert.deepEqual(r1, expected);
  const r2 = await s2.basins.reconfigure({ basin: name, defaultStreamConfig: { timestamping: { mode: 'arrival' } } });
  expected.defaultStreamConfig.timestamping = { mode: 'arrival', uncapped: true };
  assert.deepEqual(r2, expected);
  assert.deepEqual(await s2.basins.reconfigure({ basin: name }), expected); // empty patch is a no-op
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), expected);
  const r3 = await s2.basins.reconfigure({ basin: name, defaultStreamConfig: null });
  assert.deepEqual(r3, { ...expected, defaultStreamConfig: null });
});

test('basin list filters by prefix and pages with startAfter/limit in name order', async () => {
  const names = [];
  for (let i = 0; i < 5; i++) names.push((await createBasin(`pg-${i}`)).name);
  const prefix = basinName('pg-');
  const p1 = await s2.basins.list({ prefix, limit: 2 });
  assert.deepEqual(p1.basins.map((b) => b.name), names.slice(0, 2));
  assert.equal(p1.hasMore, true);
  const p2 = await s2.basins.list({ prefix, limit: 2, startAfter: names[1] });
  assert.deepEqual(p2.basins.map((b) => b.name), names.slice(2, 4));
  assert.equal(p2.hasMore, true);
  const p3 = await s2.basins.list({ prefix, limit: 2, startAfter: names[3] });
  assert.deepEqual(p3.basins.map((b) => b.name), names.slice(4));
  assert.equal(p3.hasMore, false);
  const exact = await s2.basins.list({ prefix, limit: 5 });
  assert.equal(exact.basins.length, 5);
  assert.equal(exact.hasMore, false);
  assert.ok(exact.basins.every((b) => b.deletedAt === null && b.location === null));
  assert.deepEqual(await s2.basins.list({ prefix, startAfter: names[4] }), { basins: [], hasMore: false });
  // start_after before the prefix: only the prefix filter matters
  assert.deepEqual((await s2.basins.list({ prefix, startAfter: 'a' })).basins.map((b) => b.name), names);
  const all = [];
  for await (const b of s2.basins.listAll({ prefix, limit: 2 })) all.push(b.name);
  assert.deepEqual(all, names);
});

test('stream create resolves config from stream, then basin defaults, then system defaults', async () => {
  const { name, basin } = await createBasin('resolve', {
    defaultStreamConfig: { retentionPolicy: { ageSecs: 3600 }, timestamping: { uncapped: true } },
  });
  const info = await basin.streams.create({ stream: 'plain' });
  assert.equal(info.name, 'plain');
  assert.equal(info.deletedAt, null);
  assert.equal(info.cipher, null);
  assert.deepEqual(await basin.streams.getConfig({ stream: 'plain' }), {
    ...SYSTEM_STREAM_DEFAULTS,
    retentionPolicy: { ageSecs: 3600 },
    timestamping: { mode: 'client-prefer', uncapped: true },
  });
  await basin.streams.create({
    stream: 'explicit',
    config: { storageClass: 'standard', retentionPolicy: { infinite: {} }, timestamping: { mode: 'arrival' }, deleteOnEmpty: { minAgeSecs: 60 } },
  });
  const explicit = {
    storageClass: 'standard',
    retentionPolicy: { infinite: {} },
    timestamping: { mode: 'arrival', uncapped: true },
    deleteOnEmpty: { minAgeSecs: 60 },
  };
  assert.deepEqual(await basin.streams.getConfig({ stream: 'explicit' }), explicit);
  // Basin defaults are applied at creation time only.
  await s2.basins.reconfigure({ basin: name, defaultStreamConfig: null });
  assert.equal((await basin.streams.getConfig({ stream: 'plain' })).retentionPolicy.ageSecs, 3600);
  assert.deepEqual(await basin.streams.getConfig({ stream: 'explicit' }), explicit);
});

test('duplicate stream create is 409; a repeated request token replays', async () => {
  const { name, basin } = await createBasin('sdup');
  await basin.streams.create({ stream: 'a' });
  await expectError(basin.streams.create({ stream: 'a' }), 409, 'resource_already_exists',
    `stream \`a\` in basin \`${name}\` already exists`);
  const withToken = (token) => ({ headers: { 's2-request-token': token } });
  const cfg = { storageClass: 'standard' };
  const first = await basin.streams.create({ stream: 'tk', config: cfg }, withToken('tok-a'));
  const replay = await basin.streams.create({ stream: 'tk', config: cfg }, withToken('tok-a'));
  assert.equal(replay.createdAt.getTime(), first.createdAt.getTime());
  await expectError(basin.streams.create({ stream: 'tk' }, withToken('tok-a')), 409, 'resource_already_exists');
  await expectError(basin.streams.create({ stream: 'tk', config: cfg }, withToken('tok-b')), 409, 'resource_already_exists');
});

test('stream names are arbitrary UTF-8, listed in bytewise order; "." and ".." are rejected', async () => {
  const { basin } = await createBasin('names');
  for (const s of ['z', 'é', 'a/b c?d#%', 'B', 'a b', 'a']) await basin.streams.create({ stream: s });
  const { streams, hasMore } = await basin.streams.list();
  assert.deepEqual(streams.map((s) => s.name), ['B', 'a', 'a b', 'a/b c?d#%', 'z', 'é']);
  assert.equal(hasMore, false);
  assert.deepEqual(await basin.streams.getConfig({ stream: 'a/b c?d#%' }), SYSTEM_STREAM_DEFAULTS);
  await expectError(basin.streams.create({ stream: '..' }), 400, 'bad_json');
  await expectError(basin.streams.create({ stream: '.' }), 400, 'bad_json');
  await expectError(basin.streams.list({ prefix: 'a\0' }), 400, 'bad_query',
    'Failed to deserialize query string: prefix: stream prefix must not contain NUL bytes');
});

test('stream list pages 25 streams with limit 10, prefix and startAfter', async () => {
  const { basin } = await createBasin('spage');
  const names = Array.from({ length: 25 }, (_, i) => `s-${String(i).padStart(2, '0')}`);
  await Promise.all(names.map((stream) => basin.streams.create({ stream })));
  const pages = [];
  let startAfter;
  for (;;) {
    const page = await basin.streams.list({ limit: 10, ...(startAfter && { startAfter }) });
    pages.push(page);
    if (!page.hasMore) break;
    startAfter = page.streams.at(-1).name;
  }
  assert.deepEqual(pages.map((p) => [p.streams.length, p.hasMore]), [[10, true], [10, true], [5, false]]);
  assert.deepEqual(pages.flatMap((p) => p.streams.map((s) => s.name)), names);
  const pre = await basin.streams.list({ prefix: 's-1', limit: 10 }); // exactly `limit` matches
  assert.deepEqual(pre.streams.map((s) => s.name), names.slice(10, 20));
  assert.equal(pre.hasMore, false);
  const pre4 = await basin.streams.list({ prefix: 's-1', limit: 4, startAfter: 's-11' });
  assert.deepEqual(pre4.streams.map((s) => s.name), ['s-12', 's-13', 's-14', 's-15']);
  assert.equal(pre4.hasMore, true);
  assert.deepEqual(await basin.streams.list({ startAfter: 's-24' }), { streams: [], hasMore: false });
  const zero = await basin.streams.list({ limit: 0 }); // 0 means the maximum (1000)
  assert.equal(zero.streams.length, 25);
  assert.equal(zero.hasMore, false);
  const all = [];
  for await (const s of basin.streams.listAll({ limit: 7 })) all.push(s.name);
  assert.deepEqual(all, names);
});

test('stream reconfigure patches fields; null falls back to the current basin default', async () => {
  const { name, basin } = await createBasin('sreconf', { defaultStreamConfig: { retentionPolicy: { ageSecs: 3600 } } });
  await basin.streams.create({ stream: 's', config: { retentionPolicy: { infinite: {} }, timestamping: { mode: 'arrival', uncapped: true } } });
  const r1 = await basin.streams.reconfigure({ stream: 's', timestamping: { mode: 'client-require' }, deleteOnEmpty: { minAgeSecs: 120 } });
  assert.deepEqual(r1, {
    storageClass: 'express',
    retentionPolicy: { infinite: {} },
    timestamping: { mode: 'client-require', uncapped: true },
    deleteOnEmpty: { minAgeSecs: 120 },
  });
  assert.deepEqual(await basin.streams.getConfig({ stream: 's' }), r1);
  await s2.basins.reconfigure({ basin: name, defaultStreamConfig: { retentionPolicy: { ageSecs: 7200 } } });
  const r2 = await basin.streams.reconfigure({ stream: 's', retentionPolicy: null, storageClass: 'standard' });
  assert.deepEqual(r2, { ...r1, storageClass: 'standard', retentionPolicy: { ageSecs: 7200 } });
  const r3 = await basin.streams.reconfigure({ stream: 's', timestamping: null });
  assert.deepEqual(r3.timestamping, { mode: 'client-prefer', uncapped: false });
  await expectError(basin.streams.reconfigure({ stream: 'nope', storageClass: 'express' }), 404, 'stream_not_found',
    `stream \`nope\` in basin \`${name}\` not found`);
  await expectError(basin.streams.getConfig({ stream: 'nope' }), 404, 'stream_not_found');
});

test('stream ensure creates, no-ops, then replaces the config wholesale', async () => {
  const { basin } = await createBasin('sensure');
  const cfg = { storageClass: 'standard', timestamping: { mode: 'arrival' } };
  const c = await basin.streams.ensure({ stream: 'e', config: cfg });
  assert.equal(c.result, 'created');
  assert.equal(c.stream.name, 'e');
  const n = await basin.streams.ensure({ stream: 'e', config: cfg });
  assert.equal(n.result, 'noop');
  assert.equal(n.stream.createdAt.getTime(), c.stream.createdAt.getTime());
  assert.deepEqual(await basin.streams.getConfig({ stream: 'e' }),
    { ...SYSTEM_STREAM_DEFAULTS, storageClass: 'standard', timestamping: { mode: 'arrival', uncapped: false } });
  const u = await basin.streams.ensure({ stream: 'e', config: { retentionPolicy: { ageSecs: 60 } } });
  assert.equal(u.result, 'updated');
  assert.deepEqual(await basin.streams.getConfig({ stream: 'e' }), { ...SYSTEM_STREAM_DEFAULTS, retentionPolicy: { ageSecs: 60 } });
  assert.equal((await basin.streams.ensure({ stream: 'e' })).result, 'updated');
  assert.deepEqual(await basin.streams.getConfig({ stream: 'e' }), SYSTEM_STREAM_DEFAULTS);
  assert.equal((await basin.streams.ensure({ stream: 'e' })).result, 'noop');
});

test('stream delete removes the stream (pending, then 404) and frees the name', async () => {
  const { name, basin } = await createBasin('sdel');
  const first = await basin.streams.create({ stream: 'gone' });
  await basin.streams.create({ stream: 'kept' });
  await basin.streams.delete({ stream: 'gone' });
  // Right after DELETE the stream is either pending deletion or already cleaned up.
  const listed = (await basin.streams.list()).streams.find((s) => s.name === 'gone');
  if (listed) assert.ok(listed.deletedAt instanceof Date, 'a listed deleted stream has deletedAt');
  const pendingOrGone = (e) => (e.status === 409 && e.code === 'stream_deletion_pending') || (e.status === 404 && e.code === 'stream_not_found');
  await assert.rejects(basin.streams.reconfigure({ stream: 'gone', storageClass: 'standard' }), pendingOrGone);
  await waitFor('stream cleanup', async () => {
    const { streams } = await basin.streams.list();
    return streams.length === 1 && streams[0].name === 'kept';
  });
  await expectError(basin.streams.getConfig({ stream: 'gone' }), 404, 'stream_not_found', `stream \`gone\` in basin \`${name}\` not found`);
  await expectError(basin.streams.delete({ stream: 'gone' }), 404, 'stream_not_found');
  const again = await basin.streams.create({ stream: 'gone' });
  assert.ok(again.createdAt.getTime() >= first.createdAt.getTime());
  assert.deepEqual(await basin.streams.getConfig({ stream: 'gone' }), SYSTEM_STREAM_DEFAULTS);
});

test('a basin being deleted is listed as deleting and refuses writes with 409', async () => {
  // A basin holding streams stays in the deleting state long enough to observe it.
  const { name, basin } = await createBasin('bdel');
  await basin.streams.create({ stream: 's' });
  await s2.basins.delete({ basin: name });
  const [info] = (await s2.basins.list({ prefix: name })).basins;
  assert.equal(info.name, name);
  assert.ok(info.deletedAt instanceof Date, 'deleting basin has deletedAt');
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), DEFAULT_BASIN_CONFIG);
  const pending = `basin \`${name}\` is being deleted`;
  await expectError(s2.basins.create({ basin: name }), 409, 'basin_deletion_pending', pending);
  await expectError(s2.basins.ensure({ basin: name }), 409, 'basin_deletion_pending', pending);
  await expectError(s2.basins.reconfigure({ basin: name, createStreamOnRead: true }), 409, 'basin_deletion_pending', pending);
  await expectError(basin.streams.create({ stream: 't' }), 409, 'basin_deletion_pending', pending);
  await expectError(basin.streams.ensure({ stream: 't' }), 409, 'basin_deletion_pending', pending);
  await expectError(basin.streams.reconfigure({ stream: 's', storageClass: 'standard' }), 409, 'basin_deletion_pending', pending);
  await s2.basins.delete({ basin: name }); // repeated DELETE while pending is accepted again
});

test('an empty basin is deleted promptly, then 404 and its name is reusable', async () => {
  const { name } = await createBasin('bgone');
  await s2.basins.delete({ basin: name });
  await waitFor('basin deletion', async () => (await s2.basins.list({ prefix: name })).basins.length === 0);
  await expectError(s2.basins.getConfig({ basin: name }), 404, 'basin_not_found');
  await expectError(s2.basins.delete({ basin: name }), 404, 'basin_not_found');
  await expectError(s2.basin(name).streams.list(), 404, 'basin_not_found');
  const again = await s2.basins.create({ basin: name });
  assert.equal(again.name, name);
  assert.deepEqual(await s2.basins.getConfig({ basin: name }), DEFAULT_BASIN_CONFIG);
});
