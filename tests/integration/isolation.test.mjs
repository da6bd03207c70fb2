// Bad input on one connection must not disturb other connections and sessions.

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { ECHOTEST, sleep, useServer } from './harness.mjs';
import {
  httpAttach, httpCreateSession, pollFor, postOk, rawRequest, tx, wsAttach, wsConnect, wsCreateSession,
} from './client.mjs';

const GARBAGE_FRAMES = [
  '{"janus":',
  'not json at all',
  '[]',
  '[{"janus":"create","transaction":"x"}]',
  '{"janus":"create"}',
  '{"transaction":"no-verb"}',
  '{"janus":"nonsense","transaction":"g1"}',
  '{"janus":"keepalive","session_id":1,"transaction":"g2"}',
  '{"janus":"message","session_id":"abc","handle_id":{},"transaction":"g3"}',
  '{"janus":"attach","session_id":1,"plugin":"janus.plugin.none","transaction":"g4"}',
  '"just a string"',
  'null',
  '{"janus":"create","transaction":"deep","x":' + '['.repeat(500) + ']'.repeat(500) + '}',
  '\u0000\u0001\u0002',
  '{"janus":"create","transaction":"' + 'é'.repeat(1000) + '","id":"bad"}',
];

/** Sends raw bytes on a TCP connection and resolves with whatever comes back before close. */
function rawTcp(port, bytes, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', finish);
    sock.on('error', finish);
    sock.on('connect', () => sock.write(bytes));
  });
}

describe('isolation between connections', () => {
  const srv = useServer({ sessionTimeout: 60 });

  test('garbage on one WebSocket, valid traffic on another WebSocket and over HTTP', { timeout: 60000 }, async () => {
    const bad = await wsConnect(srv.server);
    const good = await wsConnect(srv.server);
    const sidGood = await wsCreateSession(good);
    const hidGood = await wsAttach(good, sidGood, ECHOTEST);
    const sidHttp = await httpCreateSession(srv.server);
    const hidHttp = await httpAttach(srv.server, sidHttp, ECHOTEST);
    const sidBad = await wsCreateSession(bad);

    const goodLoop = (async () => {
      for (let i = 0; i < 30; i++) {
        const t = tx('good');
        const ack = await good.request({ janus: 'message', session_id: sidGood, handle_id: hidGood, body: { audio: i % 2 === 0 }, transaction: t });
        assert.equal(ack.janus, 'ack', JSON.stringify(ack));
        const ev = await good.nextForTransaction(t);
        assert.equal(ev.plugindata.data.result, 'ok');
        const ka = await good.request({ janus: 'keepalive', session_id: sidGood });
        assert.equal(ka.janus, 'ack');
      }
    })();

    const httpLoop = (async () => {
      const seen = [];
      for (let i = 0; i < 20; i++) {
        const t = tx('http');
        const ack = await postOk(srv.server, `/${sidHttp}/${hidHttp}`, { janus: 'message', body: { video: true }, transaction: t });
        assert.equal(ack.janus, 'ack', JSON.stringify(ack));
        const ev = await pollFor(srv.server, sidHttp, (e) => e.transaction === t, { seen });
        assert.equal(ev.plugindata.data.result, 'ok');
        // Garbage over HTTP in between.
        const err = await postOk(srv.server, `/${sidHttp}`, '{"janus": broken');
        assert.equal(err.janus, 'error');
      }
    })();

    const badLoop = (async () => {
      let errors = 0;
      for (let round = 0; round < 4; round++) {
        for (const frame of GARBAGE_FRAMES) {
          bad.send(frame);
          await sleep(5);
        }
        // The bad socket is still served: its own session answers keepalive.
        const ka = await bad.request({ janus: 'keepalive', session_id: sidBad }, 10000);
        assert.equal(ka.janus, 'ack', JSON.stringify(ka));
        errors += bad.all.filter((m) => m.janus === 'error').length;
      }
      return errors;
    })();

    const rawLoop = (async () => {
      // Malformed HTTP on fresh TCP connections to the API port.
      for (const bytes of ['GARBAGE\r\n\r\n', 'POST /janus HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n{',
        'GET / HTTP/9.9\r\n\r\n', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03']) {
        await rawTcp(srv.server.ports.http, bytes, 1500);
      }
    })();

    const [, , badErrors] = await Promise.all([goodLoop, httpLoop, badLoop, rawLoop]);
    assert.ok(badErrors > 0, 'the garbage socket must have received error replies');
    // Nothing from the garbage socket leaked to the good one.
    assert.ok(!good.all.some((m) => m.janus === 'error'), `good socket got errors: ${JSON.stringify(good.all.filter((m) => m.janus === 'error'))}`);
    assert.ok(!good.all.some((m) => m.session_id !== undefined && m.session_id !== sidGood),
      'good socket got messages of other sessions');
    await bad.close();
    await good.close();
  });

  test('a client closing mid-request does not affect others', async () => {
    const good = await wsConnect(srv.server);
    const sid = await wsCreateSession(good);
    for (let i = 0; i < 10; i++) {
      const c = await wsConnect(srv.server);
      const s = await wsCreateSession(c);
      const h = await wsAttach(c, s, ECHOTEST);
      c.send({ janus: 'message', session_id: s, handle_id: h, body: { audio: true }, transaction: tx() });
      c.terminate();
      // A half-sent HTTP request, abandoned.
      await rawTcp(srv.server.ports.http, 'POST /janus HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"janus":', 100);
      const ka = await good.request({ janus: 'keepalive', session_id: sid });
      assert.equal(ka.janus, 'ack');
    }
    const info = await rawRequest(`${srv.server.httpUrl}/info`);
    assert.equal(info.status, 200);
    await good.close();
  });
});
