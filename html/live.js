// live.js - a participant's page during an event (live.html?event=<id>): the main chat, a help
// button that shows who is coming, and presence heartbeats (Odeon.EventLive in odeon-live.js).
// Uses the credential this tab signed in with (signin.html); without one it says so.
// window.livePage exposes the state (tests).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const credential = Odeon.Tickets.stored('participant') || Odeon.Tickets.stored('organiser');
  const eventId = Number(params.get('event') || (credential && credential.event_id));
  const page = { state: 'idle', messages: [], help: null, live: null };
  window.livePage = page;

  function say(id, text, kind = 'ok') {
    $(id).textContent = text;
    $(id).dataset.kind = kind;
  }

  function messageItem(m) {
    const li = document.createElement('li');
    li.dataset.seq = m.seq;
    if (m.kind === 'announcement') li.className = 'announcement';
    const who = document.createElement('strong');
    who.textContent = m.kind === 'announcement' ? `${m.name} (announcement)` : m.name;
    const text = document.createElement('span');
    text.textContent = m.deleted ? 'Message removed by a moderator' : m.text;
    if (m.deleted) text.className = 'meta';
    const time = document.createElement('time');
    time.dateTime = m.at;
    time.className = 'meta';
    time.textContent = new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.append(who, ' ', text, ' ', time);
    return li;
  }

  function showMessages(list, atTop) {
    const ol = $('messages');
    const nearBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    const items = list.map(messageItem);
    if (atTop) ol.prepend(...items); else ol.append(...items);
    page.messages = atTop ? list.concat(page.messages) : page.messages.concat(list);
    if (!atTop && nearBottom) ol.scrollTop = ol.scrollHeight;
  }

  function showHelp(request) {
    if (page.help && page.help.id !== request.id && request.status !== 'open' &&
        request.status !== 'claimed') return; // an old request's late news
    page.help = request;
    const open = request.status === 'open' || request.status === 'claimed';
    $('help-open').hidden = !open;
    $('help-form').hidden = open;
    const texts = {
      open: 'Your request is waiting for an organiser.',
      claimed: `${request.claimed_by_name || 'An organiser'} is coming.`,
      resolved: 'Your help request was resolved.',
      cancelled: 'You cancelled your help request.',
    };
    if (open) $('help-state').textContent = texts[request.status];
    else say('help-status', texts[request.status] || '', 'ok');
  }

  async function send(ev) {
    ev.preventDefault();
    const text = $('chat-text').value.trim();
    if (!text) return say('chat-status', 'Write a message first.', 'error');
    $('chat-send').disabled = true;
    try {
      await page.live.send(text);
      $('chat-text').value = '';
      say('chat-status', '', 'ok');
    } catch (e) {
      say('chat-status', e.reason || String(e), 'error');
    } finally {
      $('chat-send').disabled = false;
      $('chat-text').focus();
    }
  }

  async function older() {
    const first = page.messages[0];
    if (!first) return;
    const list = await page.live.history(first.seq).catch(() => []);
    if (list.length === 0) $('older').disabled = true;
    showMessages(list, true);
  }

  async function raise(ev) {
    ev.preventDefault();
    $('help-raise').disabled = true;
    try {
      showHelp(await page.live.raiseHelp($('help-note').value.trim()));
      say('help-status', '', 'ok');
    } catch (e) {
      say('help-status', e.reason || String(e), 'error');
    } finally {
      $('help-raise').disabled = false;
    }
  }

  async function cancel() {
    try {
      showHelp(await page.live.cancelHelp(page.help.id));
    } catch (e) {
      say('help-status', e.reason || String(e), 'error');
    }
  }

  async function start() {
    if (!credential || !eventId) {
      say('status', '', 'ok');
      $('signin').hidden = false;
      page.state = 'signed-out';
      return;
    }
    Odeon.fetchEvent(eventId).then((d) => {
      $('title').textContent = d.event.title;
      document.title = `${d.event.title} - Odeon`;
    }).catch(() => {});
    const live = new Odeon.EventLive(eventId);
    page.live = live;
    live.on('messages', (list, room) => { if (room === 'main') showMessages(list, false); });
    live.on('deleted', (seqs) => {
      for (const seq of seqs) {
        const span = document.querySelector(`#messages li[data-seq="${seq}"] span`);
        if (span) { span.textContent = 'Message removed by a moderator'; span.className = 'meta'; }
      }
    });
    live.on('help', showHelp);
    live.on('state', (state) => {
      page.state = state;
      if (state === 'reconnecting') say('status', 'Connection lost: reconnecting…', 'busy');
      if (state === 'live') say('status', 'You are in.', 'ok');
    });
    try {
      await live.start();
      $('live').hidden = false;
    } catch (e) {
      page.state = 'error';
      say('status', e.code === 403 || e.code === 443 ? 'You are not signed in for this event.'
        : `Could not join: ${e.reason || e}`, 'error');
      $('signin').hidden = e.code !== 403 && e.code !== 443;
    }
  }

  $('chat-form').addEventListener('submit', send);
  $('chat-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) send(ev);
  });
  $('older').addEventListener('click', older);
  $('help-form').addEventListener('submit', raise);
  $('help-cancel').addEventListener('click', cancel);
  window.addEventListener('pagehide', () => { if (page.live) page.live.stop(); });
  start();
})();
