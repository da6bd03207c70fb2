// [media] settings seen from outside (Odeon only): the answer to a browser offer shows the
// ICE and DTLS configuration (port range, NAT 1:1 address, ice-lite, a DTLS certificate loaded
// from PEM), "info" hands the configured STUN/TURN servers to clients, and malformed or
// unusable offers get error 465 with a reason. No media flows: the offer is Chrome's, from the
// SDP fixtures.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { ECHOTEST, ODEON_ONLY, isJanus, makeTempDir, useServer } from './harness.mjs';
import { httpAttach, httpCreateSession, httpPost, pollFor, tx } from './client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const srcdir = process.env.ODEON_SRCDIR || path.resolve(here, '../..');
const chromeOffer = fs.readFileSync(path.join(srcdir, 'tests/fixtures/sdp/chrome_offer.sdp'), 'utf8')
  .replace(/\r?\n/g, '\r\n');

/** Sends the offer to a new echotest handle; returns the answer SDP. */
async function answerFor(server, sdp = chromeOffer) {
  const sid = await httpCreateSession(server);
  const hid = await httpAttach(server, sid, ECHOTEST);
  const t = tx('offer');
  const r = await httpPost(server, `/${sid}/${hid}`, {
    janus: 'message', transaction: t, body: { audio: true, video: true }, jsep: { type: 'offer', sdp },
  });
  assert.equal(r.json.janus, 'ack', r.text);
  const ev = await pollFor(server, sid, (e) => e.transaction === t);
  assert.equal(ev.plugindata.data.result, 'ok', JSON.stringify(ev));
  return ev.jsep.sdp;
}

const candidates = (sdp) => sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'))
  .map((l) => { const f = l.split(' '); return { address: f[4], port: Number(f[5]), type: f[7] }; });

describe('[media] settings in the answer and in info', { skip: ODEON_ONLY }, () => {
  let dir;
  let cert;
  let key;
  let fingerprint;
  if (!isJanus) {
    dir = makeTempDir('odeon-dtls-');
    cert = path.join(dir, 'dtls.pem');
    key = path.join(dir, 'dtls.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-subj', '/CN=odeon-dtls', '-days', '2', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    fingerprint = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'])
      .toString().trim().split('=')[1];
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const srv = useServer(isJanus ? {} : {
    media: {
      rtp_port_min: 41000, rtp_port_max: 41099, nat_1_1_mapping: '203.0.113.7', ice_lite: true,
      ipv6: false, dtls_cert: cert, dtls_key: key,
      ice_servers: 'stun:stun.example.org:3478, turn:turn.example.org:3478?transport=udp',
      turn_username: 'u1', turn_credential: 'c1',
    },
  });

  test('the answer carries our transport: ports in range, the NAT address, ice-lite, our certificate', async () => {
    const sdp = await answerFor(srv.server);
    const cands = candidates(sdp);
    assert.ok(cands.length > 0, sdp);
    for (const c of cands) {
      assert.equal(c.address, '203.0.113.7', `NAT 1:1 address expected: ${JSON.stringify(c)}`);
      assert.ok(c.port >= 41000 && c.port <= 41099, `port outside the range: ${JSON.stringify(c)}`);
      assert.equal(c.type, 'host');
    }
    assert.match(sdp, /\r\na=ice-lite\r\n/);
    assert.ok(sdp.includes(`a=fingerprint:sha-256 ${fingerprint}`), `not our certificate's fingerprint:\n${sdp}`);
    assert.match(sdp, /a=setup:active/);
    assert.match(sdp, /a=end-of-candidates/);
  });

  test('info hands the STUN/TURN servers to clients', async () => {
    const r = await httpPost(srv.server, '', { janus: 'info', transaction: tx('info') });
    assert.deepEqual(r.json.ice_servers, [
      { urls: 'stun:stun.example.org:3478' },
      { urls: 'turn:turn.example.org:3478?transport=udp', username: 'u1', credential: 'c1' },
    ]);
    assert.equal(r.json['ice-lite'], true);
    assert.equal(r.json.ipv6, false);
    assert.equal(r.json['full-trickle'], false);
  });

  test('offers Odeon cannot use get 465 with the reason', async () => {
    const sid = await httpCreateSession(srv.server);
    const hid = await httpAttach(srv.server, sid, ECHOTEST);
    const cases = [
      [chromeOffer.replace(/a=fingerprint:[^\r]*\r\n/g, ''), /fingerprint/],
      [chromeOffer.replace(/a=ice-pwd:[^\r]*\r\n/g, ''), /ICE credentials/],
      [chromeOffer.replace(/a=group:BUNDLE[^\r]*\r\n/g, ''), /BUNDLE/],
      [chromeOffer.replace(/a=rtcp-mux\r\n/g, ''), /rtcp-mux/],
      [chromeOffer.replace(/^m=audio [^\r]*/m, 'm=audio x UDP/TLS/RTP/SAVPF 111'), /line \d+/],
    ];
    for (const [sdp, reason] of cases) {
      const r = await httpPost(srv.server, `/${sid}/${hid}`, {
        janus: 'message', transaction: tx('bad'), body: {}, jsep: { type: 'offer', sdp },
      });
      assert.equal(r.json.janus, 'error', r.text);
      assert.equal(r.json.error.code, 465, r.text);
      assert.match(r.json.error.reason, reason);
    }
    // The handle is still usable afterwards.
    await answerFor(srv.server);
  });
});
