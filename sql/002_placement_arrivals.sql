-- When a placed viewer arrives at its node (its watch there), so that placement counts a node's
-- load exactly: the viewers of its last heartbeat, plus those placed on it that have not
-- arrived yet (for at most 30 s: a viewer that never comes stops counting) or arrived after
-- that heartbeat (not in its count yet).
ALTER TABLE odeon_placements ADD COLUMN arrived_at timestamptz;
