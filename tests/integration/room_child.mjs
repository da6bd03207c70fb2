// A room member in a process of its own, over the HTTP long-poll transport, for
// room.test.mjs: it joins room argv[4] with token argv[3] on the server at argv[2], publishes
// synthetic camera and microphone, prints {"id": ...} once media flows, and runs until it is
// killed. Killed with SIGKILL it vanishes like a closed laptop: no DTLS close, no hangup, and
// its session stays until the session timeout, so only ICE consent tells the server.
import { httpAttach, httpCreateSession, httpPost, pollFor, tx } from './client.mjs';
import { SyntheticMedia } from './wrtc_media.mjs';

const [httpUrl, token, room] = process.argv.slice(2);
const server = { httpUrl };
const wrtc = (await import('@roamhq/wrtc')).default;
const sid = await httpCreateSession(server, { token });
const hid = await httpAttach(server, sid, 'odeon.plugin.room');

async function request(body, jsep) {
  const transaction = tx('child');
  await httpPost(server, `/${sid}/${hid}`, { janus: 'message', transaction, body, ...(jsep ? { jsep } : {}) });
  return pollFor(server, sid, (e) => e.transaction === transaction && e.janus === 'event', { timeoutMs: 15000 });
}

const joined = await request({ request: 'join', ptype: 'publisher', room: Number(room), display: 'Child' });
const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
const media = new SyntheticMedia(wrtc);
const stream = new wrtc.MediaStream([media.audioTrack, media.videoTrack]);
pc.addTransceiver(media.audioTrack, { direction: 'sendonly', streams: [stream] });
pc.addTransceiver(media.videoTrack, { direction: 'sendonly', streams: [stream] });
media.start();
await pc.setLocalDescription(await pc.createOffer());
while (pc.iceGatheringState !== 'complete') await new Promise((r) => setTimeout(r, 50));
const answer = await request({ request: 'publish' }, { type: 'offer', sdp: pc.localDescription.sdp });
await pc.setRemoteDescription(answer.jsep);
while (pc.connectionState !== 'connected') await new Promise((r) => setTimeout(r, 50));
process.stdout.write(`${JSON.stringify({ id: joined.plugindata.data.id })}\n`);
setInterval(() => httpPost(server, `/${sid}`, { janus: 'keepalive', transaction: tx('k') }), 5000);
