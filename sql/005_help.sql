-- odeon.plugin.help: participants' help requests to an event's organisers and hosts.
--
-- A request is open, then claimed by one organiser or host (who is "coming"), then resolved;
-- its requester may cancel it while it is open or claimed. A participant has at most one
-- request open at a time per event (a second "raise" is refused, not queued). Every change
-- bumps version and is announced on NOTIFY help, so consoles on every node show it; a console
-- that gets two updates out of order keeps the higher version.

-- A subject's display name ("participant:42", "organiser:7") from the tickets tables.
CREATE FUNCTION odeon_subject_name(p_subject text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT COALESCE(CASE WHEN split_part(p_subject, ':', 2) ~ '^[0-9]{1,18}$' THEN
        CASE split_part(p_subject, ':', 1)
        WHEN 'participant' THEN (SELECT p.display_name FROM tickets_participants p
                                  WHERE p.id = split_part(p_subject, ':', 2)::bigint)
        WHEN 'organiser' THEN (SELECT u.name FROM tickets_users u
                                WHERE u.id = split_part(p_subject, ':', 2)::bigint)
        END END, p_subject)
$$;

CREATE TABLE help_requests (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL,
    requester text NOT NULL,
    -- The requester's breakout group when asking for the team; NULL: for themselves.
    group_id bigint CHECK (group_id > 0),
    note text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'claimed', 'resolved', 'cancelled')),
    claimed_by text,
    closed_by text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    closed_at timestamptz
);
CREATE UNIQUE INDEX help_requests_one_open ON help_requests (event_id, requester)
    WHERE status IN ('open', 'claimed');
CREATE INDEX help_requests_event ON help_requests (event_id, status);

CREATE FUNCTION help_request_json(r help_requests) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'event_id', r.event_id, 'requester', r.requester,
        'requester_name', odeon_subject_name(r.requester), 'group_id', r.group_id,
        'note', r.note, 'status', r.status, 'version', r.version,
        'claimed_by', r.claimed_by,
        'claimed_by_name', CASE WHEN r.claimed_by IS NOT NULL
                                THEN odeon_subject_name(r.claimed_by) END,
        'closed_by', r.closed_by,
        'created_at', tickets_time_json(r.created_at),
        'claimed_at', tickets_time_json(r.claimed_at),
        'closed_at', tickets_time_json(r.closed_at))
$$;

CREATE FUNCTION help_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('help', json_build_object('e', NEW.event_id, 'id', NEW.id,
                                                'r', NEW.requester)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER help_requests_announce AFTER INSERT OR UPDATE ON help_requests
    FOR EACH ROW EXECUTE FUNCTION help_announce();

-- One state change: p_action is claim, release, resolve or cancel; p_by the caller's subject.
-- Returns the request's JSON, or raises help:<reason> (not_found, not_yours, claimed, closed).
CREATE FUNCTION help_change(p_event bigint, p_id bigint, p_action text, p_by text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    r help_requests;
BEGIN
    SELECT * INTO r FROM help_requests WHERE id = p_id AND event_id = p_event FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'help:not_found';
    END IF;
    IF r.status IN ('resolved', 'cancelled') THEN
        RAISE EXCEPTION 'help:closed';
    END IF;
    IF p_action = 'cancel' THEN
        IF r.requester <> p_by THEN
            RAISE EXCEPTION 'help:not_yours';
        END IF;
        UPDATE help_requests SET status = 'cancelled', closed_by = p_by, closed_at = now(),
            version = version + 1 WHERE id = p_id RETURNING * INTO r;
    ELSIF p_action = 'claim' THEN
        IF r.status = 'claimed' AND r.claimed_by <> p_by THEN
            RAISE EXCEPTION 'help:claimed';
        END IF;
        UPDATE help_requests SET status = 'claimed', claimed_by = p_by, claimed_at = now(),
            version = version + 1 WHERE id = p_id RETURNING * INTO r;
    ELSIF p_action = 'release' THEN
        IF r.status <> 'claimed' OR r.claimed_by <> p_by THEN
            RAISE EXCEPTION 'help:not_yours';
        END IF;
        UPDATE help_requests SET status = 'open', claimed_by = NULL, claimed_at = NULL,
            version = version + 1 WHERE id = p_id RETURNING * INTO r;
    ELSIF p_action = 'resolve' THEN
        UPDATE help_requests SET status = 'resolved', closed_by = p_by, closed_at = now(),
            claimed_by = COALESCE(claimed_by, p_by), claimed_at = COALESCE(claimed_at, now()),
            version = version + 1 WHERE id = p_id RETURNING * INTO r;
    ELSE
        RAISE EXCEPTION 'help:bad_action';
    END IF;
    RETURN help_request_json(r);
END $$;
