// Admin API over HTTP (own port, base path /admin) and WebSocket ("janus-admin-protocol").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ECHOTEST, useServer } from './harness.mjs';
import {
  WsClient, adminPost, assertJanusError, assertJsonReply, httpAttach, httpCreateSession, postJson, postOk,
  rawRequest, tx, wsAttach, wsConnect, wsCreateSession,
} from './client.mjs';

describe('Admin API over HTTP', () => {
  const srv = useServer({ sessionTimeout: 60 });

  test('a missing or wrong admin_secret gives 403 (HTTP 200, JSON error)', async () => {
    const t = tx();
    const missing = await postJson(srv.server.adminUrl, { janus: 'list_sessions', transaction: t });
    assertJsonReply(missing);
    assertJanusError(missing.json, 403, { transaction: t });
    const wrong = await adminPost(srv.server, { janus: 'list_sessions', admin_secret: 'not-the-secret', transaction: t });
    assertJsonReply(wrong);
    assertJanusError(wrong.json, 403, { transaction: t });
    const handles = await postJson(srv.server.adminUrl, { janus: 'list_handles', session_id: 1, transaction: t });
    assertJanusError(handles.json, 403);
  });

  test('the Janus API secret is not the admin secret and the API port has no admin API', async () => {
    const viaApi = await postOk(srv.server, '', { janus: 'list_sessions', transaction: 'x', admin_secret: srv.server.adminSecret });
    assertJanusError(viaApi, 457);
  });

  test('ping and info answer without the secret', async () => {
    const t = tx();
    const pong = await postJson(srv.server.adminUrl, { janus: 'ping', transaction: t });
    assert.deepEqual(pong.json, { janus: 'pong', transaction: t });
    const info = await postJson(srv.server.adminUrl, { janus: 'info', transaction: t });
    assert.equal(info.json.janus, 'server_info');
    assert.ok(info.json.plugins[ECHOTEST]);
  });

  test('missing transaction gives 456; unknown request gives 457', async () => {
    const r1 = await postJson(srv.server.adminUrl, { janus: 'list_sessions', admin_secret: srv.server.adminSecret });
    assertJanusError(r1.json, 456);
    const t = tx();
    const r2 = await adminPost(srv.server, { janus: 'no_such_admin_request', transaction: t });
    assertJanusError(r2.json, 457, { transaction: t });
    const r3 = await postJson(srv.server.adminUrl, '{"janus": ');
    assertJanusError(r3.json, 454);
  });

  test('list_sessions lists created sessions and forgets destroyed ones', async () => {
    const s1 = await httpCreateSession(srv.server);
    const s2 = await httpCreateSession(srv.server);
    const t = tx();
    const r = await adminPost(srv.server, { janus: 'list_sessions', transaction: t });
    assertJsonReply(r);
    assert.equal(r.json.janus, 'success');
    assert.equal(r.json.transaction, t);
    assert.ok(Array.isArray(r.json.sessions));
    assert.ok(r.json.sessions.includes(s1) && r.json.sessions.includes(s2), JSON.stringify(r.json));
    await postOk(srv.server, `/${s1}`, { janus: 'destroy', transaction: tx() });
    const r2 = await adminPost(srv.server, { janus: 'list_sessions' });
    assert.ok(!r2.json.sessions.includes(s1));
    assert.ok(r2.json.sessions.includes(s2));
  });

  test('list_handles (session_id in the body or in the path)', async () => {
    const sid = await httpCreateSession(srv.server);
    const empty = await adminPost(srv.server, { janus: 'list_handles', session_id: sid });
    assert.equal(empty.json.janus, 'success');
    assert.equal(empty.json.session_id, sid);
    assert.deepEqual(empty.json.handles, []);
    const h1 = await httpAttach(srv.server, sid, ECHOTEST);
    const h2 = await httpAttach(srv.server, sid, ECHOTEST);
    const r = await adminPost(srv.server, { janus: 'list_handles', session_id: sid });
    assert.deepEqual([...r.json.handles].sort(), [h1, h2].sort());
    const viaPath = await adminPost(srv.server, { janus: 'list_handles' }, { path: `/${sid}` });
    assert.equal(viaPath.json.janus, 'success', viaPath.text);
    assert.deepEqual([...viaPath.json.handles].sort(), [h1, h2].sort());
  });

  test('list_handles on an unknown session gives 458; without a session 457', async () => {
    const r = await adminPost(srv.server, { janus: 'list_handles', session_id: 424242 });
    assertJanusError(r.json, 458);
    assertJanusError((await adminPost(srv.server, { janus: 'list_handles' })).json, 457);
  });

  test('handle_info reports the plugin, ids and creation time', async () => {
    const sid = await httpCreateSession(srv.server);
    const hid = await httpAttach(srv.server, sid, ECHOTEST);
    const t = tx();
    const r = await adminPost(srv.server, { janus: 'handle_info', session_id: sid, handle_id: hid, transaction: t });
    assertJsonReply(r);
    const j = r.json;
    assert.equal(j.janus, 'success', r.text);
    assert.equal(j.transaction, t);
    assert.equal(j.session_id, sid);
    assert.equal(j.handle_id, hid);
    assert.equal(typeof j.info, 'object');
    assert.equal(j.info.plugin, ECHOTEST);
    assert.equal(j.info.session_id, sid);
    assert.equal(j.info.handle_id, hid);
    assert.equal(typeof j.info.created, 'number');
    assert.equal(typeof j.info.current_time, 'number');
    assert.ok(j.info.current_time >= j.info.created);
    const viaPath = await adminPost(srv.server, { janus: 'handle_info' }, { path: `/${sid}/${hid}` });
    assert.equal(viaPath.json.info?.plugin, ECHOTEST, viaPath.text);
  });

  test('handle_info on an unknown handle gives 459', async () => {
    const sid = await httpCreateSession(srv.server);
    const r = await adminPost(srv.server, { janus: 'handle_info', session_id: sid, handle_id: 777 });
    assertJanusError(r.json, 459);
  });

  test('get_status returns the status object', async () => {
    const r = await adminPost(srv.server, { janus: 'get_status' });
    assert.equal(r.json.janus, 'success', r.text);
    assert.equal(typeof r.json.status, 'object');
    assert.equal(r.json.status.session_timeout, 60);
    assert.equal(r.json.status.token_auth, false);
    assert.ok(Number.isInteger(r.json.status.log_level));
  });

  test('set_log_level takes an integer level and answers it back', async () => {
    const r = await adminPost(srv.server, { janus: 'set_log_level', level: 5 });
    assert.deepEqual({ janus: r.json.janus, level: r.json.level }, { janus: 'success', level: 5 });
    const status = await adminPost(srv.server, { janus: 'get_status' });
    assert.equal(status.json.status.log_level, 5);
    assertJanusError((await adminPost(srv.server, { janus: 'set_log_level' })).json, 456);
    assertJanusError((await adminPost(srv.server, { janus: 'set_log_level', level: 'loud' })).json, 467);
    assertJanusError((await adminPost(srv.server, { janus: 'set_log_level', level: 9 })).json, 467);
    assertJanusError((await adminPost(srv.server, { janus: 'set_log_level', level: -1 })).json, 467);
    const back = await adminPost(srv.server, { janus: 'set_log_level', level: 4 });
    assert.equal(back.json.level, 4);
  });

  test('CORS preflight on the admin API', async () => {
    const r = await rawRequest(srv.server.adminUrl, {
      method: 'OPTIONS',
      headers: { Origin: 'http://ops.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.ok(r.status === 200 || r.status === 204);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type');
  });
});

describe('Admin API over WebSocket', () => {
  const srv = useServer({ sessionTimeout: 60 });

  test('janus-admin-protocol: secret check, list_sessions, list_handles, handle_info', async () => {
    const admin = await WsClient.connect(srv.server.adminWsUrl, 'janus-admin-protocol');
    assert.equal(admin.protocol, 'janus-admin-protocol');
    const secret = srv.server.adminSecret;

    assertJanusError(await admin.request({ janus: 'list_sessions' }), 403);
    assertJanusError(await admin.request({ janus: 'list_sessions', admin_secret: 'nope' }), 403);

    const api = await wsConnect(srv.server);
    const sid = await wsCreateSession(api);
    const hid = await wsAttach(api, sid, ECHOTEST);

    const list = await admin.request({ janus: 'list_sessions', admin_secret: secret });
    assert.equal(list.janus, 'success');
    assert.ok(list.sessions.includes(sid));
    const handles = await admin.request({ janus: 'list_handles', session_id: sid, admin_secret: secret });
    assert.deepEqual(handles.handles, [hid]);
    const info = await admin.request({ janus: 'handle_info', session_id: sid, handle_id: hid, admin_secret: secret });
    assert.equal(info.info.plugin, ECHOTEST);
    const level = await admin.request({ janus: 'set_log_level', level: 4, admin_secret: secret });
    assert.equal(level.janus, 'success');
    assert.equal(level.level, 4);
    const pong = await admin.request({ janus: 'ping' });
    assert.equal(pong.janus, 'pong');

    // Janus API requests are not served on the admin socket.
    assertJanusError(await admin.request({ janus: 'create' }), 403);
    assertJanusError(await admin.request({ janus: 'create', admin_secret: secret }), 457);

    await api.close();
    await admin.close();
  });

  test('the admin WebSocket refuses the janus-protocol subprotocol', async () => {
    let opened = false;
    try {
      const c = await WsClient.connect(srv.server.adminWsUrl, 'janus-protocol');
      opened = true;
      await c.close();
    } catch {
      // refused: expected
    }
    assert.equal(opened, false, 'the admin port must not accept janus-protocol');
  });
});
