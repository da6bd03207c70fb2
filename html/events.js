// events.js - the public event listing (events.html): filters by business type, dates and
// text, pages of results from GET /api/events (Odeon.fetchEvents), each linking to
// event.html?id=<event>.
//
// The filter form is a plain GET form: the page's own query (q, business_type, from, to,
// page) says what to list, so a search, a page of results or a filtered view is a link that can
// be shared, bookmarked and reloaded. window.eventsPage exposes the last answer (tests).
'use strict';

(function main() {
  const PER_PAGE = 20;
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const page = { state: 'loading', answer: null };
  window.eventsPage = page;

  const typeSelect = $('business_type');
  for (const [value, label] of Object.entries(Odeon.Tickets.BUSINESS_TYPES)) {
    typeSelect.append(new Option(label, value));
  }
  const filters = {};
  for (const key of ['q', 'business_type', 'from', 'to']) {
    const v = (params.get(key) || '').trim();
    if (v) filters[key] = v;
    $(key).value = v;
  }
  const pageNumber = Math.max(1, Number.parseInt(params.get('page'), 10) || 1);

  function setStatus(text, kind) {
    $('status').textContent = text;
    $('status').dataset.kind = kind;
  }

  function pageHref(n) {
    const q = new URLSearchParams(filters);
    if (n > 1) q.set('page', String(n));
    const s = q.toString();
    return `events.html${s ? `?${s}` : ''}`;
  }

  function eventItem(ev) {
    const li = document.createElement('li');
    const article = document.createElement('article');
    const h3 = document.createElement('h3');
    const link = document.createElement('a');
    link.href = `event.html?id=${encodeURIComponent(ev.id)}`;
    link.textContent = ev.title;
    h3.append(link);
    const when = document.createElement('p');
    when.className = 'when';
    when.textContent = Odeon.Tickets.formatWhen(ev.starts_at, ev.ends_at, ev.timezone);
    const meta = document.createElement('p');
    meta.className = 'meta';
    const parts = [Odeon.Tickets.BUSINESS_TYPES[ev.business_type] || ev.business_type];
    if (ev.organisation && ev.organisation.name) parts.push(`by ${ev.organisation.name}`);
    if (typeof ev.remaining === 'number') {
      parts.push(ev.remaining > 0 ? `${ev.remaining} seats left` : 'sold out');
    }
    meta.textContent = parts.join(' · ');
    article.append(h3, when, meta);
    if (ev.description) {
      const p = document.createElement('p');
      p.textContent = ev.description.length > 200 ? `${ev.description.slice(0, 200)}…` : ev.description;
      article.append(p);
    }
    li.append(article);
    return li;
  }

  function describeFilters() {
    const parts = [];
    if (filters.business_type) {
      parts.push(Odeon.Tickets.BUSINESS_TYPES[filters.business_type] || filters.business_type);
    }
    if (filters.q) parts.push(`matching “${filters.q}”`);
    if (filters.from) parts.push(`from ${filters.from}`);
    if (filters.to) parts.push(`until ${filters.to}`);
    return parts.length ? ` (${parts.join(', ')})` : '';
  }

  async function load() {
    let answer;
    try {
      answer = await Odeon.fetchEvents(Object.assign({ page: pageNumber, per_page: PER_PAGE }, filters));
    } catch (e) {
      page.state = 'error';
      setStatus(e.code === 400 ? `Please check the filters: ${e.reason}`
                               : `The events could not be loaded (${e.reason}). Please try again.`,
                'error');
      return;
    }
    page.answer = answer;
    const events = answer.events || [];
    const total = Number(answer.total) || 0;
    const perPage = Number(answer.per_page) || PER_PAGE;
    const current = Number(answer.page) || pageNumber;
    const pages = Math.max(1, Math.ceil(total / perPage));
    $('results').replaceChildren(...events.map(eventItem));
    if (!events.length) {
      setStatus(total ? 'No events on this page.' : `No upcoming events${describeFilters()}.`, 'ok');
    } else {
      setStatus(`${total} event${total === 1 ? '' : 's'}${describeFilters()}` +
                (pages > 1 ? `, page ${current} of ${pages}` : ''), 'ok');
    }
    $('pager').hidden = pages <= 1;
    $('page-info').textContent = `Page ${current} of ${pages}`;
    $('prev').hidden = current <= 1;
    $('prev').href = pageHref(current - 1);
    $('next').hidden = current >= pages;
    $('next').href = pageHref(current + 1);
    page.state = 'loaded';
  }

  load();
})();
