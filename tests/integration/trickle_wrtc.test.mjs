// Trickle ICE in both directions, with a real WebRTC peer (@roamhq/wrtc), against Odeon's
// [media] full_trickle = true: the answer carries no candidate, Odeon's candidates arrive as
// {"janus":"trickle"} events ending with {"completed":true}, and the peer's candidates are sent
// *before* its offer (Janus queues those; so must Odeon). The call must still come up.
// Audio only: this is about ICE, the echo itself is covered by echo_wrtc.test.mjs.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ECHOTEST, ODEON_ONLY, sleep, useServer } from './harness.mjs';
import { tx, wsAttach, wsConnect, wsCreateSession } from './client.mjs';

const wrtc = (await import('@roamhq/wrtc')).default;
const { RTCPeerConnection } = wrtc;
const { RTCAudioSource } = wrtc.nonstandard;

const srv = useServer({ media: { full_trickle: true } });
const held = { pc: null, source: null, track: null, timer: null, c: null };

after(async () => {
  clearInterval(held.timer);
  held.track?.stop();
  if (held.pc && held.pc.connectionState !== 'closed') held.pc.close();
  if (held.c) await held.c.close();
  // wrtc 0.10 crashes in Node's teardown once a track existed (see echo_wrtc.test.mjs).
  process.on('exit', (code) => process.exit(code));
});

async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

test('full trickle: candidates as events both ways, early client candidates kept', { skip: ODEON_ONLY }, async () => {
  const c = await wsConnect(srv.server);
  held.c = c;
  const sid = await wsCreateSession(c);
  const hid = await wsAttach(c, sid, ECHOTEST);
  const events = [];
  c.ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (m.sender === hid && !m.transaction) events.push(m);
  });

  const pc = new RTCPeerConnection({ iceServers: [] });
  held.pc = pc;
  held.source = new RTCAudioSource();
  held.track = held.source.createTrack();
  pc.addTrack(held.track, new wrtc.MediaStream([held.track]));
  const samples = new Int16Array(480);
  held.timer = setInterval(() => held.source.onData({
    samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1, numberOfFrames: 480,
  }), 10);

  const gathered = [];
  let complete = false;
  pc.onicecandidate = (ev) => {
    if (ev.candidate) gathered.push(ev.candidate);
    else complete = true;
  };
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => complete, 10000, 'local gathering');
  // Our candidates first, then the offer without them: Odeon must keep them until it comes.
  for (const cand of gathered) {
    const r = await c.request({
      janus: 'trickle', session_id: sid, handle_id: hid, transaction: tx('t'),
      candidate: { candidate: cand.candidate, sdpMid: cand.sdpMid, sdpMLineIndex: cand.sdpMLineIndex },
    });
    assert.equal(r.janus, 'ack', JSON.stringify(r));
  }
  const r = await c.request({
    janus: 'trickle', session_id: sid, handle_id: hid, transaction: tx('t'), candidate: { completed: true },
  });
  assert.equal(r.janus, 'ack', JSON.stringify(r));
  const sdp = pc.localDescription.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') &&
    l !== 'a=end-of-candidates').join('\r\n');
  const t = tx('offer');
  const ack = await c.request({
    janus: 'message', session_id: sid, handle_id: hid, transaction: t,
    body: { audio: true, video: false }, jsep: { type: 'offer', sdp },
  }, 10000);
  assert.equal(ack.janus, 'ack', JSON.stringify(ack));
  const ev = await c.nextForTransaction(t, 10000);
  assert.equal(ev.jsep?.type, 'answer', JSON.stringify(ev));
  assert.doesNotMatch(ev.jsep.sdp, /a=candidate:/, 'full_trickle: the answer carries no candidate');
  await pc.setRemoteDescription(ev.jsep);

  // Odeon's candidates come as events, and end with completed.
  const done = await until(() => events.find((e) => e.janus === 'trickle' && e.candidate?.completed),
    10000, 'a trickle event with completed: true');
  assert.ok(done);
  const trickled = events.filter((e) => e.janus === 'trickle' && e.candidate?.candidate);
  assert.ok(trickled.length > 0, `no candidate was trickled: ${JSON.stringify(events)}`);
  for (const e of trickled) {
    assert.equal(typeof e.candidate.sdpMid, 'string');
    assert.equal(typeof e.candidate.sdpMLineIndex, 'number');
    assert.match(e.candidate.candidate, /^candidate:/);
    await pc.addIceCandidate(e.candidate);
  }
  await until(() => events.some((e) => e.janus === 'webrtcup'), 20000, 'webrtcup');
  await until(() => events.some((e) => e.janus === 'media' && e.type === 'audio' && e.receiving),
    10000, 'media receiving audio');
});
