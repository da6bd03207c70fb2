// Browsers that leave without hanging up. First, the tab dies mid-call, so no "hangup" request and
// no closing WebSocket tell Odeon (the page uses HTTP long-poll, whose session outlives the
// tab until the session timeout). Odeon must notice on the media path (no packet for
// consent_timeout seconds), hang the peer connection up, tell the plugin, and free it; the
// harness then stops the server and fails on any sanitizer report (leaks included, under the
// ASan build). Second, the page closes its RTCPeerConnection without a Janus request: the DTLS
// close_notify must end the peer connection at once.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { adminPost } from '../integration/client.mjs';
import { isJanus, sleep, startServer } from '../integration/harness.mjs';
import { chromiumMissing, openPage } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');

const CONSENT_S = 3;

async function echotestHandles(server) {
  const out = [];
  const sessions = (await adminPost(server, { janus: 'list_sessions' })).json.sessions || [];
  for (const session_id of sessions) {
    const handles = (await adminPost(server, { janus: 'list_handles', session_id })).json.handles || [];
    for (const handle_id of handles) {
      const info = (await adminPost(server, { janus: 'handle_info', session_id, handle_id })).json.info;
      if (info) out.push(info);
    }
  }
  return out;
}

let server;
after(async () => {
  if (server) await server.stop();
});

test('a browser that vanishes mid-call is hung up and its peer connection freed',
  { skip: isJanus ? 'odeon-only (consent_timeout is an Odeon setting)' : chromiumMissing() },
  async () => {
    server = await startServer({ htmlDir, logLevel: 'verbose', media: { consent_timeout: CONSENT_S } });
    const { browser, page } = await openPage(`${server.httpBase}/echotest.html?transport=http&autostart=1`);
    let state;
    for (let i = 0; i < 40 && state !== 'webrtcup'; i++) {
      await sleep(500);
      state = await page.evaluate(() => window.echoTest.state);
    }
    assert.equal(state, 'webrtcup', 'the call never came up');
    let [info] = await echotestHandles(server);
    assert.ok(info && info.webrtc && info.webrtc.up, `no live peer connection: ${JSON.stringify(info)}`);

    // The browser dies (SIGKILL: no hangup, no DTLS close_notify, no detach) and the HTTP
    // session stays. Chromium runs as a child of this process.
    execFileSync('pkill', ['-KILL', '-P', String(process.pid), 'chromium']);
    await browser.close().catch(() => {});
    const deadline = Date.now() + (CONSENT_S + 10) * 1000;
    do {
      await sleep(500);
      [info] = await echotestHandles(server);
    } while (info && info.webrtc !== null && Date.now() < deadline);
    assert.ok(info, 'the session should outlive the tab (HTTP long-poll, session_timeout 60 s)');
    assert.equal(info.webrtc, null, `the peer connection is still there: ${JSON.stringify(info.webrtc)}`);
    assert.equal(info.plugin_specific.media_up, false, 'the plugin was not told (hangup_media)');
    assert.match(server.stderr(), /hangup \(ICE consent lost\)/);
  });

test('a browser that closes its peer connection without a hangup request is hung up (DTLS alert)',
  { skip: isJanus ? 'odeon-only (log line)' : chromiumMissing() },
  async () => {
    const srv = await startServer({ htmlDir, logLevel: 'verbose' });
    const { browser, page } = await openPage(`${srv.httpBase}/echotest.html?transport=ws&autostart=1`);
    try {
      let state;
      for (let i = 0; i < 40 && state !== 'webrtcup'; i++) {
        await sleep(500);
        state = await page.evaluate(() => window.echoTest.state);
      }
      assert.equal(state, 'webrtcup', 'the call never came up');
      // RTCPeerConnection.close() sends a DTLS close_notify; no Janus request goes out.
      await page.evaluate(() => window.echoTest.handle.pc.close());
      let info;
      const deadline = Date.now() + 10000;
      do {
        await sleep(300);
        [info] = await echotestHandles(srv);
      } while (info && info.webrtc !== null && Date.now() < deadline);
      assert.ok(info, 'the handle should stay (only its peer connection goes)');
      assert.equal(info.webrtc, null, `the peer connection is still there: ${JSON.stringify(info.webrtc)}`);
      assert.match(srv.stderr(), /hangup \(DTLS alert\)/);
    } finally {
      await browser.close();
      await srv.stop();
    }
  });
