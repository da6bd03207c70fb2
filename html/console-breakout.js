// console-breakout.js - the organiser console's breakout panel (inside "Live now"): split the
// event's participants into groups (preview, move a person), start (everyone gets their group
// link by email), extend, end; each group with its live member count (odeon.plugin.room's
// "list"), a flag while it has an open help request, its room and its chat; the teams'
// submissions. console-live.js calls ConsoleBreakout.show(event) and hide().
// window.ConsoleBreakout.page exposes the state (tests).
'use strict';

(function main() {
  const $ = (id) => document.getElementById(id);
  const page = { event: null, breakout: null, counts: new Map(), submissions: [] };
  let tickets = null;
  let roomSession = null;
  let roomHandle = null;
  let countsTimer = null;

  function say(text, kind = 'ok') {
    $('breakout-status').textContent = text;
    $('breakout-status').dataset.kind = kind;
  }

  async function request(name, body = {}) {
    return tickets.request(name, Object.assign({ event_id: page.event.id }, body));
  }

  function helpFlags() {
    const flags = new Set();
    const live = window.ConsoleLive && window.ConsoleLive.page;
    for (const r of live ? live.requests.values() : []) {
      if (r.group_id && (r.status === 'open' || r.status === 'claimed')) flags.add(r.group_id);
    }
    return flags;
  }

  function moveSelect(member, group, groups) {
    const select = document.createElement('select');
    select.setAttribute('aria-label', `Move ${member.name} to`);
    for (const g of groups) select.append(new Option(g.name, String(g.id), false, g.id === group.id));
    select.addEventListener('change', async () => {
      try {
        show(await request('breakout_move', { participant_id: member.participant_id,
                                              group_id: Number(select.value) }));
      } catch (e) {
        say(e.reason || String(e), 'error');
      }
    });
    return select;
  }

  function groupItem(g, groups, flags) {
    const b = page.breakout;
    const li = document.createElement('li');
    li.dataset.group = g.id;
    li.dataset.help = flags.has(g.id) ? 'open' : 'none';
    const head = document.createElement('p');
    const name = document.createElement('strong');
    name.textContent = g.name;
    head.append(name, ` · ${g.members.length} members`);
    if (b.state === 'running') {
      const count = page.counts.get(g.id) || 0;
      const live = document.createElement('span');
      live.className = 'badge';
      live.dataset.live = String(count);
      live.textContent = `${count} in the room`;
      head.append(' ', live);
    }
    if (flags.has(g.id)) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'Needs help';
      head.append(' ', badge);
    }
    if (g.submitted) head.append(' · submitted');
    const list = document.createElement('ul');
    for (const m of g.members) {
      const item = document.createElement('li');
      item.append(`${m.name}${m.team ? ` (team ${m.team})` : ''} `);
      if (b.state !== 'ended') item.append(moveSelect(m, g, groups));
      list.append(item);
    }
    const actions = document.createElement('div');
    actions.className = 'actions';
    if (b.state === 'running') {
      const join = document.createElement('a');
      join.href = `room.html?event=${encodeURIComponent(page.event.id)}&group=${g.id}`;
      join.textContent = 'Join the room';
      join.className = 'button';
      const chat = document.createElement('button');
      chat.type = 'button';
      chat.className = 'secondary';
      chat.textContent = 'Open group chat';
      chat.addEventListener('click', () => window.ConsoleLive.openRoom(`group:${g.id}`));
      actions.append(join, chat);
    }
    li.append(head, list, actions);
    return li;
  }

  function render() {
    const b = page.breakout;
    if (!page.event) return;
    $('start-form').hidden = !b || b.state !== 'draft';
    $('running-actions').hidden = !b || b.state !== 'running';
    $('split-form').hidden = !!b && b.state === 'running';
    if (!b) {
      $('breakout-state').textContent = 'No breakout yet.';
      $('breakout-groups').replaceChildren();
      return;
    }
    const until = b.ends_at ? new Date(b.ends_at).toLocaleTimeString() : '';
    $('breakout-state').textContent = {
      draft: `Preview: ${b.groups.length} groups. Move people, then start.`,
      running: `Running until ${until}: ${b.groups.length} groups.`,
      ended: `The last breakout ended (${b.groups.length} groups).`,
    }[b.state];
    const flags = helpFlags();
    $('breakout-groups').replaceChildren(...b.groups.map((g) => groupItem(g, b.groups, flags)));
    $('submissions').replaceChildren(...page.submissions.map((s) => {
      const li = document.createElement('li');
      const title = document.createElement('strong');
      title.textContent = `${s.group_name}: ${s.title}`;
      li.append(title);
      if (s.link) {
        const a = document.createElement('a');
        a.href = s.link;
        a.rel = 'noopener noreferrer';
        a.textContent = s.link;
        li.append(' ', a);
      }
      const text = document.createElement('p');
      text.textContent = s.text;
      li.append(text, `${s.contributors.length} contributors`);
      return li;
    }));
  }

  function showBreakout(reply) {
    page.breakout = reply.breakout;
    render();
  }

  // Members in each group's room now, from the room plugin (rooms of this event).
  async function refreshCounts() {
    if (!page.breakout || page.breakout.state !== 'running') return;
    try {
      if (!roomHandle) {
        const record = Odeon.Tickets.stored('organiser');
        roomSession = await Odeon.connect(Odeon.defaultUrl(), { token: record.token });
        roomHandle = await roomSession.attach('odeon.plugin.room');
      }
      const reply = await roomHandle.request({ request: 'list' });
      page.counts = new Map((reply.list || []).filter((r) => r.event_id === page.event.id)
        .map((r) => [r.room, r.num_participants]));
      render();
    } catch (e) {
      roomHandle = null;
    }
  }

  async function refreshSubmissions() {
    page.submissions = (await request('submissions').catch(() => ({}))).submissions || [];
    render();
  }

  async function act(fn, busy) {
    say(busy, 'busy');
    try {
      showBreakout(await fn());
      say('', 'ok');
      refreshCounts();
      refreshSubmissions();
    } catch (e) {
      say(e.reason || String(e), 'error');
    }
  }

  $('split-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(() => request('breakout_preview', { [$('split-by').value]: Number($('split-n').value),
                                            include: $('split-include').value }), 'Splitting…');
  });
  $('start-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(async () => {
      const r = await request('breakout_start', { minutes: Number($('start-minutes').value),
                                                  submission_minutes: Number($('start-deadline').value) });
      setTimeout(() => say(`Started: ${r.emails_sent} group links sent.`, 'ok'), 0);
      return r;
    }, 'Starting and sending the links…');
  });
  $('breakout-extend').addEventListener('click', () => act(() => request('breakout_extend', { minutes: 5 }), 'Extending…'));
  $('breakout-end').addEventListener('click', () => act(() => request('breakout_end'), 'Ending…'));

  async function show(event) {
    hide();
    page.event = event;
    tickets = new Odeon.Tickets({ credential: 'organiser' });
    try {
      showBreakout(await request('breakout_get'));
      refreshSubmissions();
      refreshCounts();
      countsTimer = setInterval(() => { refreshCounts(); refreshSubmissions(); }, 5000);
    } catch (e) {
      say(`Breakouts are unavailable: ${e.reason || e}`, 'error');
    }
  }

  function hide() {
    clearInterval(countsTimer);
    if (roomSession) roomSession.destroy().catch(() => {});
    if (tickets) tickets.close();
    roomSession = roomHandle = tickets = null;
    page.event = null;
    page.breakout = null;
  }

  window.ConsoleBreakout = { show, hide, render, page };
})();
