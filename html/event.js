// event.js - one event (event.html?id=<event>): its details and ticket types, registration
// (free: a sign-in link by email; paid: Stripe Checkout) and "send me a new login link".
//
// The event comes from the public GET /api/events/<id> (Odeon.fetchEvent: cacheable, no
// session); a draft is not public, so on 404 the page asks the tickets plugin ("event"), which
// shows drafts to members of the organisation. Registration goes through odeon.plugin.tickets
// (Odeon.Tickets). Stripe sends the buyer back to ?id=<event>&paid=1 (the webhook confirms the
// order and the sign-in link follows by email) or &cancelled=1.
// window.eventPage exposes the loaded event and the last reply (tests).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const T = Odeon.Tickets;
  const tickets = new T();
  const page = { state: 'loading', event: null, ticketTypes: [], reply: null };
  window.eventPage = page;

  function say(el, text, kind) {
    el.textContent = text;
    el.dataset.kind = kind;
  }

  // Shown for the plugin's error codes (docs/api.md); reason: the plugin's own words.
  function explain(e) {
    switch (e.code) {
      case 482: return `Please check your details: ${e.reason}.`;
      case 483: return 'You are not allowed to do this.';
      case 484: return 'This event or ticket no longer exists.';
      case 485: return 'Registration is closed for this ticket.';
      case 486: return 'Sold out: this ticket is no longer available.';
      case 487: return 'Too many attempts: please wait a few minutes and try again.';
      case 488: return 'Something went wrong on our side and nothing was changed. Please try again.';
      default: return `Something went wrong: ${e.reason || e.message}.`;
    }
  }

  function fact(dl, term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }

  function salesText(tt) {
    const now = Date.now();
    const fmt = (iso) => T.formatWhen(iso, null, page.event.timezone);
    if (tt.remaining !== undefined && tt.remaining <= 0) return 'Sold out';
    if (tt.sales_start && Date.parse(tt.sales_start) > now) return `On sale from ${fmt(tt.sales_start)}`;
    if (tt.on_sale === false) return 'Sales closed';
    if (tt.sales_end) return `On sale until ${fmt(tt.sales_end)}`;
    return 'On sale';
  }

  function available(tt) {
    return tt.on_sale !== false && !(typeof tt.remaining === 'number' && tt.remaining <= 0) &&
      page.event.status !== 'draft';
  }

  function renderTickets() {
    const list = $('ticket-list');
    const options = $('ticket-options');
    list.replaceChildren();
    options.replaceChildren();
    const types = page.ticketTypes;
    if (!types.length) {
      const li = document.createElement('li');
      li.textContent = 'No tickets yet.';
      list.append(li);
    }
    const open = types.filter(available);
    for (const tt of types) {
      const price = T.formatPrice(tt.price, tt.currency);
      const li = document.createElement('li');
      const h3 = document.createElement('h3');
      h3.textContent = `${tt.name}: ${price}`;
      const p = document.createElement('p');
      p.className = 'meta';
      const left = typeof tt.remaining === 'number' && tt.remaining > 0 ? `${tt.remaining} left · ` : '';
      p.textContent = `${left}${salesText(tt)}`;
      li.append(h3, p);
      list.append(li);

      const row = document.createElement('div');
      row.className = 'check';
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'ticket_type';
      input.id = `ticket-${tt.id}`;
      input.value = String(tt.id);
      input.disabled = !available(tt);
      if (open.length === 1 && open[0] === tt) input.checked = true;
      const label = document.createElement('label');
      label.htmlFor = input.id;
      label.textContent = `${tt.name}, ${price}${input.disabled ? ` (${salesText(tt).toLowerCase()})` : ''}`;
      row.append(input, label);
      options.append(row);
    }
    const closed = !open.length;
    $('register-button').disabled = closed;
    if (closed) {
      say($('register-status'), page.event.status === 'draft'
        ? 'Registration opens when the event goes live.'
        : 'Registration is closed: no ticket is on sale.', 'error');
    }
  }

  function render(data) {
    const ev = data.event;
    page.event = ev;
    page.ticketTypes = data.ticket_types || [];
    document.title = `${ev.title} - Odeon`;
    $('title').textContent = ev.title;
    $('when').textContent = T.formatWhen(ev.starts_at, ev.ends_at, ev.timezone);
    $('draft').hidden = ev.status !== 'draft';
    if (ev.image_url) {
      $('image').src = ev.image_url;
      $('image').hidden = false;
    }
    const dl = $('facts');
    dl.replaceChildren();
    if (ev.organisation && ev.organisation.name) fact(dl, 'Organiser', ev.organisation.name);
    fact(dl, 'Type', T.BUSINESS_TYPES[ev.business_type] || ev.business_type);
    if (typeof ev.remaining === 'number') {
      fact(dl, 'Seats', ev.remaining > 0 ? `${ev.remaining} of ${ev.capacity} left` : 'Sold out');
    }
    $('description').textContent = ev.description || '';
    // The versions of the texts accepted: the server's when it says them, else this page's.
    const terms = data.terms_version || ev.terms_version;
    const consent = data.consent_version || ev.consent_version;
    if (terms) { $('accept_terms').dataset.version = terms; $('terms-version').textContent = terms; }
    if (consent) {
      $('accept_data_sharing').dataset.version = consent;
      $('consent-version').textContent = consent;
    }
    renderTickets();
    const me = T.stored('participant');
    if (me && String(me.event_id) === String(ev.id)) {
      const note = $('signed-in');
      note.replaceChildren(`You are registered and signed in${me.name ? ` as ${me.name}` : ''}. `);
      const a = document.createElement('a');
      a.href = 'signin.html';
      a.textContent = 'Your ticket';
      note.append(a);
      note.hidden = false;
    }
    $('event').hidden = false;
  }

  async function load(id) {
    let data;
    try {
      data = await Odeon.fetchEvent(id);
    } catch (e) {
      if (e.code !== 404) throw e;
      // Not live: a draft that members of its organisation may see.
      data = await tickets.request('event', { event_id: /^\d+$/.test(id) ? Number(id) : id });
    }
    return data;
  }

  function showNotice() {
    const notice = $('notice');
    if (params.get('paid') === '1') {
      notice.textContent = 'Payment received, thank you! Your sign-in link is on its way: ' +
        'check your email.';
      notice.dataset.kind = 'ok';
      notice.hidden = false;
    } else if (params.get('cancelled') === '1') {
      notice.textContent = 'Payment cancelled: nothing was charged. You can register again below.';
      notice.dataset.kind = 'error';
      notice.hidden = false;
    }
  }

  function fieldError(input, text) {
    input.setAttribute('aria-invalid', 'true');
    say($('register-status'), text, 'error');
    input.focus();
  }

  async function register(ev) {
    ev.preventDefault();
    const form = $('register');
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const choice = form.querySelector('input[name="ticket_type"]:checked');
    const email = $('email');
    const name = $('display_name');
    if (!choice) {
      const first = form.querySelector('input[name="ticket_type"]:not(:disabled)');
      if (first) fieldError(first, 'Please choose a ticket.');
      return;
    }
    if (!email.value.trim() || !email.checkValidity()) {
      fieldError(email, 'Please enter a valid email address.');
      return;
    }
    if (!name.value.trim()) {
      fieldError(name, 'Please enter a display name.');
      return;
    }
    if (!$('accept_terms').checked) {
      fieldError($('accept_terms'), 'Please accept the terms of participation.');
      return;
    }
    if (!$('accept_data_sharing').checked) {
      fieldError($('accept_data_sharing'), 'Please agree to share your registration with the organiser.');
      return;
    }
    const tt = page.ticketTypes.find((t) => String(t.id) === choice.value);
    const address = email.value.trim();
    $('register-button').disabled = true;
    say($('register-status'), 'Registering…', 'busy');
    try {
      const reply = await tickets.request('register', {
        event_id: page.event.id, ticket_type_id: tt.id, email: address,
        display_name: name.value.trim(), accept_terms: true, accept_data_sharing: true,
        terms_version: $('accept_terms').dataset.version,
        consent_version: $('accept_data_sharing').dataset.version,
      });
      page.reply = reply;
      rememberEvent();
      if (reply.checkout_url) {
        say($('register-status'), 'Taking you to the payment page…', 'busy');
        location.assign(reply.checkout_url);
        return;
      }
      say($('register-status'), reply.already_registered
        ? `You are already registered: we sent a new sign-in link to ${address}.`
        : `You are registered! Check your email: we sent a sign-in link to ${address}.`, 'ok');
      page.state = 'registered';
      form.reset();
      renderTickets();
    } catch (e) {
      say($('register-status'), explain(e), 'error');
      page.state = 'error';
    }
    $('register-button').disabled = !page.ticketTypes.some(available);
  }

  function rememberEvent() {
    try { sessionStorage.setItem('odeon.tickets.lastEvent', String(page.event.id)); } catch (e) { /* */ }
  }

  async function requestLink(ev) {
    ev.preventDefault();
    const email = $('link-email');
    email.removeAttribute('aria-invalid');
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
      await tickets.request('request_link', { event_id: page.event.id, email: address });
      rememberEvent();
      say($('link-status'), `If ${address} is registered for this event, a new sign-in link ` +
        'is on its way. It works once, within 15 minutes.', 'ok');
    } catch (e) {
      say($('link-status'), explain(e), 'error');
    }
    $('link-button').disabled = false;
  }

  (async function start() {
    showNotice();
    const id = (params.get('id') || '').trim();
    if (!id) {
      $('status').replaceChildren('No event given. ');
      const a = document.createElement('a');
      a.href = 'events.html';
      a.textContent = 'Browse the events';
      $('status').append(a);
      $('status').dataset.kind = 'error';
      page.state = 'error';
      return;
    }
    try {
      render(await load(id));
      say($('status'), '', 'ok');
      page.state = 'loaded';
    } catch (e) {
      page.state = 'error';
      $('status').replaceChildren(e.code === 404 || e.code === 484
        ? 'This event does not exist or is not open yet. '
        : `The event could not be loaded (${e.reason || e.message}). `);
      const a = document.createElement('a');
      a.href = 'events.html';
      a.textContent = 'Browse the events';
      $('status').append(a);
      $('status').dataset.kind = 'error';
      return;
    }
    $('register').addEventListener('submit', register);
    $('link-form').addEventListener('submit', requestLink);
  })();
})();
