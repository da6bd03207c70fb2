// odeon-room.js - a breakout room in the browser (odeon.plugin.room), for pages that load
// odeon.js first: publish your camera and microphone, receive everyone else over one
// connection that is renegotiated as members come and go, and follow the room's events.
//
//   const room = new Odeon.Room(roomId, { token, display });
//   room.on('tiles', (tiles) => ...);         // [{ id, display, stream, talking, muted }] others'
//   room.on('members', (members) => ...);     // Map id -> { id, display, publishing }
//   room.on('joining', (member) => ...);      // someone came in (organisers too: visibly)
//   room.on('leaving', (member) => ...);      // someone left (or their connection failed)
//   room.on('talking', (id, talking) => ...); // from the audio-level extension
//   room.on('muted', (id, kind, muted, moderated) => ...); // moderated: by an organiser
//   await room.moderate(id, 'audio', true);   // organisers and hosts (room.moderator)
//   room.on('breakout', (data) => ...);       // { breakout: 'countdown'|'extended'|'ended', ... }
//   room.on('closed', (reason) => ...);
//   await room.join({ stream });              // publishes stream (or the camera, 960x540) as
//                                             // simulcast (options.simulcast: false for one layer)
//   await room.mute('audio', true); await room.shareScreen(stream); await room.stopScreen();
//   room.prefer(feedId, substream);           // 0 lowest .. 2 best (small tiles take 0)
//   await room.leave();
//
// The requests and events are Janus VideoRoom's (docs/api.md, odeon.plugin.room).
(function (global) {
  'use strict';

  const Odeon = global.Odeon;
  const PLUGIN = 'odeon.plugin.room';

  function check(data) {
    if (data && data.error_code) {
      const e = new Odeon.OdeonError(data.error_code, data.error);
      e.plugin = true;
      throw e;
    }
    return data;
  }

  class Room extends Odeon.Emitter {
    constructor(roomId, options = {}) {
      super();
      this.roomId = Number(roomId);
      this.options = options;
      this.url = options.url || Odeon.defaultUrl();
      this.session = null;
      this.pub = null;
      this.sub = null;
      this.id = null;
      this.members = new Map();   // id -> { id, display, publishing, talking }
      this.feeds = new Map();     // id -> feed (the server's publisher entry)
      this.midFeed = new Map();   // subscriber mid -> feed id
      this.subscribed = false;
      this.negotiation = Promise.resolve();
      this.localStream = null;
      this.screen = null;
      this.muted = { audio: false, video: false };
    }

    async join({ stream, sendEncodings } = {}) {
      this.session = await Odeon.connect(this.url, { token: this.options.token });
      this.session.on('closed', () => this.emit('closed', 'connection'));
      this.pub = await this.session.attach(PLUGIN);
      this.sub = await this.session.attach(PLUGIN);
      this.pub.on('event', (data) => this.onRoomEvent(data));
      this.pub.on('hangup', () => this.emit('hangup'));
      this.sub.on('offer', (jsep, data) => this.answer(jsep, data));
      this.sub.on('track', () => this.tilesChanged());
      const joined = check(await this.pub.request({ request: 'join', ptype: 'publisher',
                                                    room: this.roomId,
                                                    display: this.options.display }));
      this.id = joined.id;
      this.joined = joined;
      for (const a of joined.attendees || []) this.memberSeen(a);
      for (const p of joined.publishers || []) this.feedSeen(p);
      this.localStream = stream || await navigator.mediaDevices.getUserMedia({
        audio: true, video: { width: 960, height: 540 } });
      // Simulcast (quarter, half and full size) unless told otherwise: each subscriber gets the
      // layer its tile and bandwidth call for.
      this.sendEncodings = sendEncodings !== undefined ? sendEncodings
        : this.options.simulcast === false ? undefined : Room.SIMULCAST;
      await this.publish();
      await this.subscribe([...this.feeds.keys()]);
      this.emit('members', this.members);
      return joined;
    }

    async publish() {
      const tracks = this.localStream.getTracks();
      if (this.screen) tracks.push(...this.screen.getVideoTracks());
      const descriptions = [];
      // m-lines in track order: audio, camera, then the screen.
      tracks.forEach((t, i) => {
        if (this.screen && this.screen.getTracks().includes(t)) {
          descriptions.push({ mid: String(i), description: 'screen' });
        } else if (t.kind === 'video') {
          descriptions.push({ mid: String(i), description: 'camera' });
        }
      });
      const stream = new MediaStream(tracks);
      check(await this.pub.call({ stream, body: { request: 'publish', descriptions },
                                  sendEncodings: this.sendEncodings }));
      // A republished feed starts unmuted on the server: say what is muted again.
      for (const kind of ['audio', 'video']) if (this.muted[kind]) await this.mute(kind, true);
    }

    memberSeen(m) {
      const known = this.members.get(m.id) || { id: m.id, publishing: false, talking: false };
      if (m.display) known.display = m.display;
      this.members.set(m.id, known);
      return known;
    }

    feedSeen(feed) {
      const m = this.memberSeen(feed);
      m.publishing = true;
      m.talking = !!feed.talking;
      this.feeds.set(feed.id, feed);
    }

    // Subscribes to the feeds' streams: the first time with "join", later with "subscribe".
    async subscribe(ids) {
      const streams = ids.filter((id) => id !== this.id).map((feed) => ({ feed }));
      if (streams.length === 0) return;
      const body = this.subscribed ? { request: 'subscribe', streams }
        : { request: 'join', ptype: 'subscriber', room: this.roomId, streams };
      this.subscribed = true;
      const reply = await this.sub.request(body);
      check(reply.data || reply);
    }

    // An offer from the room ("attached" or "updated"): one at a time, in order.
    answer(jsep, data) {
      this.negotiation = this.negotiation.then(async () => {
        for (const s of data.streams || []) {
          if (s.active) this.midFeed.set(s.mid, s.feed_id);
          else this.midFeed.delete(s.mid);
        }
        check(await this.sub.answer(jsep, { body: { request: 'start' } }));
        this.tilesChanged();
      }).catch((e) => this.emit('error', e));
      return this.negotiation;
    }

    // The tiles: one per feed with a live m-line, its tracks in one stream.
    tiles() {
      const byFeed = new Map();
      const pc = this.sub && this.sub.pc;
      for (const t of pc ? pc.getTransceivers() : []) {
        const feed = this.midFeed.get(t.mid);
        if (feed === undefined || !t.receiver.track) continue;
        if (!byFeed.has(feed)) byFeed.set(feed, []);
        byFeed.get(feed).push(t.receiver.track);
      }
      const out = [];
      for (const [id, tracks] of byFeed) {
        const m = this.members.get(id) || { id };
        const key = tracks.map((t) => t.id).join(',');
        if (!m.stream || m.streamKey !== key) {
          m.stream = new MediaStream(tracks);
          m.streamKey = key;
        }
        out.push({ id, display: m.display, stream: m.stream, talking: !!m.talking, muted: m.muted || {},
                   moderated: m.moderated || {} });
      }
      return out;
    }

    tilesChanged() {
      this.emit('tiles', this.tiles());
    }

    onRoomEvent(data) {
      if (!data) return;
      if (data.videoroom === 'talking' || data.videoroom === 'stopped-talking') {
        const m = this.members.get(data.id);
        if (m) m.talking = data.videoroom === 'talking';
        this.emit('talking', data.id, data.videoroom === 'talking');
        return;
      }
      if (data.videoroom === 'muted') {
        const m = this.members.get(data.id);
        if (m) {
          m.muted = Object.assign({}, m.muted, { [data.type]: data.muted });
          m.moderated = Object.assign({}, m.moderated, { [data.type]: !!data.moderated });
        }
        this.emit('muted', data.id, data.type, data.muted, !!data.moderated);
        this.tilesChanged();
        return;
      }
      if (data.videoroom === 'destroyed') { this.emit('closed', 'destroyed'); return; }
      if (data.breakout) { this.emit('breakout', data); return; }
      if (data.joining) {
        this.emit('joining', this.memberSeen(data.joining));
        this.emit('members', this.members);
      }
      if (data.publishers) {
        for (const p of data.publishers) this.feedSeen(p);
        this.subscribe(data.publishers.map((p) => p.id)).catch((e) => this.emit('error', e));
        this.emit('members', this.members);
      }
      if (data.unpublished !== undefined && data.unpublished !== 'ok') {
        const m = this.members.get(data.unpublished);
        if (m) m.publishing = false;
        this.feeds.delete(data.unpublished);
        this.emit('members', this.members);
      }
      for (const key of ['leaving', 'kicked']) {
        const id = data[key];
        if (id === undefined || id === 'ok') continue;
        const m = this.members.get(id) || { id };
        this.members.delete(id);
        this.feeds.delete(id);
        this.emit('leaving', m, key);
        this.emit('members', this.members);
        this.tilesChanged();
      }
      if (data.leaving === 'ok' && data.reason === 'rejoined') this.emit('closed', 'rejoined');
    }

    async mute(kind, muted) {
      this.muted[kind] = muted;
      for (const t of this.localStream ? this.localStream.getTracks() : []) {
        if (t.kind === kind) t.enabled = !muted;
      }
      check(await this.pub.request({ request: 'configure', [kind]: !muted }));
    }

    // Organisers and hosts: mutes (or releases) a member's microphone or camera for everyone
    // in the room; the member cannot unmute it. Others hear "muted" with moderated.
    async moderate(memberId, kind, mute) {
      const feed = this.feeds.get(memberId);
      const stream = feed && (feed.streams || []).find((x) => x.type === kind && x.description !== 'screen');
      if (!stream) throw new Error(`member ${memberId} publishes no ${kind}`);
      check(await this.pub.request({ request: 'moderate', room: this.roomId, id: memberId,
                                     mid: stream.mid, mute }));
    }

    // Whether this member may moderate others (the event's hosts, organisers and owners).
    get moderator() {
      return ['host', 'organiser', 'owner'].includes(this.joined && this.joined.role);
    }

    // The screen goes out as a third m-line: the feed is published again with it.
    async shareScreen(stream) {
      this.screen = stream || await navigator.mediaDevices.getDisplayMedia({ video: true });
      const track = this.screen.getVideoTracks()[0];
      if (track) track.addEventListener('ended', () => this.stopScreen().catch(() => {}));
      check(await this.pub.request({ request: 'unpublish' }));
      await this.publish();
    }

    async stopScreen() {
      if (!this.screen) return;
      for (const t of this.screen.getTracks()) t.stop();
      this.screen = null;
      check(await this.pub.request({ request: 'unpublish' }));
      await this.publish();
    }

    // Small tiles ask for a feed's lowest simulcast layer, large ones for its best.
    prefer(feedId, substream) {
      const streams = [];
      for (const [mid, feed] of this.midFeed) if (feed === feedId) streams.push({ mid, substream });
      if (streams.length === 0 || !this.sub) return Promise.resolve();
      return this.sub.request({ request: 'configure', streams });
    }

    async leave() {
      const session = this.session;
      this.session = null;
      if (!session) return;
      try {
        await this.pub.request({ request: 'leave' });
      } catch (e) { /* gone already */ }
      if (this.localStream && !this.options.keepStream) for (const t of this.localStream.getTracks()) t.stop();
      if (this.screen) for (const t of this.screen.getTracks()) t.stop();
      await session.destroy().catch(() => {});
    }
  }

  Room.SIMULCAST = [{ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
    { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
    { rid: 'f', maxBitrate: 1200000 }];

  Odeon.Room = Room;
})(typeof window !== 'undefined' ? window : globalThis);
