-- When a placed viewer arrives at its node (its watch there), so that placement counts a node's
-- load exactly: the viewers its last heartbeat counted, plus those placed on it that have not
-- arrived yet (for at most 10 s: a viewer that never comes stops counting) or arrived after
-- the time its count is from (not in it yet): counted_at, since the plugins report their
-- viewers about once a second and a heartbeat writes the last report.
ALTER TABLE odeon_placements ADD COLUMN arrived_at timestamptz;
ALTER TABLE odeon_nodes ADD COLUMN counted_at timestamptz NOT NULL DEFAULT now();
