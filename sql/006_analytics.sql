-- odeon.plugin.analytics: engagement events, presence and the figures derived from them.
--
-- Nodes write in batches (analytics_ingest): a batch is a JSON array of rows {e: event id,
-- s: subject, k: kind, t: unix ms, d: detail}. Presence rows (connect, heartbeat, disconnect)
-- come from participants' pages. A participant's presence is a set of stints: a signal at t
-- extends every stint that ended or starts within gap seconds of t (merging them), or starts
-- a new one. Connected time is the total length of the stints, so three tabs count once, a
-- participant away for ten minutes is not credited for them, and a node's batch that arrives
-- after another node's later one still counts (stints do not depend on arrival order).
--
-- Per minute, present counts the participants whose stints touched that minute, each once
-- (analytics_presence holds one row per participant and minute), so peak concurrent is the
-- highest present; messages counts messages sent in it.
--
-- A batch locks attendee rows in (event, subject) order and minute rows in (event, minute)
-- order, after all attendee rows: two nodes' batches can wait for each other, never deadlock.

CREATE TABLE analytics_attendees (
    event_id bigint NOT NULL,
    subject text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    connected_seconds double precision NOT NULL DEFAULT 0,
    messages integer NOT NULL DEFAULT 0,
    live_handles integer NOT NULL DEFAULT 0, -- connected pages (connect +1, disconnect -1)
    PRIMARY KEY (event_id, subject)
);

CREATE TABLE analytics_stints (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL,
    subject text NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL
);
CREATE INDEX analytics_stints_subject ON analytics_stints (event_id, subject, started_at);

CREATE TABLE analytics_presence (
    event_id bigint NOT NULL,
    subject text NOT NULL,
    minute timestamptz NOT NULL,
    PRIMARY KEY (event_id, subject, minute)
);

CREATE TABLE analytics_minutes (
    event_id bigint NOT NULL,
    minute timestamptz NOT NULL,
    present integer NOT NULL DEFAULT 0,
    messages integer NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, minute)
);

CREATE TABLE analytics_events (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL,
    subject text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('registered', 'first_connect', 'connect', 'disconnect',
                                       'stage_joined', 'stage_left', 'message_sent',
                                       'help_requested', 'submission')),
    at timestamptz NOT NULL,
    detail jsonb
);
CREATE INDEX analytics_events_event ON analytics_events (event_id, at);

-- Records the minutes of [p_from, p_to] as the subject's; returns those that were new.
CREATE FUNCTION analytics_cover(p_event bigint, p_subject text, p_from timestamptz,
                                p_to timestamptz)
RETURNS timestamptz[] LANGUAGE sql AS $$
    WITH added AS (
        INSERT INTO analytics_presence (event_id, subject, minute)
        SELECT p_event, p_subject, m FROM generate_series(date_trunc('minute', p_from),
                                                          date_trunc('minute', p_to),
                                                          interval '1 minute') m
        ON CONFLICT DO NOTHING RETURNING minute)
    SELECT COALESCE(array_agg(minute), '{}') FROM added
$$;

-- One presence signal (the caller holds nothing; this locks the attendee row). Returns the
-- minutes it made the subject present in for the first time.
CREATE FUNCTION analytics_presence_signal(p_event bigint, p_subject text, p_kind text,
                                          p_at timestamptz, p_gap_s integer)
RETURNS timestamptz[] LANGUAGE plpgsql AS $$
DECLARE
    v_first boolean := false;
    v_gap interval := make_interval(secs => p_gap_s);
    v_new timestamptz[] := '{}';
    v_start timestamptz;
    v_end timestamptz;
    v_starts timestamptz[];
    v_ends timestamptz[];
BEGIN
    INSERT INTO analytics_attendees (event_id, subject, first_seen, last_seen)
        VALUES (p_event, p_subject, p_at, p_at) ON CONFLICT DO NOTHING
        RETURNING true INTO v_first;
    PERFORM 1 FROM analytics_attendees WHERE event_id = p_event AND subject = p_subject
        FOR UPDATE;
    IF v_first THEN
        INSERT INTO analytics_events (event_id, subject, kind, at)
            VALUES (p_event, p_subject, 'first_connect', p_at);
    END IF;
    -- The stints within reach of p_at merge into one [v_start, v_end]. Only what none of
    -- them covered is new: before the first, the gaps between them, after the last.
    WITH gone AS (DELETE FROM analytics_stints
                  WHERE event_id = p_event AND subject = p_subject
                    AND started_at <= p_at + v_gap AND ended_at >= p_at - v_gap
                  RETURNING started_at, ended_at)
    SELECT array_agg(started_at ORDER BY started_at), array_agg(ended_at ORDER BY started_at)
        INTO v_starts, v_ends FROM gone;
    IF v_starts IS NULL THEN
        v_start := p_at;
        v_end := p_at;
        v_new := analytics_cover(p_event, p_subject, p_at, p_at);
    ELSE
        v_start := LEAST(p_at, v_starts[1]);
        IF v_start < v_starts[1] THEN
            v_new := v_new || analytics_cover(p_event, p_subject, v_start, v_starts[1]);
        END IF;
        v_end := v_ends[1];
        FOR i IN 2 .. array_length(v_starts, 1) LOOP
            IF v_starts[i] > v_end THEN
                v_new := v_new || analytics_cover(p_event, p_subject, v_end, v_starts[i]);
            END IF;
            v_end := GREATEST(v_end, v_ends[i]);
        END LOOP;
        IF p_at > v_end THEN
            v_new := v_new || analytics_cover(p_event, p_subject, v_end, p_at);
            v_end := p_at;
        END IF;
    END IF;
    INSERT INTO analytics_stints (event_id, subject, started_at, ended_at)
        VALUES (p_event, p_subject, v_start, v_end);
    UPDATE analytics_attendees SET
        connected_seconds = (SELECT COALESCE(sum(extract(epoch FROM s.ended_at - s.started_at)), 0)
                             FROM analytics_stints s
                             WHERE s.event_id = p_event AND s.subject = p_subject),
        last_seen = GREATEST(last_seen, p_at), first_seen = LEAST(first_seen, p_at),
        live_handles = GREATEST(0, live_handles + CASE p_kind WHEN 'connect' THEN 1
                                                  WHEN 'disconnect' THEN -1 ELSE 0 END)
        WHERE event_id = p_event AND subject = p_subject;
    IF p_kind <> 'heartbeat' THEN
        INSERT INTO analytics_events (event_id, subject, kind, at)
            VALUES (p_event, p_subject, p_kind, p_at);
    END IF;
    RETURN v_new;
END $$;

-- One batch from a node (see the top). Returns the rows taken.
CREATE FUNCTION analytics_ingest(p_rows json, p_gap_s integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_at timestamptz;
    v_ev bigint[] := '{}';
    v_min timestamptz[] := '{}';
    v_present integer[] := '{}';
    v_msgs integer[] := '{}';
    m timestamptz;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM json_to_recordset(p_rows) AS x(e bigint, s text, k text, t bigint,
                                                          d json)
             WHERE x.e > 0 AND x.s IS NOT NULL AND x.t IS NOT NULL
             ORDER BY x.e, x.s, x.t LOOP
        n := n + 1;
        v_at := to_timestamp(r.t / 1000.0);
        IF r.k IN ('connect', 'heartbeat', 'disconnect') THEN
            FOREACH m IN ARRAY analytics_presence_signal(r.e, r.s, r.k, v_at, p_gap_s) LOOP
                IF r.s LIKE 'participant:%' THEN
                    v_ev := v_ev || r.e;
                    v_min := v_min || m;
                    v_present := v_present || 1;
                    v_msgs := v_msgs || 0;
                END IF;
            END LOOP;
        ELSIF r.k IN ('registered', 'stage_joined', 'stage_left', 'message_sent',
                      'help_requested', 'submission') THEN
            INSERT INTO analytics_events (event_id, subject, kind, at, detail)
                VALUES (r.e, r.s, r.k, v_at, r.d::jsonb);
            IF r.k = 'message_sent' THEN
                INSERT INTO analytics_attendees AS a (event_id, subject, first_seen, last_seen,
                                                      messages)
                    VALUES (r.e, r.s, v_at, v_at, 1)
                    ON CONFLICT (event_id, subject) DO UPDATE SET
                        messages = a.messages + 1, last_seen = GREATEST(a.last_seen, v_at);
                v_ev := v_ev || r.e;
                v_min := v_min || date_trunc('minute', v_at);
                v_present := v_present || 0;
                v_msgs := v_msgs || 1;
            END IF;
        END IF;
    END LOOP;
    INSERT INTO analytics_minutes AS am (event_id, minute, present, messages)
        SELECT u.e, u.m, sum(u.p), sum(u.c)
        FROM unnest(v_ev, v_min, v_present, v_msgs) AS u(e, m, p, c)
        GROUP BY u.e, u.m ORDER BY u.e, u.m
        ON CONFLICT (event_id, minute) DO UPDATE SET
            present = am.present + EXCLUDED.present, messages = am.messages + EXCLUDED.messages;
    RETURN n;
END $$;

-- The live figures of an event at p_now (the plugin's clock): a participant is connected now
-- when a page of theirs is open and was heard from within p_gap_s.
CREATE FUNCTION analytics_dashboard(p_event bigint, p_now timestamptz, p_gap_s integer)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'event_id', p_event,
        'at', tickets_time_json(p_now),
        'current_viewers', (SELECT count(*) FROM analytics_attendees a
            WHERE a.event_id = p_event AND a.subject LIKE 'participant:%'
              AND a.live_handles > 0
              AND a.last_seen >= p_now - make_interval(secs => p_gap_s)),
        'attendees', (SELECT count(*) FROM analytics_attendees a
            WHERE a.event_id = p_event AND a.subject LIKE 'participant:%'),
        'registered', (SELECT count(*) FROM tickets_orders o
            WHERE o.event_id = p_event AND o.status = 'confirmed'),
        'peak_concurrent', (SELECT COALESCE(max(m.present), 0) FROM analytics_minutes m
            WHERE m.event_id = p_event),
        'messages_total', (SELECT COALESCE(sum(m.messages), 0) FROM analytics_minutes m
            WHERE m.event_id = p_event),
        'messages_per_minute', (SELECT COALESCE(sum(m.messages), 0) FROM analytics_minutes m
            WHERE m.event_id = p_event
              AND m.minute = date_trunc('minute', p_now) - interval '1 minute'),
        'open_help', (SELECT count(*) FROM help_requests h
            WHERE h.event_id = p_event AND h.status IN ('open', 'claimed')),
        'series', (SELECT COALESCE(json_agg(json_build_object(
                'minute', tickets_time_json(g.minute),
                'present', COALESCE(m.present, 0), 'messages', COALESCE(m.messages, 0))
                ORDER BY g.minute), '[]')
            FROM generate_series(date_trunc('minute', p_now) - interval '59 minutes',
                                 date_trunc('minute', p_now), interval '1 minute') g(minute)
            LEFT JOIN analytics_minutes m ON m.event_id = p_event AND m.minute = g.minute))
$$;

-- Per participant: first and last seen, connected minutes (whole), messages.
CREATE FUNCTION analytics_participants(p_event bigint) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT COALESCE(json_agg(json_build_object(
        'subject', a.subject, 'name', odeon_subject_name(a.subject),
        'first_seen', tickets_time_json(a.first_seen),
        'last_seen', tickets_time_json(a.last_seen),
        'connected_minutes', floor(a.connected_seconds / 60)::integer,
        'connected_seconds', round(a.connected_seconds)::bigint,
        'messages', a.messages) ORDER BY a.first_seen, a.subject), '[]')
    FROM analytics_attendees a WHERE a.event_id = p_event
$$;
