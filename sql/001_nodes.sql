-- The node registry (src/cluster/cluster.c): every origin and relay writes its row on each
-- heartbeat; placement reads the live ones. heartbeat_at is the database's clock, so nodes'
-- clocks need not agree.
CREATE TABLE odeon_nodes (
    id text PRIMARY KEY,
    role text NOT NULL CHECK (role IN ('standalone', 'origin', 'relay')),
    public_url text NOT NULL,
    upstream text,
    capacity integer NOT NULL DEFAULT 0 CHECK (capacity >= 0), -- viewers; 0: no limit
    viewers integer NOT NULL DEFAULT 0,
    bitrate_out bigint NOT NULL DEFAULT 0,                      -- bit/s to viewers and relays
    cpu real NOT NULL DEFAULT 0,                                -- cores busy
    links jsonb NOT NULL DEFAULT '[]',
    draining boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Where each client was last sent, per stage: placement is sticky for reconnects, and the
-- placements made since a node's last heartbeat count towards its load (so that a crowd
-- joining within one heartbeat spreads out).
CREATE TABLE odeon_placements (
    client_key text NOT NULL,
    stage_key text NOT NULL,
    node_id text NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_key, stage_key)
);
CREATE INDEX odeon_placements_node ON odeon_placements (node_id, placed_at);
