-- The request mix of tests/bench/listing: :paths lines "tag /api/events...", in random order
-- (psql -At -v paths=N -v seed=S), drawn from the seeded database so that every detail GET
-- names a live, upcoming event. Tags and shares:
--   list     22%  the plain listing: page 1 mostly, pages 2-5 and deep pages 6-50 less often,
--                 per_page 10 or 50 sometimes
--   type     15%  business_type=..., page 1-3
--   dates    10%  from=YYYY-MM-DD&to=... (a week or a month), with a business type sometimes
--   search   10%  q= one word, two words, or a word and a business type; some match nothing
--   detail   38%  /api/events/<id> of a random live event
--   tickets   5%  /api/events/<id>/tickets
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(:seed) \g /dev/null

WITH live AS (
    SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n
    FROM tickets_events WHERE status = 'live' AND ends_at > now() + interval '1 hour'
), v AS (
    SELECT ARRAY['conference', 'hackathon', 'town_hall', 'workshop', 'meetup', 'webinar',
                 'other'] AS types,
           ARRAY['rust', 'python', 'kubernetes', 'climate', 'design', 'learning', 'security',
                 'fintech', 'robotics', 'accessibility', 'berlin', 'london', 'online', 'lisbon',
                 'cloud', 'privacy', 'quantum', 'devops', 'healthcare', 'startup', 'mentors',
                 'captions', 'jury', 'recorded', 'zeppelin', 'xylophone'] AS words,
           ARRAY['machine+learning', 'open+source', 'data+engineering', 'rust+berlin',
                 'python+workshop', 'climate+hackathon', 'smart+cities', 'game+development']
               AS pairs
), r AS (
    SELECT i, random() AS kind, random() AS a, random() AS b, random() AS c
    FROM generate_series(1, :paths) i
)
SELECT CASE
    WHEN kind < 0.22 THEN 'list /api/events' || CASE
        WHEN a < 0.55 THEN ''
        WHEN a < 0.70 THEN '?page=1'
        WHEN a < 0.90 THEN '?page=' || (2 + floor(b * 4)::int)
        ELSE '?page=' || (6 + floor(b * 45)::int) END || CASE
        WHEN c < 0.80 THEN ''
        WHEN c < 0.90 THEN (CASE WHEN a < 0.55 THEN '?' ELSE '&' END) || 'per_page=50'
        ELSE (CASE WHEN a < 0.55 THEN '?' ELSE '&' END) || 'per_page=10' END
    WHEN kind < 0.37 THEN 'type /api/events?business_type=' ||
        v.types[1 + floor(a * 7)::int] ||
        CASE WHEN b < 0.8 THEN '' ELSE '&page=' || (2 + floor(c * 2)::int) END
    WHEN kind < 0.47 THEN 'dates /api/events?from=' ||
        to_char(current_date + floor(a * 330)::int, 'YYYY-MM-DD') || '&to=' ||
        to_char(current_date + floor(a * 330)::int + CASE WHEN b < 0.6 THEN 7 ELSE 30 END,
                'YYYY-MM-DD') ||
        CASE WHEN c < 0.7 THEN '' ELSE '&business_type=' || v.types[1 + floor(c * 70)::int % 7] END
    WHEN kind < 0.57 THEN 'search /api/events?q=' || CASE
        WHEN a < 0.7 THEN v.words[1 + floor(b * 26)::int]
        WHEN a < 0.9 THEN v.pairs[1 + floor(b * 8)::int]
        ELSE v.words[1 + floor(b * 20)::int] || '&business_type=' || v.types[1 + floor(c * 7)::int] END
    WHEN kind < 0.95 THEN 'detail /api/events/' || live.ids[1 + floor(a * live.n)::int]
    ELSE 'tickets /api/events/' || live.ids[1 + floor(a * live.n)::int] || '/tickets'
END
FROM r, live, v ORDER BY i;
