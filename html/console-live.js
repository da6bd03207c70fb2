// console-live.js - the organiser console's "Live now" panel for a live event: the dashboard
// (figures and per-minute charts, pushed every few seconds), help requests as they come (claim,
// resolve), the groups that asked for help and their chats, and the main chat with
// announcements. console.js calls ConsoleLive.show(event) when an event is opened and
// ConsoleLive.hide() otherwise. window.ConsoleLive.page exposes the state (tests).
'use strict';

(function main() {
  const $ = (id) => document.getElementById(id);
  const page = { event: null, live: null, figures: null, requests: new Map(), room: 'main',
                 messages: new Map() };

  function say(text, kind = 'ok', id = 'live-status') {
    $(id).textContent = text;
    $(id).dataset.kind = kind;
  }

  function showFigures(f) {
    if (!f) return;
    page.figures = f;
    $('fig-viewers').textContent = f.current_viewers;
    $('fig-attendees').textContent = f.attendees;
    $('fig-peak').textContent = f.peak_concurrent;
    $('fig-mpm').textContent = f.messages_per_minute;
    $('fig-help').textContent = f.open_help;
    drawChart($('chart-present'), (f.series || []).map((x) => x.present));
    drawChart($('chart-messages'), (f.series || []).map((x) => x.messages));
  }

  // A line over the values, scaled to the chart's 600 x 100 view box.
  function drawChart(svg, values) {
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? 600 / (values.length - 1) : 600;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(98 - (v / max) * 94).toFixed(1)}`);
    svg.querySelector('polyline').setAttribute('points', points.join(' '));
    svg.dataset.max = String(max);
  }

  function helpItem(r) {
    const li = document.createElement('li');
    li.dataset.status = r.status;
    li.dataset.id = r.id;
    const title = document.createElement('p');
    const who = document.createElement('strong');
    who.textContent = r.requester_name;
    title.append(who, r.group_id ? ` (group ${r.group_id})` : '');
    const note = document.createElement('p');
    note.textContent = r.note || 'No note';
    const state = document.createElement('p');
    state.className = 'meta';
    state.textContent = r.status === 'claimed' ? `${r.claimed_by_name} is on it` : 'Waiting';
    const actions = document.createElement('div');
    actions.className = 'actions';
    const act = (text, fn, cls) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = text;
      if (cls) b.className = cls;
      b.addEventListener('click', async () => {
        b.disabled = true;
        try { await fn(); } catch (e) { say(e.reason || String(e), 'error'); b.disabled = false; }
      });
      actions.append(b);
    };
    if (r.status === 'open') act('Claim', () => page.live.claim(r.id));
    if (r.status === 'claimed') act('Release', () => page.live.release(r.id), 'secondary');
    act('Resolve', () => page.live.resolve(r.id));
    if (r.group_id) {
      act('Open group chat', () => openRoom(`group:${r.group_id}`), 'secondary');
      const join = document.createElement('a');
      join.href = `room.html?event=${encodeURIComponent(page.event.id)}&group=${r.group_id}`;
      join.className = 'button';
      join.textContent = 'Join the room';
      actions.append(join);
    }
    li.append(title, note, state, actions);
    return li;
  }

  function renderHelp() {
    const open = [...page.requests.values()]
      .filter((r) => r.status === 'open' || r.status === 'claimed')
      .sort((a, b) => a.id - b.id);
    $('help-requests').replaceChildren(...open.map(helpItem));
    $('help-empty').hidden = open.length > 0;
    // Groups: every group that asked, flagged while it has an open request.
    const groups = new Map();
    for (const r of page.requests.values()) {
      if (!r.group_id) continue;
      const flagged = r.status === 'open' || r.status === 'claimed';
      groups.set(r.group_id, (groups.get(r.group_id) || false) || flagged);
    }
    const items = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([id, flagged]) => {
      const li = document.createElement('li');
      li.dataset.group = id;
      li.dataset.help = flagged ? 'open' : 'none';
      const name = document.createElement('strong');
      name.textContent = `Group ${id}`;
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = flagged ? 'Needs help' : 'OK';
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary';
      b.textContent = 'Open group chat';
      b.addEventListener('click', () => openRoom(`group:${id}`));
      li.append(name, ' ', badge, ' ', b);
      return li;
    });
    $('groups').replaceChildren(...items);
    $('groups-empty').hidden = items.length > 0;
  }

  function messageItem(m) {
    const li = document.createElement('li');
    li.dataset.seq = m.seq;
    if (m.kind === 'announcement') li.className = 'announcement';
    const who = document.createElement('strong');
    who.textContent = m.name;
    li.append(who, ' ', m.deleted ? '(removed)' : m.text);
    return li;
  }

  function showRoom() {
    $('room-title').textContent = page.room === 'main' ? 'Main chat'
      : `Chat of group ${page.room.slice(6)}`;
    $('room-messages').replaceChildren(...(page.messages.get(page.room) || []).map(messageItem));
    $('room-announce-label').hidden = page.room !== 'main';
    $('room-main').hidden = page.room === 'main';
    $('room-section').hidden = false;
  }

  async function openRoom(room) {
    try {
      await page.live.joinRoom(room);
      page.room = room;
      showRoom();
      $('room-text').focus();
    } catch (e) {
      say(e.reason || String(e), 'error');
    }
  }

  async function sendRoom(ev) {
    ev.preventDefault();
    const text = $('room-text').value.trim();
    if (!text) return;
    try {
      if (page.room === 'main' && $('room-announce').checked) {
        await page.live.request('chat', 'announce', { text });
      } else {
        await page.live.send(text, page.room);
      }
      $('room-text').value = '';
      say('', 'ok', 'room-status');
    } catch (e) {
      say(e.reason || String(e), 'error', 'room-status');
    }
  }

  async function show(event) {
    if (page.event && page.event.id === event.id) return;
    hide();
    if (event.status !== 'live') return;
    page.event = event;
    $('live-section').hidden = false;
    say('Connecting to the live event…', 'busy');
    const live = new Odeon.EventLive(event.id, { credential: 'organiser' });
    page.live = live;
    live.on('figures', showFigures);
    live.on('help', (r) => {
      page.requests.set(r.id, r);
      renderHelp();
      if (window.ConsoleBreakout) window.ConsoleBreakout.render();
    });
    live.on('messages', (list, room) => {
      page.messages.set(room, (page.messages.get(room) || []).concat(list).slice(-200));
      if (room === page.room) showRoom();
    });
    live.on('state', (state) => {
      if (state === 'reconnecting') say('Connection lost: reconnecting…', 'busy');
      if (state === 'live') say('', 'ok');
    });
    try {
      await live.start();
      await live.watchHelp();
      await live.watchDashboard();
      showRoom();
      if (window.ConsoleBreakout) window.ConsoleBreakout.show(event);
    } catch (e) {
      say(`The live panel is unavailable: ${e.reason || e}`, 'error');
    }
  }

  function hide() {
    if (window.ConsoleBreakout) window.ConsoleBreakout.hide();
    if (page.live) page.live.stop();
    page.live = null;
    page.event = null;
    page.requests.clear();
    page.messages.clear();
    page.room = 'main';
    $('live-section').hidden = true;
  }

  $('room-form').addEventListener('submit', sendRoom);
  $('room-main').addEventListener('click', () => openRoom('main'));
  window.addEventListener('pagehide', hide);
  window.ConsoleLive = { show, hide, page, openRoom };
})();
