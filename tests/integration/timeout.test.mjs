// Session timeout: sessions without any request for session_timeout seconds are destroyed
// with a "timeout" event; keepalives keep them alive.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ECHOTEST, sleep, useServer } from './harness.mjs';
import {
  adminPost, assertJanusError, httpCreateSession, httpGet, postOk, tx, wsAttach, wsConnect, wsCreateSession,
} from './client.mjs';

const SESSION_TIMEOUT = 2;
// The expiry check may run on a coarse timer (Janus: a 2 s watchdog), so allow some slack.
const EXPIRY_WAIT_MS = (SESSION_TIMEOUT + 8) * 1000;

describe('session timeout', () => {
  // longpoll_timeout above the session timeout, so that a parked long-poll does not refresh
  // the session before it expires (each long-poll GET counts as activity).
  const srv = useServer({ sessionTimeout: SESSION_TIMEOUT, longpollTimeout: 10 });

  test('server_info reports the configured session-timeout', async () => {
    const info = await postOk(srv.server, '', { janus: 'info', transaction: tx() });
    assert.equal(info['session-timeout'], SESSION_TIMEOUT);
  });

  test('a WebSocket session without keepalive gets a "timeout" event and is destroyed', { timeout: 30000 }, async () => {
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    await wsAttach(c, sid, ECHOTEST);
    const t0 = Date.now();
    const ev = await c.nextMessage((m) => m.janus === 'timeout', EXPIRY_WAIT_MS, 'the timeout event');
    const elapsed = (Date.now() - t0) / 1000;
    assert.deepEqual(ev, { janus: 'timeout', session_id: sid });
    assert.ok(elapsed >= SESSION_TIMEOUT - 0.5, `timed out too early (${elapsed} s)`);
    const t = tx();
    assertJanusError(await c.request({ janus: 'keepalive', session_id: sid, transaction: t }), 458, { transaction: t });
    const listed = await adminPost(srv.server, { janus: 'list_sessions' });
    assert.ok(!listed.json.sessions.includes(sid), 'timed-out session must not be listed');
    // The socket itself stays open and usable.
    const sid2 = await wsCreateSession(c);
    assert.ok(sid2 > 0);
    await c.close();
  });

  test('an HTTP session gets the "timeout" event through a parked long-poll, then 458 / 404', { timeout: 30000 }, async () => {
    const sid = await httpCreateSession(srv.server);
    const t0 = Date.now();
    const r = await httpGet(srv.server, `/${sid}`, { maxev: 1, timeoutMs: EXPIRY_WAIT_MS + 5000 });
    const elapsed = (Date.now() - t0) / 1000;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { janus: 'timeout', session_id: sid });
    assert.ok(elapsed >= SESSION_TIMEOUT - 0.5, `timed out too early (${elapsed} s)`);
    const t = tx();
    assertJanusError(await postOk(srv.server, `/${sid}`, { janus: 'keepalive', transaction: t }), 458, { transaction: t });
    const after = await httpGet(srv.server, `/${sid}`, { maxev: 1, timeoutMs: 5000 });
    assert.equal(after.status, 404);
  });

  test('the long-poll timeout event comes in an array with maxev > 1', { timeout: 30000 }, async () => {
    const sid = await httpCreateSession(srv.server);
    const r = await httpGet(srv.server, `/${sid}`, { maxev: 5, timeoutMs: EXPIRY_WAIT_MS + 5000 });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, [{ janus: 'timeout', session_id: sid }]);
  });

  test('sessions kept alive every 0.5 s (WebSocket and HTTP) survive well past the timeout', { timeout: 30000 }, async () => {
    const c = await wsConnect(srv.server);
    const sidWs = await wsCreateSession(c);
    const hidWs = await wsAttach(c, sidWs, ECHOTEST);
    const sidHttp = await httpCreateSession(srv.server);
    const until = Date.now() + (SESSION_TIMEOUT * 2 + 2) * 1000;
    while (Date.now() < until) {
      assert.equal((await c.request({ janus: 'keepalive', session_id: sidWs })).janus, 'ack');
      assert.equal((await postOk(srv.server, `/${sidHttp}`, { janus: 'keepalive', transaction: tx() })).janus, 'ack');
      await sleep(500);
    }
    assert.ok(!c.all.some((m) => m.janus === 'timeout'), `unexpected timeout: ${JSON.stringify(c.all)}`);
    // Both still work, including the handle.
    const t = tx();
    const ack = await c.request({ janus: 'message', session_id: sidWs, handle_id: hidWs, body: { audio: true }, transaction: t });
    assert.equal(ack.janus, 'ack');
    assert.equal((await c.nextForTransaction(t)).janus, 'event');
    assert.equal((await postOk(srv.server, `/${sidHttp}`, { janus: 'keepalive', transaction: tx() })).janus, 'ack');
    const listed = (await adminPost(srv.server, { janus: 'list_sessions' })).json.sessions;
    assert.ok(listed.includes(sidWs) && listed.includes(sidHttp));
    await postOk(srv.server, `/${sidHttp}`, { janus: 'destroy', transaction: tx() });
    await c.close();
  });

  test('any request on the session (not only keepalive) refreshes it', { timeout: 30000 }, async () => {
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    const hid = await wsAttach(c, sid, ECHOTEST);
    const until = Date.now() + (SESSION_TIMEOUT * 2 + 2) * 1000;
    while (Date.now() < until) {
      const t = tx();
      assert.equal((await c.request({ janus: 'message', session_id: sid, handle_id: hid, body: { video: true }, transaction: t })).janus, 'ack');
      await c.nextForTransaction(t);
      await sleep(500);
    }
    assert.ok(!c.all.some((m) => m.janus === 'timeout'));
    await c.close();
  });
});
