// Janus API over HTTP: requests, replies, long-poll, errors, auth and CORS.
//
// Every expectation here was checked against Janus 1.1.2 (ODEON_TARGET=janus); tests that
// describe Odeon-only behaviour are skipped on Janus with a reason.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ECHOTEST, LONGPOLL_TIMEOUT, ODEON_ONLY, sleep, useServer,
} from './harness.mjs';
import {
  assertJanusError, assertJsonReply, httpAttach, httpCreateSession, httpGet, httpPost, pollFor,
  postOk, rawRequest, tx,
} from './client.mjs';

const TWO_32 = 2 ** 32;

function assertRandomIds(ids, what) {
  assert.equal(new Set(ids).size, ids.length, `${what} ids must be unique: ${ids}`);
  for (const id of ids) {
    assert.ok(Number.isSafeInteger(id) && id > 0, `${what} id ${id} must be a positive integer that JSON clients can represent exactly (< 2^53)`);
  }
  assert.ok(ids.some((id) => id >= TWO_32), `${what} ids look too small to be random 64-bit values: ${ids}`);
  for (let i = 1; i < ids.length; i++) {
    assert.ok(Math.abs(ids[i] - ids[i - 1]) !== 1, `${what} ids look sequential: ${ids[i - 1]}, ${ids[i]}`);
  }
}

describe('HTTP Janus API', () => {
  const srv = useServer({ sessionTimeout: 60 });

  describe('info and ping', () => {
    test('GET /janus/info returns server_info listing the echotest plugin', async () => {
      const res = await rawRequest(`${srv.server.httpUrl}/info`);
      assertJsonReply(res);
      const info = res.json;
      assert.equal(info.janus, 'server_info');
      assert.equal(typeof info.name, 'string');
      assert.ok(info.name.length > 0);
      assert.ok(Number.isInteger(info.version), 'version must be an integer');
      assert.equal(typeof info.version_string, 'string');
      assert.match(info.version_string, /^\d+\.\d+\.\d+/);
      assert.equal(typeof info.plugins, 'object');
      const plugin = info.plugins[ECHOTEST];
      assert.ok(plugin, `plugins must contain ${ECHOTEST}: ${JSON.stringify(info.plugins)}`);
      assert.equal(typeof plugin.name, 'string');
      assert.ok(Number.isInteger(plugin.version));
      assert.equal(typeof plugin.version_string, 'string');
      assert.equal(typeof plugin.description, 'string');
      assert.equal(typeof plugin.author, 'string');
      assert.equal(typeof info['session-timeout'], 'number');
      assert.equal(info['session-timeout'], 60);
      assert.equal(info.api_secret, false);
      assert.equal(info.auth_token, false);
      assert.equal(typeof info.transports, 'object');
    });

    test('POST {"janus":"info"} returns server_info with the transaction', async () => {
      const t = tx();
      const info = await postOk(srv.server, '', { janus: 'info', transaction: t });
      assert.equal(info.janus, 'server_info');
      assert.equal(info.transaction, t);
      assert.ok(info.plugins[ECHOTEST]);
      assert.equal(typeof info.version_string, 'string');
    });

    test('ping gives pong', async () => {
      const t = tx();
      const r = await postOk(srv.server, '', { janus: 'ping', transaction: t });
      assert.deepEqual(r, { janus: 'pong', transaction: t });
    });
  });

  describe('sessions and handles', () => {
    test('create returns success with data.id and the transaction', async () => {
      const t = tx();
      const r = await postOk(srv.server, '', { janus: 'create', transaction: t });
      assert.equal(r.janus, 'success');
      assert.equal(r.transaction, t);
      assert.ok(Number.isSafeInteger(r.data.id) && r.data.id > 0);
      assert.deepEqual(r, { janus: 'success', transaction: t, data: { id: r.data.id } });
    });

    test('create honours a client-supplied id; a duplicate gives 468', async () => {
      const id = 1000000 + Math.floor(Math.random() * 1e9);
      const t1 = tx();
      const r1 = await postOk(srv.server, '', { janus: 'create', transaction: t1, id });
      assert.deepEqual(r1, { janus: 'success', transaction: t1, data: { id } });
      const t2 = tx();
      const r2 = await postOk(srv.server, '', { janus: 'create', transaction: t2, id });
      assertJanusError(r2, 468, { transaction: t2 });
      // The session is usable under the requested id.
      const ka = await postOk(srv.server, `/${id}`, { janus: 'keepalive', transaction: t1 });
      assert.equal(ka.janus, 'ack');
    });

    test('create with an invalid id type gives 467', async () => {
      for (const id of [-5, 1.5, 'abc']) {
        const r = await postOk(srv.server, '', { janus: 'create', transaction: tx(), id });
        assertJanusError(r, 467);
      }
    });

    test('session ids are random 64-bit integers (not sequential)', async () => {
      const ids = [];
      for (let i = 0; i < 20; i++) ids.push(await httpCreateSession(srv.server));
      assertRandomIds(ids, 'session');
    });

    test('attach echotest returns the handle id; handle ids are random', async () => {
      const sid = await httpCreateSession(srv.server);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}`, { janus: 'attach', plugin: ECHOTEST, transaction: t });
      assert.deepEqual(r, { janus: 'success', session_id: sid, transaction: t, data: { id: r.data.id } });
      const ids = [r.data.id];
      for (let i = 0; i < 19; i++) ids.push(await httpAttach(srv.server, sid, ECHOTEST));
      assertRandomIds(ids, 'handle');
    });

    test('keepalive gives ack', async () => {
      const sid = await httpCreateSession(srv.server);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}`, { janus: 'keepalive', transaction: t });
      assert.deepEqual(r, { janus: 'ack', session_id: sid, transaction: t });
    });

    test('keepalive on a handle path is also acknowledged', async () => {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'keepalive', transaction: t });
      assert.deepEqual(r, { janus: 'ack', session_id: sid, transaction: t });
    });

    test('session_id in the body equal to the path is accepted', async () => {
      const sid = await httpCreateSession(srv.server);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}`, { janus: 'keepalive', session_id: sid, transaction: t });
      assert.deepEqual(r, { janus: 'ack', session_id: sid, transaction: t });
    });

    test('message to echotest: ack, then an event with the same transaction', async () => {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const t = tx();
      const ack = await postOk(srv.server, `/${sid}/${hid}`, {
        janus: 'message', transaction: t, body: { audio: true, video: false, bitrate: 128000 },
      });
      assert.equal(ack.janus, 'ack', JSON.stringify(ack));
      assert.equal(ack.session_id, sid);
      assert.equal(ack.transaction, t);
      const ev = await pollFor(srv.server, sid, (e) => e.transaction === t);
      assert.deepEqual(ev, {
        janus: 'event', session_id: sid, transaction: t, sender: hid,
        plugindata: { plugin: ECHOTEST, data: { echotest: 'event', result: 'ok' } },
      });
    });

    test('hangup gives success', async () => {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'hangup', transaction: t });
      assert.deepEqual(r, { janus: 'success', session_id: sid, transaction: t });
    });

    test('detach gives success, then a "detached" event; the handle is gone (459)', async () => {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'detach', transaction: t });
      assert.deepEqual(r, { janus: 'success', session_id: sid, transaction: t });
      const ev = await pollFor(srv.server, sid, (e) => e.janus === 'detached');
      assert.deepEqual(ev, { janus: 'detached', session_id: sid, sender: hid });
      const t2 = tx();
      const again = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'message', body: {}, transaction: t2 });
      assertJanusError(again, 459, { transaction: t2 });
    });

    test('destroy gives success; the session is then unknown (458, long-poll 404)', async () => {
      const sid = await httpCreateSession(srv.server);
      await httpAttach(srv.server, sid, ECHOTEST);
      const t = tx();
      const r = await postOk(srv.server, `/${sid}`, { janus: 'destroy', transaction: t });
      assert.deepEqual(r, { janus: 'success', session_id: sid, transaction: t });
      const t2 = tx();
      const after = await postOk(srv.server, `/${sid}`, { janus: 'keepalive', transaction: t2 });
      assertJanusError(after, 458, { transaction: t2 });
      const lp = await httpGet(srv.server, `/${sid}`, { maxev: 1, timeoutMs: 5000 });
      assert.equal(lp.status, 404, `long-poll on a destroyed session: HTTP ${lp.status} ${lp.text}`);
    });
  });

  describe('long-poll', () => {
    async function sessionWithEvents(n) {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const txs = [];
      for (let i = 0; i < n; i++) {
        const t = tx(`ev${i}`);
        txs.push(t);
        const ack = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'message', body: { audio: true }, transaction: t });
        assert.equal(ack.janus, 'ack');
      }
      await sleep(300); // let the asynchronous events reach the session queue
      return { sid, hid, txs };
    }

    test('maxev=1 returns one object; maxev>1 returns an array of the queued events in order', async () => {
      const { sid, txs } = await sessionWithEvents(3);
      const one = await httpGet(srv.server, `/${sid}`, { maxev: 1 });
      assertJsonReply(one);
      assert.ok(!Array.isArray(one.json), `maxev=1 must give an object: ${one.text}`);
      assert.equal(one.json.janus, 'event');
      assert.equal(one.json.transaction, txs[0]);
      const many = await httpGet(srv.server, `/${sid}`, { maxev: 5 });
      assertJsonReply(many);
      assert.ok(Array.isArray(many.json), `maxev=5 must give an array: ${many.text}`);
      assert.deepEqual(many.json.map((e) => e.transaction), [txs[1], txs[2]]);
      for (const e of many.json) assert.equal(e.janus, 'event');
    });

    test('maxev caps the number of events per reply', async () => {
      const { sid, txs } = await sessionWithEvents(3);
      const two = await httpGet(srv.server, `/${sid}`, { maxev: 2 });
      assert.ok(Array.isArray(two.json));
      assert.deepEqual(two.json.map((e) => e.transaction), [txs[0], txs[1]]);
      const rest = await httpGet(srv.server, `/${sid}`, { maxev: 2 });
      assert.deepEqual(rest.json.map((e) => e.transaction), [txs[2]]);
    });

    test('without maxev the reply is a single object', async () => {
      const { sid, txs } = await sessionWithEvents(2);
      const r = await httpGet(srv.server, `/${sid}`);
      assertJsonReply(r);
      assert.ok(!Array.isArray(r.json));
      assert.equal(r.json.transaction, txs[0]);
    });

    test(`an empty long-poll answers keepalive after longpoll_timeout (${LONGPOLL_TIMEOUT} s)`, { timeout: (LONGPOLL_TIMEOUT + 20) * 1000 }, async () => {
      const sid1 = await httpCreateSession(srv.server);
      const sid2 = await httpCreateSession(srv.server);
      const t0 = Date.now();
      const [one, many] = await Promise.all([
        httpGet(srv.server, `/${sid1}`, { maxev: 1, timeoutMs: (LONGPOLL_TIMEOUT + 15) * 1000 }),
        httpGet(srv.server, `/${sid2}`, { maxev: 3, timeoutMs: (LONGPOLL_TIMEOUT + 15) * 1000 }),
      ]);
      const elapsed = (Date.now() - t0) / 1000;
      assertJsonReply(one);
      assertJsonReply(many);
      assert.deepEqual(one.json, { janus: 'keepalive' });
      assert.deepEqual(many.json, [{ janus: 'keepalive' }]);
      assert.ok(elapsed >= LONGPOLL_TIMEOUT - 0.5, `answered too early (${elapsed} s)`);
      assert.ok(elapsed <= LONGPOLL_TIMEOUT + 5, `answered too late (${elapsed} s)`);
    });

    test('a parked long-poll is woken by a new event', async () => {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const t = tx();
      const lp = httpGet(srv.server, `/${sid}`, { maxev: 1 });
      await sleep(300);
      const t0 = Date.now();
      await postOk(srv.server, `/${sid}/${hid}`, { janus: 'message', body: { video: true }, transaction: t });
      const r = await lp;
      assert.ok(Date.now() - t0 < 1500, 'the parked long-poll must answer promptly');
      assert.equal(r.json.transaction, t);
      assert.equal(r.json.janus, 'event');
    });

    test('GET on a handle path redirects (302) to the session path', async () => {
      const sid = await httpCreateSession(srv.server);
      const hid = await httpAttach(srv.server, sid, ECHOTEST);
      const r = await rawRequest(`${srv.server.httpUrl}/${sid}/${hid}?maxev=1`);
      assert.equal(r.status, 302);
      assert.match(String(r.headers.location), new RegExp(`/janus/${sid}$`));
    });

    test('GET on an unknown session gives HTTP 404', async () => {
      const r = await rawRequest(`${srv.server.httpUrl}/1234567?maxev=1`);
      assert.equal(r.status, 404);
    });
  });

  describe('errors (HTTP 200 with a JSON error)', () => {
    let sid;
    let hid;
    const post = (p, body) => postOk(srv.server, p, body);

    test('setup: a session and a handle', async () => {
      sid = await httpCreateSession(srv.server);
      hid = await httpAttach(srv.server, sid, ECHOTEST);
    });

    test('unknown session gives 458', async () => {
      const t = tx();
      assertJanusError(await post('/987654321', { janus: 'keepalive', transaction: t }), 458, { transaction: t, sessionId: 987654321 });
    });

    test('unknown handle gives 459', async () => {
      const t = tx();
      assertJanusError(await post(`/${sid}/123456789`, { janus: 'message', body: {}, transaction: t }), 459, { transaction: t, sessionId: sid });
    });

    test('attach to an unknown plugin gives 460; missing plugin 456; plugin not a string 467', async () => {
      const t = tx();
      assertJanusError(await post(`/${sid}`, { janus: 'attach', plugin: 'janus.plugin.nope', transaction: t }), 460, { transaction: t, sessionId: sid });
      assertJanusError(await post(`/${sid}`, { janus: 'attach', transaction: t }), 456, { transaction: t });
      assertJanusError(await post(`/${sid}`, { janus: 'attach', plugin: 5, transaction: t }), 467, { transaction: t });
    });

    test('missing "janus" gives 456 (Janus reports a missing mandatory element, not 452)', async () => {
      assertJanusError(await post('', { transaction: tx() }), 456);
      assertJanusError(await post(`/${sid}`, { transaction: tx() }), 456);
    });

    test('missing transaction gives 456', async () => {
      assertJanusError(await post('', { janus: 'create' }), 456);
      assertJanusError(await post(`/${sid}`, { janus: 'keepalive' }), 456);
    });

    test('"janus" or transaction that is not a string gives 467', async () => {
      assertJanusError(await post('', { janus: 5, transaction: tx() }), 467);
      assertJanusError(await post('', { janus: 'ping', transaction: 5 }), 467);
    });

    test('unknown verb on a session or handle gives 453', async () => {
      const t = tx();
      assertJanusError(await post(`/${sid}`, { janus: 'foo', transaction: t }), 453, { transaction: t, sessionId: sid });
      assertJanusError(await post(`/${sid}/${hid}`, { janus: 'foo', transaction: t }), 453, { transaction: t });
      // Root-level verbs are unknown on a session.
      assertJanusError(await post(`/${sid}`, { janus: 'create', transaction: t }), 453, { transaction: t });
      assertJanusError(await post(`/${sid}`, { janus: 'ping', transaction: t }), 453, { transaction: t });
    });

    test('verbs at the wrong level give 457 (unhandled request at this path)', async () => {
      const t = tx();
      // Unknown or session-level verbs at the root.
      assertJanusError(await post('', { janus: 'foo', transaction: t }), 457, { transaction: t });
      assertJanusError(await post('', { janus: 'keepalive', transaction: t }), 457, { transaction: t });
      // Handle-level verbs on a session path.
      assertJanusError(await post(`/${sid}`, { janus: 'message', body: {}, transaction: t }), 457, { transaction: t });
      assertJanusError(await post(`/${sid}`, { janus: 'trickle', candidate: { completed: true }, transaction: t }), 457, { transaction: t });
      // Session-level verbs on a handle path.
      assertJanusError(await post(`/${sid}/${hid}`, { janus: 'attach', plugin: ECHOTEST, transaction: t }), 457, { transaction: t });
    });

    test('malformed JSON gives 454', async () => {
      assertJanusError(await post('', '{"janus": "create", "transaction": '), 454);
      assertJanusError(await post(`/${sid}`, '{janus: keepalive}'), 454);
    });

    test('JSON that is not an object gives 455 (array) or 454 (bare scalar)', async () => {
      assertJanusError(await post('', '[1, 2, 3]'), 455);
      assertJanusError(await post(`/${sid}`, '[]'), 455);
      // A bare scalar is not even accepted by the JSON loader (no JSON_DECODE_ANY).
      assertJanusError(await post('', '"create"'), 454);
      assertJanusError(await post('', '42'), 454);
    });

    test('a session id in the body conflicting with the path gives 457', async () => {
      assertJanusError(await post(`/${sid}`, { janus: 'keepalive', session_id: sid + 1, transaction: tx() }), 457);
    });

    test('a handle id in the body conflicting with the path gives 457', async () => {
      assertJanusError(await post(`/${sid}/${hid}`, { janus: 'message', body: {}, handle_id: hid + 1, transaction: tx() }), 457);
    });

    test('message without body gives 456; body not an object gives 467', async () => {
      const t = tx();
      assertJanusError(await post(`/${sid}/${hid}`, { janus: 'message', transaction: t }), 456, { transaction: t, sessionId: sid });
      assertJanusError(await post(`/${sid}/${hid}`, { janus: 'message', body: 'x', transaction: t }), 467, { transaction: t });
    });

    test('jsep errors: unknown type 464, missing type or sdp 456, bad type 467, not an object 455', async () => {
      const t = tx();
      const m = (jsep) => post(`/${sid}/${hid}`, { janus: 'message', body: {}, jsep, transaction: t });
      assertJanusError(await m({ type: 'foo', sdp: 'v=0\r\n' }), 464, { transaction: t });
      assertJanusError(await m({ type: 'offer' }), 456, { transaction: t });
      assertJanusError(await m({ sdp: 'v=0\r\n' }), 456, { transaction: t });
      assertJanusError(await m({ type: 5, sdp: 'v=0\r\n' }), 467, { transaction: t });
      assertJanusError(await m('offer'), 455, { transaction: t });
    });

    test('jsep with an invalid SDP gives 465', async () => {
      const t = tx();
      const m = (jsep) => post(`/${sid}/${hid}`, { janus: 'message', body: {}, jsep, transaction: t });
      assertJanusError(await m({ type: 'offer', sdp: 'garbage' }), 465, { transaction: t });
      assertJanusError(await m({ type: 'offer', sdp: 'v=0\r\n' }), 465, { transaction: t });
    });

    test('trickle: neither candidate nor candidates 456; both 454; completed gives ack', async () => {
      const t = tx();
      assertJanusError(await post(`/${sid}/${hid}`, { janus: 'trickle', transaction: t }), 456, { transaction: t });
      assertJanusError(await post(`/${sid}/${hid}`, {
        janus: 'trickle', candidate: { completed: true }, candidates: [], transaction: t,
      }), 454, { transaction: t });
      const ack = await post(`/${sid}/${hid}`, { janus: 'trickle', candidate: { completed: true }, transaction: t });
      assert.deepEqual(ack, { janus: 'ack', session_id: sid, transaction: t });
    });

    test('trickle before any offer is acknowledged (candidates are queued)', async () => {
      const t = tx();
      const cand = { sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host' };
      assert.deepEqual(await post(`/${sid}/${hid}`, { janus: 'trickle', candidate: cand, transaction: t }),
        { janus: 'ack', session_id: sid, transaction: t });
      assert.deepEqual(await post(`/${sid}/${hid}`, { janus: 'trickle', candidates: [cand, { completed: true }], transaction: t }),
        { janus: 'ack', session_id: sid, transaction: t });
    });

    test('the server still works after all the errors', async () => {
      const t = tx();
      assert.deepEqual(await post(`/${sid}`, { janus: 'keepalive', transaction: t }), { janus: 'ack', session_id: sid, transaction: t });
    });
  });

  describe('request body size', () => {
    test('a body over max_body_size gives HTTP 413 with a JSON 450 error', { skip: ODEON_ONLY }, async () => {
      const body = JSON.stringify({ janus: 'ping', transaction: tx(), pad: 'x'.repeat(1536 * 1024) });
      let res;
      try {
        res = await rawRequest(srv.server.httpUrl, {
          method: 'POST', body, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        });
      } catch (err) {
        assert.fail(`the server must answer 413, not drop the connection (${err.message})`);
      }
      assert.equal(res.status, 413, `HTTP ${res.status}: ${res.text.slice(0, 300)}`);
      assert.ok(res.json, `413 body must be JSON: ${res.text.slice(0, 300)}`);
      assertJanusError(res.json, 450);
      // The server is still healthy.
      const t = tx();
      assert.deepEqual(await postOk(srv.server, '', { janus: 'ping', transaction: t }), { janus: 'pong', transaction: t });
    });

    test('a body of several hundred KiB under max_body_size is accepted', async () => {
      const t = tx();
      const r = await postOk(srv.server, '', { janus: 'ping', transaction: t, pad: 'x'.repeat(600 * 1024) });
      assert.deepEqual(r, { janus: 'pong', transaction: t });
    });
  });

  describe('CORS (allow origin *)', () => {
    test('OPTIONS preflight allows the origin and echoes the requested method and headers', async () => {
      const r = await rawRequest(srv.server.httpUrl, {
        method: 'OPTIONS',
        headers: {
          Origin: 'http://app.example',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type, x-custom-header',
        },
      });
      assert.ok(r.status === 200 || r.status === 204, `preflight status ${r.status} (Janus: 200)`);
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.match(String(r.headers['access-control-allow-methods']), /\bPOST\b/);
      assert.equal(r.headers['access-control-allow-headers'], 'content-type, x-custom-header');
      assert.equal(r.headers['access-control-max-age'], '86400');
    });

    test('preflight on a session path works the same', async () => {
      const sid = await httpCreateSession(srv.server);
      const r = await rawRequest(`${srv.server.httpUrl}/${sid}`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      assert.ok(r.status === 200 || r.status === 204);
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.equal(r.headers['access-control-allow-headers'], 'content-type');
    });

    test('POST replies (success and error) and GET info carry Access-Control-Allow-Origin', async () => {
      const headers = { Origin: 'http://app.example', 'content-type': 'application/json' };
      const ok = await rawRequest(srv.server.httpUrl, { method: 'POST', headers, body: JSON.stringify({ janus: 'ping', transaction: 'c1' }) });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['access-control-allow-origin'], '*');
      const bad = await rawRequest(srv.server.httpUrl, { method: 'POST', headers, body: '{bad json' });
      assert.equal(bad.status, 200);
      assert.equal(bad.headers['access-control-allow-origin'], '*');
      assertJanusError(bad.json, 454);
      const info = await rawRequest(`${srv.server.httpUrl}/info`, { headers: { Origin: 'http://app.example' } });
      assert.equal(info.headers['access-control-allow-origin'], '*');
      // Also without an Origin header.
      const plain = await rawRequest(srv.server.httpUrl, { method: 'POST', body: JSON.stringify({ janus: 'ping', transaction: 'c2' }) });
      assert.equal(plain.headers['access-control-allow-origin'], '*');
    });
  });
});

describe('HTTP CORS with a configured origin', () => {
  const srv = useServer({ corsAllowOrigin: 'http://good.example' });

  test('preflight and POST reply with the configured origin, credentials and Vary: Origin', async () => {
    const pre = await rawRequest(srv.server.httpUrl, {
      method: 'OPTIONS',
      headers: { Origin: 'http://good.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.ok(pre.status === 200 || pre.status === 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://good.example');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
    assert.match(String(pre.headers.vary), /\bOrigin\b/i);
    assert.equal(pre.headers['access-control-allow-headers'], 'content-type');
    const post = await rawRequest(srv.server.httpUrl, {
      method: 'POST', headers: { Origin: 'http://good.example' }, body: JSON.stringify({ janus: 'ping', transaction: 'x' }),
    });
    assert.equal(post.status, 200);
    assert.equal(post.headers['access-control-allow-origin'], 'http://good.example');
    assert.equal(post.headers['access-control-allow-credentials'], 'true');
    assert.match(String(post.headers.vary), /\bOrigin\b/i);
  });
});

describe('HTTP with api_secret', () => {
  const SECRET = 'test-api-secret';
  const srv = useServer({ apiSecret: SECRET });

  test('create without or with a wrong apisecret gives 403; the right one works', async () => {
    const t = tx();
    assertJanusError(await postOk(srv.server, '', { janus: 'create', transaction: t }), 403, { transaction: t });
    assertJanusError(await postOk(srv.server, '', { janus: 'create', transaction: t, apisecret: 'wrong' }), 403, { transaction: t });
    const ok = await postOk(srv.server, '', { janus: 'create', transaction: t, apisecret: SECRET });
    assert.equal(ok.janus, 'success');
  });

  test('session requests need the secret too', async () => {
    const sid = await httpCreateSession(srv.server, { apisecret: SECRET });
    const t = tx();
    assertJanusError(await postOk(srv.server, `/${sid}`, { janus: 'keepalive', transaction: t }), 403, { transaction: t });
    assertJanusError(await postOk(srv.server, `/${sid}`, { janus: 'attach', plugin: ECHOTEST, transaction: t, apisecret: 'nope' }), 403);
    const hid = await httpAttach(srv.server, sid, ECHOTEST, { apisecret: SECRET });
    assertJanusError(await postOk(srv.server, `/${sid}/${hid}`, { janus: 'message', body: {}, transaction: t }), 403);
    const ack = await postOk(srv.server, `/${sid}`, { janus: 'keepalive', transaction: t, apisecret: SECRET });
    assert.equal(ack.janus, 'ack');
  });

  test('info and ping do not need the secret; server_info reports api_secret true', async () => {
    const info = await postOk(srv.server, '', { janus: 'info', transaction: tx() });
    assert.equal(info.janus, 'server_info');
    assert.equal(info.api_secret, true);
    const pong = await postOk(srv.server, '', { janus: 'ping', transaction: 'p' });
    assert.deepEqual(pong, { janus: 'pong', transaction: 'p' });
    const get = await rawRequest(`${srv.server.httpUrl}/info`);
    assert.equal(get.status, 200);
    assert.equal(get.json.janus, 'server_info');
  });

  test('long-poll without the secret gives HTTP 403; with ?apisecret= it delivers events', async () => {
    const sid = await httpCreateSession(srv.server, { apisecret: SECRET });
    const hid = await httpAttach(srv.server, sid, ECHOTEST, { apisecret: SECRET });
    const denied = await httpGet(srv.server, `/${sid}`, { maxev: 1, timeoutMs: 5000 });
    assert.equal(denied.status, 403);
    const wrong = await httpGet(srv.server, `/${sid}`, { maxev: 1, timeoutMs: 5000, query: { apisecret: 'wrong' } });
    assert.equal(wrong.status, 403);
    const t = tx();
    const ack = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'message', body: { audio: true }, transaction: t, apisecret: SECRET });
    assert.equal(ack.janus, 'ack');
    const ev = await pollFor(srv.server, sid, (e) => e.transaction === t, { query: { apisecret: SECRET } });
    assert.equal(ev.janus, 'event');
  });
});

describe('HTTP with token_auth', () => {
  const srv = useServer({ tokenAuth: true, staticTokens: { alice: 'tok-alice', bob: 'tok-bob' } });

  test('create without a token or with an unknown token gives 403', async () => {
    const t = tx();
    assertJanusError(await postOk(srv.server, '', { janus: 'create', transaction: t }), 403, { transaction: t });
    assertJanusError(await postOk(srv.server, '', { janus: 'create', transaction: t, token: 'tok-mallory' }), 403, { transaction: t });
  });

  test('a valid static token works for create, attach, message and keepalive', async () => {
    for (const token of ['tok-alice', 'tok-bob']) {
      const sid = await httpCreateSession(srv.server, { token });
      const t = tx();
      assertJanusError(await postOk(srv.server, `/${sid}`, { janus: 'attach', plugin: ECHOTEST, transaction: t }), 403, { transaction: t });
      const hid = await httpAttach(srv.server, sid, ECHOTEST, { token });
      const ack = await postOk(srv.server, `/${sid}/${hid}`, { janus: 'message', body: { audio: true }, transaction: t, token });
      assert.equal(ack.janus, 'ack');
      const ev = await pollFor(srv.server, sid, (e) => e.transaction === t, { query: { token } });
      assert.equal(ev.plugindata.data.result, 'ok');
      const ka = await postOk(srv.server, `/${sid}`, { janus: 'keepalive', transaction: t, token });
      assert.equal(ka.janus, 'ack');
    }
  });

  test('info does not need a token and reports auth_token true', async () => {
    const info = await postOk(srv.server, '', { janus: 'info', transaction: tx() });
    assert.equal(info.janus, 'server_info');
    assert.equal(info.auth_token, true);
  });

  test('long-poll without a token gives HTTP 403', async () => {
    const sid = await httpCreateSession(srv.server, { token: 'tok-alice' });
    const r = await httpGet(srv.server, `/${sid}`, { maxev: 1, timeoutMs: 5000 });
    assert.equal(r.status, 403);
  });
});
