#!/usr/bin/env python3
"""Differential control-plane check: sends the same HTTP/1.1 requests to Strand and to
`s2 lite` and compares status, the headers clients read, and bodies (timestamps masked).

Usage: differential.py STRAND_URL LITE_URL   (each like http://127.0.0.1:8080)
Prints one line per case and ends with 'N passed, N failed'."""

import gzip
import http.client
import json
import re
import sys
import time
import urllib.parse

TS = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"')
# Arrival timestamps (ms since the epoch) differ between servers: mask them.
NOW_MS = re.compile(r'(?<=[:\[,])1[7-9]\d{11}(?=[,}\]])')
B = "diff-basin-1"
B2 = "diff-basin-2"
J = {"content-type": "application/json"}


def H(**kw):
    h = dict(J)
    h.update({k.replace("_", "-"): v for k, v in kw.items()})
    return h


def SB(extra=None, basin=B):
    h = {"s2-basin": basin, **J}
    h.update(extra or {})
    return h


# (name, method, path, headers, body). Run in order against each server.
CASES = [
    ("health", "GET", "/health", {}, None),
    ("ping", "GET", "/ping", {}, None),
    ("unknown path 404", "GET", "/v1/nope", {}, None),
    ("trailing slash 404", "GET", "/v1/basins/", {}, None),
    ("405 with allow", "PATCH", "/v1/basins", {}, None),
    ("head list", "HEAD", "/v1/basins", {}, None),
    ("list empty", "GET", "/v1/basins?prefix=diff-", {}, None),
    ("list bad limit", "GET", "/v1/basins?limit=x", {}, None),
    ("list negative limit", "GET", "/v1/basins?limit=-1", {}, None),
    ("list bad prefix", "GET", "/v1/basins?prefix=-a", {}, None),
    ("list bad start_after", "GET", "/v1/basins?start_after=A", {}, None),
    ("create no content-type", "POST", "/v1/basins", {}, '{"basin":"%s"}' % B),
    ("create text content-type", "POST", "/v1/basins", {"content-type": "text/plain"}, '{"basin":"%s"}' % B),
    ("create empty body", "POST", "/v1/basins", J, ""),
    ("create bad json", "POST", "/v1/basins", J, "{"),
    ("create trailing", "POST", "/v1/basins", J, '{"basin":"%s"} x' % B),
    ("create missing basin", "POST", "/v1/basins", J, "{}"),
    ("create short name", "POST", "/v1/basins", J, '{"basin":"short"}'),
    ("create long name", "POST", "/v1/basins", J, '{"basin":"%s"}' % ("a" * 49)),
    ("create uppercase", "POST", "/v1/basins", J, '{"basin":"Abcdefgh"}'),
    ("create ends hyphen", "POST", "/v1/basins", J, '{"basin":"abcdefg-"}'),
    ("create underscore", "POST", "/v1/basins", J, '{"basin":"abc_defg"}'),
    ("create zero age", "POST", "/v1/basins", J, '{"basin":"%s","config":{"default_stream_config":{"retention_policy":{"age":0}}}}' % B),
    ("create bad mode", "POST", "/v1/basins", J, '{"basin":"%s","config":{"default_stream_config":{"timestamping":{"mode":"bogus"}}}}' % B),
    ("create bad cipher", "POST", "/v1/basins", J, '{"basin":"%s","config":{"stream_cipher":"rot13"}}' % B),
    ("create long token", "POST", "/v1/basins", H(s2_request_token="x" * 37), '{"basin":"%s"}' % B),
    ("create empty location", "POST", "/v1/basins", J, '{"basin":"%s","location":""}' % B),
    ("create long location", "POST", "/v1/basins", J, '{"basin":"%s","location":"%s"}' % (B, "a" * 65)),
    ("create bad location", "POST", "/v1/basins", J, '{"basin":"%s","location":"us east"}' % B),
    ("create location not string", "POST", "/v1/basins", J, '{"basin":"%s","location":7}' % B),
    ("ensure bad location", "PUT", "/v1/basins/diff-basin-4", J, '{"location":"a/b"}'),
    ("create", "POST", "/v1/basins", H(s2_request_token="tok-1"), '{"basin":"%s","config":{"default_stream_config":{"retention_policy":{"age":3600},"timestamping":{"uncapped":true},"delete_on_empty":{}}},"location":"aws:us-east-1"}' % B),
    ("create replay noop", "POST", "/v1/basins", H(s2_request_token="tok-1"), '{"basin":"%s","config":{"default_stream_config":{"retention_policy":{"age":3600},"timestamping":{"uncapped":true},"delete_on_empty":{}}}}' % B),
    ("create replay other config", "POST", "/v1/basins", H(s2_request_token="tok-1"), '{"basin":"%s"}' % B),
    ("create duplicate no token", "POST", "/v1/basins", J, '{"basin":"%s"}' % B),
    ("get config", "GET", "/v1/basins/" + B, {}, None),
    ("get unknown", "GET", "/v1/basins/diff-basin-nope", {}, None),
    ("get bad path", "GET", "/v1/basins/BAD", {}, None),
    ("patch no body", "PATCH", "/v1/basins/" + B, J, ""),
    ("patch empty", "PATCH", "/v1/basins/" + B, J, "{}"),
    ("patch null bool", "PATCH", "/v1/basins/" + B, J, '{"create_stream_on_read":null}'),
    ("patch zero age", "PATCH", "/v1/basins/" + B, J, '{"default_stream_config":{"retention_policy":{"age":0}}}'),
    ("patch defaults", "PATCH", "/v1/basins/" + B, J, '{"default_stream_config":{"storage_class":"standard","timestamping":{"mode":"arrival"}},"create_stream_on_append":true}'),
    ("patch clear uncapped", "PATCH", "/v1/basins/" + B, J, '{"default_stream_config":{"timestamping":{"uncapped":null}}}'),
    ("patch unknown", "PATCH", "/v1/basins/diff-basin-nope", J, "{}"),
    ("ensure no content-type ignores body", "PUT", "/v1/basins/" + B2, {}, "garbage"),
    ("ensure same noop", "PUT", "/v1/basins/" + B2, J, ""),
    ("ensure update", "PUT", "/v1/basins/" + B2, J, '{"config":{"create_stream_on_read":true}}'),
    ("ensure bad ct", "PUT", "/v1/basins/" + B2, {"content-type": "text/plain"}, "{}"),
    ("list prefix", "GET", "/v1/basins?prefix=diff-basin", {}, None),
    ("list limit 1", "GET", "/v1/basins?prefix=diff-basin&limit=1", {}, None),
    ("list start_after", "GET", "/v1/basins?prefix=diff-basin&start_after=diff-basin-1", {}, None),
    ("list limit 0", "GET", "/v1/basins?prefix=diff-basin&limit=0", {}, None),
    # streams
    ("streams no basin header", "GET", "/v1/streams", {}, None),
    ("streams bad basin header", "GET", "/v1/streams", {"s2-basin": "X"}, None),
    ("streams unknown basin", "GET", "/v1/streams", {"s2-basin": "diff-basin-nope"}, None),
    ("streams list empty", "GET", "/v1/streams", SB(), None),
    ("stream create", "POST", "/v1/streams", SB({"s2-request-token": "st-1"}), '{"stream":"a/b c?d"}'),
    ("stream create replay", "POST", "/v1/streams", SB({"s2-request-token": "st-1"}), '{"stream":"a/b c?d","config":{}}'),
    ("stream create dup", "POST", "/v1/streams", SB(), '{"stream":"a/b c?d"}'),
    ("stream create b", "POST", "/v1/streams", SB(), '{"stream":"b","config":{"retention_policy":{"infinite":{}},"delete_on_empty":{"min_age_secs":60}}}'),
    ("stream create a", "POST", "/v1/streams", SB(), '{"stream":"a"}'),
    ("stream create dot", "POST", "/v1/streams", SB(), '{"stream":".."}'),
    ("stream create empty", "POST", "/v1/streams", SB(), '{"stream":""}'),
    ("stream create zero age", "POST", "/v1/streams", SB(), '{"stream":"z","config":{"retention_policy":{"age":0}}}'),
    ("stream create unknown basin", "POST", "/v1/streams", SB(basin="diff-basin-nope"), '{"stream":"z"}'),
    ("streams list", "GET", "/v1/streams", SB(), None),
    ("streams list limit", "GET", "/v1/streams?limit=2", SB(), None),
    ("streams list start_after", "GET", "/v1/streams?start_after=a", SB(), None),
    ("streams list prefix", "GET", "/v1/streams?prefix=a", SB(), None),
    ("streams list nul prefix", "GET", "/v1/streams?prefix=%00", SB(), None),
    ("stream get encoded", "GET", "/v1/streams/a%2Fb%20c%3Fd", SB(), None),
    ("stream get b", "GET", "/v1/streams/b", SB(), None),
    ("stream get missing", "GET", "/v1/streams/nope", SB(), None),
    ("stream get unknown basin", "GET", "/v1/streams/nope", SB(basin="diff-basin-nope"), None),
    ("stream get nul", "GET", "/v1/streams/a%00b", SB(), None),
    ("stream patch", "PATCH", "/v1/streams/a", SB(), '{"retention_policy":{"age":99},"timestamping":{"uncapped":true}}'),
    ("stream patch clear", "PATCH", "/v1/streams/a", SB(), '{"retention_policy":null,"storage_class":null}'),
    ("stream patch doe", "PATCH", "/v1/streams/a", SB(), '{"delete_on_empty":{"min_age_secs":5}}'),
    ("stream patch doe noop", "PATCH", "/v1/streams/a", SB(), '{"delete_on_empty":{}}'),
    ("stream patch doe clear", "PATCH", "/v1/streams/a", SB(), '{"delete_on_empty":{"min_age_secs":null}}'),
    ("stream patch missing", "PATCH", "/v1/streams/nope", SB(), "{}"),
    ("stream patch unknown basin", "PATCH", "/v1/streams/a", SB(basin="diff-basin-nope"), "{}"),
    ("stream ensure create", "PUT", "/v1/streams/e", SB(), ""),
    ("stream ensure noop", "PUT", "/v1/streams/e", {"s2-basin": B}, None),
    ("stream ensure update", "PUT", "/v1/streams/e", SB(), '{"storage_class":"standard"}'),
    ("stream delete missing", "DELETE", "/v1/streams/nope", SB(), None),
    ("stream delete unknown basin", "DELETE", "/v1/streams/nope", SB(basin="diff-basin-nope"), None),
    ("stream delete", "DELETE", "/v1/streams/e", SB(), None),
    # stubs
    ("tokens bad limit", "GET", "/v1/access-tokens?limit=x", {}, None),
    ("tokens issue no id", "POST", "/v1/access-tokens", J, "{}"),
    # (valid token requests differ on purpose: s2-lite answers 501, Strand issues tokens;
    # tests/e2e/access_tokens.rs covers them)
    # Valid metrics queries are left out: s2 lite answers 501, Strand answers them
    # (tests/e2e/usage_metrics.rs). Their bad input is still checked the same.
    ("metrics no set", "GET", "/v1/metrics", {}, None),
    ("metrics bad set", "GET", "/v1/metrics?set=bogus", {}, None),
    ("metrics basin set on account", "GET", "/v1/metrics?set=storage", {}, None),
    ("metrics bad start", "GET", "/v1/metrics?set=active-basins&start=x", {}, None),
    ("metrics negative end", "GET", "/v1/metrics?set=active-basins&end=-1", {}, None),
    ("metrics bad interval", "GET", "/v1/metrics?set=account-ops&interval=week", {}, None),
    ("metrics basin no set", "GET", "/v1/metrics/" + B, {}, None),
    ("metrics basin bad set", "GET", "/v1/metrics/%s?set=active-basins" % B, {}, None),
    ("metrics basin bad name", "GET", "/v1/metrics/BAD?set=storage", {}, None),
    ("metrics stream bad set", "GET", "/v1/metrics/%s/a?set=append-ops" % B, {}, None),
    ("metrics stream bad name", "GET", "/v1/metrics/%s/%s?set=storage" % (B, "x" * 513), {}, None),
    ("metrics post", "POST", "/v1/metrics", {}, None),
    ("metrics duplicate set", "GET", "/v1/metrics?set=account-ops&set=account-ops", {}, None),
    ("metrics first bad field wins", "GET", "/v1/metrics?interval=week&set=bogus", {}, None),
    ("metrics basin two sets", "GET", "/v1/metrics/%s?start=x&set=bogus" % B, {}, None),
    ("locations", "GET", "/v1/locations", {}, None),
    ("cors preflight", "OPTIONS", "/v1/basins", {"origin": "http://x", "access-control-request-method": "POST", "access-control-request-headers": "content-type"}, None),
    ("cors simple", "GET", "/health", {"origin": "http://x"}, None),
    # data plane
    ("auto basin", "POST", "/v1/basins", J, '{"basin":"diff-basin-3","config":{"create_stream_on_append":true,"create_stream_on_read":true}}'),
    ("append empty batch", "POST", "/v1/streams/r/records", SB(), '{"records":[]}'),
    ("append no records field", "POST", "/v1/streams/r/records", SB(), '{}'),
    ("append missing stream", "POST", "/v1/streams/nope/records", SB(), '{"records":[{"body":"x"}]}'),
    ("append unknown basin", "POST", "/v1/streams/nope/records", SB(basin="diff-basin-nope"), '{"records":[{"body":"x"}]}'),
    ("append bad format", "POST", "/v1/streams/a/records", SB({"s2-format": "xml"}), '{"records":[{"body":"x"}]}'),
    ("append bad base64", "POST", "/v1/streams/a/records", SB({"s2-format": "base64"}), '{"records":[{"body":"!!"}]}'),
    ("append", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"hello","timestamp":1000},{"headers":[["k","v"]],"body":"world","timestamp":500},{"body":"","timestamp":2000}]}'),
    ("append base64", "POST", "/v1/streams/a/records", SB({"s2-format": "base64"}), '{"records":[{"headers":[["aw==","dg=="]],"body":"/w==","timestamp":1500}]}'),
    ("append seq mismatch", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"x"}],"match_seq_num":9}'),
    ("append seq match", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"x","timestamp":3000}],"match_seq_num":4}'),
    ("append empty header name", "POST", "/v1/streams/a/records", SB(), '{"records":[{"headers":[["","fence"],["a","b"]]}]}'),
    ("append unknown command", "POST", "/v1/streams/a/records", SB(), '{"records":[{"headers":[["","bogus"]]}]}'),
    ("append bad trim", "POST", "/v1/streams/a/records", SB(), '{"records":[{"headers":[["","trim"]],"body":"abc"}]}'),
    ("append long fence", "POST", "/v1/streams/a/records", SB(), '{"records":[{"headers":[["","fence"]],"body":"%s"}]}' % ("f" * 37)),
    ("append long token", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"x"}],"fencing_token":"%s"}' % ("f" * 37)),
    ("append fence", "POST", "/v1/streams/a/records", SB(), '{"records":[{"headers":[["","fence"]],"body":"tok","timestamp":3000}]}'),
    ("append wrong token", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"x"}],"fencing_token":"nope","match_seq_num":0}'),
    ("append right token", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"y","timestamp":3000}],"fencing_token":"tok"}'),
    ("append header not pair", "POST", "/v1/streams/a/records", SB(), '{"records":[{"headers":[["a"]]}]}'),
    ("append text ct", "POST", "/v1/streams/a/records", {"s2-basin": B, "content-type": "text/plain"}, '{"records":[{"body":"x"}]}'),
    ("append bad proto", "POST", "/v1/streams/a/records", {"s2-basin": B, "content-type": "application/protobuf"}, "\xff\xff"),
    ("read all", "GET", "/v1/streams/a/records?seq_num=0", SB(), None),
    ("read base64", "GET", "/v1/streams/a/records?seq_num=3&count=1", SB({"s2-format": "base64"}), None),
    ("read count", "GET", "/v1/streams/a/records?seq_num=1&count=2", SB(), None),
    ("read bytes small", "GET", "/v1/streams/a/records?seq_num=0&bytes=5", SB(), None),
    ("read bytes", "GET", "/v1/streams/a/records?seq_num=0&bytes=30", SB(), None),
    ("read until", "GET", "/v1/streams/a/records?seq_num=0&until=2000", SB(), None),
    ("read timestamp", "GET", "/v1/streams/a/records?timestamp=1500", SB(), None),
    ("read tail_offset", "GET", "/v1/streams/a/records?tail_offset=2", SB(), None),
    ("read at tail 416", "GET", "/v1/streams/a/records", SB(), None),
    ("read past tail", "GET", "/v1/streams/a/records?seq_num=100", SB(), None),
    ("read past tail clamp", "GET", "/v1/streams/a/records?seq_num=100&clamp=true", SB(), None),
    ("read ts past tail", "GET", "/v1/streams/a/records?timestamp=99999999999999", SB(), None),
    ("read count 0", "GET", "/v1/streams/a/records?seq_num=100&count=0", SB(), None),
    ("read two starts", "GET", "/v1/streams/a/records?seq_num=1&timestamp=1", SB(), None),
    ("read until le ts", "GET", "/v1/streams/a/records?timestamp=5&until=5", SB(), None),
    ("read bad clamp", "GET", "/v1/streams/a/records?seq_num=1&clamp=yes", SB(), None),
    ("read bad count", "GET", "/v1/streams/a/records?count=-1", SB(), None),
    ("read wait elapsed", "GET", "/v1/streams/a/records?wait=1", SB(), None),
    ("read missing", "GET", "/v1/streams/nope/records?seq_num=0", SB(), None),
    # client-supplied encryption (API.md §10)
    ("cipher basin", "POST", "/v1/basins", J, '{"basin":"diff-basin-5","config":{"stream_cipher":"aegis-256"}}'),
    ("cipher stream", "POST", "/v1/streams", SB(basin="diff-basin-5"), '{"stream":"c"}'),
    ("cipher gcm stream", "POST", "/v1/streams", SB(basin="diff-basin-5"), '{"stream":"g"}'),
    ("cipher basin to gcm", "PATCH", "/v1/basins/diff-basin-5", J, '{"stream_cipher":"aes-256-gcm"}'),
    ("cipher gcm stream 2", "POST", "/v1/streams", SB(basin="diff-basin-5"), '{"stream":"g2"}'),
    ("cipher streams", "GET", "/v1/streams", SB(basin="diff-basin-5"), None),
    ("cipher append no key", "POST", "/v1/streams/c/records", SB(basin="diff-basin-5"), '{"records":[{"body":"x"}]}'),
    ("cipher append bad base64", "POST", "/v1/streams/c/records", SB({"s2-encryption-key": "not*base64"}, basin="diff-basin-5"), '{"records":[{"body":"x"}]}'),
    ("cipher append short key", "POST", "/v1/streams/c/records", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBw=="}, basin="diff-basin-5"), '{"records":[{"body":"x"}]}'),
    ("cipher append 33-byte key", "POST", "/v1/streams/c/records", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH"}, basin="diff-basin-5"), '{"records":[{"body":"x"}]}'),
    ("cipher key too long", "POST", "/v1/streams/a/records", SB({"s2-encryption-key": "A" * 45}), '{"records":[{"body":"x"}]}'),
    ("cipher key blank", "GET", "/v1/streams/a/records?seq_num=0&count=1", SB({"s2-encryption-key": "  "}), None),
    ("cipher key ignored on plaintext", "GET", "/v1/streams/a/records?seq_num=0&count=1", SB({"s2-encryption-key": "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="}), None),
    ("cipher key before format", "POST", "/v1/streams/a/records", SB({"s2-encryption-key": "", "s2-format": "xml"}), '{"records":[{"body":"x"}]}'),
    ("cipher missing stream no key", "POST", "/v1/streams/nope/records", SB(basin="diff-basin-5"), '{"records":[{"body":"x"}]}'),
    ("cipher append", "POST", "/v1/streams/c/records", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, basin="diff-basin-5"), '{"records":[{"headers":[["k","v"]],"body":"secret","timestamp":5},{"headers":[["","fence"]],"body":"tok","timestamp":6}]}'),
    ("cipher append gcm", "POST", "/v1/streams/g2/records", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, basin="diff-basin-5"), '{"records":[{"body":"gcm secret","timestamp":5}]}'),
    ("cipher condition after key", "POST", "/v1/streams/c/records", SB(basin="diff-basin-5"), '{"records":[{"body":"x"}],"match_seq_num":0}'),
    ("cipher tail no key", "GET", "/v1/streams/c/records/tail", SB(basin="diff-basin-5"), None),
    ("cipher read", "GET", "/v1/streams/c/records?seq_num=0", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, basin="diff-basin-5"), None),
    ("cipher read gcm", "GET", "/v1/streams/g2/records?seq_num=0", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, basin="diff-basin-5"), None),
    ("cipher read bytes", "GET", "/v1/streams/c/records?seq_num=0&bytes=22", SB({"s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, basin="diff-basin-5"), None),
    ("cipher read no key", "GET", "/v1/streams/c/records?seq_num=0", SB(basin="diff-basin-5"), None),
    ("cipher read no key past tail", "GET", "/v1/streams/c/records?seq_num=99", SB(basin="diff-basin-5"), None),
    ("cipher read wrong key", "GET", "/v1/streams/c/records?seq_num=0", SB({"s2-encryption-key": "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="}, basin="diff-basin-5"), None),
    ("cipher read wrong key gcm", "GET", "/v1/streams/g2/records?seq_num=0", SB({"s2-encryption-key": "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="}, basin="diff-basin-5"), None),
    ("cipher read command wrong key", "GET", "/v1/streams/c/records?seq_num=1", SB({"s2-encryption-key": "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="}, basin="diff-basin-5"), None),
    ("cipher read empty stream no key", "GET", "/v1/streams/g/records?seq_num=0", SB(basin="diff-basin-5"), None),
    ("cipher sse", "GET", "/v1/streams/c/records?seq_num=0&count=2", SB({"accept": "text/event-stream", "s2-encryption-key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, basin="diff-basin-5"), None),
    ("cipher sse wrong key", "GET", "/v1/streams/c/records?seq_num=0&count=2", SB({"accept": "text/event-stream", "s2-encryption-key": "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="}, basin="diff-basin-5"), None),
    ("cipher sse no key", "GET", "/v1/streams/c/records?seq_num=0&count=2", SB({"accept": "text/event-stream"}, basin="diff-basin-5"), None),
    ("cipher s2s wrong key", "GET", "/v1/streams/c/records?seq_num=0&count=2", SB({"content-type": "s2s/proto", "s2-encryption-key": "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="}, basin="diff-basin-5"), None),
    ("cipher s2s no key", "GET", "/v1/streams/c/records?seq_num=0&count=2", SB({"content-type": "s2s/proto"}, basin="diff-basin-5"), None),
    ("sse bounded", "GET", "/v1/streams/a/records?seq_num=0&count=2", SB({"accept": "text/event-stream"}), None),
    ("sse base64", "GET", "/v1/streams/a/records?seq_num=3&count=1", SB({"accept": "text/event-stream", "s2-format": "base64"}), None),
    ("sse resume", "GET", "/v1/streams/a/records?seq_num=0&count=3", SB({"accept": "text/event-stream", "last-event-id": "0,1,13"}), None),
    ("sse bad resume", "GET", "/v1/streams/a/records?count=3", SB({"accept": "text/event-stream", "last-event-id": "0,x"}), None),
    ("sse past tail", "GET", "/v1/streams/a/records?seq_num=99", SB({"accept": "text/event-stream"}), None),
    ("sse wait 0", "GET", "/v1/streams/a/records?seq_num=4&wait=0", SB({"accept": "text/event-stream"}), None),
    ("sse count 0", "GET", "/v1/streams/a/records?count=0", SB({"accept": "text/event-stream"}), None),
    ("tail", "GET", "/v1/streams/a/records/tail", SB(), None),
    ("tail missing", "GET", "/v1/streams/nope/records/tail", SB(), None),
    ("tail unknown basin", "GET", "/v1/streams/nope/records/tail", SB(basin="diff-basin-nope"), None),
    ("auto-create on append", "POST", "/v1/streams/auto1/records", SB(basin="diff-basin-3"), '{"records":[{"body":"x","timestamp":1}]}'),
    ("auto-create on read", "GET", "/v1/streams/auto2/records?seq_num=0&count=0", SB(basin="diff-basin-3"), None),
    ("auto-create on tail", "GET", "/v1/streams/auto3/records/tail", SB(basin="diff-basin-3"), None),
    ("auto streams", "GET", "/v1/streams", SB(basin="diff-basin-3"), None),
    ("bad stream config header", "POST", "/v1/streams/auto4/records", SB({"s2-stream-config": "{"}, basin="diff-basin-3"), '{"records":[{"body":"x"}]}'),
    ("zero age stream config header", "POST", "/v1/streams/auto4/records", SB({"s2-stream-config": '{"retention_policy":{"age":0}}'}, basin="diff-basin-3"), '{"records":[{"body":"x"}]}'),
    ("stream config header", "POST", "/v1/streams/auto5/records", SB({"s2-stream-config": '{"storage_class":"standard"}'}, basin="diff-basin-3"), '{"records":[{"body":"x","timestamp":1}]}'),
    ("auto5 config", "GET", "/v1/streams/auto5", SB(basin="diff-basin-3"), None),
    ("trim", "POST", "/v1/streams/a/records", SB({"s2-format": "base64"}), '{"records":[{"headers":[["","dHJpbQ=="]],"body":"AAAAAAAAAAI=","timestamp":3000}]}'),
    ("tail after trim", "GET", "/v1/streams/a/records/tail", SB(), None),
    # s2-lite removes trimmed records in the background, moments after the trim: wait
    # (up to 5 s) until both servers answer alike, then compare as usual
    ("let trim settle", "SETTLE", "/v1/streams/a/records?seq_num=0", SB(), None),
    # reads over the trim command record and the trimmed range
    ("read trimmed start", "GET", "/v1/streams/a/records?seq_num=0", SB(), None),
    ("read trimmed start count", "GET", "/v1/streams/a/records?seq_num=0&count=1", SB(), None),
    ("read at trim record", "GET", "/v1/streams/a/records?seq_num=7", SB(), None),
    ("read trimmed ts", "GET", "/v1/streams/a/records?timestamp=0", SB(), None),
    ("read trimmed tail_offset", "GET", "/v1/streams/a/records?tail_offset=100", SB(), None),
    ("trim all", "POST", "/v1/streams/t/records", SB(basin="diff-basin-3"), '{"records":[{"body":"a","timestamp":1},{"body":"b","timestamp":2}]}'),
    ("trim all command", "POST", "/v1/streams/t/records", SB({"s2-format": "base64"}, basin="diff-basin-3"), '{"records":[{"headers":[["","dHJpbQ=="]],"body":"AAAAAAAAAGQ=","timestamp":3}]}'),
    ("let trim all settle", "SETTLE", "/v1/streams/t/records?seq_num=0", SB(basin="diff-basin-3"), None),
    ("read all trimmed", "GET", "/v1/streams/t/records?seq_num=0", SB(basin="diff-basin-3"), None),
    ("read all trimmed offset", "GET", "/v1/streams/t/records?tail_offset=2", SB(basin="diff-basin-3"), None),
    ("read all trimmed at tail", "GET", "/v1/streams/t/records?seq_num=3", SB(basin="diff-basin-3"), None),
    ("read all trimmed ts", "GET", "/v1/streams/t/records?timestamp=0", SB(basin="diff-basin-3"), None),
    ("sse all trimmed", "GET", "/v1/streams/t/records?seq_num=0&count=2", SB({"accept": "text/event-stream"}, basin="diff-basin-3"), None),
    ("s2s all trimmed", "GET", "/v1/streams/t/records?seq_num=0&count=2", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"), None),
    ("sse trimmed start", "GET", "/v1/streams/a/records?seq_num=0&count=5", SB({"accept": "text/event-stream"}), None),
    # response compression (bodies of at least 1 KiB)
    ("append big", "POST", "/v1/streams/a/records", SB(), '{"records":[{"body":"%s","timestamp":4000}]}' % ("z" * 3000)),
    ("read identity", "GET", "/v1/streams/a/records?seq_num=8", SB(), None),
    ("read gzip", "GET", "/v1/streams/a/records?seq_num=8", SB({"accept-encoding": "gzip"}), None),
    ("read zstd", "GET", "/v1/streams/a/records?seq_num=8", SB({"accept-encoding": "gzip, zstd"}), None),
    ("read q prefers gzip", "GET", "/v1/streams/a/records?seq_num=8", SB({"accept-encoding": "zstd;q=0.4, gzip;q=0.5"}), None),
    ("read br only", "GET", "/v1/streams/a/records?seq_num=8", SB({"accept-encoding": "br"}), None),
    ("read wildcard", "GET", "/v1/streams/a/records?seq_num=8", SB({"accept-encoding": "*, zstd;q=0"}), None),
    ("read nothing acceptable", "GET", "/v1/streams/a/records?seq_num=8", SB({"accept-encoding": "identity;q=0"}), None),
    ("small not compressed", "GET", "/v1/streams/a/records/tail", SB({"accept-encoding": "gzip"}), None),
    ("small nothing acceptable", "GET", "/v1/streams/a/records/tail", SB({"accept-encoding": "*;q=0"}), None),
    ("sse not compressed", "GET", "/v1/streams/a/records?seq_num=8&count=1", SB({"accept": "text/event-stream", "accept-encoding": "gzip"}), None),
    ("health not compressed", "GET", "/health", {"accept-encoding": "identity;q=0"}, None),
    ("unknown path not compressed", "GET", "/v1/nope", {"accept-encoding": "identity;q=0"}, None),
    # S2S sessions over HTTP/1.1
    ("s2s read", "GET", "/v1/streams/a/records?seq_num=0&count=3", SB({"content-type": "s2s/proto"}), None),
    ("s2s read gzip frames", "GET", "/v1/streams/a/records?seq_num=8&count=1", SB({"content-type": "s2s/proto", "accept-encoding": "gzip"}), None),
    ("s2s read past tail", "GET", "/v1/streams/a/records?seq_num=99", SB({"content-type": "s2s/proto"}), None),
    ("s2s read missing", "GET", "/v1/streams/nope/records?seq_num=0", SB({"content-type": "s2s/proto"}, basin="diff-basin-nope"), None),
    ("s2s read wait at tail", "GET", "/v1/streams/a/records?seq_num=9&wait=1", SB({"content-type": "s2s/proto"}), None),
    ("s2s read clamp wait", "GET", "/v1/streams/a/records?seq_num=100&clamp=true&wait=1", SB({"content-type": "s2s/proto"}), None),
    ("s2s read wait 0 at tail", "GET", "/v1/streams/a/records?seq_num=9&wait=0", SB({"content-type": "s2s/proto"}), None),
    ("sse wait at tail", "GET", "/v1/streams/a/records?seq_num=9&wait=1", SB({"accept": "text/event-stream"}), None),
    ("sse clamp wait", "GET", "/v1/streams/a/records?seq_num=100&clamp=true&wait=1", SB({"accept": "text/event-stream"}), None),
    ("sse catch up then wait", "GET", "/v1/streams/a/records?seq_num=8&wait=1", SB({"accept": "text/event-stream"}), None),
    ("sse clamp count", "GET", "/v1/streams/a/records?seq_num=100&clamp=true&count=1&wait=1", SB({"accept": "text/event-stream"}), None),
    ("s2s append", "POST", "/v1/streams/s2s1/records", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"),
     lambda: frame(append_input([(10, b"one"), (11, b"two")])) + frame(append_input([(12, b"three")]))),
    ("s2s append chunked", "POST", "/v1/streams/s2s1/records", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"),
     lambda: [frame(append_input([(20, b"four")]))[:5], frame(append_input([(20, b"four")]))[5:], frame(append_input([(21, b"five")], match=4))]),
    ("s2s append mismatch", "POST", "/v1/streams/s2s1/records", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"),
     lambda: frame(append_input([(30, b"six")], match=1)) + frame(append_input([(31, b"seven")]))),
    ("s2s append empty frame", "POST", "/v1/streams/s2s1/records", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"),
     lambda: b"\x00\x00\x00"),
    ("s2s append truncated", "POST", "/v1/streams/s2s1/records", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"),
     lambda: frame(append_input([(40, b"eight")]))[:-2]),
    ("s2s append empty body", "POST", "/v1/streams/s2s1/records", SB({"content-type": "s2s/proto"}, basin="diff-basin-3"),
     lambda: b""),
    ("s2s append missing stream", "POST", "/v1/streams/nope/records", SB({"content-type": "s2s/proto"}), lambda: b""),
    ("s2s appended", "GET", "/v1/streams/s2s1/records?seq_num=0", SB(basin="diff-basin-3"), None),
    # a live follower of a deleted stream: the terminal trim record, then the error, at once
    ("sse follower of deleted stream", "FOLLOW_DELETE", "/v1/streams/a/records?seq_num=8", SB({"accept": "text/event-stream"}), None),
    ("create for s2s follower", "POST", "/v1/streams", SB(), '{"stream":"a2"}'),
    ("s2s follower of deleted stream", "FOLLOW_DELETE", "/v1/streams/a2/records?seq_num=0", SB({"content-type": "s2s/proto"}), None),
    ("read deleted stream", "GET", "/v1/streams/a/records?seq_num=0", SB(), None),
    # basin deletion
    ("delete unknown basin", "DELETE", "/v1/basins/diff-basin-nope", {}, None),
    ("delete basin 2", "DELETE", "/v1/basins/" + B2, {}, None),
]

HEADERS_READ = ["content-type", "s2-provision-result", "allow", "access-control-allow-origin",
                "access-control-allow-methods", "access-control-allow-headers",
                "access-control-allow-credentials", "vary", "content-encoding", "cache-control",
                "x-accel-buffering"]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def append_input(records, match=None):
    """An s2.v1.AppendInput of (timestamp, body) records."""
    msg = b"".join(field(1, 2, field(1, 0, ts) + field(3, 2, body)) for ts, body in records)
    if match is not None:
        msg += field(2, 0, match)
    return msg


def frame(payload, flags=0):
    n = len(payload) + 1
    return bytes([n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF, flags]) + payload


def proto(data, depth=0):
    """A protobuf message as nested (field, value) text: arrival timestamps masked, long
    byte strings shortened, so two servers' messages compare by meaning."""
    out, i = [], 0
    try:
        while i < len(data):
            key, i = read_varint(data, i)
            num, wire = key >> 3, key & 7
            if wire == 0:
                v, i = read_varint(data, i)
                out.append("%d=%s" % (num, "<now>" if 1_600_000_000_000 <= v < 2_000_000_000_000 else v))
            elif wire == 2:
                n, i = read_varint(data, i)
                chunk = data[i:i + n]
                if len(chunk) != n:
                    raise ValueError("short")
                i += n
                inner = proto(chunk, depth + 1) if depth < 3 else None
                if inner is None:
                    inner = chunk.hex() if n <= 32 else "<%d bytes %s>" % (n, chunk[:8].hex())
                out.append("%d={%s}" % (num, inner))
            else:
                raise ValueError("wire type")
    except (ValueError, IndexError):
        return None
    return " ".join(out)


def read_varint(data, i):
    shift = v = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise ValueError("varint")


def s2s_frames(raw):
    """Frames as (flags, payload hex), gzip payloads inflated, so a difference in
    compressed bytes alone does not count (zstd ones are shown by size class only)."""
    out, i = [], 0
    while i + 3 <= len(raw):
        n = raw[i] << 16 | raw[i + 1] << 8 | raw[i + 2]
        flags, payload = raw[i + 3], raw[i + 4:i + 3 + n]
        if flags & 0x60 == 0x40:
            payload = gzip.decompress(payload)
        elif flags & 0x60 == 0x20:
            payload = b"<zstd>"
        if flags & 0x80:
            text = "%d %s" % (payload[0] << 8 | payload[1], payload[2:].decode("utf-8", "replace"))
        else:
            text = proto(payload) or payload.hex()
        out.append("%02x:%s" % (flags, text))
        i += 3 + n
    if i != len(raw):
        out.append("<%d trailing bytes>" % (len(raw) - i))
    return " ".join(out)


def send(base, method, path, headers, body):
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    if callable(body):
        body = body()
    if isinstance(body, list):
        c.request(method, path, body=iter(body), headers=headers, encode_chunked=True)
    else:
        c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers)
    r = c.getresponse()
    raw = r.read()
    hdrs = {k: r.getheader(k) for k in HEADERS_READ if r.getheader(k) is not None}
    c.close()
    enc = r.getheader("content-encoding")
    if enc == "gzip":
        raw = gzip.decompress(raw)
    elif enc == "zstd":
        raw = b"<zstd body>"
    if (r.getheader("content-type") or "").startswith("s2s/proto"):
        data = s2s_frames(raw)
    else:
        data = raw.decode("utf-8", "replace")
    return r.status, hdrs, NOW_MS.sub("<now>", TS.sub('"<ts>"', data))


def follow_delete(base, path, headers):
    """Follows a stream, deletes it once the follower is at the tail, and returns what the
    follower saw and whether it ended within 3 s of the deletion."""
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    seen = b""
    # Until the follower reaches the tail: a ping (SSE) or a heartbeat frame (S2S, which
    # comes after any catch-up frames; the first frame read is enough for these cases).
    while b"event: ping" not in seen and not (seen and headers.get("content-type") == "s2s/proto"):
        chunk = r.read1(65536)
        if not chunk:
            break
        seen += chunk
    d = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    d.request("DELETE", path.split("/records")[0], headers={"s2-basin": headers["s2-basin"]})
    deleted = d.getresponse().status
    d.close()
    started = time.monotonic()
    seen += r.read()
    prompt = time.monotonic() - started < 3
    c.close()
    if headers.get("content-type") == "s2s/proto":
        data = s2s_frames(seen)
    else:
        data = seen.decode("utf-8", "replace")
    return r.status, deleted, prompt, NOW_MS.sub("<now>", TS.sub('"<ts>"', data))


def main():
    strand, lite = sys.argv[1], sys.argv[2]
    passed = failed = 0
    for name, method, path, headers, body in CASES:
        if "-v" in sys.argv[3:]:
            print("case", name, file=sys.stderr, flush=True)
        if method == "FOLLOW_DELETE":
            a, b = follow_delete(strand, path, headers), follow_delete(lite, path, headers)
            if a == b:
                passed += 1
            else:
                failed += 1
                print(f"DIFF {name}: GET {path}\n  strand: {a}\n  lite:   {b}")
            continue
        if method == "SETTLE":
            until = time.monotonic() + 5
            while time.monotonic() < until:
                if send(strand, "GET", path, headers, None) == send(lite, "GET", path, headers, None):
                    break
                time.sleep(0.05)
            continue
        a = send(strand, method, path, headers, body)
        b = send(lite, method, path, headers, body)
        if a == b:
            passed += 1
        else:
            failed += 1
            print(f"DIFF {name}: {method} {path}\n  strand: {a}\n  lite:   {b}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
