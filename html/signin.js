// signin.js - the magic-link landing page (signin.html?token=<token>, from the email a
// participant gets after registering): redeems the link (redeem_link), keeps the participant
// credential for this tab (Odeon.Tickets.signIn: sessionStorage) and shows who is signed in
// for which event, with the event's stage when it has one. Without a token it shows the
// credential this tab already holds, else the "new link" form; a link that is used up or
// expired gets a clear message and that form (request_link).
//
// A link with &next=<path> (a breakout group's link) opens that page of this site once signed in.
// The token leaves the address bar at once (history.replaceState), so it stays out of the
// history and of a later Referer. window.signinPage exposes the state (tests).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const T = Odeon.Tickets;
  const tickets = new T({ credential: 'participant' });
  const page = { state: 'starting', participant: null, event: null };
  window.signinPage = page;
  const token = params.get('token');
  if (token) {
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  }

  function say(el, text, kind) {
    el.textContent = text;
    el.dataset.kind = kind;
  }

  function stageOf(event) {
    if (!event) return null;
    const id = event.stage_id !== undefined ? event.stage_id : event.stage;
    if (id === undefined || id === null || id === '') return null;
    return typeof id === 'object' ? id.id : id;
  }

  async function eventOf(eventId, registration) {
    if (registration && registration.event) return registration.event;
    try {
      return (await Odeon.fetchEvent(eventId)).event;
    } catch (e) {
      return null;
    }
  }

  // participant: { display_name, event_id, ... }; registration: my_registration's reply.
  function showSignedIn(participant, event, registration) {
    page.state = 'signed-in';
    page.participant = participant;
    page.event = event;
    $('name').textContent = participant.display_name || participant.name || participant.email;
    const eventId = participant.event_id !== undefined ? participant.event_id : event && event.id;
    $('event-link').textContent = event ? event.title : `event ${eventId}`;
    $('event-link').href = `event.html?id=${encodeURIComponent(eventId)}`;
    $('live-link').href = `live.html?event=${encodeURIComponent(eventId)}`;
    $('when').textContent = event ? T.formatWhen(event.starts_at, event.ends_at, event.timezone) : '';
    const status = registration && registration.status;
    $('order-status').textContent = status && status !== 'confirmed'
      ? `Your registration is ${status}.` : '';
    const stage = stageOf(event);
    $('stage').hidden = stage === null;
    if (stage !== null) $('stage-link').href = `stage.html?id=${encodeURIComponent(stage)}`;
    $('new-link').hidden = true;
    $('signed-in').hidden = false;
    say($('status'), `Signed in as ${$('name').textContent} for ${$('event-link').textContent}.`, 'ok');
  }

  async function fillEvents(preferred) {
    const select = $('event');
    const seen = new Set();
    const add = (ev) => {
      if (!ev || seen.has(String(ev.id))) return;
      seen.add(String(ev.id));
      select.append(new Option(`${ev.title} (${T.formatWhen(ev.starts_at, null, ev.timezone)})`,
                               String(ev.id)));
    };
    if (preferred) {
      try { add((await Odeon.fetchEvent(preferred)).event); } catch (e) { /* not public */ }
    }
    try {
      for (const ev of (await Odeon.fetchEvents({ per_page: 100 })).events || []) add(ev);
    } catch (e) { /* the form still works with a remembered event */ }
    if (preferred && seen.has(String(preferred))) select.value = String(preferred);
  }

  function showNewLink(text, kind) {
    page.state = kind === 'error' ? 'failed' : 'signed-out';
    say($('status'), text, kind);
    $('signed-in').hidden = true;
    $('new-link').hidden = false;
    let remembered = params.get('event');
    try { remembered = remembered || sessionStorage.getItem('odeon.tickets.lastEvent'); } catch (e) { /* */ }
    fillEvents(remembered);
  }

  async function redeem() {
    let reply;
    try {
      reply = await tickets.request('redeem_link', { token });
    } catch (e) {
      if (e.plugin && e.code !== 488) {
        showNewLink('This sign-in link is no longer valid: links work once and expire after ' +
          '15 minutes. Ask for a new one below.', 'error');
      } else {
        showNewLink(`We could not sign you in right now (${e.reason || e.message}). Open the ` +
          'link from your email again in a moment, or ask for a new one below.', 'error');
      }
      return;
    }
    const participant = reply.participant || {};
    await tickets.signIn(reply.credential, { kind: 'participant', expires_at: reply.expires_at,
                                             event_id: participant.event_id });
    let registration = null;
    try { registration = await tickets.request('my_registration'); } catch (e) { /* optional */ }
    const who = (registration && registration.participant) || participant;
    showSignedIn(Object.assign({}, participant, who), await eventOf(participant.event_id, registration),
                 registration);
    // A link for a page of this site (a breakout group's room): open it, signed in. Only a
    // path here, never another site.
    const next = params.get('next');
    if (next && /^\/[^/\\]/.test(next)) {
      page.next = next;
      location.replace(next);
    }
  }

  async function resume() {
    let identity = null;
    try {
      identity = T.stored('participant') ? await tickets.connect() : null;
    } catch (e) { /* unreachable: treated as signed out */ }
    if (!identity || identity.kind !== 'participant') {
      showNewLink('You are not signed in. Use the link from your registration email, or ask for ' +
        'a new one.', 'ok');
      return;
    }
    let registration = null;
    try { registration = await tickets.request('my_registration'); } catch (e) { /* optional */ }
    const participant = Object.assign({ display_name: identity.name, event_id: identity.event_id },
                                      registration && registration.participant);
    showSignedIn(participant, await eventOf(participant.event_id, registration), registration);
  }

  async function requestLink(ev) {
    ev.preventDefault();
    const email = $('email');
    const select = $('event');
    for (const el of [email, select]) el.removeAttribute('aria-invalid');
    if (!select.value) {
      select.setAttribute('aria-invalid', 'true');
      say($('link-status'), 'Please choose your event.', 'error');
      select.focus();
      return;
    }
    if (!email.value.trim() || !email.checkValidity()) {
      email.setAttribute('aria-invalid', 'true');
      say($('link-status'), 'Please enter a valid email address.', 'error');
      email.focus();
      return;
    }
    const address = email.value.trim();
    $('link-button').disabled = true;
    say($('link-status'), 'Sending…', 'busy');
    try {
      await tickets.request('request_link', {
        event_id: /^\d+$/.test(select.value) ? Number(select.value) : select.value, email: address });
      say($('link-status'), `If ${address} is registered for this event, a new sign-in link is on ` +
        'its way.', 'ok');
    } catch (e) {
      say($('link-status'), e.code === 487 ? 'Too many attempts: please wait a few minutes.'
        : `The link could not be sent (${e.reason || e.message}). Please try again.`, 'error');
    }
    $('link-button').disabled = false;
  }

  $('link-form').addEventListener('submit', requestLink);
  $('signout').addEventListener('click', async () => {
    await tickets.signOut('participant');
    showNewLink('You are signed out.', 'ok');
  });
  (token ? redeem() : resume()).catch((e) => {
    showNewLink(`Something went wrong: ${e.reason || e.message}.`, 'error');
  });
})();
