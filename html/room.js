// room.js - a breakout group's room (room.html?event=<id>&group=<id>): everyone's video with
// the active speaker outlined, mute and camera buttons, screen sharing, the team's chat
// ("group:<id>"), a help button, the team's submission, and the countdown; when the breakout
// ends everyone goes back to the event's main stage (live.html). Members sign in with their
// group link (signin.html opens this page); organisers and hosts come from the console with
// their organiser token. window.roomPage exposes the state (tests).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const credential = Odeon.Tickets.stored('participant') || Odeon.Tickets.stored('organiser');
  const eventId = Number(params.get('event') || (credential && credential.event_id));
  const groupId = Number(params.get('group'));
  const page = { state: 'idle', tiles: [], members: [], left: [], joined: [], room: null,
                 live: null, countdown: null, ended: false };
  window.roomPage = page;
  let endsAt = 0;
  let timer = null;

  function say(id, text, kind = 'ok') {
    $(id).textContent = text;
    $(id).dataset.kind = kind;
  }

  function tileItem(id, name, stream, self) {
    const li = document.createElement('li');
    li.dataset.id = id;
    if (self) li.className = 'self';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = !!self; // our own sound never plays back
    video.srcObject = stream;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = self ? `${name || 'You'} (you)` : name || `Member ${id}`;
    li.append(video, label);
    return li;
  }

  // Organisers and hosts get a button on each member's tile that mutes its microphone for the
  // whole room (the member cannot undo it) and releases it again.
  function moderateButton(li, t) {
    if (!page.room || !page.room.moderator) return;
    let button = li.querySelector('button.moderate');
    if (!button) {
      button = document.createElement('button');
      button.type = 'button';
      button.className = 'moderate secondary';
      button.addEventListener('click', async () => {
        const mute = button.getAttribute('aria-pressed') !== 'true';
        button.disabled = true;
        try {
          await page.room.moderate(t.id, 'audio', mute);
        } catch (e) {
          say('status', e.reason || e.message || String(e), 'error');
        } finally {
          button.disabled = false;
        }
      });
      li.append(button);
    }
    const held = !!t.moderated.audio;
    button.setAttribute('aria-pressed', String(held));
    button.textContent = held ? 'Allow microphone' : 'Mute for everyone';
  }

  // Keeps one <li> per tile, so playing videos are not restarted on every change.
  function showTiles(tiles) {
    page.tiles = tiles;
    const grid = $('grid');
    const want = new Set(tiles.map((t) => String(t.id)));
    for (const li of [...grid.children]) {
      if (!li.classList.contains('self') && !want.has(li.dataset.id)) li.remove();
    }
    for (const t of tiles) {
      let li = grid.querySelector(`li[data-id="${t.id}"]`);
      if (!li) {
        li = tileItem(t.id, t.display, t.stream, false);
        grid.append(li);
      } else if (li.firstChild.srcObject !== t.stream) {
        li.firstChild.srcObject = t.stream;
      }
      li.classList.toggle('talking', t.talking);
      li.classList.toggle('muted', !!t.muted.audio);
      moderateButton(li, t);
    }
    // Many tiles: each asks for the low simulcast layer; a few: the best.
    const layer = tiles.length > 4 ? 0 : 2;
    for (const t of tiles) page.room.prefer(t.id, layer).catch(() => {});
  }

  function tickCountdown() {
    const left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    page.countdown = left;
    $('countdown').hidden = false;
    const m = Math.floor(left / 60);
    const s = String(left % 60).padStart(2, '0');
    $('countdown').textContent = `Back to the main stage in ${m}:${s}.`;
  }

  function onBreakout(data) {
    if (data.breakout === 'countdown' || data.breakout === 'extended') {
      endsAt = data.ends_at;
      if (data.breakout === 'extended') say('status', 'The organisers gave you more time.', 'ok');
      clearInterval(timer);
      timer = setInterval(tickCountdown, 1000);
      tickCountdown();
    }
    if (data.breakout === 'ended') {
      page.ended = true;
      clearInterval(timer);
      $('countdown').hidden = false;
      $('countdown').textContent = 'The breakout has ended: back to the main stage.';
      const next = `live.html?event=${encodeURIComponent(eventId)}`;
      setTimeout(async () => {
        await stop();
        location.assign(next);
      }, params.get('stay') ? 1e9 : 3000);
    }
  }

  async function joinRoom() {
    const room = new Odeon.Room(groupId, { token: credential.token });
    page.room = room;
    room.on('tiles', showTiles);
    room.on('members', (members) => { page.members = [...members.values()]; });
    room.on('joining', (m) => {
      page.joined.push(m);
      say('status', `${m.display || 'Someone'} joined.`, 'ok');
    });
    room.on('leaving', (m) => {
      page.left.push(m);
      say('status', `${m.display || 'Someone'} left.`, 'ok');
    });
    room.on('talking', () => showTiles(room.tiles()));
    room.on('muted', (id, kind, muted, moderated) => {
      if (id !== room.id || kind !== 'audio' || !!page.moderated === moderated) return;
      page.moderated = moderated;
      if (moderated) say('status', 'An organiser muted your microphone for everyone.', 'error');
      else say('status', 'An organiser allowed your microphone again.', 'ok');
    });
    room.on('breakout', onBreakout);
    room.on('closed', (why) => {
      if (why === 'rejoined') say('status', 'You opened this room in another tab.', 'error');
    });
    const joined = await room.join();
    $('title').textContent = joined.description || `Group ${groupId}`;
    document.title = `${$('title').textContent} - Odeon`;
    $('grid').prepend(tileItem(room.id, joined.display || 'You', room.localStream, true));
    if (joined.breakout && joined.breakout.ends_at) {
      endsAt = joined.breakout.ends_at;
      timer = setInterval(tickCountdown, 1000);
      tickCountdown();
    }
  }

  async function joinChat() {
    const live = new Odeon.EventLive(eventId);
    page.live = live;
    const room = `group:${groupId}`;
    live.on('messages', (list, r) => {
      if (r !== room) return;
      for (const m of list) {
        const li = document.createElement('li');
        const who = document.createElement('strong');
        who.textContent = m.name;
        li.append(who, ' ', m.deleted ? 'Message removed by a moderator' : m.text);
        $('messages').append(li);
      }
    });
    live.on('help', (r) => {
      const texts = { open: 'Your request is waiting for an organiser.',
                      claimed: `${r.claimed_by_name || 'An organiser'} is coming.`,
                      resolved: 'Your help request was resolved.', cancelled: '' };
      say('help-state', texts[r.status] || '', 'ok');
    });
    await live.start();
    await live.joinRoom(room);
    $('chat-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = $('chat-text').value.trim();
      if (!text) return;
      try {
        await live.send(text, room);
        $('chat-text').value = '';
        say('chat-status', '', 'ok');
      } catch (e) {
        say('chat-status', e.reason || String(e), 'error');
      }
    });
    $('help-raise').addEventListener('click', async () => {
      try {
        await live.raiseHelp(`Group ${$('title').textContent} asks for help`);
      } catch (e) {
        say('help-state', e.reason || String(e), 'error');
      }
    });
  }

  async function submission() {
    if (credential.kind !== 'participant') {
      $('submit-section').hidden = true;
      return;
    }
    const tickets = new Odeon.Tickets({ credential: 'participant' });
    page.tickets = tickets;
    const mine = await tickets.request('breakout_mine').catch(() => ({}));
    const g = mine.group;
    if (g && g.submissions_until) {
      $('deadline').textContent = `Submit before ${new Date(g.submissions_until).toLocaleTimeString()}.`;
    }
    if (g && g.submission) {
      $('submit-name').value = g.submission.title;
      $('submit-link').value = g.submission.link || '';
      $('submit-text').value = g.submission.text || '';
    }
    $('submit-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { title: $('submit-name').value.trim(), text: $('submit-text').value };
      if ($('submit-link').value.trim()) body.link = $('submit-link').value.trim();
      try {
        await tickets.request('submit', body);
        say('submit-status', 'Submitted: your team can change it until the deadline.', 'ok');
      } catch (e) {
        say('submit-status', e.reason || String(e), 'error');
      }
    });
  }

  function toggle(button, kind, onText, offText) {
    button.addEventListener('click', async () => {
      const muted = button.getAttribute('aria-pressed') !== 'true';
      button.disabled = true;
      try {
        await page.room.mute(kind, muted);
        button.setAttribute('aria-pressed', String(muted));
        button.textContent = muted ? offText : onText;
      } catch (e) {
        say('status', e.reason || String(e), 'error');
      } finally {
        button.disabled = false;
      }
    });
  }

  async function stop() {
    clearInterval(timer);
    if (page.room) await page.room.leave().catch(() => {});
    if (page.live) await page.live.stop().catch(() => {});
    page.room = null;
  }

  async function start() {
    $('main-stage').href = `live.html?event=${encodeURIComponent(eventId || '')}`;
    if (!credential || !eventId || !groupId) {
      say('status', '', 'ok');
      $('signin-link').href = `signin.html?event=${encodeURIComponent(eventId || '')}`;
      $('signin').hidden = false;
      page.state = 'signed-out';
      return;
    }
    try {
      await joinRoom();
      $('room').hidden = false;
      page.state = 'live';
      say('status', 'You are in.', 'ok');
    } catch (e) {
      page.state = 'error';
      say('status', e.code === 433 ? `You may not enter this room (${e.reason}).`
        : `Could not join: ${e.reason || e.message || e}`, 'error');
      $('signin').hidden = e.code !== 433 && e.code !== 403;
      return;
    }
    joinChat().catch((e) => say('chat-status', `Chat unavailable: ${e.reason || e}`, 'error'));
    submission().catch(() => {});
  }

  toggle($('mute-audio'), 'audio', 'Mute microphone', 'Unmute microphone');
  toggle($('mute-video'), 'video', 'Turn camera off', 'Turn camera on');
  $('share').addEventListener('click', async () => {
    const on = $('share').getAttribute('aria-pressed') === 'true';
    try {
      if (on) await page.room.stopScreen(); else await page.room.shareScreen();
      $('share').setAttribute('aria-pressed', String(!on));
      $('share').textContent = on ? 'Share screen' : 'Stop sharing';
    } catch (e) {
      say('status', `Screen sharing: ${e.reason || e.message || e}`, 'error');
    }
  });
  $('leave').addEventListener('click', async () => {
    await stop();
    location.assign(`live.html?event=${encodeURIComponent(eventId)}`);
  });
  window.addEventListener('pagehide', () => { stop(); });
  start();
})();
