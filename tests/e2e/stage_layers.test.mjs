// Layers in real browsers: a host page publishes Chromium's fake camera as three simulcast
// layers (rid q/h/f at quarter, half and full size) to a VP8 stage, and as VP9 SVC
// (L3T3_KEY) to a VP9 stage. On each stage one viewer page asks for the smallest layer
// ("configure" substream 0) and decodes it at a quarter of the camera's width; another
// viewer asks for nothing and gets a larger picture once its bandwidth estimate allows.
// Odeon only (Janus has no stage plugin).

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
const WIDTH = 960;
const HEIGHT = 540;

let server;
let browser;
let confDir;
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
});

async function layersOnStage(id, hostParams) {
  const base = `${server.httpBase}/stage.html?id=${id}&autostart=1`;
  const host = await browser.newPage();
  await host.goto(`${base}&role=host&secret=s3cret&width=${WIDTH}&height=${HEIGHT}&${hostParams}`);
  await pollStage(host, (s) => s.state === 'publishing' && s.framesSent > 30, 20000, `stage ${id}: the host is not publishing`);
  const small = await browser.newPage();
  await small.goto(`${base}&role=viewer&substream=0`);
  const best = await browser.newPage();
  await best.goto(`${base}&role=viewer`);
  const s = await pollStage(small, (st) => st.framesDecoded > 30 && st.frameWidth > 0 && st.frameWidth <= WIDTH / 4,
    30000, `stage ${id}: the viewer that asked for substream 0 did not get the smallest layer`);
  const b = await pollStage(best, (st) => st.framesDecoded > 30 && st.frameWidth >= WIDTH / 2, 40000,
    `stage ${id}: the other viewer never got a larger layer`);
  // The small one stays small while the other one is up.
  const s2 = await pollStage(small, (st) => st.framesDecoded > s.framesDecoded + 30, 20000,
    `stage ${id}: the small viewer stalled`);
  assert.ok(s2.frameWidth <= WIDTH / 4, JSON.stringify(s2));
  for (const page of [host, small, best]) await page.close();
  return { small: s2.frameWidth, best: b.frameWidth };
}

test('simulcast and VP9 SVC from a browser host: each viewer gets the layer it asks for',
  { skip: isJanus ? 'odeon-only (stage plugin)' : chromiumMissing() },
  async (t) => {
    confDir = makeTempDir('odeon-stage-layers-e2e-');
    fs.writeFileSync(path.join(confDir, 'stage.conf'), [
      '[stage-1]', 'description = simulcast', 'secret = s3cret', 'audio_port = 0', 'audio_pt = 111',
      'audio_codec = opus', 'video_port = 0', 'video_pt = 96', 'video_codec = VP8', '',
      '[stage-2]', 'description = SVC', 'secret = s3cret', 'audio_port = 0', 'audio_pt = 111',
      'audio_codec = opus', 'video_port = 0', 'video_pt = 98', 'video_codec = VP9', '',
    ].join('\n'));
    server = await startServer({ htmlDir, plugins: ['stage'], pluginsConfigDir: confDir });
    let first;
    ({ browser, page: first } = await openPage(`${server.httpBase}/stage.html`));
    await first.close();
    const sim = await layersOnStage(1, 'simulcast=1');
    t.diagnostic(`simulcast widths: substream 0 ${sim.small}, default ${sim.best}`);
    const svc = await layersOnStage(2, 'svc=L3T3_KEY');
    t.diagnostic(`SVC widths: spatial layer 0 ${svc.small}, default ${svc.best}`);
  });
