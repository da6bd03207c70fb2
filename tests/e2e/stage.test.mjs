// The stage in real browsers: a host page publishes Chromium's fake camera and microphone to
// odeon.plugin.stage (html/stage.html, role=host), three viewer pages watch it (Odeon offers,
// each page answers) and each decodes more than 60 frames; when the host stops, the viewers
// hear "ended". Odeon only (Janus has no stage plugin).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { isJanus, makeTempDir, startServer } from '../integration/harness.mjs';
import { chromiumMissing, openPage } from './browser.mjs';
import { pollStage } from './stage_page.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');

let server;
let browser;
let confDir;
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
});

test('a host page publishes; three viewer pages decode it; the host stops and they hear "ended"',
  { skip: isJanus ? 'odeon-only (stage plugin)' : chromiumMissing() },
  async () => {
    confDir = makeTempDir('odeon-stage-e2e-');
    fs.writeFileSync(path.join(confDir, 'stage.conf'), [
      '[stage-1]', 'description = Browser stage', 'secret = s3cret', 'audio_port = 0',
      'audio_pt = 111', 'audio_codec = opus', 'video_port = 0', 'video_pt = 96',
      'video_codec = VP8', '',
    ].join('\n'));
    server = await startServer({ htmlDir, plugins: ['echotest', 'stage'], pluginsConfigDir: confDir });
    const base = `${server.httpBase}/stage.html?id=1&autostart=1`;
    let host;
    ({ browser, page: host } = await openPage(`${base}&role=host&secret=s3cret`));
    await pollStage(host, (s) => s.state === 'publishing' && s.framesSent > 30, 20000, 'the host is not publishing');
    const viewers = [];
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage();
      await page.goto(`${base}&role=viewer&transport=${i === 1 ? 'http' : 'ws'}`);
      viewers.push(page);
    }
    for (const [i, page] of viewers.entries()) {
      const s = await pollStage(page, (st) => st.framesDecoded > 60, 30000, `viewer ${i} decoded too few frames`);
      assert.ok(s.framesDecoded > 60);
    }
    await host.click('#start'); // Stop: unpublish
    for (const [i, page] of viewers.entries()) {
      await pollStage(page, (st) => st.state === 'ended', 10000, `viewer ${i} was not told the stage ended`);
    }
  });
