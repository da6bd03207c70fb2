-- Breakout groups of an event and their members. odeon.plugin.room admits a participant to a
-- group's room (whose id is the group's id) only when listed here; the event's owners,
-- organisers and hosts may join any. Members are referenced by participant id only, so
-- deleting a participant removes their membership and nothing else.

CREATE TABLE breakout_groups (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX breakout_groups_event ON breakout_groups (event_id);

CREATE TABLE breakout_members (
    group_id bigint NOT NULL REFERENCES breakout_groups (id) ON DELETE CASCADE,
    participant_id bigint NOT NULL REFERENCES tickets_participants (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, participant_id)
);
CREATE INDEX breakout_members_participant ON breakout_members (participant_id);
