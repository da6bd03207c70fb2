// Janus API over WebSocket (subprotocol "janus-protocol").

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { ECHOTEST, ODEON_ONLY, sleep, useServer } from './harness.mjs';
import {
  WsClient, adminPost, assertJanusError, tx, wsAttach, wsConnect, wsCreateSession,
} from './client.mjs';

/** Tries a WebSocket upgrade; resolves 'open:<protocol>' or a failure description. */
function tryUpgrade(url, protocols) {
  return new Promise((resolve) => {
    const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('timeout');
    }, 5000);
    ws.on('open', () => {
      clearTimeout(timer);
      resolve(`open:${ws.protocol}`);
      ws.close();
    });
    ws.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      resolve(`http:${res.statusCode}`);
      req.destroy();
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      resolve(`error:${e.message}`);
    });
  });
}

async function sessionsListed(server) {
  const r = await adminPost(server, { janus: 'list_sessions' });
  assert.equal(r.json?.janus, 'success', r.text);
  return r.json.sessions;
}

async function waitSessionsGone(server, ids, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  let listed;
  do {
    listed = await sessionsListed(server);
    if (!ids.some((id) => listed.includes(id))) return;
    await sleep(50);
  } while (Date.now() < deadline);
  assert.fail(`sessions ${ids} still listed ${timeoutMs} ms after the WebSocket closed: ${listed}`);
}

describe('WebSocket Janus API', () => {
  const srv = useServer({ sessionTimeout: 60 });

  test('the upgrade negotiates the janus-protocol subprotocol', async () => {
    const c = await wsConnect(srv.server);
    assert.equal(c.protocol, 'janus-protocol');
    await c.close();
  });

  test('an upgrade without the janus-protocol subprotocol is refused', async () => {
    const none = await tryUpgrade(srv.server.wsUrl);
    assert.ok(!none.startsWith('open'), `upgrade without subprotocol must fail, got ${none}`);
    const wrong = await tryUpgrade(srv.server.wsUrl, 'chat');
    assert.ok(!wrong.startsWith('open'), `upgrade with an unknown subprotocol must fail, got ${wrong}`);
  });

  test('info and ping', async () => {
    const c = await wsConnect(srv.server);
    const info = await c.request({ janus: 'info' });
    assert.equal(info.janus, 'server_info');
    assert.ok(info.plugins[ECHOTEST]);
    const t = tx();
    assert.deepEqual(await c.request({ janus: 'ping', transaction: t }), { janus: 'pong', transaction: t });
    await c.close();
  });

  test('create / attach / message / keepalive / hangup / detach / destroy, with pushed events', async () => {
    const c = await wsConnect(srv.server);
    let t = tx();
    const created = await c.request({ janus: 'create', transaction: t });
    assert.deepEqual(created, { janus: 'success', transaction: t, data: { id: created.data.id } });
    const sid = created.data.id;

    t = tx();
    const attached = await c.request({ janus: 'attach', session_id: sid, plugin: ECHOTEST, transaction: t });
    assert.deepEqual(attached, { janus: 'success', session_id: sid, transaction: t, data: { id: attached.data.id } });
    const hid = attached.data.id;

    t = tx();
    assert.deepEqual(await c.request({ janus: 'keepalive', session_id: sid, transaction: t }),
      { janus: 'ack', session_id: sid, transaction: t });

    // Asynchronous plugin reply: ack first, then the event pushed with the same transaction.
    t = tx();
    const ack = await c.request({
      janus: 'message', session_id: sid, handle_id: hid, transaction: t, body: { audio: true, video: true, bitrate: 256000 },
    });
    assert.equal(ack.janus, 'ack');
    assert.equal(ack.session_id, sid);
    const ev = await c.nextForTransaction(t);
    assert.deepEqual(ev, {
      janus: 'event', session_id: sid, transaction: t, sender: hid,
      plugindata: { plugin: ECHOTEST, data: { echotest: 'event', result: 'ok' } },
    });

    t = tx();
    assert.deepEqual(await c.request({ janus: 'hangup', session_id: sid, handle_id: hid, transaction: t }),
      { janus: 'success', session_id: sid, transaction: t });

    t = tx();
    assert.deepEqual(await c.request({ janus: 'detach', session_id: sid, handle_id: hid, transaction: t }),
      { janus: 'success', session_id: sid, transaction: t });
    const detached = await c.nextMessage((m) => m.janus === 'detached', 5000, 'the detached event');
    assert.deepEqual(detached, { janus: 'detached', session_id: sid, sender: hid });

    t = tx();
    assertJanusError(await c.request({ janus: 'message', session_id: sid, handle_id: hid, body: {}, transaction: t }), 459, { transaction: t });

    t = tx();
    assert.deepEqual(await c.request({ janus: 'destroy', session_id: sid, transaction: t }),
      { janus: 'success', session_id: sid, transaction: t });
    t = tx();
    assertJanusError(await c.request({ janus: 'keepalive', session_id: sid, transaction: t }), 458, { transaction: t, sessionId: sid });
    await c.close();
  });

  test('addressing errors: no session_id 457, no handle_id 457, unknown handle 459, unknown session 458', async () => {
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    assertJanusError(await c.request({ janus: 'keepalive' }), 457);
    assertJanusError(await c.request({ janus: 'message', session_id: sid, body: {} }), 457);
    assertJanusError(await c.request({ janus: 'message', session_id: sid, handle_id: 5, body: {} }), 459);
    assertJanusError(await c.request({ janus: 'attach', session_id: 5, plugin: ECHOTEST }), 458);
    assertJanusError(await c.request({ janus: 'foo', session_id: sid }), 453);
    await c.close();
  });

  test('a malformed JSON frame gives 454 and the socket stays usable', async () => {
    const c = await wsConnect(srv.server);
    c.send('{"janus": "ping", "transaction": bad json');
    const err = await c.nextMessage((m) => m.janus === 'error', 5000, 'the 454 error');
    assertJanusError(err, 454);
    const t = tx();
    assert.deepEqual(await c.request({ janus: 'ping', transaction: t }), { janus: 'pong', transaction: t });
    const sid = await wsCreateSession(c);
    assert.ok(sid > 0);
    await c.close();
  });

  test('a JSON frame that is not an object gives an error and the socket stays usable', async () => {
    const c = await wsConnect(srv.server);
    c.send('[1, 2, 3]');
    const err = await c.nextMessage((m) => m.janus === 'error', 5000, 'the error');
    // Janus 1.1.2 answers 456 here (the core validates the array as a request lacking
    // "transaction"); 455 (not an object) is what the HTTP transport answers.
    assert.ok([455, 456].includes(err.error?.code), JSON.stringify(err));
    const t = tx();
    assert.deepEqual(await c.request({ janus: 'ping', transaction: t }), { janus: 'pong', transaction: t });
    await c.close();
  });

  test('a binary frame carrying a JSON request is processed like a text frame', async () => {
    const c = await wsConnect(srv.server);
    const t = tx();
    c.ws.send(Buffer.from(JSON.stringify({ janus: 'ping', transaction: t })), { binary: true });
    assert.deepEqual(await c.nextForTransaction(t), { janus: 'pong', transaction: t });
    await c.close();
  });

  test('a > 64 KiB message in one frame is handled', async () => {
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    const t = tx();
    c.send({ janus: 'keepalive', session_id: sid, transaction: t, pad: 'p'.repeat(200 * 1024) });
    assert.deepEqual(await c.nextForTransaction(t), { janus: 'ack', session_id: sid, transaction: t });
    await c.close();
  });

  test('a > 64 KiB message fragmented over continuation frames is reassembled', async () => {
    const c = await wsConnect(srv.server);
    const t = tx();
    const text = JSON.stringify({ janus: 'ping', transaction: t, pad: 'f'.repeat(300 * 1024) });
    const parts = 7;
    const step = Math.ceil(text.length / parts);
    for (let i = 0; i < parts; i++) {
      c.ws.send(text.slice(i * step, (i + 1) * step), { fin: i === parts - 1 });
    }
    assert.deepEqual(await c.nextForTransaction(t), { janus: 'pong', transaction: t });
    // And the socket keeps working.
    const t2 = tx();
    assert.deepEqual(await c.request({ janus: 'ping', transaction: t2 }), { janus: 'pong', transaction: t2 });
    await c.close();
  });

  test('several requests sent back to back all get their replies', async () => {
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    const txs = [];
    for (let i = 0; i < 50; i++) {
      const t = tx('burst');
      txs.push(t);
      c.send({ janus: 'keepalive', session_id: sid, transaction: t });
    }
    for (const t of txs) assert.equal((await c.nextForTransaction(t)).janus, 'ack');
    await c.close();
  });

  test('events of a session are pushed only on its own socket', async () => {
    const a = await wsConnect(srv.server);
    const b = await wsConnect(srv.server);
    const sidA = await wsCreateSession(a);
    const hidA = await wsAttach(a, sidA, ECHOTEST);
    await wsCreateSession(b);
    const t = tx();
    const ack = await a.request({ janus: 'message', session_id: sidA, handle_id: hidA, body: { audio: false }, transaction: t });
    assert.equal(ack.janus, 'ack');
    await a.nextForTransaction(t);
    await b.expectNoMessage((m) => m.session_id === sidA, 500);
    await a.close();
    await b.close();
  });

  test('closing the socket destroys its sessions', async () => {
    const c = await wsConnect(srv.server);
    const s1 = await wsCreateSession(c);
    const s2 = await wsCreateSession(c);
    await wsAttach(c, s1, ECHOTEST);
    const listed = await sessionsListed(srv.server);
    assert.ok(listed.includes(s1) && listed.includes(s2), `sessions must be listed while connected: ${listed}`);
    await c.close();
    await waitSessionsGone(srv.server, [s1, s2]);
  });

  test('an abrupt TCP close also destroys the sessions', async () => {
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    await wsAttach(c, sid, ECHOTEST);
    await c.terminate();
    await waitSessionsGone(srv.server, [sid]);
  });

  test('claim moves a session to another socket: its events follow, and only the new owner closing destroys it', async () => {
    const a = await wsConnect(srv.server);
    const b = await wsConnect(srv.server);
    const sid = await wsCreateSession(a);
    const hid = await wsAttach(a, sid, ECHOTEST);
    const t = tx();
    assert.deepEqual(await b.request({ janus: 'claim', session_id: sid, transaction: t }),
      { janus: 'success', session_id: sid, transaction: t });
    const t2 = tx();
    assert.equal((await b.request({ janus: 'message', session_id: sid, handle_id: hid, body: { audio: true }, transaction: t2 })).janus, 'ack');
    assert.equal((await b.nextForTransaction(t2)).janus, 'event');
    await a.expectNoMessage(() => true, 300);
    await a.close();
    await sleep(300);
    assert.ok((await sessionsListed(srv.server)).includes(sid), 'closing the previous owner must not destroy a claimed session');
    await b.close();
    await waitSessionsGone(srv.server, [sid]);
  });

  test('claim of an unknown session gives 458', async () => {
    const c = await wsConnect(srv.server);
    const t = tx();
    assertJanusError(await c.request({ janus: 'claim', session_id: 4242, transaction: t }), 458, { transaction: t });
    await c.close();
  });

  test('a message over max_body_size is refused without harming the server', { skip: ODEON_ONLY }, async () => {
    const c = await wsConnect(srv.server);
    const t = tx();
    c.send({ janus: 'ping', transaction: t, pad: 'z'.repeat(1536 * 1024) });
    // Either a JSON error reply or the socket being closed (1009 "message too big").
    const outcome = await Promise.race([
      c.nextMessage(() => true, 5000, 'a reply to the oversized message').then((m) => ({ m }), (e) => ({ e })),
      c.closed.then((info) => ({ closed: info })),
    ]);
    if (outcome.m) {
      assert.equal(outcome.m.janus, 'error', `oversized message must not be processed: ${JSON.stringify(outcome.m).slice(0, 300)}`);
    } else {
      assert.ok(outcome.closed, `no reply and no close: ${outcome.e?.message}`);
    }
    await c.close();
    const d = await wsConnect(srv.server);
    const t2 = tx();
    assert.deepEqual(await d.request({ janus: 'ping', transaction: t2 }), { janus: 'pong', transaction: t2 });
    await d.close();
  });

  test('a session created on a WebSocket can be addressed over HTTP', async () => {
    // The Janus API is transport-agnostic: a session created on a WebSocket can be
    // addressed over HTTP (the reply goes to the HTTP request).
    const c = await wsConnect(srv.server);
    const sid = await wsCreateSession(c);
    const r = await fetch(`${srv.server.httpUrl}/${sid}`, {
      method: 'POST', body: JSON.stringify({ janus: 'keepalive', transaction: 'cross' }),
    });
    assert.deepEqual(await r.json(), { janus: 'ack', session_id: sid, transaction: 'cross' });
    await c.close();
  });
});

describe('WebSocket with api_secret', () => {
  const srv = useServer({ apiSecret: 'ws-secret' });

  test('requests without the secret get 403; with it they work', async () => {
    const c = await WsClient.connect(srv.server.wsUrl, 'janus-protocol');
    const t = tx();
    assertJanusError(await c.request({ janus: 'create', transaction: t }), 403, { transaction: t });
    const ok = await c.request({ janus: 'create', apisecret: 'ws-secret' });
    assert.equal(ok.janus, 'success');
    assertJanusError(await c.request({ janus: 'keepalive', session_id: ok.data.id }), 403);
    assert.equal((await c.request({ janus: 'keepalive', session_id: ok.data.id, apisecret: 'ws-secret' })).janus, 'ack');
    await c.close();
  });
});
