// stage.js - the stage page: a host publishes camera and microphone to odeon.plugin.stage, or a
// viewer watches a stage (Odeon offers, the page answers).
//
// Query parameters: id=<stage> (default 1), role=host|viewer (default viewer), secret=<host
// secret>, transport=ws|http (default ws), server=<API URL>, autostart=1; for a host
// simulcast=1 (three layers, quarter, half and full size) or svc=<scalability mode> (VP9, e.g.
// L3T3_KEY), width and height of the camera (default 640x480); for a viewer substream=0..2 (the
// layer it prefers: 0 the smallest) and pin=<stage PIN>.
// A viewer watches through Odeon.StageViewer: the server URL is the entry node, which may
// redirect it to a relay; when that node dies the viewer goes back to the entry node and is
// placed again (the status line names the node that serves, e.g. "Watching on relay-1").
// window.stagePage exposes the state, the serving node, an event log and stats() (the e2e
// tests poll them).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const transport = params.get('transport') === 'http' ? 'http' : 'ws';
  const serverUrl = params.get('server') || Odeon.defaultUrl('/janus', transport);
  const $ = (id) => document.getElementById(id);
  if (params.get('id')) $('stage-id').value = params.get('id');
  if (params.get('role')) $('role').value = params.get('role') === 'host' ? 'host' : 'viewer';
  if (params.get('secret')) $('secret').value = params.get('secret');
  const startButton = $('start');

  // host: { session, handle } while publishing; viewer: the Odeon.StageViewer while watching.
  const page = { state: 'idle', events: [], node: null, failovers: 0, host: null, viewer: null,
                 running: false, stats };
  Object.defineProperty(page, 'session', {
    get: () => (page.viewer ? page.viewer.session : page.host && page.host.session),
  });
  Object.defineProperty(page, 'handle', {
    get: () => (page.viewer ? page.viewer.handle : page.host && page.host.handle),
  });
  window.stagePage = page;

  function log(text, kind = 'ok') {
    page.events.push(text);
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    $('log').prepend(li);
  }

  function setState(state, text) {
    page.state = state;
    $('status').dataset.state = state;
    $('status').textContent = text || state;
  }

  function fail(text) {
    log(text, 'error');
    setState('error', text);
    startButton.disabled = false;
  }

  // A node's name for people: its id, else the host and port it is reached on.
  function nodeLabel(node) {
    if (!node) return new URL(serverUrl, location.href).host;
    if (node.id) return node.id;
    try { return new URL(node.api || node.url, location.href).host; } catch (e) { return '?'; }
  }

  function logStatus(data) {
    if (data.error) {
      log(`${data.error_code}: ${data.error}`, 'error');
      return;
    }
    const status = data.result && data.result.status;
    if (status) log(`status ${status}${data.result.reason ? ` (${data.result.reason})` : ''}`);
  }

  function hostEncodings() {
    if (params.get('simulcast') === '1') {
      return [{ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
        { rid: 'f', maxBitrate: 1500000 }];
    }
    if (params.get('svc')) return [{ scalabilityMode: params.get('svc') }];
    return undefined;
  }

  async function startHost(id) {
    setState('connecting', `Connecting to ${serverUrl} (${transport})`);
    const session = await Odeon.connect(serverUrl, { transport });
    page.host = { session, handle: null };
    const handle = await session.attach('odeon.plugin.stage');
    page.host.handle = handle;
    handle.on('webrtcup', () => log('webrtcup'));
    handle.on('hangup', (msg) => log(`hangup: ${msg.reason || ''}`, 'error'));
    handle.on('localstream', (stream) => { $('video').srcObject = stream; });
    handle.on('event', (data) => {
      logStatus(data);
      if (data.error) fail(`${data.error_code}: ${data.error}`);
    });
    const server = await session.info().catch(() => null);
    const iceServers = server && Array.isArray(server.ice_servers) && server.ice_servers.length
      ? server.ice_servers : undefined;
    const data = await handle.call({
      body: { request: 'publish', id, secret: $('secret').value }, audio: true,
      video: { width: Number(params.get('width')) || 640,
               height: Number(params.get('height')) || 480 },
      sendEncodings: hostEncodings(), iceServers,
    });
    log(`publish: ${JSON.stringify(data)}`);
    setState('publishing', `Publishing to stage ${id}`);
  }

  function viewerState(id, state, detail) {
    const on = nodeLabel(detail.node);
    switch (state) {
      case 'connecting':
        setState(state, `Connecting to ${detail.url} (${transport})`);
        break;
      case 'redirecting':
        log(`redirected to ${on} (${detail.url})`);
        setState(state, `Moving to ${on}`);
        break;
      case 'preparing': setState(state, `Watching stage ${id} on ${on}`); break;
      case 'starting': setState(state, `Starting on ${on}`); break;
      case 'watching':
        setState(state, `Watching on ${on}`);
        $('caption').textContent = `Stage ${id} on ${on}`;
        break;
      case 'reconnecting':
        if (detail.delay) log(`retrying in ${detail.delay} ms`, 'error');
        setState(state, `Reconnecting${detail.reason ? `: ${detail.reason}` : ''}`);
        break;
      case 'ended': setState(state, 'The stage ended'); break;
      case 'error':
        fail(`Start failed: ${detail.error.message}`);
        page.viewer = null;
        page.running = false;
        startButton.textContent = 'Start';
        break;
      default: break;
    }
  }

  function startViewer(id) {
    const substream = params.get('substream');
    // Signed in on this site (signin.html, console.html)? The stage of an event lets its
    // participants, hosts and organisers watch, by the identity of this token.
    const credential = Odeon.Tickets ? (Odeon.Tickets.stored('participant') || Odeon.Tickets.stored('organiser')) : null;
    const viewer = new Odeon.StageViewer(serverUrl, id, {
      video: $('video'), transport, pin: params.get('pin') || undefined,
      token: credential ? credential.token : undefined,
      configure: substream !== null ? { substream: Number(substream) } : undefined,
    });
    page.viewer = viewer;
    viewer.on('state', (state, detail) => viewerState(id, state, detail));
    viewer.on('node', (node) => {
      page.node = node;
      $('status').dataset.node = node.id || '';
      log(`served by ${nodeLabel(node)} (${node.api})`);
    });
    viewer.on('failover', ({ from, reason }) => {
      page.failovers++;
      log(`failover from ${nodeLabel(from)}: ${reason}`, 'error');
    });
    viewer.on('event', logStatus);
    viewer.on('webrtcup', () => log('webrtcup'));
    viewer.on('hangup', (msg) => log(`hangup: ${msg.reason || ''}`, 'error'));
    viewer.on('configured', (r) => log(`configure: ${JSON.stringify(r)}`));
    viewer.on('error', (e) => log(e.message, 'error'));
    // Resolves once a node serves; it keeps retrying while none can be reached, so the
    // button is Stop from now on. It rejects only on errors retrying cannot fix.
    return viewer.start().catch(() => {});
  }

  async function start() {
    startButton.disabled = true;
    page.running = true;
    const id = Number($('stage-id').value);
    const role = $('role').value;
    try {
      if (role === 'host') {
        await startHost(id);
      } else {
        startViewer(id);
      }
      startButton.textContent = 'Stop';
      startButton.disabled = false;
    } catch (e) {
      fail(`Start failed: ${e.message}`);
      const host = page.host;
      page.host = null;
      page.running = false;
      if (host) host.session.destroy().catch(() => {});
    }
  }

  async function stop() {
    const { host, viewer } = page;
    page.host = page.viewer = null;
    page.running = false;
    startButton.disabled = true;
    try {
      if (viewer) await viewer.stop();
      if (host && host.handle) await host.handle.request({ request: 'unpublish' });
      if (host && host.handle) await host.handle.detach();
      if (host) await host.session.destroy();
    } catch (e) {
      log(`stop: ${e.message}`, 'error');
    }
    setState('stopped', 'Stopped');
    startButton.textContent = 'Start';
    startButton.disabled = false;
    $('video').srcObject = null;
  }

  async function stats() {
    const result = { state: page.state, node: page.node ? page.node.id : null,
                     failovers: page.failovers, framesDecoded: 0, packetsReceived: 0,
                     framesSent: 0, frameWidth: 0, frameHeight: 0 };
    const pc = page.handle && page.handle.pc;
    if (!pc) return result;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        result.framesDecoded = s.framesDecoded || 0;
        result.packetsReceived = s.packetsReceived || 0;
        result.frameWidth = s.frameWidth || 0;
        result.frameHeight = s.frameHeight || 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
        result.framesSent = s.framesSent || 0;
      }
    });
    return result;
  }

  startButton.addEventListener('click', () => (page.running ? stop() : start()));
  if (params.get('autostart') === '1') start();
})();
