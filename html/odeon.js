// odeon.js - the Odeon browser client: Janus API sessions, plugin handles and WebRTC.
//
// Speaks the Janus JSON API, so it works against Odeon and Janus alike, over either transport:
// WebSocket ("janus-protocol" subprotocol) for ws:// and wss:// URLs, HTTP long-poll for
// http:// and https:// URLs. A Session keeps itself alive with keepalives, matches replies to
// requests by transaction, and routes asynchronous events to the handle they name. A Handle
// can carry one RTCPeerConnection: call() offers local media to the plugin, answer() answers
// an offer the plugin sent; candidates trickle both ways.
//
//   const session = await Odeon.connect('ws://host:8088/janus', { token });   // or http://
//   const echo = await session.attach('odeon.plugin.echotest');
//   const reply = await echo.request({ request: 'ping' });      // sync: plugindata.data
//   echo.on('event', (data, jsep, msg) => ...);                 // every plugin event
//   echo.on('track', (track, streams, on) => ...);              // remote media
//   echo.on('webrtcup' | 'media' | 'slowlink' | 'hangup', (msg) => ...);
//   await echo.call({ body: { audio: true, video: true } });    // getUserMedia + offer
//   echo.on('offer', (jsep, data) => echo.answer(jsep, { body: { request: 'start' } }));
//   await echo.hangup(); await echo.detach(); await session.destroy();
//
// A stage viewer that follows relay placement and fails over when its node dies:
//   const viewer = new Odeon.StageViewer('ws://host:8088/janus', 1, { video, pin });
//   viewer.on('state', (state, detail) => ...); viewer.on('node', (node) => ...);
//   await viewer.start(); ... await viewer.stop();
//
// Tickets (odeon.plugin.tickets: events, registration, sign-in) and the public event listing:
//   const tickets = new Odeon.Tickets({ credential: 'organiser' });
//   await tickets.connect(); const data = await tickets.request('my_events');
//   await tickets.signIn(token); await tickets.signOut();
//   const { events } = await Odeon.fetchEvents({ business_type: 'meetup' });

(function (global) {
  'use strict';

  function randomTransaction() {
    const bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  class OdeonError extends Error {
    constructor(code, reason) {
      super(`${code}: ${reason}`);
      this.code = code;
      this.reason = reason;
    }
  }

  class Emitter {
    constructor() { this.listeners = new Map(); }
    on(name, fn) {
      if (!this.listeners.has(name)) this.listeners.set(name, new Set());
      this.listeners.get(name).add(fn);
      return () => this.listeners.get(name).delete(fn);
    }
    listening(name) { return (this.listeners.get(name) || new Set()).size > 0; }
    emit(name, ...args) {
      for (const fn of this.listeners.get(name) || []) {
        try { fn(...args); } catch (e) { console.error(e); }
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Transports. Both expose open(), send(msg) -> Promise (settles once the message left, or,
  // over HTTP, once its synchronous reply arrived), startEvents(sessionId), stopEvents(),
  // close(), and call onmessage(object) for every reply and event and onclose() once.

  class WsTransport {
    constructor(url) {
      this.url = url;
      this.onmessage = () => {};
      this.onclose = () => {};
    }

    open() {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(this.url, 'janus-protocol');
        this.ws = ws;
        let opened = false;
        ws.addEventListener('error', () => {
          if (!opened) reject(new OdeonError(0, `cannot connect to ${this.url}`));
        });
        ws.addEventListener('open', () => { opened = true; resolve(); });
        ws.addEventListener('message', (ev) => {
          let msg;
          try { msg = JSON.parse(ev.data); } catch (e) { return; }
          this.onmessage(msg);
        });
        ws.addEventListener('close', () => { if (opened) this.onclose(); });
      });
    }

    send(msg) {
      if (this.ws.readyState !== WebSocket.OPEN) {
        return Promise.reject(new OdeonError(0, 'connection closed'));
      }
      this.ws.send(JSON.stringify(msg));
      return Promise.resolve();
    }

    startEvents() {}

    stopEvents() {}

    close() { this.ws.close(); }
  }

  // Requests go as POSTs to the base path, the session path or the handle path; their replies
  // come back in the POST's response. Events come from a GET long-poll on the session path,
  // reissued as soon as it answers. text/plain bodies keep cross-origin POSTs "simple" (no
  // CORS preflight).
  class HttpTransport {
    constructor(url, options) {
      this.url = url.replace(/\/+$/, '');
      this.options = options;
      this.onmessage = () => {};
      this.onclose = () => {};
      this.closed = false;
      this.polling = false;
      this.poller = null;
    }

    open() { return Promise.resolve(); }

    async send(msg) {
      if (this.closed) throw new OdeonError(0, 'connection closed');
      let path = this.url;
      if (msg.session_id !== undefined) path += `/${msg.session_id}`;
      if (msg.handle_id !== undefined) path += `/${msg.handle_id}`;
      const body = Object.assign({}, msg);
      delete body.session_id;
      delete body.handle_id;
      let reply;
      try {
        const res = await fetch(path, { method: 'POST', body: JSON.stringify(body),
                                        headers: { 'Content-Type': 'text/plain' } });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        reply = await res.json();
      } catch (e) {
        throw new OdeonError(0, `${path}: ${e.message}`);
      }
      this.onmessage(reply);
    }

    startEvents(sessionId) {
      if (this.poller) return;
      this.poller = new AbortController();
      this.poll(sessionId, this.poller.signal);
    }

    // Before a destroy: a long-poll reissued after it would only meet "no such session".
    stopEvents() {
      this.polling = false;
      if (this.poller) this.poller.abort();
    }

    async poll(sessionId, signal) {
      const query = new URLSearchParams({ maxev: '10', rid: String(Date.now()) });
      if (this.options.token) query.set('token', this.options.token);
      if (this.options.apisecret) query.set('apisecret', this.options.apisecret);
      let failures = 0;
      this.polling = true;
      while (!this.closed && this.polling) {
        query.set('rid', String(Date.now()));
        let events;
        try {
          const res = await fetch(`${this.url}/${sessionId}?${query}`, { signal, cache: 'no-store' });
          // 404: the session is unknown (its body is the 458 error handled below).
          if (!res.ok && res.status !== 404) throw new Error(`HTTP ${res.status}`);
          events = await res.json();
          failures = 0;
        } catch (e) {
          if (this.closed || !this.polling) return;
          if (++failures >= 3) { this.shutdown(); return; }
          await new Promise((resolve) => setTimeout(resolve, 1000 * failures));
          continue;
        }
        if (!this.polling) return;
        for (const ev of Array.isArray(events) ? events : [events]) {
          if (!ev || ev.janus === 'keepalive') continue;
          // The session is gone (expired, destroyed elsewhere): nothing more will come.
          if (ev.janus === 'error' && ev.error && ev.error.code === 458) {
            this.shutdown();
            return;
          }
          this.onmessage(ev);
        }
      }
    }

    shutdown() {
      if (this.closed) return;
      this.closed = true;
      if (this.poller) this.poller.abort();
      this.onclose();
    }

    close() { this.shutdown(); }
  }

  // ---------------------------------------------------------------------------------------
  // Handles and their peer connection.

  function plainCandidate(c) {
    return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
  }

  class Handle extends Emitter {
    constructor(session, id, plugin) {
      super();
      this.session = session;
      this.id = id;
      this.plugin = plugin;
      this.pc = null;
      this.localStream = null;
      this.ownsLocalStream = false;
      this.remoteStream = null;
      this.remoteQueue = [];     // remote candidates received before the remote description
      this.localQueue = null;    // local candidates held until the server has our jsep
      this.jsepDone = Promise.resolve();
    }

    // Resolves with plugindata.data for a synchronous reply, or with the data of the event
    // that carries the same transaction after an "ack" ({ data, jsep } when it has a jsep).
    // onAck (optional) runs when the server acknowledged the request.
    request(body, jsep, onAck) {
      const msg = { janus: 'message', body, handle_id: this.id };
      if (jsep) msg.jsep = jsep;
      return this.session.send(msg, { waitEvent: true, onAck }).then((reply) => {
        const data = reply.plugindata ? reply.plugindata.data : {};
        return reply.jsep ? { data, jsep: reply.jsep } : data;
      });
    }

    trickle(candidate) {
      return this.session.send({ janus: 'trickle', handle_id: this.id,
                                 candidate: candidate || { completed: true } });
    }

    // Offers local media to the plugin with `body`, and applies the answer the plugin sends
    // back. Media: `stream` (a MediaStream) or `tracks` (MediaStreamTracks), else getUserMedia
    // with `audio`/`video` (constraints or booleans). `recvAudio`/`recvVideo` add receive-only
    // transceivers when no such local track is sent. `sendEncodings` (RTCRtpEncodingParameters)
    // go with the video track: several with a `rid` each for simulcast, or one with a
    // `scalabilityMode` (e.g. 'L3T3_KEY') for VP9 SVC. Resolves with the data of the plugin's
    // answering event.
    async call(options = {}) {
      const { body = {}, iceServers } = options;
      this.closePeer();
      const pc = this.createPeer(iceServers);
      try {
        const stream = await this.localMedia(options);
        for (const track of stream.getTracks()) {
          if (track.kind === 'video' && options.sendEncodings) {
            pc.addTransceiver(track, { direction: 'sendonly', streams: [stream],
                                       sendEncodings: options.sendEncodings });
          } else {
            pc.addTrack(track, stream);
          }
        }
        for (const kind of ['audio', 'video']) {
          const want = options[kind === 'audio' ? 'recvAudio' : 'recvVideo'];
          if (want && !stream.getTracks().some((t) => t.kind === kind)) {
            pc.addTransceiver(kind, { direction: 'recvonly' });
          }
        }
        const offer = await pc.createOffer();
        this.localQueue = [];
        await pc.setLocalDescription(offer);
        const reply = await this.request(body, { type: offer.type, sdp: offer.sdp },
                                         () => this.flushLocalCandidates());
        this.flushLocalCandidates();
        await this.jsepDone;
        const data = reply.data !== undefined && reply.jsep ? reply.data : reply;
        if (data && data.error) throw new OdeonError(data.error_code || 0, data.error);
        if (!reply.jsep && pc.signalingState === 'have-local-offer') {
          throw new OdeonError(0, 'the plugin answered without a jsep');
        }
        return data;
      } catch (e) {
        if (this.pc === pc) this.closePeer();
        throw e;
      }
    }

    // Answers an offer the plugin sent (the receiving direction: a viewer). `body` goes with
    // the answer; local media is optional (`stream`, `tracks`, or `audio`/`video` to capture).
    async answer(jsep, options = {}) {
      const { body = {}, iceServers } = options;
      const pc = this.pc || this.createPeer(iceServers);
      const stream = options.stream || options.tracks || options.audio || options.video
        ? await this.localMedia(options) : null;
      if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
      await this.applyRemoteDescription(jsep);
      const answer = await pc.createAnswer();
      this.localQueue = [];
      await pc.setLocalDescription(answer);
      const reply = await this.request(body, { type: answer.type, sdp: answer.sdp },
                                       () => this.flushLocalCandidates());
      this.flushLocalCandidates();
      return reply;
    }

    async localMedia({ stream, tracks, audio = true, video = true }) {
      if (stream) { this.localStream = stream; this.ownsLocalStream = false; }
      else if (tracks) { this.localStream = new MediaStream(tracks); this.ownsLocalStream = false; }
      else if (audio || video) {
        this.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
        this.ownsLocalStream = true;
      } else {
        this.localStream = new MediaStream();
        this.ownsLocalStream = false;
      }
      this.emit('localstream', this.localStream);
      return this.localStream;
    }

    createPeer(iceServers) {
      const pc = new RTCPeerConnection(iceServers ? { iceServers } : {});
      this.pc = pc;
      this.localQueue = null;
      this.remoteStream = new MediaStream();
      pc.addEventListener('icecandidate', (ev) => {
        if (this.pc !== pc || (ev.candidate && !ev.candidate.candidate)) return;
        const candidate = ev.candidate ? plainCandidate(ev.candidate) : { completed: true };
        if (this.localQueue) this.localQueue.push(candidate);
        else this.trickle(candidate).catch(() => {});
      });
      pc.addEventListener('track', (ev) => {
        if (this.pc !== pc) return;
        const track = ev.track;
        this.remoteStream.addTrack(track);
        this.emit('track', track, ev.streams, true, ev.transceiver && ev.transceiver.mid);
        track.addEventListener('ended', () => {
          this.remoteStream.removeTrack(track);
          this.emit('track', track, ev.streams, false);
        });
      });
      pc.addEventListener('connectionstatechange', () => {
        if (this.pc === pc) this.emit('pcstate', pc.connectionState);
      });
      pc.addEventListener('iceconnectionstatechange', () => {
        if (this.pc === pc) this.emit('icestate', pc.iceConnectionState);
      });
      return pc;
    }

    // The server has our jsep once it acknowledged the message: candidates may follow it.
    flushLocalCandidates() {
      const queue = this.localQueue;
      this.localQueue = null;
      for (const c of queue || []) this.trickle(c).catch(() => {});
    }

    async applyRemoteDescription(jsep) {
      await this.pc.setRemoteDescription({ type: jsep.type, sdp: jsep.sdp });
      const queue = this.remoteQueue;
      this.remoteQueue = [];
      for (const c of queue) await this.addRemoteCandidate(c);
    }

    // Candidates that come before the remote description (or, for an offer from the plugin,
    // before answer() created the peer connection) wait for it.
    async addRemoteCandidate(c) {
      if (!this.pc || !this.pc.remoteDescription) { this.remoteQueue.push(c); return; }
      try {
        if (c.completed) await this.pc.addIceCandidate();
        else await this.pc.addIceCandidate(plainCandidate(c));
      } catch (e) {
        console.warn('odeon.js: remote candidate rejected', c, e);
      }
    }

    // A jsep in a plugin event: an answer to our offer, or an offer to answer.
    onRemoteJsep(jsep, data) {
      if (jsep.type === 'answer') {
        if (!this.pc || this.pc.signalingState !== 'have-local-offer') return;
        this.jsepDone = this.applyRemoteDescription(jsep).catch((e) => {
          this.emit('error', e);
          throw e;
        });
      } else if (jsep.type === 'offer') {
        if (this.listening('offer')) this.emit('offer', jsep, data);
        else console.warn('odeon.js: the plugin sent an offer; listen for "offer" to answer it');
      }
    }

    // Routes the core's events for this handle; `janus` is the event name.
    onServerEvent(msg) {
      if (msg.janus === 'event') {
        const data = msg.plugindata ? msg.plugindata.data : {};
        if (msg.jsep) this.onRemoteJsep(msg.jsep, data);
        this.emit('event', data, msg.jsep, msg);
        return;
      }
      if (msg.janus === 'trickle') {
        const list = msg.candidates || [msg.candidate];
        for (const c of list) if (c) this.addRemoteCandidate(c);
      }
      if (msg.janus === 'hangup' || msg.janus === 'detached') this.closePeer();
      if (msg.janus === 'detached') this.session.handles.delete(this.id);
      this.emit(msg.janus, msg);
    }

    closePeer() {
      const pc = this.pc;
      this.remoteQueue = [];
      this.localQueue = null;
      if (!pc) return;
      this.pc = null;
      if (this.localStream && this.ownsLocalStream) {
        for (const track of this.localStream.getTracks()) track.stop();
      }
      this.localStream = null;
      pc.close();
      this.emit('pcstate', 'closed');
    }

    async hangup() {
      this.closePeer();
      return this.session.send({ janus: 'hangup', handle_id: this.id });
    }

    async detach() {
      this.closePeer();
      await this.session.send({ janus: 'detach', handle_id: this.id });
      this.session.handles.delete(this.id);
    }
  }

  // ---------------------------------------------------------------------------------------

  class Session extends Emitter {
    constructor(transport, options) {
      super();
      this.transport = transport;
      this.options = options;
      this.id = null;
      this.handles = new Map();
      this.pending = new Map();
      this.keepaliveTimer = null;
      this.closed = false;
      transport.onmessage = (msg) => this.onMessage(msg);
      transport.onclose = () => this.onClose();
    }

    // sessionless: requests that only exist at the base path (info, ping), where a session id
    // would make the server answer "unknown request". onAck: called on an "ack" of a waitEvent
    // request.
    send(msg, { waitEvent = false, sessionless = false, onAck } = {}) {
      const transaction = randomTransaction();
      msg.transaction = transaction;
      if (this.id !== null && !sessionless) msg.session_id = this.id;
      if (this.options.token) msg.token = this.options.token;
      if (this.options.apisecret) msg.apisecret = this.options.apisecret;
      return new Promise((resolve, reject) => {
        this.pending.set(transaction, { resolve, reject, waitEvent, onAck });
        this.transport.send(msg).catch((e) => {
          if (!this.pending.delete(transaction)) return;
          reject(e);
        });
      });
    }

    onMessage(msg) {
      const pending = msg.transaction && this.pending.get(msg.transaction);
      if (pending) {
        this.pending.delete(msg.transaction);
        if (msg.janus === 'error') {
          pending.reject(new OdeonError(msg.error.code, msg.error.reason));
        } else if (msg.janus === 'ack' && pending.waitEvent) {
          this.pending.set(msg.transaction, pending); // the event with this transaction follows
          if (pending.onAck) pending.onAck();
        } else {
          // An event answering a request also reaches its handle (a jsep must be applied).
          if (msg.janus === 'event') this.dispatchEvent(msg);
          pending.resolve(msg);
        }
        return;
      }
      this.dispatchEvent(msg);
    }

    dispatchEvent(msg) {
      const handle = msg.sender && this.handles.get(msg.sender);
      if (msg.janus === 'timeout') { this.emit('timeout'); return; }
      if (!handle) { this.emit(msg.janus, msg); return; }
      handle.onServerEvent(msg);
    }

    onClose() {
      if (this.closed) return;
      this.closed = true;
      clearInterval(this.keepaliveTimer);
      for (const p of this.pending.values()) p.reject(new OdeonError(0, 'connection closed'));
      this.pending.clear();
      for (const handle of this.handles.values()) handle.closePeer();
      this.emit('closed');
    }

    async attach(plugin, opaqueId) {
      const msg = { janus: 'attach', plugin };
      if (opaqueId) msg.opaque_id = opaqueId;
      const reply = await this.send(msg);
      const handle = new Handle(this, reply.data.id, plugin);
      this.handles.set(handle.id, handle);
      return handle;
    }

    info() { return this.send({ janus: 'info' }, { sessionless: true }); }

    async destroy() {
      clearInterval(this.keepaliveTimer);
      for (const handle of this.handles.values()) handle.closePeer();
      this.transport.stopEvents();
      try {
        await this.send({ janus: 'destroy' });
      } finally {
        this.transport.close();
        this.onClose();
      }
    }
  }

  // ws:// and wss:// URLs use the WebSocket transport, http:// and https:// the long-poll one
  // (options.transport = 'ws' | 'http' overrides). Resolves with a created Session.
  async function connect(url, options = {}) {
    const kind = options.transport || (/^wss?:/i.test(url) ? 'ws' : 'http');
    const transport = kind === 'ws' ? new WsTransport(url) : new HttpTransport(url, options);
    await transport.open();
    const session = new Session(transport, options);
    try {
      const reply = await session.send({ janus: 'create' });
      session.id = reply.data.id;
    } catch (e) {
      transport.close();
      throw e;
    }
    transport.startEvents(session.id);
    session.keepaliveTimer = setInterval(
      () => session.send({ janus: 'keepalive' }).catch(() => {}),
      options.keepaliveMs || 25000);
    return session;
  }

  // The API URL on the page's own host: ws(s)://host/janus, or http(s)://host/janus when
  // transport is 'http'.
  function defaultUrl(path = '/janus', transport = 'ws') {
    const secure = global.location && global.location.protocol === 'https:';
    const scheme = transport === 'http' ? (secure ? 'https' : 'http') : (secure ? 'wss' : 'ws');
    return `${scheme}://${global.location.host}${path}`;
  }

  // ---------------------------------------------------------------------------------------
  // Watching a stage across nodes: placement on a relay and failover when it dies.
  //
  // The entry node (the URL the page was opened with) places the viewer: a "watch" with
  // "placement": true is answered either by the usual offer (this node serves) or by
  // {"status":"redirect","node":{"id","url"}}, and the viewer then watches on that node (with
  // "placement": false) and closes its entry session. When the serving node goes away (its
  // WebSocket closes or the long-poll fails, ICE goes "failed" or stays "disconnected", a
  // hangup without the stage ending), the viewer goes back to the entry node and asks again,
  // excluding the lost node, with a short backoff while the entry node is unreachable. It gives
  // up only on stop() or an error that retrying cannot fix (wrong PIN, bad request).

  const BACKOFF_MS = [250, 500, 1000, 2000];
  const FATAL_CODES = new Set([453, 454, 457]); // missing or invalid element, unauthorized
  const CLIENT_KEY_NAME = 'odeon.client';
  let pageClientKey = null;

  function randomHex(n) {
    const bytes = new Uint8Array(n);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // One random key per page (tab), kept in sessionStorage so that a reload keeps its sticky
  // placement; in memory when storage is unavailable.
  function clientKey() {
    if (pageClientKey) return pageClientKey;
    try {
      const stored = global.sessionStorage.getItem(CLIENT_KEY_NAME);
      if (stored && /^[0-9a-f]{16,64}$/.test(stored)) pageClientKey = stored;
    } catch (e) { /* storage disabled */ }
    if (!pageClientKey) {
      pageClientKey = randomHex(16);
      try {
        global.sessionStorage.setItem(CLIENT_KEY_NAME, pageClientKey);
      } catch (e) { /* ditto */ }
    }
    return pageClientKey;
  }

  // The Janus API URL of a node, given the entry URL the page used and the node's advertised
  // URL (scheme, host and port, no path): the node's host and port, the entry's transport
  // (ws/wss or http/https; secure when the node's URL is https or wss) and the entry's path.
  //   nodeUrl('ws://origin:8188/janus', 'http://10.0.0.7:18188') -> 'ws://10.0.0.7:18188/janus'
  function nodeUrl(entryUrl, advertised) {
    const base = global.location ? global.location.href : undefined;
    const entry = new URL(entryUrl, base);
    const node = new URL(advertised, entry);
    const ws = /^wss?:$/i.test(entry.protocol);
    const secure = /^(https|wss):$/i.test(node.protocol);
    const scheme = ws ? (secure ? 'wss:' : 'ws:') : (secure ? 'https:' : 'http:');
    const entryPath = entry.pathname.replace(/\/+$/, '');
    let path = node.pathname.replace(/\/+$/, '');
    if (!path.endsWith(entryPath)) path += entryPath;
    return `${scheme}//${node.host}${path}${entry.search}`;
  }

  function withTimeout(promise, ms, what) {
    let timer;
    const expired = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new OdeonError(0, `${what}: no answer in ${ms} ms`)), ms);
    });
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
  }

  // Destroys a session, or drops it when its server does not answer within ms.
  function closeSession(session, ms = 2000) {
    if (!session || session.closed) return Promise.resolve();
    return withTimeout(session.destroy(), ms, 'destroy').catch(() => {
      try { session.transport.close(); } catch (e) { /* already closed */ }
      session.onClose();
    });
  }

  // The data of a plugin reply ({ data, jsep } when it carried a jsep); throws its error.
  // A plugin's error is marked `plugin` (its codes overlap the core's).
  function pluginData(reply) {
    const data = reply && reply.jsep && reply.data !== undefined ? reply.data : reply || {};
    if (data.error || data.error_code) {
      const e = new OdeonError(data.error_code || 0, data.error || 'plugin error');
      e.plugin = true;
      throw e;
    }
    return data;
  }

  // Asks the entry node where a viewer of the stage should watch, without watching: resolves
  // with { id, url } (url as advertised; Odeon.nodeUrl gives its API URL).
  async function placeViewer(entryUrl, stageId, options = {}) {
    const session = await connect(entryUrl, options);
    try {
      const handle = await session.attach('odeon.plugin.stage');
      const data = pluginData(await handle.request({
        request: 'placement', id: stageId, client: options.client || clientKey(),
        exclude: options.exclude || [],
      }));
      if (!data.node || !data.node.url) throw new OdeonError(0, 'placement without a node');
      return data.node;
    } finally {
      closeSession(session);
    }
  }

  // Watches one stage and keeps watching it across node failures.
  //
  //   const viewer = new Odeon.StageViewer('ws://host:8188/janus', 1, { video: videoElement });
  //   viewer.on('state', (state, detail) => ...);
  //   viewer.on('node', (node) => ...);          // { id, url, api, entry }: who serves now
  //   viewer.on('failover', (info) => ...);      // { from: node, reason }
  //   viewer.on('track', (track, streams, on, mid) => ...);
  //   await viewer.start();                      // resolves once a node serves (null if stopped)
  //   await viewer.stop();
  //
  // States: 'connecting' (to the entry node), 'redirecting' (to the node it named),
  // 'preparing' (the serving node offered), 'starting' (answered), 'watching' (media is up),
  // 'reconnecting' (lost the node or could not reach one; detail.reason, detail.delay),
  // 'ended' (the stage ended; the viewer stays connected until stop()), 'stopped', 'error'
  // (detail.error; only for errors retrying cannot fix). detail.node is the node concerned.
  // Options: video (a media element to play the remote stream), pin, token, apisecret,
  // transport ('ws' | 'http', else from the URL), iceServers (else each node's info),
  // configure (a stage "configure" body, e.g. { substream: 0 }, sent after every start),
  // placement (false: a plain watch, for servers without placement), client (the placement
  // key; default Odeon.clientKey()), onState (a 'state' listener), timeoutMs (per request,
  // 10000), disconnectedMs (how long ICE may stay "disconnected", 2000), excludeMs (how long
  // a lost node stays excluded, 60000). Also 'event' (data, jsep), 'webrtcup', 'media',
  // 'hangup', 'configured' (data) and 'error' (e, non-fatal) events.
  class StageViewer extends Emitter {
    constructor(entryUrl, stageId, options = {}) {
      super();
      this.entryUrl = entryUrl;
      this.stageId = stageId;
      this.options = options;
      this.client = options.client || clientKey();
      this.prefs = options.configure ? Object.assign({}, options.configure) : null;
      this.state = 'idle';
      this.link = null;        // { session, handle, node, url, lost, iceServers, timers }
      this.node = null;
      this.lost = new Map();   // node id -> when it was lost
      this.failures = 0;       // attempts since media was last up (picks the backoff)
      this.running = false;
      this.stopped = true;
      this.connecting = false;
      this.ended = false;
      this.gen = 0;            // start() and stop() end the loops of the run before
      this.wake = null;
      this.first = null;
      if (options.onState) this.on('state', options.onState);
    }

    get session() { return this.link ? this.link.session : null; }
    get handle() { return this.link ? this.link.handle : null; }
    get pc() { return this.handle ? this.handle.pc : null; }
    get stream() { return this.handle ? this.handle.remoteStream : null; }

    start() {
      if (this.running) return this.first.promise;
      this.running = true;
      this.stopped = false;
      this.ended = false;
      this.failures = 0;
      this.gen++;
      this.connecting = false;
      this.first = {};
      this.first.promise = new Promise((resolve, reject) => {
        this.first.resolve = resolve;
        this.first.reject = reject;
      });
      this.reconnect(null);
      return this.first.promise;
    }

    async stop() {
      this.stopped = true;
      this.running = false;
      this.gen++;
      if (this.wake) this.wake();
      const link = this.link;
      this.link = null;
      if (link) {
        this.clearTimers(link);
        if (link.handle && !link.session.closed) {
          await withTimeout(link.handle.request({ request: 'stop' }), 2000, 'stop').catch(() => {});
        }
        await closeSession(link.session);
      }
      const video = this.options.video;
      if (video && link && link.handle && video.srcObject === link.handle.remoteStream) {
        video.srcObject = null;
      }
      if (this.first) this.first.resolve(null);
      this.setState('stopped', {});
    }

    // Sets stage "configure" preferences (e.g. { substream: 0 }): sent now when a node serves,
    // and again after every (re)start. Resolves with the plugin's reply, or null when not sent.
    async configure(body) {
      this.prefs = Object.assign(this.prefs || {}, body);
      return this.link && this.state === 'watching' ? this.sendPrefs(this.link) : null;
    }

    // A request to the stage plugin on the node that serves (e.g. { request: 'pause' }).
    request(body) {
      if (!this.handle) return Promise.reject(new OdeonError(0, 'not connected'));
      return this.handle.request(body);
    }

    setState(state, detail = {}) {
      this.state = state;
      if (detail.node === undefined) detail.node = this.node;
      this.emit('state', state, detail);
    }

    excluded() {
      const now = Date.now();
      const ms = this.options.excludeMs || 60000;
      for (const [id, at] of this.lost) if (now - at > ms) this.lost.delete(id);
      return [...this.lost.keys()];
    }

    sleep(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => { this.wake = null; resolve(); }, ms);
        this.wake = () => { clearTimeout(timer); this.wake = null; resolve(); };
      });
    }

    // (Re)connects until a node serves or stop(); target: a node to go to directly (a redirect
    // while watching), else the entry node places the viewer.
    async reconnect(reason, target = null) {
      if (this.connecting || this.stopped) return;
      const gen = this.gen;
      this.connecting = true;
      const from = this.link ? this.link.node : null;
      if (this.link) this.closeLink(this.link);
      if (reason !== null) {
        if (from && from.id && !target) this.lost.set(from.id, Date.now());
        this.emit('failover', { from, reason });
        this.setState('reconnecting', { reason, node: from, delay: 0 });
      }
      while (gen === this.gen) {
        if (this.failures > 0) {
          const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length) - 1];
          this.setState('reconnecting', { reason: this.lastError || reason, delay });
          await this.sleep(delay);
          if (gen !== this.gen) return;
        }
        this.failures++;
        try {
          const node = await this.attempt(target, gen);
          if (gen !== this.gen) return;
          this.connecting = false;
          this.first.resolve(node);
          return;
        } catch (e) {
          if (gen !== this.gen) return;
          target = null;
          this.lastError = e.message;
          if (this.fatal(e)) {
            this.connecting = false;
            this.running = false;
            this.stopped = true;
            this.gen++;
            this.setState('error', { error: e });
            this.first.reject(e);
            return;
          }
          this.emit('error', e);
        }
      }
    }

    // Errors that retrying cannot fix: a bad request, a wrong PIN or token, a stage that the
    // entry node itself does not know (before any node served it).
    fatal(e) {
      if (e.plugin) return FATAL_CODES.has(e.code) || (e.code === 455 && !this.node && !e.named);
      return e.code === 403 || e.code === 405;
    }

    // One try: the entry node (or target), then any node it redirects to. Resolves with the
    // node that serves, once it offered (the answer follows from the 'offer' listener).
    async attempt(target, gen) {
      let node = target;
      let url = target ? nodeUrl(this.entryUrl, target.url) : this.entryUrl;
      let placement = !target;
      for (let hop = 0; hop < 4; hop++) {
        this.setState(node ? 'redirecting' : 'connecting', { url, node });
        let link = null;
        let result;
        try {
          link = await this.open(url, node, gen);
          result = await this.watch(link, placement);
          if (link.lost) throw new OdeonError(0, link.lost);
        } catch (e) {
          if (link) this.closeLink(link);
          // A node that was named but cannot serve is out for a while, like a lost one.
          if (node) {
            e.named = true;
            if (node.id && !this.fatal(e)) this.lost.set(node.id, Date.now());
          }
          throw e;
        }
        if (!result.redirect) {
          this.node = link.node;
          this.emit('node', link.node);
          this.setState('preparing', { node: link.node });
          return link.node;
        }
        this.closeLink(link); // the entry node's session: the named node serves
        node = result.redirect;
        url = nodeUrl(this.entryUrl, node.url);
        placement = false;
      }
      throw new OdeonError(0, 'too many redirects');
    }

    async open(url, node, gen) {
      const { token, apisecret, transport, keepaliveMs } = this.options;
      const ms = this.options.timeoutMs || 10000;
      const connecting = connect(url, { token, apisecret, transport, keepaliveMs });
      let session;
      try {
        session = await withTimeout(connecting, ms, `connect to ${url}`);
      } catch (e) {
        connecting.then((s) => closeSession(s), () => {});
        throw e;
      }
      if (gen !== this.gen) {
        closeSession(session);
        throw new OdeonError(0, 'stopped');
      }
      const link = {
        session, handle: null, url, lost: null, timers: {},
        node: Object.assign({ id: null, url }, node || {}, { api: url, entry: !node }),
      };
      this.link = link;
      session.on('closed', () => this.linkLost(link, 'connection lost'));
      session.on('timeout', () => this.linkLost(link, 'session timed out'));
      const info = this.options.iceServers ? null
        : withTimeout(session.info(), ms, 'info').catch(() => null);
      link.iceServers = Promise.resolve(info).then((i) => this.options.iceServers ||
        (i && Array.isArray(i.ice_servers) && i.ice_servers.length ? i.ice_servers : undefined));
      try {
        link.handle = await withTimeout(session.attach('odeon.plugin.stage'), ms, 'attach');
      } catch (e) {
        this.closeLink(link);
        throw e;
      }
      this.wire(link);
      return link;
    }

    // Resolves with { redirect: node } or {} (the node serves; its offer went to 'offer').
    async watch(link, placement) {
      const body = { request: 'watch', id: this.stageId };
      if (this.options.pin) body.pin = this.options.pin;
      if (this.options.placement !== false) {
        body.placement = placement;
        body.client = this.client;
        if (placement) body.exclude = this.excluded();
      }
      const ms = this.options.timeoutMs || 10000;
      const data = pluginData(await withTimeout(link.handle.request(body), ms, 'watch'));
      const result = data.result || {};
      if (result.status === 'redirect') {
        if (!result.node || !result.node.url) throw new OdeonError(0, 'redirect without a node');
        return { redirect: result.node };
      }
      if (result.node && result.node.id) Object.assign(link.node, { id: result.node.id });
      return {};
    }

    wire(link) {
      const handle = link.handle;
      const current = () => this.link === link && !this.stopped;
      handle.on('offer', (jsep) => {
        if (!current()) return;
        link.iceServers
          .then((iceServers) => handle.answer(jsep, {
            body: { request: 'start' }, audio: false, video: false, iceServers }))
          .then(() => { if (current() && this.state === 'preparing') this.setState('starting'); })
          .catch((e) => this.linkLost(link, `answer failed: ${e.message}`));
      });
      handle.on('track', (track, streams, on, mid) => {
        if (!current()) return;
        const video = this.options.video;
        if (on && video && video.srcObject !== handle.remoteStream) {
          video.srcObject = handle.remoteStream;
          if (video.play) video.play().catch(() => {});
        }
        this.emit('track', track, streams, on, mid);
      });
      handle.on('icestate', (state) => {
        if (!current()) return;
        clearTimeout(link.timers.ice);
        if (state === 'failed') this.linkLost(link, 'ICE failed');
        else if (state === 'disconnected') {
          link.timers.ice = setTimeout(() => {
            if (handle.pc && handle.pc.iceConnectionState === 'disconnected') {
              this.linkLost(link, 'ICE disconnected');
            }
          }, this.options.disconnectedMs || 2000);
        }
      });
      handle.on('event', (data, jsep) => {
        if (!current()) return;
        this.emit('event', data, jsep);
        this.onPluginEvent(link, data);
      });
      handle.on('webrtcup', (msg) => { if (current()) this.emit('webrtcup', msg); });
      handle.on('media', (msg) => {
        if (!current()) return;
        this.emit('media', msg);
        if (msg.receiving === false) this.checkStall(link);
      });
      handle.on('hangup', (msg) => {
        if (!current()) return;
        this.emit('hangup', msg);
        // The stage's end comes with a hangup too: fail over only if it did not end.
        clearTimeout(link.timers.hangup);
        link.timers.hangup = setTimeout(
          () => this.linkLost(link, `hangup${msg.reason ? ` (${msg.reason})` : ''}`), 1000);
      });
    }

    onPluginEvent(link, data) {
      const result = data && typeof data.result === 'object' ? data.result : null;
      if (!result) return;
      const status = result.status;
      if (status === 'started') {
        this.failures = 0;
        this.setState('watching', { node: link.node });
        if (this.prefs) this.sendPrefs(link);
      } else if (status === 'ended' ||
                 (status === 'stopped' && (!result.reason || result.reason === 'ended'))) {
        this.ended = true;
        this.clearTimers(link);
        this.setState('ended', { node: link.node, reason: result.reason });
      } else if (status === 'stopped') {
        this.linkLost(link, `stopped (${result.reason})`); // e.g. the node is leaving
      } else if (status === 'redirect' && result.node && result.node.url && !this.connecting) {
        this.reconnect('moved', result.node); // the node hands its viewers to another one
      }
    }

    sendPrefs(link) {
      return link.handle.request(Object.assign({ request: 'configure' }, this.prefs))
        .then((data) => { this.emit('configured', data); return data; })
        .catch((e) => { this.emit('error', e); return null; });
    }

    // A "not receiving" hint: fail over if no packet arrives for a while.
    async checkStall(link) {
      const packets = async () => {
        let n = 0;
        const pc = link.handle.pc;
        if (!pc) return -1;
        try {
          (await pc.getStats()).forEach((s) => {
            if (s.type === 'inbound-rtp') n += s.packetsReceived || 0;
          });
        } catch (e) {
          return -1;
        }
        return n;
      };
      if (link.timers.stall) return; // a check is running
      const before = await packets();
      await new Promise((resolve) => { link.timers.stall = setTimeout(resolve, 3000); });
      link.timers.stall = null;
      if (this.link === link && before >= 0 && (await packets()) === before) {
        this.linkLost(link, 'no media');
      }
    }

    linkLost(link, reason) {
      if (link !== this.link || this.stopped || this.ended || link.lost) return;
      link.lost = reason;
      if (!this.connecting) this.reconnect(reason); // else the running attempt sees link.lost
    }

    clearTimers(link) {
      for (const t of Object.values(link.timers)) clearTimeout(t);
    }

    closeLink(link) {
      if (this.link === link) this.link = null;
      this.clearTimers(link);
      closeSession(link.session);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Tickets: odeon.plugin.tickets (organisers, events, ticket types, registration, magic-link
  // sign-in) and the public GET /api/events routes.
  //
  //   const tickets = new Odeon.Tickets({ credential: 'organiser' });
  //   const me = await tickets.connect();                      // whoami's identity, or null
  //   const r = await tickets.request('login', { email, password });   // the reply's data
  //   await tickets.signIn(r.token, { expires_at: r.expires_at });      // a new session
  //   const { events } = await tickets.request('my_events');
  //   await tickets.signOut();
  //   const page = await Odeon.fetchEvents({ business_type: 'meetup', page: 2 });
  //   const { event, ticket_types } = await Odeon.fetchEvent(12);
  //
  // The plugin answers every request with an ack and then an event carrying the request's
  // transaction (Handle.request waits for it); `{"tickets":"error","error_code","error"}`
  // rejects with an OdeonError whose code/error_code and reason/error are the plugin's (and
  // `plugin` is true). Core errors (403: a token the server no longer accepts) reject too.
  //
  // Who the caller is belongs to the session: one created with "token" is that organiser or
  // participant, one without is anonymous. signIn() checks the token with a new session, stores
  // it and keeps that session; signOut() forgets it and goes back to an anonymous session.
  // Credentials are bearer tokens, kept as { token, kind, expires_at, event_id, name }:
  //   - organiser tokens in localStorage ("odeon.tickets.organiser"): the console is used over
  //     days and in several tabs; a token lives [general] organiser_token_hours (12) and
  //     connect() refreshes it when less than an hour is left.
  //   - participant credentials in sessionStorage ("odeon.tickets.participant"): they belong to
  //     the tab that followed the magic link and go when it closes, so a shared computer does
  //     not keep an attendee signed in; a new link is one email away.
  // A stored token that expired, or that the server refuses (403), is forgotten and the client
  // goes on anonymously ('signedout' event with the reason: 'expired' or 'refused').

  const TICKETS_PLUGIN = 'odeon.plugin.tickets';
  const CREDENTIAL_KEYS = { organiser: 'odeon.tickets.organiser',
                            participant: 'odeon.tickets.participant' };
  const REFRESH_BEFORE_MS = 3600 * 1000;

  function credentialStore(kind) {
    try {
      return kind === 'organiser' ? global.localStorage : global.sessionStorage;
    } catch (e) {
      return null; // storage disabled: credentials live as long as the page
    }
  }

  function forgetCredential(kind) {
    const store = credentialStore(kind);
    try { if (store) store.removeItem(CREDENTIAL_KEYS[kind]); } catch (e) { /* disabled */ }
  }

  // The stored credential of kind ('organiser' | 'participant'), or null (none, expired).
  function storedCredential(kind) {
    const store = credentialStore(kind);
    if (!store || !CREDENTIAL_KEYS[kind]) return null;
    let record = null;
    try {
      record = JSON.parse(store.getItem(CREDENTIAL_KEYS[kind]) || 'null');
    } catch (e) {
      return null;
    }
    if (!record || typeof record.token !== 'string' || !record.token) return null;
    if (record.expires_at && Date.parse(record.expires_at) <= Date.now()) {
      forgetCredential(kind);
      return null;
    }
    record.kind = kind;
    return record;
  }

  function storeCredential(record) {
    const store = credentialStore(record.kind);
    try {
      if (store) store.setItem(CREDENTIAL_KEYS[record.kind], JSON.stringify(record));
    } catch (e) { /* disabled or full: the session still has the token */ }
  }

  // The data of a tickets reply; throws its error.
  function ticketsData(reply) {
    const data = reply && reply.jsep && reply.data !== undefined ? reply.data : reply || {};
    if (data.tickets === 'error' || data.error_code) {
      const e = new OdeonError(data.error_code || 0, data.error || 'tickets error');
      e.plugin = true;
      e.error_code = e.code;
      e.error = e.reason;
      throw e;
    }
    return data;
  }

  // A tickets client: one session and one handle attached to odeon.plugin.tickets, opened on
  // the first request. Options: url (the Janus API; default Odeon.defaultUrl()), transport
  // ('ws' | 'http'), credential ('organiser' | 'participant': which stored token to use; by
  // default this tab's participant credential, else an organiser token), timeoutMs (per
  // request, 30000), keepaliveMs. Events: 'identity' (identity or null), 'signedout' (reason).
  class Tickets extends Emitter {
    constructor(options = {}) {
      super();
      this.options = options;
      this.url = options.url || defaultUrl();
      this.credential = null;  // the record the session was created with; null: anonymous
      this.identity = null;    // whoami's last answer
      this.session = null;
      this.handle = null;
      this.opening = null;
    }

    static stored(kind) { return storedCredential(kind); }

    pickCredential() {
      const kind = this.options.credential;
      if (kind) return storedCredential(kind);
      return storedCredential('participant') || storedCredential('organiser');
    }

    // Opens the session and resolves with the identity (null when anonymous). An organiser
    // token close to its expiry is refreshed first.
    async connect() {
      await this.ready();
      const record = this.credential;
      if (record && record.expires_at &&
          Date.parse(record.expires_at) - Date.now() < REFRESH_BEFORE_MS) {
        try {
          await this.refresh();
        } catch (e) { /* keep the old one while it lasts */ }
      }
      return this.whoami();
    }

    // The handle, once the session is open (reopened when it closed: a restart, a timeout).
    ready() {
      if (this.opening) return this.opening;
      if (this.handle && this.session && !this.session.closed) return Promise.resolve(this.handle);
      const opening = this.open(undefined);
      this.opening = opening;
      const done = () => { if (this.opening === opening) this.opening = null; };
      opening.then(done, done);
      return opening;
    }

    // record: the credential to use (undefined: the stored one; null: anonymous). A stored one
    // that the server refuses is forgotten and the session opens anonymously; an explicit one
    // (signIn) rejects instead.
    async open(record) {
      const explicit = record !== undefined;
      if (!explicit) record = this.pickCredential();
      const ms = this.options.timeoutMs || 30000;
      for (;;) {
        const connecting = connect(this.url, { token: record ? record.token : undefined,
                                               transport: this.options.transport,
                                               keepaliveMs: this.options.keepaliveMs });
        let session;
        try {
          session = await withTimeout(connecting, ms, `connect to ${this.url}`);
        } catch (e) {
          connecting.then((s) => closeSession(s), () => {});
          if (record && e.code === 403 && !explicit) {
            this.forget(record.kind, 'refused');
            record = null;
            continue;
          }
          throw e;
        }
        let handle;
        try {
          handle = await withTimeout(session.attach(TICKETS_PLUGIN), ms, 'attach');
        } catch (e) {
          closeSession(session);
          throw e;
        }
        const old = this.session;
        this.session = session;
        this.handle = handle;
        this.credential = record;
        if (old && old !== session) closeSession(old);
        session.on('closed', () => {
          if (this.session !== session) return;
          this.session = null;
          this.handle = null;
        });
        return handle;
      }
    }

    forget(kind, reason) {
      if (!kind) return;
      forgetCredential(kind);
      if (this.credential && this.credential.kind === kind) this.credential = null;
      this.identity = null;
      this.emit('signedout', reason);
      this.emit('identity', null);
    }

    // Sends { request: name, ...body } and resolves with the reply's data.
    async request(name, body = {}) {
      const handle = await this.ready();
      const ms = this.options.timeoutMs || 30000;
      const session = this.session;
      let reply;
      try {
        reply = await withTimeout(handle.request(Object.assign({}, body, { request: name })),
                                  ms, name);
      } catch (e) {
        // The core no longer accepts the session's token (expired, member removed).
        if (e.code === 403 && !e.plugin && this.credential && this.session === session) {
          const kind = this.credential.kind;
          this.close();
          this.forget(kind, 'refused');
        }
        throw e;
      }
      return ticketsData(reply);
    }

    // Resolves with the session's identity (null: anonymous) and remembers it.
    async whoami() {
      const data = await this.request('whoami');
      this.identity = data.identity || null;
      this.emit('identity', this.identity);
      return this.identity;
    }

    // Signs in with a token from login, signup, accept_invite (organisers) or redeem_link
    // (participants): a new session is created with it, whoami tells its kind, and the token
    // is stored (see above). info: { kind, expires_at, event_id, organisation } when known
    // (organisation: login's { id, name }, kept since whoami names only its id). Resolves with
    // the identity; rejects (and keeps the previous session) when the server refuses the token.
    async signIn(token, info = {}) {
      if (typeof token !== 'string' || !token) throw new OdeonError(0, 'no token to sign in with');
      const record = { token, kind: info.kind || null, expires_at: info.expires_at || null };
      if (info.event_id !== undefined && info.event_id !== null) record.event_id = info.event_id;
      if (info.organisation) record.organisation = info.organisation;
      if (this.opening) await this.opening.catch(() => {});
      const opening = this.open(record);
      this.opening = opening; // requests meanwhile wait for this session
      try {
        await opening;
      } finally {
        if (this.opening === opening) this.opening = null;
      }
      const identity = await this.whoami();
      if (!identity) throw new OdeonError(0, 'the server did not recognise the token');
      record.kind = identity.kind === 'participant' ? 'participant' : 'organiser';
      record.expires_at = identity.expires_at || record.expires_at;
      record.name = identity.name;
      if (identity.event_id !== undefined && identity.event_id !== null) {
        record.event_id = identity.event_id;
      }
      storeCredential(record);
      this.credential = record;
      return identity;
    }

    // Exchanges the session's token for a fresh one (same identity) and signs in with it.
    async refresh() {
      const data = await this.request('refresh');
      const old = this.credential || {};
      return this.signIn(data.token, { kind: old.kind, expires_at: data.expires_at,
                                       organisation: old.organisation });
    }

    // Forgets the stored credential in use (or the one of kind) and goes back to an anonymous
    // session (opened on the next request).
    async signOut(kind) {
      const which = kind || (this.credential && this.credential.kind) || this.options.credential;
      await this.close();
      if (which) forgetCredential(which);
      this.credential = null;
      this.identity = null;
      this.emit('identity', null);
    }

    // Closes the session (a later request opens a new one).
    close() {
      const session = this.session;
      this.session = null;
      this.handle = null;
      return closeSession(session);
    }
  }

  // Business types of events, with labels for people.
  Tickets.BUSINESS_TYPES = Object.freeze({
    conference: 'Conference', hackathon: 'Hackathon', town_hall: 'Town hall',
    workshop: 'Workshop', meetup: 'Meetup', webinar: 'Webinar', other: 'Other',
  });

  // Digits after the decimal point of a currency (2 for eur, 0 for jpy, 3 for kwd).
  Tickets.currencyDigits = function currencyDigits(currency) {
    try {
      return new Intl.NumberFormat('en', { style: 'currency', currency: String(currency) })
        .resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return 2;
    }
  };

  // A price in minor units for people ('Free' for 0): formatPrice(1500, 'eur') -> '€15.00'.
  Tickets.formatPrice = function formatPrice(price, currency) {
    if (!price) return 'Free';
    const digits = Tickets.currencyDigits(currency);
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency',
                                                currency: String(currency).toUpperCase() })
        .format(price / 10 ** digits);
    } catch (e) {
      return `${(price / 10 ** digits).toFixed(digits)} ${String(currency).toUpperCase()}`;
    }
  };

  // An event's time span in its own time zone: 'Mar 1, 2027, 18:00 – 20:00 (Europe/Berlin)'.
  Tickets.formatWhen = function formatWhen(startsAt, endsAt, timezone) {
    const start = new Date(startsAt);
    const end = endsAt ? new Date(endsAt) : null;
    if (Number.isNaN(start.getTime())) return '';
    let fmt;
    let zone = timezone || 'UTC';
    try {
      fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short',
                                                 timeZone: zone });
    } catch (e) {
      zone = 'UTC';
      fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short',
                                                 timeZone: zone });
    }
    const text = end && !Number.isNaN(end.getTime()) && fmt.formatRange
      ? fmt.formatRange(start, end) : fmt.format(start);
    return `${text} (${zone})`;
  };

  // GET on this site (options.base: another origin, e.g. 'http://host:8088'); resolves with
  // the JSON answer, rejects with an OdeonError whose code is the HTTP status.
  async function fetchJson(path, options = {}) {
    let res;
    try {
      res = await fetch(`${options.base || ''}${path}`,
                        { headers: { Accept: 'application/json' }, signal: options.signal });
    } catch (e) {
      throw new OdeonError(0, `${path}: ${e.message}`);
    }
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const e = new OdeonError(res.status, (body && body.error) || `HTTP ${res.status}`);
      e.status = res.status;
      throw e;
    }
    return body;
  }

  // The public listing (GET /api/events): params business_type, from, to (dates), q, page,
  // per_page (empty ones are left out). Resolves with { events, total, page, per_page }.
  function fetchEvents(params = {}, options = {}) {
    const query = new URLSearchParams();
    for (const key of ['business_type', 'from', 'to', 'q', 'page', 'per_page']) {
      const v = params[key];
      if (v !== undefined && v !== null && v !== '') query.set(key, String(v));
    }
    const qs = query.toString();
    return fetchJson(`/api/events${qs ? `?${qs}` : ''}`, options);
  }

  // One live event (GET /api/events/<id>): { event, ticket_types }; 404 when not live.
  function fetchEvent(id, options = {}) {
    return fetchJson(`/api/events/${encodeURIComponent(id)}`, options);
  }

  global.Odeon = {
    connect, defaultUrl, OdeonError, Emitter, Session, Handle,
    StageViewer, placeViewer, nodeUrl, clientKey,
    Tickets, fetchEvents, fetchEvent,
  };
})(typeof window !== 'undefined' ? window : globalThis);
