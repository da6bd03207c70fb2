// Relay placement and failover in a real browser (Odeon only): a host page publishes Chromium's
// fake camera to the origin; a viewer page opened on the origin is placed on one of two relays
// (html/odeon.js's StageViewer follows the redirect) and decodes; that relay is killed with
// SIGKILL and the page is back on media on the other relay, without a reload.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { isJanus, makeTempDir, startServer } from '../integration/harness.mjs';
import { SQL_DIR, createDatabase } from '../integration/pg.mjs';
import { chromiumMissing, openPage } from './browser.mjs';
import { pollStage } from './stage_page.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');
const SECRET = 'e2e-cascade-shared-secret';

const servers = [];
let browser;
let confDir;
let relayConfDir;
after(async () => {
  if (browser) await browser.close();
  for (const s of servers.reverse()) if (!s.exited) await s.stop();
  for (const dir of [confDir, relayConfDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function node(db, id, role, upstream) {
  return startServer({
    htmlDir, plugins: ['stage'], pluginsConfigDir: role === 'origin' ? confDir : relayConfDir, sqlDir: SQL_DIR,
    extraConfig: (ports) => ['[database]', `conninfo = ${db}`, '', '[cluster]', `role = ${role}`,
      `node_id = ${id}`, `public_url = http://127.0.0.1:${ports.http}`,
      ...(upstream ? [`upstream = ${upstream.httpBase}`] : []), `secret = ${SECRET}`,
      'heartbeat_ms = 300', 'dead_after_ms = 1200', ''].join('\n'),
  }).then((s) => { servers.push(s); return s; });
}

test('a viewer page is placed on a relay, and fails over to the other when it is killed',
  { skip: isJanus ? 'odeon-only (relay nodes)' : chromiumMissing() },
  async () => {
    const db = createDatabase('odeon_e2e_cascade');
    confDir = makeTempDir('odeon-e2e-cascade-');
    fs.writeFileSync(path.join(confDir, 'stage.conf'), [
      '[stage-1]', 'description = Cascaded browser stage', 'secret = s3cret', 'audio_port = 0',
      'audio_pt = 111', 'audio_codec = opus', 'video_port = 0', 'video_pt = 96',
      'video_codec = VP8', '',
    ].join('\n'));
    // Relays define no stages: theirs come from the origin.
    relayConfDir = makeTempDir('odeon-e2e-cascade-relay-');
    fs.writeFileSync(path.join(relayConfDir, 'stage.conf'), '[relay]\ngrace_seconds = 5\n');
    const origin = await node(db, 'origin', 'origin');
    const relays = { 'relay-a': await node(db, 'relay-a', 'relay', origin),
      'relay-b': await node(db, 'relay-b', 'relay', origin) };
    const base = `${origin.httpBase}/stage.html?id=1&autostart=1`;
    let host;
    ({ browser, page: host } = await openPage(`${base}&role=host&secret=s3cret`));
    await pollStage(host, (s) => s.state === 'publishing' && s.framesSent > 30, 20000, 'the host is not publishing');
    // The relays must be in the registry before the viewer asks for placement.
    await new Promise((r) => setTimeout(r, 1000));
    const viewer = await browser.newPage();
    await viewer.goto(`${base}&role=viewer`);
    const first = await pollStage(viewer, (s) => s.framesDecoded > 30 && /^relay-/.test(s.node || ''),
      30000, 'the viewer was not placed on a relay, or decoded too few frames');
    const text = await viewer.textContent('#status');
    assert.match(text, new RegExp(`on ${first.node}`));
    relays[first.node].proc.kill('SIGKILL');
    const other = first.node === 'relay-a' ? 'relay-b' : 'relay-a';
    const killedAt = Date.now();
    const moved = await pollStage(viewer, (s) => s.node === other && s.state === 'watching' && s.framesDecoded > 30,
      20000, `the viewer did not fail over to ${other}`);
    assert.equal(moved.failovers, 1);
    // A new connection: its decoder counts from zero again and passes 30 frames (1 s of video).
    assert.ok(Date.now() - killedAt < 20000);
  });
