// html/odeon.js's WebRTC glue in a real browser, without a server: a fake session stands in
// for the transport and a second RTCPeerConnection in the page plays the plugin. Covers the
// receiving direction (the plugin offers, the handle answers, candidates trickle both ways,
// including the plugin's candidates that arrive before answer() made the peer connection)
// and a "hangup" from the server. The echotest e2e test covers the offering direction.

import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../integration/harness.mjs';
import { chromiumMissing, openPage, serveStatic } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');

describe('odeon.js answering an offer from the plugin', { skip: chromiumMissing() }, () => {
  let statics;
  let browser;
  let page;
  let consoleErrors;

  before(async () => {
    statics = await serveStatic(htmlDir);
    // Any page that loads odeon.js from 127.0.0.1 (a secure context); without autostart the
    // echo test page stays idle and connects nowhere.
    ({ browser, page, consoleErrors } = await openPage(`${statics.base}/echotest.html`));
  });

  after(async () => {
    if (browser) await browser.close();
    if (statics) await statics.close();
  });

  test('answers, trickles both ways and receives the media', async () => {
    await page.evaluate(async () => {
      const t = { sent: [], tracks: [], events: [] };
      window.t = t;
      const plugin = new RTCPeerConnection();
      t.plugin = plugin;
      const session = {
        handles: new Map(),
        async send(msg, opts = {}) {
          t.sent.push(JSON.parse(JSON.stringify(msg)));
          if (msg.janus === 'trickle') {
            if (msg.candidate.completed) await plugin.addIceCandidate();
            else await plugin.addIceCandidate(msg.candidate);
            return { janus: 'ack' };
          }
          if (msg.janus === 'message') {
            await plugin.setRemoteDescription(msg.jsep);
            if (opts.onAck) opts.onAck();
            return { janus: 'event', plugindata: { data: { streaming: 'event', result: 'ok' } } };
          }
          return { janus: 'success' };
        },
      };
      const handle = new Odeon.Handle(session, 42, 'fake.plugin');
      session.handles.set(42, handle);
      t.handle = handle;
      handle.on('track', (track, streams, on) => { if (on) t.tracks.push(track.kind); });
      handle.on('hangup', (msg) => t.events.push(`hangup ${msg.reason}`));
      const answered = new Promise((resolve, reject) => {
        handle.on('offer', (jsep, data) => {
          t.events.push(`offer ${JSON.stringify(data)}`);
          handle.answer(jsep, { body: { request: 'start' } }).then(resolve, reject);
        });
      });
      const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      for (const track of media.getTracks()) plugin.addTrack(track, media);
      plugin.addEventListener('icecandidate', (ev) => {
        handle.onServerEvent({ janus: 'trickle', sender: 42,
          candidate: ev.candidate ? ev.candidate.toJSON() : { completed: true } });
      });
      const offer = await plugin.createOffer();
      await plugin.setLocalDescription(offer);
      // Let the plugin's candidates arrive before its offer is answered.
      await new Promise((resolve) => setTimeout(resolve, 500));
      handle.onServerEvent({ janus: 'event', sender: 42,
        plugindata: { plugin: 'fake.plugin', data: { streaming: 'event' } },
        jsep: { type: 'offer', sdp: offer.sdp } });
      await answered;
    });

    let s;
    const deadline = Date.now() + 20000;
    for (;;) {
      s = await page.evaluate(async () => {
        const r = { frames: 0, packets: 0, state: t.handle.pc && t.handle.pc.connectionState,
                    plugin: t.plugin.connectionState, tracks: t.tracks, events: t.events };
        if (t.handle.pc) {
          (await t.handle.pc.getStats()).forEach((x) => {
            if (x.type === 'inbound-rtp' && x.kind === 'video') r.frames = x.framesDecoded || 0;
            if (x.type === 'inbound-rtp' && x.kind === 'audio') r.packets = x.packetsReceived || 0;
            if (x.type === 'remote-candidate') r.remoteTypes = [...new Set([...(r.remoteTypes || []), x.candidateType])];
          });
        }
        return r;
      });
      if ((s.frames > 30 && s.packets > 0) || Date.now() > deadline) break;
      await sleep(500);
    }
    assert.ok(s.frames > 30 && s.packets > 0, JSON.stringify(s));
    assert.equal(s.state, 'connected');
    // The plugin's early candidates were kept and applied (not only learnt as peer-reflexive).
    assert.ok((s.remoteTypes || []).includes('host'), JSON.stringify(s));
    assert.deepEqual([...s.tracks].sort(), ['audio', 'video']);
    assert.deepEqual(s.events, ['offer {"streaming":"event"}']);

    const sent = await page.evaluate(() => t.sent);
    const messages = sent.filter((m) => m.janus === 'message');
    assert.equal(messages.length, 1);
    assert.deepEqual(messages[0].body, { request: 'start' });
    assert.equal(messages[0].jsep.type, 'answer');
    assert.equal(messages[0].handle_id, 42);
    const trickles = sent.filter((m) => m.janus === 'trickle');
    assert.ok(trickles.length >= 2, JSON.stringify(trickles));
    assert.deepEqual(trickles.at(-1).candidate, { completed: true });
    for (const m of trickles.slice(0, -1)) {
      assert.deepEqual(Object.keys(m.candidate).sort(), ['candidate', 'sdpMLineIndex', 'sdpMid']);
    }
    // Every trickle went after the answer.
    assert.ok(sent.indexOf(messages[0]) < sent.indexOf(trickles[0]));
  });

  test('a hangup from the server closes the peer connection', async () => {
    const r = await page.evaluate(() => {
      t.handle.onServerEvent({ janus: 'hangup', session_id: 1, sender: 42, reason: 'test over' });
      return { pc: t.handle.pc, events: t.events };
    });
    assert.equal(r.pc, null);
    assert.deepEqual(r.events.at(-1), 'hangup test over');
  });

  test('the page logged no errors', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
