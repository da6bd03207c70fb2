// The stage under load (Odeon only): the load generator's test source (VP8 via libvpx, Opus via
// libopus, as plain RTP) feeds a stage, and VIEWERS real WebRTC viewers from the load generator
// (tests/load/odeon-load: WebSocket signalling, ICE, DTLS, SRTP) watch it. Every viewer must
// receive media with no loss on loopback, and the decoded frames of the sampled viewers must
// agree (no corrupt forwarding); the join times are reported. A test of correctness, not of
// speed (tests/bench has the benchmarks).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ODEON_ONLY, freePorts, isJanus, makeTempDir, useServer } from './harness.mjs';
import { loadBin, runLoad, startSource } from './loadgen.mjs';

const VIEWERS = Number(process.env.ODEON_LOAD_VIEWERS || 200);

let ports = [];
let confDir;
if (!isJanus) {
  ports = await freePorts(2);
  confDir = makeTempDir('odeon-stage-load-');
  fs.writeFileSync(path.join(confDir, 'stage.conf'), [
    '[stage-1]', 'description = load', `audio_port = ${ports[0]}`, 'audio_pt = 111',
    'audio_codec = opus', `video_port = ${ports[1]}`, 'video_pt = 96', 'video_codec = VP8', '',
    '[stage-2]', 'description = WHIP-fed', 'secret = whipsecret', 'audio_port = 0', 'audio_pt = 111',
    'audio_codec = opus', 'video_port = 0', 'video_pt = 96', 'video_codec = VP8', '',
  ].join('\n'));
  after(() => fs.rmSync(confDir, { recursive: true, force: true }));
}
const srv = useServer(isJanus ? {} : { plugins: ['stage'], pluginsConfigDir: confDir, media: { ipv6: false } });

/** The test source as plain RTP into stage 1's ports (until killed). */
function startRtpSource() {
  return startSource(['--video', `127.0.0.1:${ports[1]}`, '--audio', `127.0.0.1:${ports[0]}`,
    '--duration', '0']);
}

/** odeon-load viewers of the stage plugin on this server, with extra arguments. */
function viewersArgs(...extra) {
  const url = new URL(srv.server.wsUrl);
  return ['viewers', '--host', '127.0.0.1', '--port', url.port, '--path', url.pathname,
    '--plugin', 'odeon.plugin.stage', ...extra];
}


test(`${VIEWERS} load-generator viewers all receive the stage, no loss, same frames`,
  { skip: ODEON_ONLY || (!fs.existsSync(loadBin) && `no load generator at ${loadBin}`) }, async (t) => {
    const source = startRtpSource();
    try {
      const r = await runLoad(viewersArgs('--viewers', String(VIEWERS), '--threads', '2',
        '--duration', '8', '--setup-timeout', '30', '--json'), 90000);
      t.diagnostic(r.out.split('\n').filter((l) => l.startsWith('|') || l.includes('viewers')).join('\n'));
      assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code} ${r.signal || ''}):\n${r.out}\n${r.err}`);
      assert.match(r.out, new RegExp(`\\| ${VIEWERS}/${VIEWERS} \\|`));
      assert.match(r.out, /agree/);
    } finally {
      source.kill('SIGTERM');
    }
  });

// A viewer's losses are repaired from the stage's ring: viewer 0 of the load generator treats
// every 12th video packet as lost and NACKs it at once (its answer has rtcp-fb nack, no RTX),
// and the retransmission must be the very datagram it dropped (same SRTP index and keys, so
// the same bytes: header rewrite included).
test('NACKed packets come back from the stage ring, byte for byte',
  { skip: ODEON_ONLY || (!fs.existsSync(loadBin) && `no load generator at ${loadBin}`) }, async (t) => {
    const source = startRtpSource();
    try {
      const r = await runLoad(viewersArgs('--viewers', '3', '--nack', '--nack-every', '12',
        '--duration', '5', '--setup-timeout', '20', '--json'), 60000);
      assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code} ${r.signal || ''}):\n${r.out}\n${r.err}`);
      const v0 = r.out.split('\n').filter((l) => l.startsWith('{"viewer":0,')).map((l) => JSON.parse(l))[0];
      assert.ok(v0, r.out);
      t.diagnostic(`nacks_sent ${v0.nacks_sent} repaired ${v0.repaired} mismatched ${v0.repair_mismatch} lost ${v0.lost}`);
      assert.ok(v0.nacks_sent >= 20, `viewer 0 sent ${v0.nacks_sent} NACKs`);
      assert.equal(v0.repair_mismatch, 0);
      // The last NACKs may still be on their way when the window closes.
      assert.ok(v0.repaired >= v0.nacks_sent - 2, `${v0.repaired} of ${v0.nacks_sent} repaired`);
      assert.ok(v0.lost <= 2, `viewer 0 lost ${v0.lost}`);
    } finally {
      source.kill('SIGTERM');
    }
  });

// --nack-gaps, the load generator's browser-like repair that other tests lean on: viewer 0
// ignores every 15th packet it receives (--drop-every), and NACKs each video packet that a gap
// then shows missing; the stage resends it, so its video loses (next to) nothing while audio,
// which is never NACKed, keeps its losses.
test('load viewers NACK the gaps they see and the stage repairs them',
  { skip: ODEON_ONLY || (!fs.existsSync(loadBin) && `no load generator at ${loadBin}`) }, async (t) => {
    const source = startRtpSource();
    try {
      const r = await runLoad(viewersArgs('--viewers', '2', '--nack-gaps', '--drop-every', '15',
        '--max-loss-pct', '100', '--duration', '5', '--setup-timeout', '20', '--json'), 60000);
      assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code} ${r.signal || ''}):\n${r.out}\n${r.err}`);
      const v0 = r.out.split('\n').filter((l) => l.startsWith('{"viewer":0,')).map((l) => JSON.parse(l))[0];
      assert.ok(v0, r.out);
      const video = v0.ssrcs.find((x) => x.kind === 'video');
      const audio = v0.ssrcs.find((x) => x.kind === 'audio');
      t.diagnostic(`nacks_sent ${v0.nacks_sent} repaired ${v0.repaired} video lost ${video.lost} audio lost ${audio.lost}`);
      assert.ok(v0.nacks_sent >= 20, `viewer 0 sent ${v0.nacks_sent} NACKs`);
      assert.ok(v0.repaired >= v0.nacks_sent - 3, `${v0.repaired} of ${v0.nacks_sent} repaired`);
      assert.ok(video.lost <= 3, `video lost ${video.lost}`);
      assert.ok(audio.lost >= 5, `audio lost ${audio.lost}: --drop-every dropped nothing?`);
    } finally {
      source.kill('SIGTERM');
    }
  });

// The test source published over WebRTC (WHIP, as OBS does) instead of plain RTP: viewers of
// that stage decode the same frames, with no loss; the source's DELETE at the end is accepted.
test('the load source publishes over WHIP; its viewers decode it',
  { skip: ODEON_ONLY || (!fs.existsSync(loadBin) && `no load generator at ${loadBin}`) }, async (t) => {
    const whip = `${srv.server.httpBase}/whip/2`;
    const source = spawn(loadBin, ['source', '--whip', whip, '--token', 'whipsecret', '--duration', '0'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    source.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => source.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      for (let i = 0; i < 100 && !err.includes('publishing to'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(err, /publishing to .*AEAD_AES_128_GCM|publishing to .*AES_CM/, err);
      const r = await runLoad(viewersArgs('--watch', '{"request":"watch","id":2}', '--viewers', '4',
        '--decode', '2', '--duration', '5', '--setup-timeout', '20', '--json'), 60000);
      t.diagnostic(r.out.split('\n').filter((l) => l.startsWith('|')).join('\n'));
      assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code} ${r.signal || ''}):\n${r.out}\n${r.err}\n${err}`);
      assert.match(r.out, /\| 4\/4 \|/);
      assert.match(r.out, /agree/);
    } finally {
      source.kill('SIGTERM');
    }
    const end = await exited;
    assert.equal(end.code, 0, err);
    assert.doesNotMatch(err, /DELETE .*HTTP/, err);
  });
