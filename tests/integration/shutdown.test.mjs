// Graceful shutdown: SIGTERM with connected clients exits 0 promptly.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ECHOTEST, sanitizerFindings, startServer } from './harness.mjs';
import {
  httpAttach, httpCreateSession, httpGet, wsAttach, wsConnect, wsCreateSession,
} from './client.mjs';

describe('graceful shutdown', () => {
  test('SIGTERM with WebSocket sessions and a parked long-poll: exit 0 within 5 s', { timeout: 30000 }, async () => {
    const server = await startServer({ sessionTimeout: 60, longpollTimeout: 30 });
    try {
      const clients = [];
      for (let i = 0; i < 3; i++) {
        const c = await wsConnect(server);
        const sid = await wsCreateSession(c);
        await wsAttach(c, sid, ECHOTEST);
        clients.push(c);
      }
      const sid = await httpCreateSession(server);
      await httpAttach(server, sid, ECHOTEST);
      const parked = httpGet(server, `/${sid}`, { maxev: 1, timeoutMs: 20000 }).catch((e) => ({ error: e }));
      await new Promise((resolve) => setTimeout(resolve, 300));

      const result = await server.terminate(10000);
      assert.equal(result.timedOut, false, 'the server did not exit within 10 s of SIGTERM');
      assert.ok(result.ms < 5000, `shutdown took ${result.ms} ms`);
      assert.equal(result.code, 0, `exit code ${result.code}, signal ${result.signal}`);
      assert.deepEqual(sanitizerFindings(server.stderr()), []);
      // The clients see their connections end.
      await Promise.all(clients.map((c) => Promise.race([
        c.closed,
        new Promise((_, reject) => setTimeout(() => reject(new Error('WebSocket not closed after shutdown')), 5000)),
      ])));
      await parked;
      server.cleanup();
    } catch (err) {
      server.printLogs('shutdown test failed');
      if (!server.exited) await server.terminate();
      throw err;
    }
  });

  test('SIGTERM on an idle server exits 0', async () => {
    const server = await startServer({});
    const r = await server.stop(5000); // asserts code 0 and no sanitizer output
    assert.equal(r.code, 0);
  });
});
