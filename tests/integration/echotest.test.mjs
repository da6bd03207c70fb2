// Echo test plugin requests (no media): synchronous and asynchronous replies and errors.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ECHOTEST, ODEON_ONLY, useServer } from './harness.mjs';
import { assertJanusError, tx, wsAttach, wsConnect, wsCreateSession } from './client.mjs';

describe('echotest plugin', () => {
  const srv = useServer({ sessionTimeout: 60 });
  let c;
  let sid;
  let hid;

  test('setup: session and handle over WebSocket', async () => {
    c = await wsConnect(srv.server);
    sid = await wsCreateSession(c);
    hid = await wsAttach(c, sid, ECHOTEST);
  });

  test('{"request":"ping"} gives a synchronous success with plugindata pong', { skip: ODEON_ONLY }, async () => {
    const t = tx();
    const r = await c.request({ janus: 'message', session_id: sid, handle_id: hid, body: { request: 'ping' }, transaction: t });
    assert.deepEqual(r, {
      janus: 'success', session_id: sid, transaction: t, sender: hid,
      plugindata: { plugin: ECHOTEST, data: { echotest: 'pong' } },
    });
  });

  test('configure body (audio/video/bitrate): ack, then event result ok', async () => {
    const t = tx();
    const ack = await c.request({
      janus: 'message', session_id: sid, handle_id: hid, transaction: t, body: { audio: false, video: true, bitrate: 500000 },
    });
    assert.equal(ack.janus, 'ack');
    assert.equal(ack.session_id, sid);
    assert.equal(ack.transaction, t);
    const ev = await c.nextForTransaction(t);
    assert.deepEqual(ev, {
      janus: 'event', session_id: sid, transaction: t, sender: hid,
      plugindata: { plugin: ECHOTEST, data: { echotest: 'event', result: 'ok' } },
    });
  });

  test('a body without any supported attribute gives an event with error_code 413', async () => {
    for (const body of [{}, { foo: 1 }]) {
      const t = tx();
      assert.equal((await c.request({ janus: 'message', session_id: sid, handle_id: hid, transaction: t, body })).janus, 'ack');
      const ev = await c.nextForTransaction(t);
      assert.equal(ev.janus, 'event');
      assert.equal(ev.plugindata.data.echotest, 'event');
      assert.equal(ev.plugindata.data.error_code, 413, JSON.stringify(ev));
      assert.equal(typeof ev.plugindata.data.error, 'string');
    }
  });

  for (const [field, value] of [['audio', 'yes'], ['video', 1], ['bitrate', 'fast']]) {
    test(`invalid ${field} type gives plugindata with error_code 413`, async () => {
      const t = tx();
      const first = await c.request({ janus: 'message', session_id: sid, handle_id: hid, transaction: t, body: { [field]: value } });
      // Janus acknowledges and reports the error in the asynchronous event; a synchronous
      // success carrying the same plugindata is accepted too.
      let reply;
      if (first.janus === 'ack') {
        reply = await c.nextForTransaction(t);
        assert.equal(reply.janus, 'event');
      } else {
        assert.equal(first.janus, 'success', JSON.stringify(first));
        reply = first;
      }
      assert.equal(reply.session_id, sid);
      assert.equal(reply.sender, hid);
      assert.equal(reply.plugindata.plugin, ECHOTEST);
      const data = reply.plugindata.data;
      assert.equal(data.echotest, 'event');
      assert.equal(data.error_code, 413, JSON.stringify(data));
      assert.equal(typeof data.error, 'string');
      assert.match(data.error, new RegExp(field));
      assert.equal(data.result, undefined);
    });
  }

  test('a message with an offer carrying an invalid SDP is rejected by the core (465)', async () => {
    const t = tx();
    assertJanusError(await c.request({
      janus: 'message', session_id: sid, handle_id: hid, transaction: t, body: {}, jsep: { type: 'offer', sdp: 'not an sdp' },
    }), 465, { transaction: t });
  });

  test('teardown', async () => {
    await c.close();
  });
});
