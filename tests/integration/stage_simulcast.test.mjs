// Simulcast on the stage (Odeon only): the load generator's test source sends three VP8
// substreams (full, half and quarter size, like a Janus simulcast RTP mountpoint's videoport,
// videoport2 and videoport3) and two load-generator viewers decode what they get. One reports a
// low bandwidth estimate (REMB) at first: it must start on the smallest layer, and when its
// estimate rises it must move up to the full-size layer, with no decoded-frame gap over a
// second at the switches. The other sends no estimate: after the first seconds, in which every
// joiner is treated as having 600 kbit/s (so it starts on the half-size layer), it gets the
// full-size layer.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ODEON_ONLY, freePorts, isJanus, makeTempDir, useServer } from './harness.mjs';
import { loadBin, runLoad, startSource } from './loadgen.mjs';

const WIDTH = 640;

let ports = [];
let confDir;
if (!isJanus) {
  ports = await freePorts(4);
  confDir = makeTempDir('odeon-stage-simulcast-');
  fs.writeFileSync(path.join(confDir, 'stage.conf'), [
    '[stage-1]', 'description = simulcast', `audio_port = ${ports[0]}`, 'audio_pt = 111',
    'audio_codec = opus', `video_port = ${ports[1]}`, `video_port2 = ${ports[2]}`,
    `video_port3 = ${ports[3]}`, 'video_pt = 96', 'video_codec = VP8', '',
  ].join('\n'));
  after(() => fs.rmSync(confDir, { recursive: true, force: true }));
}
const srv = useServer(isJanus ? {} : { plugins: ['stage'], pluginsConfigDir: confDir, media: { ipv6: false } });


function viewerLines(out) {
  return out.split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l)).filter((j) => j.decode);
}

function viewersArgs(extra) {
  const url = new URL(srv.server.wsUrl);
  return ['viewers', '--host', '127.0.0.1', '--port', url.port, '--path', url.pathname,
    '--plugin', 'odeon.plugin.stage', '--viewers', '1', '--decode', '1', '--setup-timeout', '20',
    '--json', ...extra];
}

test('simulcast: a capped viewer gets the low layer, moves up when the cap lifts, never stalls',
  { skip: ODEON_ONLY || (!fs.existsSync(loadBin) && `no load generator at ${loadBin}`) }, async (t) => {
    const source = startSource(['--simulcast', '3', '--width', String(WIDTH), '--height', '480',
      '--kbps', '900', '--keyint', '1',
      '--video', `127.0.0.1:${ports[1]},${ports[2]},${ports[3]}`,
      '--audio', `127.0.0.1:${ports[0]}`, '--duration', '0']);
    try {
      // Let the stage measure every layer's bitrate before anyone joins.
      await new Promise((r) => setTimeout(r, 1500));
      // A third viewer NACKs every 10th video packet: the retransmissions, rebuilt from the
      // stage's ring with this viewer's layer rewrite (sequence numbers, timestamps, VP8
      // PictureID and TL0PICIDX), must be the very datagrams it dropped.
      const [capped, free, nacker] = await Promise.all([
        runLoad(viewersArgs(['--remb', '0:150000,6:5000000', '--duration', '14', '--label', 'capped']), 60000),
        runLoad(viewersArgs(['--duration', '8', '--label', 'free']), 60000),
        runLoad(viewersArgs(['--nack', '--nack-every', '10', '--duration', '8', '--label', 'nacker']), 60000),
      ]);
      for (const r of [capped, free, nacker]) {
        assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code} ${r.signal || ''}):\n${r.out}\n${r.err}`);
      }
      const [c] = viewerLines(capped.out);
      const [f] = viewerLines(free.out);
      t.diagnostic(`capped: ${JSON.stringify(c.decode.sizes)} stall ${c.decode.stall_ms} ms; ` +
        `free: ${JSON.stringify(f.decode.sizes)} stall ${f.decode.stall_ms} ms`);
      const sizes = c.decode.sizes;
      const seen = JSON.stringify(sizes);
      assert.ok(sizes[0].width <= WIDTH / 2, `a joiner starts below the best layer: ${seen}`);
      const low = sizes.find((s) => s.width === WIDTH / 4);
      assert.ok(low && low.t_ms < 2000, `on the smallest layer soon after its first REMB: ${seen}`);
      const up = sizes.findIndex((s) => s.width === WIDTH);
      assert.ok(up > 0 && sizes[up].t_ms >= 6000, `full size only after the cap lifted: ${seen}`);
      assert.equal(sizes[sizes.length - 1].width, WIDTH, `ends on the full-size layer: ${seen}`);
      assert.ok(c.decode.stall_ms < 1000, `longest decoded-frame gap ${c.decode.stall_ms} ms`);
      const fs2 = f.decode.sizes;
      assert.equal(fs2[fs2.length - 1].width, WIDTH, `no estimate: the best layer ${JSON.stringify(fs2)}`);
      assert.ok(f.decode.stall_ms < 1000, `longest decoded-frame gap ${f.decode.stall_ms} ms`);
      const [n] = viewerLines(nacker.out);
      t.diagnostic(`nacker: ${n.nacks_sent} NACKs, ${n.repaired} repaired, ${n.repair_mismatch} mismatched`);
      assert.ok(n.nacks_sent >= 20, `the nacker sent ${n.nacks_sent} NACKs`);
      assert.equal(n.repair_mismatch, 0);
      assert.ok(n.repaired >= n.nacks_sent - 2, `${n.repaired} of ${n.nacks_sent} repaired`);
    } finally {
      source.kill('SIGTERM');
    }
  });
