-- odeon.plugin.tickets: organisations and their members, events, ticket types, participants
-- with their consents, orders (free or paid through Stripe), magic links and invitations.
--
-- Every change that a node's in-memory copy of the events depends on is announced by a
-- trigger (NOTIFY tickets_events / tickets_users, payload the row's id), so every node of a
-- cascade serves the same listing and resolves the same roles without asking the database on
-- each request. Seats are counted in the rows they belong to (events.sold, ticket_types.sold)
-- and only ever changed by the functions below, which lock the event row first: concurrent
-- purchases of one event queue on that lock and can never oversell.

CREATE TABLE tickets_organisations (
    id bigserial PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    stripe_account_id text,
    stripe_connected_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tickets_users (
    id bigserial PRIMARY KEY,
    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    password_hash text NOT NULL,
    -- Tokens issued before this instant are refused (a removed member, a role change).
    tokens_valid_after timestamptz NOT NULL DEFAULT '-infinity',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tickets_users_email ON tickets_users (lower(email));

-- One organisation per user: a person who works for two organisers has two accounts.
CREATE TABLE tickets_members (
    user_id bigint PRIMARY KEY REFERENCES tickets_users (id) ON DELETE CASCADE,
    organisation_id bigint NOT NULL REFERENCES tickets_organisations (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'organiser', 'host')),
    added_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_members_organisation ON tickets_members (organisation_id);

CREATE TABLE tickets_invites (
    token_hash bytea PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES tickets_organisations (id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('organiser', 'host')),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);

CREATE TABLE tickets_login_failures (
    email text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_login_failures_email ON tickets_login_failures (lower(email), at);

CREATE TABLE tickets_events (
    id bigserial PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES tickets_organisations (id) ON DELETE CASCADE,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    business_type text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    timezone text NOT NULL,
    capacity integer NOT NULL CHECK (capacity > 0),
    sold integer NOT NULL DEFAULT 0,
    image_url text CHECK (length(image_url) <= 2000),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'live')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (sold BETWEEN 0 AND capacity)
);
CREATE INDEX tickets_events_organisation ON tickets_events (organisation_id, starts_at);
CREATE INDEX tickets_events_live ON tickets_events (starts_at) WHERE status = 'live';

CREATE TABLE tickets_ticket_types (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price bigint NOT NULL CHECK (price >= 0),
    currency text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    quantity integer NOT NULL CHECK (quantity > 0),
    sold integer NOT NULL DEFAULT 0,
    sales_start timestamptz,
    sales_end timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (sold BETWEEN 0 AND quantity),
    CHECK (sales_end IS NULL OR sales_start IS NULL OR sales_end > sales_start)
);
CREATE INDEX tickets_ticket_types_event ON tickets_ticket_types (event_id);

CREATE TABLE tickets_participants (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    email text NOT NULL,
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tickets_participants_email ON tickets_participants (event_id, lower(email));

-- What a participant agreed to, which version, and when (GDPR: the proof of consent).
CREATE TABLE tickets_consents (
    participant_id bigint NOT NULL REFERENCES tickets_participants (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('terms', 'data_sharing')),
    version text NOT NULL CHECK (length(version) BETWEEN 1 AND 50),
    accepted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_consents_participant ON tickets_consents (participant_id);

CREATE TABLE tickets_orders (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES tickets_events (id) ON DELETE CASCADE,
    ticket_type_id bigint NOT NULL REFERENCES tickets_ticket_types (id) ON DELETE CASCADE,
    participant_id bigint NOT NULL REFERENCES tickets_participants (id) ON DELETE CASCADE,
    -- pending: a paid order whose seat is held until expires_at; confirmed: free, or paid as
    -- Stripe's webhook says; released: expired or cancelled, its seat given back.
    status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'released')),
    amount bigint NOT NULL,
    currency text NOT NULL,
    stripe_session_id text UNIQUE,
    checkout_url text,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz
);
CREATE INDEX tickets_orders_participant ON tickets_orders (participant_id);
CREATE INDEX tickets_orders_pending ON tickets_orders (expires_at) WHERE status = 'pending';

CREATE TABLE tickets_magic_links (
    token_hash bytea PRIMARY KEY,
    participant_id bigint NOT NULL REFERENCES tickets_participants (id) ON DELETE CASCADE,
    email text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Stripe event ids already processed: a replayed webhook finds its id here and changes nothing.
CREATE TABLE tickets_webhook_events (
    stripe_event_id text PRIMARY KEY,
    type text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- ---- change notifications ----

CREATE FUNCTION tickets_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tickets_events' THEN
        PERFORM pg_notify('tickets_events', COALESCE(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('tickets_events', COALESCE(NEW.event_id, OLD.event_id)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_events_changed AFTER INSERT OR UPDATE OR DELETE ON tickets_events
    FOR EACH ROW EXECUTE FUNCTION tickets_notify_event();
CREATE TRIGGER tickets_ticket_types_changed AFTER INSERT OR UPDATE OR DELETE ON tickets_ticket_types
    FOR EACH ROW EXECUTE FUNCTION tickets_notify_event();

CREATE FUNCTION tickets_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tickets_users' THEN
        PERFORM pg_notify('tickets_users', COALESCE(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('tickets_users', COALESCE(NEW.user_id, OLD.user_id)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_users_changed AFTER UPDATE OR DELETE ON tickets_users
    FOR EACH ROW EXECUTE FUNCTION tickets_notify_user();
CREATE TRIGGER tickets_members_changed AFTER INSERT OR UPDATE OR DELETE ON tickets_members
    FOR EACH ROW EXECUTE FUNCTION tickets_notify_user();

-- ---- organisers ----

-- A new user who owns a new organisation. Raises tickets:exists for a taken email.
CREATE FUNCTION tickets_signup(p_email text, p_name text, p_hash text, p_organisation text)
RETURNS TABLE (user_id bigint, organisation_id bigint) LANGUAGE plpgsql AS $$
DECLARE
    v_user bigint;
    v_org bigint;
BEGIN
    INSERT INTO tickets_users (email, name, password_hash) VALUES (p_email, p_name, p_hash)
        ON CONFLICT DO NOTHING RETURNING id INTO v_user;
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'tickets:exists';
    END IF;
    INSERT INTO tickets_organisations (name) VALUES (p_organisation) RETURNING id INTO v_org;
    INSERT INTO tickets_members (user_id, organisation_id, role) VALUES (v_user, v_org, 'owner');
    RETURN QUERY SELECT v_user, v_org;
END $$;

-- Redeems an invitation (single use, unexpired) into a new user of its organisation.
CREATE FUNCTION tickets_accept_invite(p_hash bytea, p_name text, p_password text)
RETURNS TABLE (user_id bigint, organisation_id bigint, role text, email text)
LANGUAGE plpgsql AS $$
DECLARE
    v_inv tickets_invites%ROWTYPE;
    v_user bigint;
BEGIN
    UPDATE tickets_invites SET used_at = now()
        WHERE token_hash = p_hash AND used_at IS NULL AND expires_at > now()
        RETURNING * INTO v_inv;
    IF v_inv.token_hash IS NULL THEN
        RAISE EXCEPTION 'tickets:invalid_link';
    END IF;
    INSERT INTO tickets_users (email, name, password_hash) VALUES (v_inv.email, p_name, p_password)
        ON CONFLICT DO NOTHING RETURNING id INTO v_user;
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'tickets:exists';
    END IF;
    INSERT INTO tickets_members (user_id, organisation_id, role)
        VALUES (v_user, v_inv.organisation_id, v_inv.role);
    RETURN QUERY SELECT v_user, v_inv.organisation_id, v_inv.role, v_inv.email;
END $$;

-- ---- seats ----

-- Registers p_email for a ticket of p_type, holding a seat. A free ticket is confirmed at
-- once; a paid one is pending until p_hold from now (Stripe's webhook confirms it). An email
-- already registered (confirmed, or pending and still held) takes no second seat: its
-- existing order comes back with already = true. Raises tickets:not_found, tickets:not_live,
-- tickets:sales_closed, tickets:sold_out.
CREATE FUNCTION tickets_register(p_event bigint, p_type bigint, p_email text, p_name text,
                                 p_terms text, p_consent text, p_hold interval)
RETURNS TABLE (participant_id bigint, order_id bigint, status text, already boolean,
               amount bigint, currency text, checkout_url text)
LANGUAGE plpgsql AS $$
DECLARE
    v_event tickets_events%ROWTYPE;
    v_type tickets_ticket_types%ROWTYPE;
    v_participant bigint;
    v_order tickets_orders%ROWTYPE;
BEGIN
    SELECT * INTO v_event FROM tickets_events WHERE id = p_event FOR UPDATE;
    IF v_event.id IS NULL THEN
        RAISE EXCEPTION 'tickets:not_found';
    END IF;
    IF v_event.status <> 'live' OR v_event.ends_at <= now() THEN
        RAISE EXCEPTION 'tickets:not_live';
    END IF;
    SELECT * INTO v_type FROM tickets_ticket_types WHERE id = p_type AND event_id = p_event;
    IF v_type.id IS NULL THEN
        RAISE EXCEPTION 'tickets:not_found';
    END IF;
    IF (v_type.sales_start IS NOT NULL AND now() < v_type.sales_start)
        OR now() >= COALESCE(v_type.sales_end, v_event.ends_at) THEN
        RAISE EXCEPTION 'tickets:sales_closed';
    END IF;

    SELECT id INTO v_participant FROM tickets_participants
        WHERE event_id = p_event AND lower(email) = lower(p_email);
    IF v_participant IS NOT NULL THEN
        SELECT * INTO v_order FROM tickets_orders o
            WHERE o.participant_id = v_participant
              AND (o.status = 'confirmed' OR (o.status = 'pending' AND o.expires_at > now()))
            ORDER BY o.id DESC LIMIT 1;
        IF v_order.id IS NOT NULL THEN
            RETURN QUERY SELECT v_participant, v_order.id, v_order.status, true, v_order.amount,
                                v_order.currency, v_order.checkout_url;
            RETURN;
        END IF;
    END IF;

    IF v_type.sold >= v_type.quantity OR v_event.sold >= v_event.capacity THEN
        RAISE EXCEPTION 'tickets:sold_out';
    END IF;
    UPDATE tickets_ticket_types SET sold = sold + 1 WHERE id = p_type;
    UPDATE tickets_events SET sold = sold + 1 WHERE id = p_event;

    IF v_participant IS NULL THEN
        INSERT INTO tickets_participants (event_id, email, display_name)
            VALUES (p_event, p_email, p_name) RETURNING id INTO v_participant;
    ELSE
        UPDATE tickets_participants SET display_name = p_name WHERE id = v_participant;
    END IF;
    INSERT INTO tickets_consents (participant_id, kind, version)
        VALUES (v_participant, 'terms', p_terms), (v_participant, 'data_sharing', p_consent);
    INSERT INTO tickets_orders (event_id, ticket_type_id, participant_id, status, amount, currency,
                                expires_at, confirmed_at)
        VALUES (p_event, p_type, v_participant,
                CASE WHEN v_type.price = 0 THEN 'confirmed' ELSE 'pending' END,
                v_type.price, v_type.currency,
                CASE WHEN v_type.price = 0 THEN NULL ELSE now() + p_hold END,
                CASE WHEN v_type.price = 0 THEN now() ELSE NULL END)
        RETURNING * INTO v_order;
    RETURN QUERY SELECT v_participant, v_order.id, v_order.status, false, v_order.amount,
                        v_order.currency, NULL::text;
END $$;

-- Gives a pending order's seat back (Stripe said the session expired, creating it failed, or
-- the hold ran out). Returns whether it did anything.
CREATE FUNCTION tickets_release_order(p_order bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    v_order tickets_orders%ROWTYPE;
BEGIN
    SELECT * INTO v_order FROM tickets_orders WHERE id = p_order;
    IF v_order.id IS NULL THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM tickets_events WHERE id = v_order.event_id FOR UPDATE;
    UPDATE tickets_orders SET status = 'released' WHERE id = p_order AND status = 'pending';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE tickets_ticket_types SET sold = sold - 1 WHERE id = v_order.ticket_type_id;
    UPDATE tickets_events SET sold = sold - 1 WHERE id = v_order.event_id;
    RETURN true;
END $$;

-- Stripe's checkout.session.completed, once per Stripe event id: the order of the session
-- becomes confirmed. A replay, or an event for a session we do not know, returns no row. An
-- order whose hold already ran out takes its seat again if there is one (the payment went
-- through); with none left it stays released and needs a refund (needs_refund = true).
CREATE FUNCTION tickets_confirm_payment(p_stripe_event text, p_session text, p_account text)
RETURNS TABLE (order_id bigint, participant_id bigint, email text, needs_refund boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_order tickets_orders%ROWTYPE;
    v_event tickets_events%ROWTYPE;
    v_type tickets_ticket_types%ROWTYPE;
    v_account text;
BEGIN
    INSERT INTO tickets_webhook_events (stripe_event_id, type)
        VALUES (p_stripe_event, 'checkout.session.completed') ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO v_order FROM tickets_orders WHERE stripe_session_id = p_session;
    IF v_order.id IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO v_event FROM tickets_events WHERE id = v_order.event_id FOR UPDATE;
    SELECT o.stripe_account_id INTO v_account FROM tickets_organisations o
        WHERE o.id = v_event.organisation_id;
    IF p_account IS NOT NULL AND v_account IS DISTINCT FROM p_account THEN
        RAISE EXCEPTION 'tickets:wrong_account';
    END IF;
    SELECT * INTO v_order FROM tickets_orders WHERE id = v_order.id;
    IF v_order.status = 'confirmed' THEN
        RETURN;
    END IF;
    IF v_order.status = 'released' THEN
        SELECT * INTO v_type FROM tickets_ticket_types WHERE id = v_order.ticket_type_id;
        IF v_type.sold >= v_type.quantity OR v_event.sold >= v_event.capacity THEN
            RETURN QUERY SELECT v_order.id, v_order.participant_id, p.email, true
                FROM tickets_participants p WHERE p.id = v_order.participant_id;
            RETURN;
        END IF;
        UPDATE tickets_ticket_types SET sold = sold + 1 WHERE id = v_order.ticket_type_id;
        UPDATE tickets_events SET sold = sold + 1 WHERE id = v_order.event_id;
    END IF;
    UPDATE tickets_orders SET status = 'confirmed', confirmed_at = now() WHERE id = v_order.id;
    RETURN QUERY SELECT v_order.id, v_order.participant_id, p.email, false
        FROM tickets_participants p WHERE p.id = v_order.participant_id;
END $$;

-- Stripe's checkout.session.expired, once per Stripe event id.
CREATE FUNCTION tickets_expire_payment(p_stripe_event text, p_session text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_order bigint;
BEGIN
    INSERT INTO tickets_webhook_events (stripe_event_id, type)
        VALUES (p_stripe_event, 'checkout.session.expired') ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT id INTO v_order FROM tickets_orders WHERE stripe_session_id = p_session;
    IF v_order IS NULL THEN
        RETURN false;
    END IF;
    RETURN tickets_release_order(v_order);
END $$;

-- Pending orders whose hold ran out more than p_grace ago (Stripe's own expiry event did not
-- come): their seats go back. Returns how many.
CREATE FUNCTION tickets_release_stale(p_grace interval) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_count integer := 0;
BEGIN
    FOR v_id IN SELECT id FROM tickets_orders
                 WHERE status = 'pending' AND expires_at < now() - p_grace LOOP
        IF tickets_release_order(v_id) THEN
            v_count := v_count + 1;
        END IF;
    END LOOP;
    RETURN v_count;
END $$;

-- ---- the JSON the API answers with (one definition for every request and node) ----

CREATE FUNCTION tickets_time_json(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

CREATE FUNCTION tickets_event_json(e tickets_events) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id,
        'organisation', json_build_object('id', o.id, 'name', o.name),
        'title', e.title, 'description', e.description, 'business_type', e.business_type,
        'starts_at', tickets_time_json(e.starts_at), 'ends_at', tickets_time_json(e.ends_at),
        'timezone', e.timezone, 'capacity', e.capacity, 'remaining', e.capacity - e.sold,
        'image_url', e.image_url, 'status', e.status)
    FROM tickets_organisations o WHERE o.id = e.organisation_id
$$;

CREATE FUNCTION tickets_ticket_type_json(t tickets_ticket_types) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'event_id', t.event_id, 'name', t.name, 'price', t.price,
        'currency', t.currency, 'free', t.price = 0, 'quantity', t.quantity,
        'remaining', t.quantity - t.sold, 'sales_start', tickets_time_json(t.sales_start),
        'sales_end', tickets_time_json(t.sales_end))
$$;

CREATE FUNCTION tickets_ticket_types_json(p_event bigint) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT COALESCE(json_agg(tickets_ticket_type_json(t) ORDER BY t.price, t.id), '[]'::json)
    FROM tickets_ticket_types t WHERE t.event_id = p_event
$$;

-- An ISO 8601 time from a client: with an offset (or Z) as it says, without one as local time
-- in p_tz (the event's time zone). The plugin checked the format before.
CREATE FUNCTION tickets_parse_time(p text, p_tz text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p IS NULL THEN NULL
        WHEN p ~ '(Z|z|[+-][0-9][0-9](:?[0-9][0-9])?)$' THEN p::timestamptz
        ELSE p::timestamp AT TIME ZONE p_tz
    END
$$;
