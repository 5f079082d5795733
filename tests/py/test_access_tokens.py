"""Access tokens through the official Python SDK (server without --auth: the API works,
nothing is enforced): issue, list by prefix, revoke."""

import os
import secrets
import unittest

from s2_sdk import S2, AccessTokenScope, Endpoints, Operation, PrefixMatch, Retry

ENDPOINT = os.environ.get("STRAND_ENDPOINT")
if not ENDPOINT:
    raise RuntimeError("STRAND_ENDPOINT must be set")


class AccessTokensTest(unittest.IsolatedAsyncioTestCase):
    async def test_issue_list_revoke(self):
        s2 = S2("ignored", endpoints=Endpoints(ENDPOINT, ENDPOINT), retry=Retry(max_attempts=1))
        try:
            prefix = f"py-tok-{secrets.token_hex(4)}-"
            scope = AccessTokenScope(
                basins=PrefixMatch("py-"), streams=PrefixMatch(""), ops=[Operation.READ]
            )
            token = await s2.issue_access_token(f"{prefix}a", scope=scope)
            self.assertGreaterEqual(len(token), 40)
            page = await s2.list_access_tokens(prefix=prefix)
            self.assertEqual([t.id for t in page.items], [f"{prefix}a"])
            await s2.revoke_access_token(f"{prefix}a")
            page = await s2.list_access_tokens(prefix=prefix)
            self.assertEqual(page.items, [])
        finally:
            await s2.close()
