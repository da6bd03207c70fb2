// The echo test page in a real browser: html/echotest.html sends Chromium's fake camera and
// microphone to the echotest plugin through html/odeon.js (over HTTP long-poll and over
// WebSocket), and the echoed media must come back: decoded video frames, received audio.
//
// Odeon serves html/ itself on the API port. With ODEON_TARGET=janus the page comes from a
// small static server started here (Janus serves no files; its HTTP API sends CORS headers)
// and ?server= points it at Janus's API; ?plugin= names Janus's echotest.

import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { ECHOTEST, isJanus, sleep, startServer } from '../integration/harness.mjs';
import { chromiumMissing, openPage, serveStatic } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');

const WEBRTCUP_MS = 20000;
const MEDIA_MS = 30000;
const MIN_FRAMES = 60;
// Page states after which no media will come.
const FAILED = ['error', 'hangup', 'stopped'];

/**
 * Polls fn() until its result has ok (or gaveUp: the page failed, waiting is pointless);
 * returns that result, or the last one on timeout.
 */
async function pollUntil(fn, timeoutMs, stepMs = 500) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last.ok || last.gaveUp || Date.now() > deadline) return last;
    await sleep(stepMs);
  }
}

async function pageLog(page) {
  return page.evaluate(() => window.echoTest.events.join('\n  ')).catch((e) => `(no page log: ${e.message})`);
}

for (const transport of ['http', 'ws']) {
  describe(`echo test page over ${transport}`, { skip: chromiumMissing() }, () => {
    let server;
    let statics;
    let browser;
    let page;
    let consoleErrors;

    before(async () => {
      server = await startServer(isJanus ? {} : { htmlDir });
      let url;
      if (isJanus) {
        statics = await serveStatic(htmlDir);
        const api = transport === 'http' ? server.httpUrl : server.wsUrl;
        url = `${statics.base}/echotest.html?transport=${transport}&plugin=${ECHOTEST}` +
          `&server=${encodeURIComponent(api)}&autostart=1`;
      } else {
        url = `${server.httpBase}/echotest.html?transport=${transport}&autostart=1`;
      }
      ({ browser, page, consoleErrors } = await openPage(url));
    });

    afterEach(async (t) => {
      if (t.passed === false && server) {
        process.stderr.write(`\n==== page log (${transport}) ====\n  ${page ? await pageLog(page) : ''}\n`);
        server.printLogs(`after failed test "${t.name}"`);
      }
    });

    after(async () => {
      if (browser) await browser.close();
      if (statics) await statics.close();
      if (server) await server.stop();
    });

    test('the call comes up (webrtcup)', async () => {
      const r = await pollUntil(async () => {
        const state = await page.evaluate(() => window.echoTest.state);
        return { ok: state === 'webrtcup', gaveUp: FAILED.includes(state), state };
      }, WEBRTCUP_MS);
      assert.ok(r.ok, `no webrtcup within ${WEBRTCUP_MS / 1000} s over ${transport} ` +
        `(${r.gaveUp ? 'the page gave up' : 'timed out'}) ` +
        `(page state "${r.state}"; page log:\n  ${await pageLog(page)})`);
      assert.equal(await page.textContent('#start'), 'Stop');
    });

    test(`echoed video (> ${MIN_FRAMES} frames decoded) and audio come back`, async (t) => {
      const r = await pollUntil(async () => {
        const s = await page.evaluate(() => window.echoTest.stats());
        const frames = s.video ? s.video.framesDecoded : 0;
        const packets = s.audio ? s.audio.packetsReceived : 0;
        return { ok: frames > MIN_FRAMES && packets > 0, gaveUp: FAILED.includes(s.state), frames, packets, s };
      }, MEDIA_MS);
      assert.ok(r.ok, `within ${MEDIA_MS / 1000} s: ${r.frames} echoed video frames decoded, ` +
        `${r.packets} audio packets received (${JSON.stringify(r.s)})`);
      assert.ok(r.s.audio.bytesReceived > 0);
      assert.ok(r.s.video.frameWidth > 0, JSON.stringify(r.s.video));
      t.diagnostic(`${r.frames} frames decoded, ${r.packets} audio packets, over ${r.s.candidatePair}`);
    });

    test('the controls reach the plugin', async () => {
      await page.selectOption('#bitrate', '256000');
      await page.click('#keyframe');
      await page.uncheck('#audio');
      await page.check('#audio');
      const r = await pollUntil(async () => {
        const events = await page.evaluate(() => window.echoTest.events);
        const answered = (body) => events.some((e) => e.startsWith(`${body} -> `));
        const acked = (body) => events.some((e) => e.startsWith(`${body} -> `) && e.includes('"result":"ok"'));
        const bodies = ['{"bitrate":256000}', '{"audio":false}', '{"audio":true}'];
        // Janus 1.1.2's echotest has no "keyframe" request (it answers error 413): only the
        // round trip is required of it.
        const missing = bodies.filter((b) => !acked(b));
        if (!answered('{"keyframe":true}')) missing.push('{"keyframe":true} (no answer)');
        return { ok: missing.length === 0, missing };
      }, 10000, 200);
      assert.ok(r.ok, `not answered with result ok: ${r.missing.join(', ')}\n  ${await pageLog(page)}`);
    });

    test('Stop hangs up and closes the peer connection', async () => {
      await page.click('#start');
      const r = await pollUntil(async () => {
        const s = await page.evaluate(() => ({
          state: window.echoTest.state,
          handle: window.echoTest.handle !== null,
          stopped: window.echoTest.events.includes('stopped'),
        }));
        return { ok: s.state === 'stopped' && !s.handle && s.stopped, s };
      }, 10000, 200);
      assert.ok(r.ok, `after Stop: ${JSON.stringify(r.s)}\n  ${await pageLog(page)}`);
      assert.equal(await page.textContent('#start'), 'Start');
      assert.equal(await page.getAttribute('#status', 'data-state'), 'stopped');
    });

    test('the page logged no errors', () => {
      assert.deepEqual(consoleErrors, []);
    });
  });
}
