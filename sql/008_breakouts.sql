-- Breakouts: an event's participants split into groups, each with a room (odeon.plugin.room,
-- room id = group id) and a chat room ("group:<id>"); team submissions. Members and
-- contributors are referenced by participant id only: deleting a participant removes their
-- membership, and their submissions keep a pseudonymous id.

-- A team formed before the event (the organiser's import or the registration form): the split
-- keeps its members together.
ALTER TABLE tickets_participants ADD COLUMN team text CHECK (length(team) BETWEEN 1 AND 100);

CREATE TABLE breakouts (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running', 'ended')),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ends_at timestamptz,
    submissions_until timestamptz,
    ended_at timestamptz
);
-- At most one draft or running breakout per event.
CREATE UNIQUE INDEX breakouts_open ON breakouts (event_id) WHERE state <> 'ended';

CREATE TABLE breakout_groups (
    id bigserial PRIMARY KEY,
    breakout_id bigint NOT NULL REFERENCES breakouts (id) ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    number integer NOT NULL CHECK (number > 0),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    UNIQUE (breakout_id, number)
);
CREATE INDEX breakout_groups_event ON breakout_groups (event_id);

CREATE TABLE breakout_members (
    group_id bigint NOT NULL REFERENCES breakout_groups (id) ON DELETE CASCADE,
    breakout_id bigint NOT NULL REFERENCES breakouts (id) ON DELETE CASCADE,
    participant_id bigint NOT NULL REFERENCES tickets_participants (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, participant_id),
    UNIQUE (breakout_id, participant_id)
);
CREATE INDEX breakout_members_participant ON breakout_members (participant_id);

-- One submission per group, editable until the deadline.
CREATE TABLE breakout_submissions (
    group_id bigint PRIMARY KEY REFERENCES breakout_groups (id) ON DELETE CASCADE,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    link text CHECK (length(link) <= 2000),
    body text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    contributors bigint[] NOT NULL, -- participant ids, no foreign key on purpose
    submitted_by bigint NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX breakout_submissions_event ON breakout_submissions (event_id);

-- Every change of a breakout is announced: the room plugin on every node follows its timing.
CREATE FUNCTION breakouts_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('breakout', NEW.event_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER breakouts_announce AFTER INSERT OR UPDATE ON breakouts
    FOR EACH ROW EXECUTE FUNCTION breakouts_announce();

-- Replaces the event's draft with a new split: p_groups is [{"name", "members": [ids]}].
-- Refused while a breakout runs ('tickets:state'); members must be the event's participants.
CREATE FUNCTION breakout_save_draft(p_event bigint, p_groups jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_group bigint;
    v_n integer := 0;
    v_g jsonb;
BEGIN
    PERFORM 1 FROM tickets_events WHERE id = p_event FOR UPDATE;
    IF EXISTS (SELECT 1 FROM breakouts WHERE event_id = p_event AND state = 'running') THEN
        RAISE EXCEPTION 'tickets:state';
    END IF;
    DELETE FROM breakouts WHERE event_id = p_event AND state = 'draft';
    INSERT INTO breakouts (event_id) VALUES (p_event) RETURNING id INTO v_id;
    FOR v_g IN SELECT * FROM jsonb_array_elements(p_groups) LOOP
        v_n := v_n + 1;
        INSERT INTO breakout_groups (breakout_id, event_id, number, name)
            VALUES (v_id, p_event, v_n, v_g->>'name') RETURNING id INTO v_group;
        INSERT INTO breakout_members (group_id, breakout_id, participant_id)
            SELECT v_group, v_id, p.id FROM jsonb_array_elements_text(v_g->'members') m
            JOIN tickets_participants p ON p.id = m::bigint AND p.event_id = p_event;
    END LOOP;
    RETURN v_id;
END $$;

-- A breakout as the organiser's console and the API show it.
CREATE FUNCTION breakout_json(p_breakout bigint) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', b.id, 'event_id', b.event_id, 'state', b.state,
        'started_at', b.started_at, 'ends_at', b.ends_at,
        'submissions_until', b.submissions_until, 'ended_at', b.ended_at,
        'groups', COALESCE((SELECT json_agg(json_build_object('id', g.id, 'number', g.number,
            'name', g.name, 'room', g.id, 'chat_room', 'group:' || g.id,
            'submitted', EXISTS (SELECT 1 FROM breakout_submissions s WHERE s.group_id = g.id),
            'members', (SELECT COALESCE(json_agg(json_build_object('participant_id', p.id,
                'name', p.display_name, 'team', p.team) ORDER BY p.id), '[]')
                FROM breakout_members m JOIN tickets_participants p ON p.id = m.participant_id
                WHERE m.group_id = g.id)) ORDER BY g.number)
            FROM breakout_groups g WHERE g.breakout_id = b.id), '[]'))
    FROM breakouts b WHERE b.id = p_breakout
$$;

-- Moves a participant to another group of the event's open breakout.
CREATE FUNCTION breakout_move(p_event bigint, p_participant bigint, p_group bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_breakout bigint;
BEGIN
    SELECT g.breakout_id INTO v_breakout FROM breakout_groups g JOIN breakouts b
        ON b.id = g.breakout_id AND b.state <> 'ended'
        WHERE g.id = p_group AND g.event_id = p_event FOR UPDATE OF b;
    IF v_breakout IS NULL OR NOT EXISTS (SELECT 1 FROM tickets_participants
                                         WHERE id = p_participant AND event_id = p_event) THEN
        RAISE EXCEPTION 'tickets:no_group';
    END IF;
    DELETE FROM breakout_members WHERE breakout_id = v_breakout AND participant_id = p_participant;
    INSERT INTO breakout_members (group_id, breakout_id, participant_id)
        VALUES (p_group, v_breakout, p_participant);
    RETURN v_breakout;
END $$;

CREATE FUNCTION breakout_submission_json(p_group bigint) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('group_id', s.group_id, 'group_name', g.name, 'title', s.title,
        'link', s.link, 'text', s.body, 'contributors', to_json(s.contributors),
        'submitted_by', s.submitted_by, 'submitted_at', s.submitted_at,
        'updated_at', s.updated_at)
    FROM breakout_submissions s JOIN breakout_groups g ON g.id = s.group_id
    WHERE s.group_id = p_group
$$;

-- A group's submission (one per group, replaced until the deadline); contributors are the
-- group's members at that moment, by id.
CREATE FUNCTION breakout_submit(p_event bigint, p_participant bigint, p_title text, p_link text,
                                p_body text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    v_group bigint;
    v_open boolean;
BEGIN
    SELECT m.group_id, b.submissions_until > now() INTO v_group, v_open
        FROM breakout_members m JOIN breakouts b ON b.id = m.breakout_id AND b.state = 'running'
        WHERE m.participant_id = p_participant AND b.event_id = p_event;
    IF v_group IS NULL THEN
        RAISE EXCEPTION 'tickets:no_group';
    END IF;
    IF NOT v_open THEN
        RAISE EXCEPTION 'tickets:deadline';
    END IF;
    INSERT INTO breakout_submissions (group_id, event_id, title, link, body, contributors,
                                      submitted_by)
        VALUES (v_group, p_event, p_title, p_link, COALESCE(p_body, ''),
                ARRAY(SELECT participant_id FROM breakout_members WHERE group_id = v_group
                      ORDER BY participant_id), p_participant)
        ON CONFLICT (group_id) DO UPDATE SET title = EXCLUDED.title, link = EXCLUDED.link,
            body = EXCLUDED.body, contributors = EXCLUDED.contributors,
            submitted_by = EXCLUDED.submitted_by, updated_at = now();
    RETURN breakout_submission_json(v_group);
END $$;
