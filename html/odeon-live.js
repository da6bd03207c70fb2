// odeon-live.js - the live event around the video, for pages that load odeon.js first:
// the event's chat (odeon.plugin.chat), help requests (odeon.plugin.help) and presence and
// figures (odeon.plugin.analytics), on one session with the stored credential.
//
//   const live = new Odeon.EventLive(eventId, { credential: 'participant' });
//   live.on('messages', (messages, room) => ...);   // new chat messages, in seq order
//   live.on('deleted', (seqs, room) => ...);        // messages a moderator removed
//   live.on('help', (request) => ...);              // a help request changed (newest version)
//   live.on('figures', (figures) => ...);           // the dashboard (watchDashboard)
//   live.on('state', (state) => ...);               // 'connecting' | 'live' | 'reconnecting' | 'closed'
//   await live.start();            // chat "main" joined, page counted, own help requests followed
//   await live.send('Hello');      // resolves with the message's seq
//   const older = await live.history(beforeSeq);
//   await live.raiseHelp('Our build fails'); await live.cancelHelp(id);
//   Organisers and hosts: await live.watchHelp() (the open requests), live.claim(id),
//   live.resolve(id), live.release(id), await live.watchDashboard() (figures now and pushed),
//   await live.joinRoom('group:3') (another room's chat), live.participants().
//   await live.stop();
//
// The page counts as present while it runs: a heartbeat every heartbeat_seconds (the server
// says, 60). When the connection drops, the client reconnects with a growing delay and joins
// its rooms again from the last seq it saw, so nothing is lost or shown twice.
(function (global) {
  'use strict';

  const Odeon = global.Odeon;
  const PLUGINS = { chat: 'odeon.plugin.chat', help: 'odeon.plugin.help',
                    analytics: 'odeon.plugin.analytics' };

  // The data of a plugin reply; throws its error (error_code, error) as an OdeonError.
  function replyData(reply, kind) {
    const data = reply && reply.jsep && reply.data !== undefined ? reply.data : reply || {};
    if (data[kind] === 'error' || data.error_code) {
      const e = new Odeon.OdeonError(data.error_code || 0, data.error || `${kind} error`);
      e.plugin = true;
      throw e;
    }
    return data;
  }

  class EventLive extends Odeon.Emitter {
    constructor(eventId, options = {}) {
      super();
      this.eventId = Number(eventId);
      this.options = options;
      this.url = options.url || Odeon.defaultUrl();
      this.session = null;
      this.handles = {};
      this.rooms = new Map();   // room -> last seq seen
      this.helpVersions = new Map();
      this.watching = { help: false, dashboard: false };
      this.state = 'idle';
      this.heartbeatTimer = null;
      this.retryMs = 1000;
      this.stopped = false;
    }

    setState(state) {
      if (this.state === state) return;
      this.state = state;
      this.emit('state', state);
    }

    credential() {
      const kind = this.options.credential;
      if (kind) return Odeon.Tickets.stored(kind);
      return Odeon.Tickets.stored('participant') || Odeon.Tickets.stored('organiser');
    }

    async start() {
      this.stopped = false;
      if (!this.rooms.has('main')) this.rooms.set('main', null);
      this.setState('connecting');
      await this.open();
    }

    async open() {
      const record = this.credential();
      if (!record) throw new Odeon.OdeonError(403, 'Sign in first');
      const session = await Odeon.connect(this.url, { token: record.token,
                                                     keepaliveMs: this.options.keepaliveMs });
      try {
        for (const [name, plugin] of Object.entries(PLUGINS)) {
          const handle = await session.attach(plugin);
          handle.on('event', (data) => this.onEvent(name, data));
          this.handles[name] = handle;
        }
      } catch (e) {
        session.destroy().catch(() => {});
        throw e;
      }
      this.session = session;
      session.on('closed', () => this.lost(session));
      await this.rejoin();
      this.setState('live');
      this.retryMs = 1000;
    }

    // Joins every room again (from the last seq seen), counts the page and re-watches.
    async rejoin() {
      for (const [room, lastSeq] of this.rooms) await this.joinChat(room, lastSeq);
      const joined = await this.request('analytics', 'join');
      this.startHeartbeats(joined.heartbeat_seconds || 60);
      const mine = await this.request('help', 'mine');
      for (const r of mine.requests || []) this.helpChanged(r);
      if (this.watching.help) await this.watchHelp();
      if (this.watching.dashboard) await this.watchDashboard();
    }

    lost(session) {
      if (this.session !== session) return;
      this.session = null;
      this.handles = {};
      clearInterval(this.heartbeatTimer);
      if (this.stopped) return;
      this.setState('reconnecting');
      const retry = () => {
        if (this.stopped) return;
        this.open().catch(() => {
          this.retryMs = Math.min(this.retryMs * 2, 30000);
          setTimeout(retry, this.retryMs);
        });
      };
      setTimeout(retry, this.retryMs);
    }

    startHeartbeats(seconds) {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => {
        this.request('analytics', 'heartbeat').catch(() => { /* the next one, or a reconnect */ });
      }, seconds * 1000);
    }

    async request(kind, name, body = {}) {
      const handle = this.handles[kind];
      if (!handle) throw new Odeon.OdeonError(0, 'not connected');
      const reply = await handle.request(Object.assign({ event_id: this.eventId }, body,
                                                       { request: name }));
      return replyData(reply, kind);
    }

    onEvent(kind, data) {
      if (!data) return;
      if (kind === 'chat' && data.chat === 'messages') this.delivered(data);
      else if (kind === 'help' && data.help === 'updated' && data.request) this.helpChanged(data.request);
      else if (kind === 'help' && data.help === 'resync' && this.watching.help) this.watchHelp().catch(() => {});
      else if (kind === 'analytics' && data.analytics === 'dashboard') this.emit('figures', data.figures);
    }

    delivered(data) {
      const byRoom = new Map();
      for (const m of data.messages || []) {
        const last = this.rooms.get(m.room);
        if (last !== undefined && last !== null && m.seq <= last) continue; // seen already
        this.rooms.set(m.room, m.seq);
        if (!byRoom.has(m.room)) byRoom.set(m.room, []);
        byRoom.get(m.room).push(m);
      }
      for (const [room, list] of byRoom) this.emit('messages', list, room);
      for (const [room, seqs] of Object.entries(data.deleted || {})) this.emit('deleted', seqs, room);
    }

    helpChanged(request) {
      const seen = this.helpVersions.get(request.id);
      if (seen !== undefined && seen >= request.version) return; // an older update, late
      this.helpVersions.set(request.id, request.version);
      this.emit('help', request);
    }

    async joinChat(room, lastSeq) {
      const body = { room };
      if (lastSeq !== null && lastSeq !== undefined) body.after_seq = lastSeq;
      const joined = await this.request('chat', 'join', body);
      this.rooms.set(room, lastSeq === undefined ? null : lastSeq);
      this.delivered({ messages: joined.messages || [] });
      if (!this.rooms.get(room)) this.rooms.set(room, joined.last_seq || 0);
      return joined;
    }

    // Another room's chat (organisers and hosts: any group's; participants: their own).
    joinRoom(room) {
      if (this.rooms.has(room)) return Promise.resolve();
      return this.joinChat(room, undefined);
    }

    async leaveRoom(room) {
      if (!this.rooms.delete(room) || room === 'main') return;
      await this.request('chat', 'leave', { room }).catch(() => {});
    }

    async send(text, room = 'main') {
      return (await this.request('chat', 'send', { room, text })).seq;
    }

    async history(beforeSeq, room = 'main', limit = 20) {
      return (await this.request('chat', 'history', { room, before_seq: beforeSeq, limit })).messages;
    }

    // The request carries the participant's breakout group, if any (the server knows it).
    async raiseHelp(note) {
      const r = (await this.request('help', 'raise', { note: note || '' })).request;
      this.helpChanged(r);
      return r;
    }

    async changeHelp(action, id) {
      const r = (await this.request('help', action, { id })).request;
      this.helpChanged(r);
      return r;
    }

    cancelHelp(id) { return this.changeHelp('cancel', id); }
    claim(id) { return this.changeHelp('claim', id); }
    release(id) { return this.changeHelp('release', id); }
    resolve(id) { return this.changeHelp('resolve', id); }

    async watchHelp() {
      const data = await this.request('help', 'watch');
      this.watching.help = true;
      for (const r of data.requests || []) this.helpChanged(r);
      return data.requests || [];
    }

    async watchDashboard() {
      const data = await this.request('analytics', 'dashboard');
      this.watching.dashboard = true;
      this.emit('figures', data.figures);
      return data.figures;
    }

    async participants() {
      return (await this.request('analytics', 'participants')).participants;
    }

    async stop() {
      this.stopped = true;
      clearInterval(this.heartbeatTimer);
      const session = this.session;
      this.session = null;
      if (session) {
        await this.request('analytics', 'leave').catch(() => {});
        await session.destroy().catch(() => {});
      }
      this.handles = {};
      this.setState('closed');
    }
  }

  Odeon.EventLive = EventLive;
})(typeof window !== 'undefined' ? window : globalThis);
