-- odeon.plugin.chat: many messages in one statement. Under load a node gathers the sends that
-- arrive while its previous batch is being stored and stores them together: one transaction,
-- one lock and one NOTIFY per room instead of one per message (a burst of thousands of sends
-- within a second was refused for want of database connections).
--
-- p_items: [{"e": event, "r": room, "s": sender, "k": kind, "b": body}, ...]. Rows are stored
-- per room in the order given (rooms taken in (event, room) order, so two nodes' batches never
-- deadlock on each other's room rows). Returns one row per item: its 1-based index, its seq,
-- or refused = 'muted' (a muted sender's message; the others are stored).
CREATE FUNCTION chat_post_many(p_items json)
RETURNS TABLE (o_index integer, o_seq bigint, o_refused text) LANGUAGE plpgsql AS $$
DECLARE
    it record;
    v_seq bigint;
    v_event bigint;
    v_room text;
    v_last bigint;
BEGIN
    FOR it IN SELECT x.n::integer AS n, (x.v->>'e')::bigint AS ev, x.v->>'r' AS room,
                     x.v->>'s' AS sender, x.v->>'k' AS kind, x.v->>'b' AS body
              FROM json_array_elements(p_items) WITH ORDINALITY AS x(v, n)
              ORDER BY 2, 3, 1 LOOP
        IF it.kind = 'message' AND EXISTS (SELECT 1 FROM chat_mutes m
                                           WHERE m.event_id = it.ev AND m.subject = it.sender) THEN
            o_index := it.n;
            o_seq := NULL;
            o_refused := 'muted';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF v_room IS NOT NULL AND (v_event <> it.ev OR v_room <> it.room) THEN
            PERFORM pg_notify('chat', json_build_object('e', v_event, 'r', v_room, 's', v_last)::text);
        END IF;
        INSERT INTO chat_rooms AS r (event_id, room, last_seq) VALUES (it.ev, it.room, 1)
            ON CONFLICT (event_id, room) DO UPDATE SET last_seq = r.last_seq + 1
            RETURNING r.last_seq INTO v_seq;
        INSERT INTO chat_messages (event_id, room, seq, sender, kind, body)
            VALUES (it.ev, it.room, v_seq, it.sender, it.kind, it.body);
        v_event := it.ev;
        v_room := it.room;
        v_last := v_seq;
        o_index := it.n;
        o_seq := v_seq;
        o_refused := NULL;
        RETURN NEXT;
    END LOOP;
    IF v_room IS NOT NULL THEN
        PERFORM pg_notify('chat', json_build_object('e', v_event, 'r', v_room, 's', v_last)::text);
    END IF;
END $$;
