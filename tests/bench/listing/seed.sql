-- Seed data for tests/bench/listing: :events events (psql -v events=N) of 40 organisations,
-- with 1-3 ticket types each, into a database migrated by odeon (sql/003_tickets.sql).
--
-- Deterministic for a given N (setseed; one backend, no parallel plans), relative to now():
-- start times spread over the next 12 months, ~90% 'live' and the rest 'draft', business
-- types in proportions typical of an event site (meetups and webinars the most, town halls and
-- hackathons the fewest), titles like "Open Rust Meetup Berlin" and descriptions of 300-700
-- characters built from a pool of sentences, so that q= searches match realistic fractions.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.4242);
SET max_parallel_workers_per_gather = 0;

BEGIN;

CREATE TEMP TABLE words AS SELECT
    ARRAY['Open', 'Annual', 'Global', 'Nordic', 'Community', 'Applied', 'Practical', 'Future of',
          'Modern', 'Hands-on', 'Women in', 'Young', 'European', 'Regional', 'Advanced',
          'Beginners''', 'Spring', 'Autumn', 'Winter', 'Summer'] AS adj,
    ARRAY['Rust', 'Python', 'Kubernetes', 'Climate Data', 'Product Design', 'Machine Learning',
          'Open Source', 'Cybersecurity', 'Fintech', 'Healthcare AI', 'Game Development',
          'Accessibility', 'Sustainability', 'Robotics', 'Web Performance', 'Data Engineering',
          'Startup Funding', 'Public Sector IT', 'Quantum Computing', 'Remote Work',
          'UX Research', 'Edtech', 'Blockchain', 'Cloud Native', 'Embedded Systems',
          'Privacy Engineering', 'DevOps', 'Mobile Apps', 'Smart Cities', 'Bioinformatics'] AS topic,
    ARRAY['Berlin', 'London', 'Paris', 'Amsterdam', 'Lisbon', 'Madrid', 'Vienna', 'Copenhagen',
          'Stockholm', 'Warsaw', 'Prague', 'Dublin', 'Milan', 'Zurich', 'Helsinki', 'Online',
          'New York', 'Toronto', 'Tokyo', 'Sydney'] AS city,
    ARRAY['Europe/Berlin', 'Europe/London', 'Europe/Paris', 'Europe/Amsterdam', 'Europe/Lisbon',
          'Europe/Madrid', 'Europe/Vienna', 'Europe/Copenhagen', 'Europe/Stockholm',
          'Europe/Warsaw', 'Europe/Prague', 'Europe/Dublin', 'Europe/Rome', 'Europe/Zurich',
          'Europe/Helsinki', 'UTC', 'America/New_York', 'America/Toronto', 'Asia/Tokyo',
          'Australia/Sydney'] AS tz,
    ARRAY['Join %s practitioners from across the region for an evening of short talks and open discussion.',
          'This edition focuses on %s in production: what worked, what failed, and what we would do differently next time.',
          'Speakers include engineers, researchers and founders who have shipped %s projects at scale.',
          'Expect hands-on sessions, live demos and plenty of time to meet people working on %s.',
          'Whether you are just starting with %s or have years of experience, there is a track for you.',
          'We close with a panel on the next five years of %s and a networking reception.',
          'All sessions are recorded and shared with registered participants after the event.',
          'Bring a laptop: the afternoon is a guided lab with exercises and mentors on hand.',
          'Seats are limited, so please register early and cancel if you can no longer attend.',
          'Coffee, lunch and refreshments are included for in-person participants.',
          'Captions are provided for every talk, and the venue is step-free and wheelchair accessible.',
          'Our code of conduct applies to all participants, speakers, sponsors and volunteers.',
          'Teams of up to five build prototypes over the weekend and present them to a jury on Sunday.',
          'The leadership team answers questions submitted in advance and live from the audience.',
          'A certificate of attendance is available on request after the event.',
          'Student and community tickets are available at a reduced price.'] AS sentence,
    ARRAY['Northwind', 'Blue Harbour', 'Lumen', 'Meridian', 'Cobalt', 'Ferris', 'Tidewater',
          'Kestrel', 'Granite', 'Aurora'] AS org1,
    ARRAY['Events', 'Labs', 'Collective', 'Foundation', 'Academy', 'Guild', 'Network',
          'Institute'] AS org2;

CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
    $$ SELECT a[1 + floor(random() * array_length(a, 1))::int] $$;

INSERT INTO tickets_organisations (name)
SELECT pg_temp.pick(w.org1) || ' ' || pg_temp.pick(w.org2) || ' ' || i
FROM generate_series(1, 40) i, words w ORDER BY i;

-- One row of random draws per event, then the event built from them.
CREATE TEMP TABLE draws AS
SELECT i,
       random() AS r_type, random() AS r_status, random() AS r_org, random() AS r_start,
       random() AS r_len, random() AS r_cap, random() AS r_img,
       pg_temp.pick(w.adj) AS adj, pg_temp.pick(w.topic) AS topic, pg_temp.pick(w.city) AS city,
       floor(random() * 20)::int AS tz_i, 3 + floor(random() * 4)::int AS n_sentences
FROM generate_series(1, :events) i, words w ORDER BY i;

ALTER TABLE draws ADD COLUMN business_type text;
UPDATE draws SET business_type = CASE
    WHEN r_type < 0.25 THEN 'meetup' WHEN r_type < 0.45 THEN 'webinar'
    WHEN r_type < 0.63 THEN 'workshop' WHEN r_type < 0.75 THEN 'conference'
    WHEN r_type < 0.83 THEN 'hackathon' WHEN r_type < 0.90 THEN 'town_hall' ELSE 'other' END;

INSERT INTO tickets_events (organisation_id, title, description, business_type, starts_at,
                            ends_at, timezone, capacity, image_url, status, published_at)
SELECT o.id,
       CASE d.business_type
           WHEN 'meetup' THEN d.adj || ' ' || d.topic || ' Meetup ' || d.city
           WHEN 'webinar' THEN d.topic || ' Webinar: ' || d.adj || ' Practices'
           WHEN 'workshop' THEN d.adj || ' ' || d.topic || ' Workshop'
           WHEN 'conference' THEN d.topic || ' Conference ' || d.city || ' ' ||
                                  extract(year FROM s.starts)::int
           WHEN 'hackathon' THEN d.adj || ' ' || d.topic || ' Hackathon'
           WHEN 'town_hall' THEN 'Town Hall: ' || d.topic || ' Roadmap Q' ||
                                 extract(quarter FROM s.starts)::int
           ELSE d.topic || ' Open Day ' || d.city END,
       -- n distinct sentences of the 16 (a stride of 5 visits all of them), in order
       (SELECT string_agg(format(w.sentence[1 + (abs(hashint4(d.i)) + 5 * k) % 16], d.topic), ' '
                          ORDER BY k)
          FROM words w, generate_series(1, d.n_sentences) k),
       d.business_type, s.starts,
       s.starts + CASE d.business_type
           WHEN 'webinar' THEN interval '1 hour'
           WHEN 'meetup' THEN interval '2 hours' + floor(d.r_len * 3) * interval '30 minutes'
           WHEN 'workshop' THEN interval '3 hours' + floor(d.r_len * 6) * interval '1 hour'
           WHEN 'conference' THEN interval '1 day' + floor(d.r_len * 3) * interval '1 day'
           WHEN 'hackathon' THEN interval '2 days'
           WHEN 'town_hall' THEN interval '1 hour' + floor(d.r_len * 2) * interval '30 minutes'
           ELSE interval '4 hours' END,
       (SELECT w.tz[1 + d.tz_i] FROM words w),
       CASE d.business_type WHEN 'webinar' THEN 500 + floor(d.r_cap * 4500)::int
                            WHEN 'conference' THEN 200 + floor(d.r_cap * 2800)::int
                            WHEN 'town_hall' THEN 100 + floor(d.r_cap * 900)::int
                            ELSE 20 + floor(d.r_cap * 180)::int END,
       CASE WHEN d.r_img < 0.7 THEN '/img/events/' || d.i || '.jpg' END,
       CASE WHEN d.r_status < 0.9 THEN 'live' ELSE 'draft' END,
       CASE WHEN d.r_status < 0.9 THEN now() END
FROM draws d
CROSS JOIN LATERAL (SELECT date_trunc('hour', now()) + interval '2 hours' +
                           floor(d.r_start * 365 * 96) * interval '15 minutes' AS starts) s
JOIN tickets_organisations o ON o.id = (SELECT min(id) FROM tickets_organisations) +
                                       floor(d.r_org * 40)::int
ORDER BY d.i;

-- 1-3 ticket types: a paid event has an early-bird and a regular price (and a VIP tier for
-- some), a free one a single free ticket (and a paid supporter ticket for some).
INSERT INTO tickets_ticket_types (event_id, name, price, currency, quantity, sold, sales_start,
                                  sales_end)
SELECT e.id, t.name, t.price, c.currency, t.quantity,
       floor(random() * t.quantity * 0.5)::int,
       CASE WHEN t.k = 1 THEN NULL ELSE now() - interval '7 days' END,
       CASE WHEN t.name = 'Early bird' THEN least(e.starts_at, now() + interval '30 days') END
FROM tickets_events e
CROSS JOIN LATERAL (SELECT (ARRAY['eur', 'eur', 'eur', 'gbp', 'usd'])[1 + e.organisation_id % 5]
                    AS currency, e.business_type IN ('meetup', 'webinar', 'town_hall')
                    AS free, 1 + (e.id % 3)::int AS n) c
CROSS JOIN LATERAL (
    SELECT k, CASE WHEN c.free THEN (ARRAY['Free', 'Supporter', 'Supporter plus'])[k]
                   ELSE (ARRAY['Early bird', 'Regular', 'VIP'])[k] END AS name,
           CASE WHEN c.free THEN (ARRAY[0, 1000, 2500])[k]
                ELSE (ARRAY[4900, 9900, 29900])[k] END AS price,
           greatest(1, e.capacity / c.n) AS quantity
    FROM generate_series(1, c.n) k) t
ORDER BY e.id, t.k;

UPDATE tickets_events e SET sold = least(e.capacity, s.sold)
FROM (SELECT event_id, sum(sold)::int AS sold FROM tickets_ticket_types GROUP BY event_id) s
WHERE s.event_id = e.id;

COMMIT;
ANALYZE;
