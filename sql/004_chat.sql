-- odeon.plugin.chat: rooms of an event (the main room, one per breakout group), their
-- messages, and muted participants.
--
-- A message's place in its room is its seq, taken from the room's row under that row's lock:
-- messages of one room commit in seq order, so a node that has read up to seq N and is told
-- of N+1 can never miss a message by reading "seq > N" (a bigserial id would not promise that:
-- two inserts can commit in the other order). Every new message and every deletion is
-- announced on NOTIFY chat with the event, room and seq, so members on every node get it.

CREATE TABLE chat_rooms (
    event_id bigint NOT NULL,
    room text NOT NULL CHECK (room ~ '^(main|group:[0-9]{1,18})$'),
    last_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, room)
);

CREATE TABLE chat_messages (
    event_id bigint NOT NULL,
    room text NOT NULL,
    seq bigint NOT NULL,
    -- The sender's identity subject ("participant:42", "organiser:7"): names and avatars are
    -- resolved when messages are read, never copied into them.
    sender text NOT NULL,
    kind text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'announcement')),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    deleted_by text,
    PRIMARY KEY (event_id, room, seq)
);
CREATE INDEX chat_messages_created ON chat_messages (created_at);

CREATE TABLE chat_mutes (
    event_id bigint NOT NULL,
    subject text NOT NULL,
    muted_by text NOT NULL,
    muted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, subject)
);

-- Stores a message as the room's next seq (unless the sender is muted: chat:muted) and
-- announces it.
CREATE FUNCTION chat_post(p_event bigint, p_room text, p_sender text, p_kind text, p_body text)
RETURNS TABLE (seq bigint, created_at timestamptz) LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_at timestamptz := now();
BEGIN
    IF p_kind = 'message' AND EXISTS (SELECT 1 FROM chat_mutes m
                                      WHERE m.event_id = p_event AND m.subject = p_sender) THEN
        RAISE EXCEPTION 'chat:muted';
    END IF;
    INSERT INTO chat_rooms AS r (event_id, room, last_seq) VALUES (p_event, p_room, 1)
        ON CONFLICT (event_id, room) DO UPDATE SET last_seq = r.last_seq + 1
        RETURNING r.last_seq INTO v_seq;
    INSERT INTO chat_messages (event_id, room, seq, sender, kind, body, created_at)
        VALUES (p_event, p_room, v_seq, p_sender, p_kind, p_body, v_at);
    PERFORM pg_notify('chat', json_build_object('e', p_event, 'r', p_room, 's', v_seq)::text);
    RETURN QUERY SELECT v_seq, v_at;
END $$;

-- A deletion by a moderator: the message stays (its seq keeps its place) without its text.
CREATE FUNCTION chat_delete(p_event bigint, p_room text, p_seq bigint, p_by text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat_messages SET deleted_at = now(), deleted_by = p_by, body = '-'
        WHERE event_id = p_event AND room = p_room AND seq = p_seq AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('chat', json_build_object('e', p_event, 'r', p_room, 'd', p_seq)::text);
    RETURN true;
END $$;

-- Messages as clients see them: the sender's current display name from the tickets tables.
CREATE FUNCTION chat_message_json(m chat_messages) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'seq', m.seq, 'room', m.room, 'kind', m.kind,
        'sender', m.sender,
        'name', COALESCE(CASE split_part(m.sender, ':', 1)
            WHEN 'participant' THEN (SELECT p.display_name FROM tickets_participants p
                                      WHERE p.id = split_part(m.sender, ':', 2)::bigint)
            WHEN 'organiser' THEN (SELECT u.name FROM tickets_users u
                                    WHERE u.id = split_part(m.sender, ':', 2)::bigint)
            END, m.sender),
        'text', CASE WHEN m.deleted_at IS NULL THEN m.body END,
        'deleted', m.deleted_at IS NOT NULL,
        'at', tickets_time_json(m.created_at))
$$;
