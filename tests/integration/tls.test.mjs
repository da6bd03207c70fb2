// TLS on the API port (Odeon only): with tls_cert and tls_key the port speaks HTTPS and WSS,
// the Janus API works over both, and plain HTTP is not served.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ODEON_ONLY, isJanus, makeTempDir, useServer } from './harness.mjs';
import { rawRequest, tx } from './client.mjs';

function httpsRequest(url, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  });
}

describe('TLS', { skip: ODEON_ONLY }, () => {
  let dir;
  let cert;
  let key;
  if (!isJanus) {
    dir = makeTempDir('odeon-tls-');
    cert = path.join(dir, 'cert.pem');
    key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', key, '-out', cert],
    { stdio: 'ignore' });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const srv = useServer({ tlsCert: cert, tlsKey: key });

  test('the Janus API answers over HTTPS', async () => {
    const info = await httpsRequest(`${srv.server.httpUrl}/info`);
    assert.equal(info.status, 200);
    assert.equal(JSON.parse(info.text).janus, 'server_info');
    const created = await httpsRequest(srv.server.httpUrl, { method: 'POST', body: { janus: 'create', transaction: tx() } });
    const reply = JSON.parse(created.text);
    assert.equal(reply.janus, 'success');
    const destroyed = await httpsRequest(`${srv.server.httpUrl}/${reply.data.id}`,
      { method: 'POST', body: { janus: 'destroy', transaction: tx() } });
    assert.equal(JSON.parse(destroyed.text).janus, 'success');
  });

  test('the Janus API answers over WSS with janus-protocol', async () => {
    const ws = new WebSocket(srv.server.wsUrl, 'janus-protocol', { rejectUnauthorized: false });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const reply = await new Promise((resolve) => {
      ws.once('message', (data) => resolve(JSON.parse(String(data))));
      ws.send(JSON.stringify({ janus: 'create', transaction: 'wss-1' }));
    });
    assert.equal(reply.janus, 'success');
    assert.equal(reply.transaction, 'wss-1');
    ws.close();
    await new Promise((resolve) => ws.once('close', resolve));
  });

  test('plain HTTP on the TLS port gets no Janus reply', async () => {
    const plain = srv.server.httpUrl.replace('https:', 'http:');
    let answered = false;
    try {
      const r = await rawRequest(`${plain}/info`, { timeoutMs: 2000 });
      answered = r.status === 200 && r.text.includes('server_info');
    } catch {
      answered = false;
    }
    assert.equal(answered, false);
  });
});
