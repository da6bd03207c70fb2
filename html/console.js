// console.js - the organiser console (console.html): sign up or sign in, the organisation's
// events (drafts, live, past), creating, editing and deleting draft events and their ticket
// types, going live, Stripe Connect, the team (invitations, roles) and registrations.
//
// Everything goes through odeon.plugin.tickets with an organiser token (Odeon.Tickets with
// credential 'organiser': kept in localStorage, see odeon.js). Roles decide what is shown:
// hosts see events, attendees and the team; organisers also edit events and ticket types;
// owners also connect Stripe and manage the team.
// The address may carry ?invite=<token> (an invitation email: the invite form), or
// ?code=&state= (Stripe's OAuth return: stripe_connect_complete); both leave the address bar
// once read. The event being edited is remembered in sessionStorage, so it is open again when
// Stripe sends the organiser back. Times are edited in the event's own time zone: inputs carry
// no offset and the plugin reads them in the event's `timezone`.
// window.consolePage exposes the state (tests).
'use strict';

(function main() {
  const T = Odeon.Tickets;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const SELECTED_KEY = 'odeon.console.event';
  const tickets = new T({ credential: 'organiser' });
  const page = { state: 'starting', identity: null, events: [], selected: null, ticketTypes: [],
                 editingTicket: null, stripe: null };
  window.consolePage = page;

  // ---- helpers ----

  function say(id, text, kind = 'ok') {
    const el = $(id);
    el.textContent = text;
    el.dataset.kind = kind;
    if (kind === 'error') el.dataset.code = String(page.lastError || '');
  }

  // The text shown for a failed request: e.friendly when the caller set one, else by code.
  function failure(e) {
    page.lastError = e.code;
    if (e.friendly) return e.friendly;
    switch (e.code) {
      case 483: return 'Your role does not allow this.';
      case 487: return 'Too many attempts: please wait a few minutes and try again.';
      case 488: return `The service is unavailable and nothing was changed (${e.reason}). Please try again.`;
      case 489: return 'An account with this email address already exists.';
      case 403: return 'Your session has expired: please sign in again.';
      default: return `${e.reason || e.message} (error ${e.code})`;
    }
  }

  // Runs fn with button disabled, reporting into status id; returns fn's result or null.
  async function act(button, statusId, busyText, fn) {
    if (button) button.disabled = true;
    say(statusId, busyText, 'busy');
    try {
      return await fn();
    } catch (e) {
      say(statusId, failure(e), 'error');
      if (e.code === 403 && !e.plugin) showAuth('Your session has expired: please sign in again.');
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  }

  function invalid(input, statusId, text) {
    input.setAttribute('aria-invalid', 'true');
    say(statusId, text, 'error');
    input.focus();
    return false;
  }

  function clearInvalid(form) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  function required(fields, statusId) {
    for (const [input, text] of fields) {
      if (!input.value.trim() || !input.checkValidity()) return invalid(input, statusId, text);
    }
    return true;
  }

  // whoami names the organisation by its id; its name comes from the login reply, kept with
  // the token.
  function orgName(org) {
    if (org && typeof org === 'object') return org.name || '';
    const kept = T.stored('organiser');
    if (kept && kept.organisation && typeof kept.organisation === 'object') {
      return kept.organisation.name || '';
    }
    return typeof org === 'string' ? org : '';
  }

  const ROLE_RANK = { host: 1, organiser: 2, owner: 3 };
  function can(role) {
    const mine = page.identity && ROLE_RANK[page.identity.role];
    return Boolean(mine && mine >= ROLE_RANK[role]);
  }

  function cleanAddress(...names) {
    const q = new URLSearchParams(location.search);
    for (const n of names) q.delete(n);
    const s = q.toString();
    history.replaceState(null, '', `${location.pathname}${s ? `?${s}` : ''}`);
  }

  function remember(id) {
    try {
      if (id === null || id === undefined) sessionStorage.removeItem(SELECTED_KEY);
      else sessionStorage.setItem(SELECTED_KEY, String(id));
    } catch (e) { /* storage disabled */ }
  }

  function remembered() {
    try { return sessionStorage.getItem(SELECTED_KEY); } catch (e) { return null; }
  }

  // '2027-03-01T17:00:00Z' in 'Europe/Berlin' -> '2027-03-01T18:00' (a datetime-local value).
  function zonedInput(iso, timezone) {
    if (!iso) return '';
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    let fmt;
    try {
      fmt = new Intl.DateTimeFormat('en-GB', { timeZone: timezone || 'UTC', hourCycle: 'h23',
        year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    } catch (e) {
      return iso.slice(0, 16);
    }
    const p = Object.fromEntries(fmt.formatToParts(date).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }

  // '15.00' in eur -> 1500; NaN when not a price.
  function toMinor(text, currency) {
    const s = String(text).trim().replace(',', '.');
    if (!/^\d+(\.\d+)?$/.test(s)) return NaN;
    const digits = T.currencyDigits(currency);
    return Math.round(Number(s) * 10 ** digits);
  }

  function fromMinor(price, currency) {
    const digits = T.currencyDigits(currency);
    return (price / 10 ** digits).toFixed(digits);
  }

  function cell(row, content) {
    const td = document.createElement('td');
    if (content instanceof Node) td.append(content);
    else td.textContent = content === undefined || content === null ? '' : String(content);
    row.append(td);
    return td;
  }

  function button(text, className, onClick, label) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    if (className) b.className = className;
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  function isPast(ev) { return Date.parse(ev.ends_at) <= Date.now(); }

  // ---- signing in ----

  function showAuth(text) {
    page.state = 'signed-out';
    page.identity = null;
    $('app').hidden = true;
    $('invite-section').hidden = true;
    $('auth').hidden = false;
    say('status', text || 'Sign in, or create an account to organise events.', 'ok');
  }

  async function signedIn(reply) {
    const identity = await tickets.signIn(reply.token, { kind: 'organiser', expires_at: reply.expires_at,
                                                         organisation: reply.organisation });
    if (identity.kind !== 'organiser') throw new Odeon.OdeonError(0, 'not an organiser account');
    return enterApp(identity);
  }

  async function login(ev) {
    ev.preventDefault();
    clearInvalid(ev.target);
    const email = $('login-email');
    const password = $('login-password');
    if (!required([[email, 'Please enter your email address.'],
                   [password, 'Please enter your password.']], 'login-status')) return;
    await act(ev.submitter, 'login-status', 'Signing in…', async () => {
      let reply;
      try {
        reply = await tickets.request('login', { email: email.value.trim(), password: password.value });
      } catch (e) {
        if (e.code === 483 || e.code === 484) e.friendly = 'Wrong email or password.';
        throw e;
      }
      password.value = '';
      say('login-status', '', 'ok');
      await signedIn(reply);
    });
  }

  async function signup(ev) {
    ev.preventDefault();
    clearInvalid(ev.target);
    const f = { name: $('signup-name'), email: $('signup-email'), password: $('signup-password'),
                organisation: $('signup-organisation') };
    if (!required([[f.name, 'Please enter your name.'],
                   [f.email, 'Please enter a valid email address.'],
                   [f.password, 'The password needs at least 10 characters.'],
                   [f.organisation, 'Please name your organisation.']], 'signup-status')) return;
    await act(ev.submitter, 'signup-status', 'Creating your account…', async () => {
      const reply = await tickets.request('signup', {
        name: f.name.value.trim(), email: f.email.value.trim(), password: f.password.value,
        organisation: f.organisation.value.trim() });
      f.password.value = '';
      say('signup-status', '', 'ok');
      await signedIn(reply);
    });
  }

  async function acceptInvite(ev, invite) {
    ev.preventDefault();
    clearInvalid(ev.target);
    const name = $('invite-name');
    const password = $('invite-password');
    if (!required([[name, 'Please enter your name.'],
                   [password, 'The password needs at least 10 characters.']], 'invite-status')) return;
    await act(ev.submitter, 'invite-status', 'Joining…', async () => {
      let reply;
      try {
        reply = await tickets.request('accept_invite', { invite, name: name.value.trim(),
                                                         password: password.value });
      } catch (e) {
        if (e.code === 483 || e.code === 484) {
          e.friendly = 'This invitation is no longer valid (used, or older than 72 hours): ask for a new one.';
        }
        throw e;
      }
      password.value = '';
      cleanAddress('invite');
      say('invite-status', '', 'ok');
      await signedIn(reply);
    });
  }

  async function signOut() {
    window.ConsoleLive.hide();
    await tickets.signOut('organiser');
    remember(null);
    page.selected = null;
    $('editor').hidden = true;
    showAuth('You are signed out.');
    $('login-email').focus();
  }

  async function enterApp(identity) {
    page.identity = identity;
    page.state = 'signed-in';
    $('auth').hidden = true;
    $('invite-section').hidden = true;
    $('app').hidden = false;
    const org = orgName(identity.organisation);
    $('who').textContent = `Signed in as ${identity.name} (${identity.role})${org ? ` at ${org}` : ''}.`;
    say('status', `Signed in as ${identity.name}.`, 'ok');
    $('new-event').hidden = !can('organiser');
    $('stripe-section').hidden = !can('owner');
    $('member-form').hidden = !can('owner');
    if (params.get('code') && params.get('state')) await completeStripe();
    else if (params.get('error') && params.get('state')) {
      say('stripe-status', `Stripe was not connected: ${params.get('error_description') ||
        params.get('error')}.`, 'error');
      cleanAddress('error', 'error_description', 'state', 'scope');
    }
    const loads = [loadEvents(), loadMembers()];
    if (can('owner') && !page.stripe) loads.push(loadStripe());
    await Promise.all(loads);
    const again = remembered();
    const event = again && page.events.find((e) => String(e.id) === again);
    if (event) await openEvent(event.id, false);
  }

  // ---- events ----

  async function loadEvents() {
    const data = await act(null, 'events-status', 'Loading your events…',
                           () => tickets.request('my_events'));
    if (!data) return;
    page.events = data.events || [];
    renderEvents();
    say('events-status', page.events.length ? '' : 'No events yet.', 'ok');
  }

  function eventItem(ev) {
    const li = document.createElement('li');
    const title = button(ev.title, 'secondary', () => openEvent(ev.id, true));
    title.dataset.event = String(ev.id);
    if (page.selected && String(page.selected.id) === String(ev.id)) {
      title.setAttribute('aria-current', 'true');
    }
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.status = ev.status;
    badge.textContent = ev.status;
    const meta = document.createElement('p');
    meta.className = 'meta';
    meta.textContent = `${T.formatWhen(ev.starts_at, ev.ends_at, ev.timezone)} · ` +
      `${T.BUSINESS_TYPES[ev.business_type] || ev.business_type}`;
    li.append(title, ' ', badge, meta);
    return li;
  }

  function renderEvents() {
    const groups = { drafts: [], live: [], past: [] };
    for (const ev of page.events) {
      if (ev.status === 'draft') groups.drafts.push(ev);
      else if (isPast(ev)) groups.past.push(ev);
      else groups.live.push(ev);
    }
    for (const [id, list] of Object.entries(groups)) {
      const ul = $(id);
      ul.replaceChildren(...list.map(eventItem));
      if (!list.length) {
        const li = document.createElement('li');
        li.className = 'meta';
        li.textContent = 'None.';
        ul.append(li);
      }
    }
  }

  function editable() {
    return can('organiser') && (!page.selected || page.selected.status === 'draft');
  }

  function fillEventForm(ev) {
    const tz = (ev && ev.timezone) || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    $('ev-title').value = ev ? ev.title : '';
    $('ev-description').value = ev ? ev.description || '' : '';
    $('ev-business-type').value = ev ? ev.business_type : 'conference';
    $('ev-capacity').value = ev ? ev.capacity : 100;
    $('ev-timezone').value = tz;
    $('ev-starts-at').value = ev ? zonedInput(ev.starts_at, tz) : '';
    $('ev-ends-at').value = ev ? zonedInput(ev.ends_at, tz) : '';
    $('ev-image-url').value = ev && ev.image_url ? ev.image_url : '';
  }

  function renderEditor() {
    const ev = page.selected;
    const draft = !ev || ev.status === 'draft';
    $('editor-title').textContent = ev ? `Event: ${ev.title}` : 'New event';
    $('editor-state').textContent = !ev ? 'Not saved yet.'
      : draft ? 'Draft: only your team sees it. Add ticket types, then go live.'
      : isPast(ev) ? 'This event is over.' : 'Live: participants can register. Live events cannot be edited.';
    $('event-fields').disabled = !editable();
    $('save-event').hidden = !editable();
    $('save-event').textContent = ev ? 'Save changes' : 'Create event';
    $('publish-event').hidden = !(ev && draft && can('organiser'));
    $('delete-event').hidden = !(ev && draft && can('organiser'));
    $('public-link').hidden = !ev;
    if (ev) {
      $('public-link').href = `event.html?id=${encodeURIComponent(ev.id)}`;
      $('public-link').textContent = draft ? 'Preview the event page' : 'Public event page';
    }
    $('tickets-section').hidden = !ev;
    $('ticket-form').hidden = !(ev && draft && can('organiser'));
    $('registrations-section').hidden = !ev || draft;
    renderEvents();
  }

  function newEvent() {
    window.ConsoleLive.hide();
    page.selected = null;
    page.ticketTypes = [];
    remember(null);
    fillEventForm(null);
    say('editor-status', '', 'ok');
    renderEditor();
    $('editor').hidden = false;
    $('ev-title').focus();
  }

  async function openEvent(id, focus) {
    const data = await act(null, 'events-status', 'Opening the event…',
                           () => tickets.request('event', { event_id: id }));
    if (!data) return;
    say('events-status', '', 'ok');
    showEvent(data.event, data.ticket_types || []);
    say('editor-status', '', 'ok');
    resetTicketForm();
    $('registrations').hidden = true;
    say('registrations-status', '', 'ok');
    if (focus) $('editor').focus();
  }

  function showEvent(ev, ticketTypes) {
    page.selected = ev;
    if (ticketTypes) page.ticketTypes = ticketTypes;
    const i = page.events.findIndex((e) => String(e.id) === String(ev.id));
    if (i >= 0) page.events[i] = ev; else page.events.push(ev);
    remember(ev.id);
    fillEventForm(ev);
    renderEditor();
    renderTicketTypes();
    $('editor').hidden = false;
    window.ConsoleLive.show(ev);
  }

  function eventFields() {
    const f = {
      title: $('ev-title').value.trim(),
      description: $('ev-description').value,
      business_type: $('ev-business-type').value,
      starts_at: $('ev-starts-at').value,
      ends_at: $('ev-ends-at').value,
      timezone: $('ev-timezone').value.trim(),
      capacity: Number($('ev-capacity').value),
    };
    const image = $('ev-image-url').value.trim();
    if (image) f.image_url = image;
    return f;
  }

  function validTimezone(tz) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz }).format(0);
      return true;
    } catch (e) {
      return false;
    }
  }

  function checkEventForm() {
    const form = $('event-form');
    clearInvalid(form);
    if (!required([[$('ev-title'), 'Please give the event a title.'],
                   [$('ev-starts-at'), 'Please give a start time.'],
                   [$('ev-ends-at'), 'Please give an end time.'],
                   [$('ev-timezone'), 'Please give a time zone.'],
                   [$('ev-capacity'), 'Please give a capacity between 1 and 1,000,000.']],
                  'editor-status')) return false;
    if ($('ev-ends-at').value <= $('ev-starts-at').value) {
      return invalid($('ev-ends-at'), 'editor-status', 'The event must end after it starts.');
    }
    if (!validTimezone($('ev-timezone').value.trim())) {
      return invalid($('ev-timezone'), 'editor-status', 'Unknown time zone: use a name such as Europe/Berlin.');
    }
    return true;
  }

  async function saveEvent(ev) {
    ev.preventDefault();
    if (!checkEventForm()) return;
    const fields = eventFields();
    const existing = page.selected;
    const data = await act($('save-event'), 'editor-status', 'Saving…', () => (existing
      ? tickets.request('update_event', Object.assign({ event_id: existing.id }, fields))
      : tickets.request('create_event', fields)));
    if (!data) return;
    showEvent(data.event, existing ? null : []);
    say('editor-status', existing ? 'Changes saved.'
      : 'Event created as a draft. Add ticket types, then go live.', 'ok');
    if (!existing) $('tt-name').focus();
  }

  async function publishEvent() {
    const ev = page.selected;
    const data = await act($('publish-event'), 'editor-status', 'Going live…',
                           () => tickets.request('publish_event', { event_id: ev.id }));
    if (!data) {
      if (page.lastError === 485) {
        say('editor-status', `The event cannot go live yet: ${$('editor-status').textContent}. It ` +
          'needs at least one ticket type, and paid tickets need Stripe connected.', 'error');
      }
      return;
    }
    showEvent(data.event, null);
    say('editor-status', `${data.event.title} is live: participants can register now.`, 'ok');
  }

  async function deleteEvent() {
    const ev = page.selected;
    if (!window.confirm(`Delete the draft “${ev.title}”? This cannot be undone.`)) return;
    const data = await act($('delete-event'), 'editor-status', 'Deleting…',
                           () => tickets.request('delete_event', { event_id: ev.id }));
    if (!data) return;
    page.events = page.events.filter((e) => String(e.id) !== String(ev.id));
    page.selected = null;
    remember(null);
    $('editor').hidden = true;
    renderEvents();
    say('events-status', `Deleted “${ev.title}”.`, 'ok');
    $('new-event').focus();
  }

  // ---- ticket types ----

  function salesWindow(tt) {
    const tz = page.selected.timezone;
    const from = tt.sales_start ? T.formatWhen(tt.sales_start, null, tz) : 'going live';
    const to = tt.sales_end ? T.formatWhen(tt.sales_end, null, tz) : 'the event ends';
    return `${from} to ${to}${tt.on_sale ? ' (on sale)' : ''}`;
  }

  function renderTicketTypes() {
    const body = $('ticket-table').tBodies[0];
    body.replaceChildren();
    const draft = page.selected && page.selected.status === 'draft' && can('organiser');
    for (const tt of page.ticketTypes) {
      const row = document.createElement('tr');
      cell(row, tt.name);
      cell(row, T.formatPrice(tt.price, tt.currency));
      cell(row, tt.quantity);
      cell(row, tt.remaining);
      cell(row, salesWindow(tt));
      const actions = document.createElement('div');
      actions.className = 'actions';
      if (draft) {
        actions.append(button('Edit', 'secondary', () => editTicket(tt), `Edit ${tt.name}`),
                       button('Delete', 'danger', () => deleteTicket(tt), `Delete ${tt.name}`));
      }
      cell(row, actions);
      body.append(row);
    }
    if (!page.ticketTypes.length) {
      const row = document.createElement('tr');
      const td = cell(row, 'No ticket types yet.');
      td.colSpan = 6;
      body.append(row);
    }
  }

  function syncPriceFields() {
    const paid = $('tt-paid').checked;
    $('tt-price').disabled = !paid;
    $('tt-currency').disabled = !paid;
  }

  function resetTicketForm() {
    page.editingTicket = null;
    $('ticket-form').reset();
    $('tt-quantity').value = Math.min(100, (page.selected && page.selected.capacity) || 100);
    syncPriceFields();
    $('ticket-legend').textContent = 'Add a ticket type';
    $('save-ticket').textContent = 'Add ticket type';
    $('cancel-ticket').hidden = true;
    clearInvalid($('ticket-form'));
  }

  function editTicket(tt) {
    resetTicketForm();
    page.editingTicket = tt;
    const tz = page.selected.timezone;
    $('tt-name').value = tt.name;
    $('tt-paid').checked = tt.price > 0;
    $('tt-free').checked = !(tt.price > 0);
    $('tt-currency').value = tt.currency;
    $('tt-price').value = tt.price > 0 ? fromMinor(tt.price, tt.currency) : '';
    $('tt-quantity').value = tt.quantity;
    $('tt-sales-start').value = zonedInput(tt.sales_start, tz);
    $('tt-sales-end').value = zonedInput(tt.sales_end, tz);
    syncPriceFields();
    $('ticket-legend').textContent = `Edit ticket type: ${tt.name}`;
    $('save-ticket').textContent = 'Save ticket type';
    $('cancel-ticket').hidden = false;
    $('tt-name').focus();
  }

  function ticketFields() {
    const paid = $('tt-paid').checked;
    const currency = $('tt-currency').value;
    const f = {
      name: $('tt-name').value.trim(),
      price: paid ? toMinor($('tt-price').value, currency) : 0,
      currency,
      quantity: Number($('tt-quantity').value),
    };
    if ($('tt-sales-start').value) f.sales_start = $('tt-sales-start').value;
    if ($('tt-sales-end').value) f.sales_end = $('tt-sales-end').value;
    return f;
  }

  function checkTicketForm(f) {
    clearInvalid($('ticket-form'));
    if (!f.name) return invalid($('tt-name'), 'ticket-status', 'Please name the ticket type.');
    if ($('tt-paid').checked && !(f.price > 0)) {
      return invalid($('tt-price'), 'ticket-status', 'Please give a price, for example 15.00.');
    }
    if (!Number.isInteger(f.quantity) || f.quantity < 1) {
      return invalid($('tt-quantity'), 'ticket-status', 'Please give a quantity of at least 1.');
    }
    if (f.sales_start && f.sales_end && f.sales_end <= f.sales_start) {
      return invalid($('tt-sales-end'), 'ticket-status', 'Sales must end after they start.');
    }
    return true;
  }

  async function saveTicket(ev) {
    ev.preventDefault();
    const f = ticketFields();
    if (!checkTicketForm(f)) return;
    const editing = page.editingTicket;
    const data = await act($('save-ticket'), 'ticket-status', 'Saving…', () => (editing
      ? tickets.request('update_ticket_type', Object.assign({ ticket_type_id: editing.id }, f))
      : tickets.request('create_ticket_type', Object.assign({ event_id: page.selected.id }, f))));
    if (!data) return;
    const tt = data.ticket_type;
    const i = page.ticketTypes.findIndex((t) => String(t.id) === String(tt.id));
    if (i >= 0) page.ticketTypes[i] = tt; else page.ticketTypes.push(tt);
    renderTicketTypes();
    resetTicketForm();
    say('ticket-status', `${editing ? 'Saved' : 'Added'} “${tt.name}” (${T.formatPrice(tt.price, tt.currency)}).`, 'ok');
    $('tt-name').focus();
  }

  async function deleteTicket(tt) {
    if (!window.confirm(`Delete the ticket type “${tt.name}”?`)) return;
    const data = await act(null, 'ticket-status', 'Deleting…',
                           () => tickets.request('delete_ticket_type', { ticket_type_id: tt.id }));
    if (!data) return;
    page.ticketTypes = page.ticketTypes.filter((t) => String(t.id) !== String(tt.id));
    renderTicketTypes();
    resetTicketForm();
    say('ticket-status', `Deleted “${tt.name}”.`, 'ok');
  }

  // ---- registrations ----

  async function loadRegistrations() {
    const ev = page.selected;
    const data = await act($('load-registrations'), 'registrations-status', 'Loading…',
                           () => tickets.request('list_registrations', { event_id: ev.id }));
    if (!data) return;
    const names = new Map(page.ticketTypes.map((t) => [String(t.id), t.name]));
    const body = $('registrations').tBodies[0];
    body.replaceChildren();
    for (const r of data.registrations || []) {
      const row = document.createElement('tr');
      cell(row, r.display_name);
      cell(row, r.email);
      cell(row, names.get(String(r.ticket_type_id)) || r.ticket_type_id);
      cell(row, r.status);
      cell(row, r.registered_at ? new Date(r.registered_at).toLocaleString() : '');
      body.append(row);
    }
    const n = (data.registrations || []).length;
    $('registrations').hidden = n === 0;
    say('registrations-status', n ? `${n} registration${n === 1 ? '' : 's'}.` : 'No registrations yet.', 'ok');
  }

  // ---- Stripe ----

  function renderStripe() {
    const s = page.stripe;
    $('stripe-state').textContent = s && s.connected
      ? `Stripe is connected (account ${s.stripe_account_id}): paid tickets can be sold.`
      : 'Stripe is not connected. Paid tickets need a Stripe account: the money goes straight to it.';
    $('stripe-connect').textContent = s && s.connected ? 'Connect another Stripe account' : 'Connect with Stripe';
  }

  async function loadStripe() {
    const data = await act(null, 'stripe-status', 'Checking Stripe…',
                           () => tickets.request('stripe_status'));
    if (!data) return;
    page.stripe = data;
    renderStripe();
    say('stripe-status', '', 'ok');
  }

  async function connectStripe() {
    const data = await act($('stripe-connect'), 'stripe-status', 'Opening Stripe…',
                           () => tickets.request('stripe_connect_url', {}));
    if (!data) return;
    if (page.selected) remember(page.selected.id);
    location.assign(data.url);
  }

  async function completeStripe() {
    const code = params.get('code');
    const state = params.get('state');
    cleanAddress('code', 'state', 'scope');
    const data = await act(null, 'stripe-status', 'Connecting your Stripe account…',
      () => tickets.request('stripe_connect_complete', { code, state }));
    if (!data) return;
    page.stripe = { connected: true, stripe_account_id: data.stripe_account_id };
    renderStripe();
    say('stripe-status', `Stripe connected (account ${data.stripe_account_id}).`, 'ok');
  }

  // ---- team ----

  async function loadMembers() {
    const data = await act(null, 'members-status', 'Loading the team…',
                           () => tickets.request('list_members'));
    if (!data) return;
    const body = $('members').tBodies[0];
    body.replaceChildren();
    for (const m of data.members || []) {
      const row = document.createElement('tr');
      cell(row, m.name);
      cell(row, m.email);
      cell(row, m.role);
      const self = page.identity && String(page.identity.id) === String(m.id);
      cell(row, can('owner') && !self && m.role !== 'owner'
        ? button('Remove', 'danger', () => removeMember(m), `Remove ${m.name || m.email}`) : '');
      body.append(row);
    }
    say('members-status', '', 'ok');
  }

  async function addMember(ev) {
    ev.preventDefault();
    clearInvalid(ev.target);
    const email = $('member-email');
    if (!required([[email, 'Please enter a valid email address.']], 'members-status')) return;
    const address = email.value.trim();
    const data = await act(ev.submitter, 'members-status', 'Sending the invitation…',
      () => tickets.request('add_member', { email: address, role: $('member-role').value }));
    if (!data) return;
    email.value = '';
    say('members-status', `Invitation sent to ${address}. It is valid for 72 hours.`, 'ok');
  }

  async function removeMember(m) {
    if (!window.confirm(`Remove ${m.name || m.email} from the team?`)) return;
    const data = await act(null, 'members-status', 'Removing…',
                           () => tickets.request('remove_member', { user_id: m.id }));
    if (!data) return;
    await loadMembers();
    say('members-status', `${m.name || m.email} was removed.`, 'ok');
  }

  // ---- start ----

  function setUp() {
    for (const [value, label] of Object.entries(T.BUSINESS_TYPES)) {
      $('ev-business-type').append(new Option(label, value));
    }
    try {
      const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [];
      $('timezones').replaceChildren(...zones.map((z) => new Option(z)));
    } catch (e) { /* the field takes any name */ }
    $('login-form').addEventListener('submit', login);
    $('signup-form').addEventListener('submit', signup);
    $('signout').addEventListener('click', signOut);
    $('new-event').addEventListener('click', newEvent);
    $('event-form').addEventListener('submit', saveEvent);
    $('publish-event').addEventListener('click', publishEvent);
    $('delete-event').addEventListener('click', deleteEvent);
    $('ticket-form').addEventListener('submit', saveTicket);
    $('cancel-ticket').addEventListener('click', () => { resetTicketForm(); say('ticket-status', '', 'ok'); });
    $('tt-free').addEventListener('change', syncPriceFields);
    $('tt-paid').addEventListener('change', syncPriceFields);
    $('load-registrations').addEventListener('click', loadRegistrations);
    $('stripe-connect').addEventListener('click', connectStripe);
    $('member-form').addEventListener('submit', addMember);
    tickets.on('signedout', () => {
      if (page.state === 'signed-in') showAuth('Your session has ended: please sign in again.');
    });
  }

  async function start() {
    setUp();
    const invite = params.get('invite');
    if (invite) {
      page.state = 'invited';
      $('invite-section').hidden = false;
      $('invite-form').addEventListener('submit', (ev) => acceptInvite(ev, invite));
      say('status', 'Accept your invitation below.', 'ok');
      $('invite-name').focus();
      return;
    }
    let identity = null;
    try {
      identity = await tickets.connect();
    } catch (e) {
      say('status', `Cannot reach the server: ${e.reason || e.message}`, 'error');
      page.state = 'error';
      return;
    }
    if (identity && identity.kind === 'organiser') await enterApp(identity);
    else showAuth(params.get('code') ? 'Sign in again to finish connecting Stripe.' : undefined);
  }

  start();
})();
