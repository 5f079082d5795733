// Access tokens through the official TypeScript SDK (server without --auth: the API works,
// nothing is enforced): issue, list (by prefix), revoke, and the errors clients see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const ENDPOINT = process.env.STRAND_ENDPOINT;
if (!ENDPOINT) throw new Error('STRAND_ENDPOINT is not set');
const require = createRequire(process.env.STRAND_TS_SDK + '/');
const { S2 } = require('@s2-dev/streamstore');
const s2 = new S2({ accessToken: 'ignored', endpoints: { account: ENDPOINT, basin: ENDPOINT }, retry: { maxAttempts: 1 } });

test('access tokens: issue, list by prefix, revoke', async () => {
  const prefix = `ts-tok-${randomBytes(4).toString('hex')}-`;
  const scope = { basins: { prefix: 'ts-' }, streams: { prefix: '' }, ops: ['read', 'check-tail'], opGroups: { account: { read: true } } };
  const issued = await s2.accessTokens.issue({ id: `${prefix}a`, scope });
  assert.ok(issued.accessToken.length >= 40, JSON.stringify(issued));
  await s2.accessTokens.issue({ id: `${prefix}b`, scope, expiresAt: new Date(Date.now() + 3_600_000) });
  const dup = await s2.accessTokens.issue({ id: `${prefix}a`, scope }).then(() => null, (e) => e);
  assert.equal(dup?.status, 409);
  const { accessTokens } = await s2.accessTokens.list({ prefix });
  assert.deepEqual(accessTokens.map((t) => t.id), [`${prefix}a`, `${prefix}b`]);
  assert.deepEqual(accessTokens[0].scope.ops, ['read', 'check-tail']);
  assert.ok(accessTokens[1].expiresAt instanceof Date);
  await s2.accessTokens.revoke({ id: `${prefix}a` });
  const after = await s2.accessTokens.list({ prefix });
  assert.deepEqual(after.accessTokens.map((t) => t.id), [`${prefix}b`]);
  await s2.accessTokens.revoke({ id: `${prefix}b` });
});
