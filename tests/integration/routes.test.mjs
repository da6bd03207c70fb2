// Plugin HTTP routes on the API port (Odeon only): the echotest plugin registers
// /echotest/ and answers GET /echotest/status through the core's route API.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ECHOTEST, ODEON_ONLY, useServer } from './harness.mjs';
import { httpAttach, httpCreateSession, postOk, rawRequest, tx } from './client.mjs';

describe('plugin HTTP routes', { skip: ODEON_ONLY }, () => {
  const srv = useServer({});
  const url = (p) => `${srv.server.httpBase}${p}`;

  test('GET /echotest/status reflects attached handles and handled messages', async () => {
    const before = await rawRequest(url('/echotest/status'));
    assert.equal(before.status, 200);
    assert.match(String(before.headers['content-type']), /^application\/json/);
    assert.equal(before.headers['access-control-allow-origin'], '*');
    const start = JSON.parse(before.text);
    assert.equal(start.plugin, ECHOTEST);

    const sessionId = await httpCreateSession(srv.server);
    const handleId = await httpAttach(srv.server, sessionId, ECHOTEST);
    const during = JSON.parse((await rawRequest(url('/echotest/status'))).text);
    assert.equal(during.handles, start.handles + 1);

    await postOk(srv.server, `/${sessionId}`, { janus: 'destroy', transaction: tx() });
    const after = JSON.parse((await rawRequest(url('/echotest/status'))).text);
    assert.equal(after.handles, start.handles);
    assert.ok(handleId > 0);
  });

  test('other methods get 405 with Allow, unknown paths 404, preflight 204', async () => {
    const post = await rawRequest(url('/echotest/status'), { method: 'POST', body: '{}' });
    assert.equal(post.status, 405);
    assert.match(String(post.headers.allow), /GET/);
    assert.equal(JSON.parse(post.text).error, 'Method not allowed');
    const missing = await rawRequest(url('/echotest/nothing-here'));
    assert.equal(missing.status, 404);
    const preflight = await rawRequest(url('/echotest/status'), {
      method: 'OPTIONS',
      headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(preflight.status, 204);
    assert.match(String(preflight.headers['access-control-allow-methods']), /GET/);
  });

  test('a route never shadows the Janus API', async () => {
    const info = await postOk(srv.server, '', { janus: 'info', transaction: tx() });
    assert.equal(info.janus, 'server_info');
  });
});
