-- 001_core.sql — divert's core schema: programs and their policy, staff,
-- sources and their keys, persons, referrals, enrollments, the waitlist, and
-- the append-only decision events.
--
-- The hard cap (policy.md §4) is enforced here as well as in divertd: an
-- enrollment's trigger keeps case_manager.caseload and refuses to take any
-- case manager past their program's hard_cap, whoever writes (a second
-- daemon, divertctl, an operator's manual SQL). The caseload counter itself
-- can only be changed by that trigger.
--
-- Applied by `divertctl migrate`, which records it in divert.schema_migration.

CREATE SCHEMA IF NOT EXISTS divert;
SET LOCAL search_path = divert, pg_catalog;

-- Programs and their site policy. Every value here can be changed live
-- (divertctl program set); every daemon on this database applies it.
CREATE TABLE program (
    name              text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9-]{0,31}$'),
    model             text NOT NULL DEFAULT 'ICM',
    is_default        boolean NOT NULL DEFAULT false,   -- where referrals go when no program takes their housing
    accepts_housing   text[] NOT NULL DEFAULT '{unsheltered}'
                      CHECK (accepts_housing <@ ARRAY['unsheltered','hotel','sheltered','housed','unknown']),
    hard_cap          int NOT NULL DEFAULT 25 CHECK (hard_cap BETWEEN 1 AND 1000),
    target_avg        int NOT NULL DEFAULT 20 CHECK (target_avg >= 1),
    funded            int CHECK (funded >= 0),          -- funded slots; NULL = not set
    pacing_margin     numeric(4,3) NOT NULL DEFAULT 0.10 CHECK (pacing_margin >= 0 AND pacing_margin < 1),
    reserve_tier1     int NOT NULL DEFAULT 2 CHECK (reserve_tier1 >= 0),
    reserve_tier2     int NOT NULL DEFAULT 3 CHECK (reserve_tier2 >= 0),
    waitlist_cap      int NOT NULL DEFAULT 200 CHECK (waitlist_cap >= 0),
    waitlist_ttl      interval NOT NULL DEFAULT '30 days' CHECK (waitlist_ttl > '0'),
    intake_window     interval NOT NULL DEFAULT '30 days' CHECK (intake_window > '0'),
    term              interval CHECK (term > '0'),      -- time-delimited programs: enrollment term
    areas             text[] NOT NULL DEFAULT '{}',     -- empty = the whole jurisdiction
    excluded_offenses text[] NOT NULL DEFAULT '{}',
    pretrial_overflow text NOT NULL DEFAULT 'decline' CHECK (pretrial_overflow IN ('decline', 'waitlist')),
    score_arrest      int NOT NULL DEFAULT 60,
    score_social      int NOT NULL DEFAULT 40,
    score_community   int NOT NULL DEFAULT 40,
    score_pretrial    int NOT NULL DEFAULT 20,
    score_acuity_both int NOT NULL DEFAULT 10,
    score_acuity_one  int NOT NULL DEFAULT 5,
    score_contact_each int NOT NULL DEFAULT 2,
    score_contact_max int NOT NULL DEFAULT 10,
    score_aging_per_day int NOT NULL DEFAULT 1,
    score_aging_max   int NOT NULL DEFAULT 20,
    policy_version    int NOT NULL DEFAULT 1,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX program_one_default ON program (is_default) WHERE is_default;

INSERT INTO program (name, model, is_default, accepts_housing, hard_cap, target_avg, term)
VALUES ('LEAD',    'ICM', true,  '{unsheltered}', 25, 20, NULL),
       ('CO-LEAD', 'ACT', false, '{hotel}',       15, 15, '120 days');

CREATE TABLE case_manager (
    id               text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    program          text NOT NULL REFERENCES program (name),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    area             text,
    active           boolean NOT NULL DEFAULT true,
    caseload         int NOT NULL DEFAULT 0 CHECK (caseload >= 0),   -- kept by enrollment triggers
    last_assigned_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX case_manager_program ON case_manager (program) WHERE active;

-- Outreach / referral managers: no caseload, never counted toward capacity.
CREATE TABLE outreach_staff (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Referral sources, each with its own CURVE public key (Z85, 40 chars).
-- The kind comes from here, never from a message.
CREATE TABLE source (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    kind       text NOT NULL CHECK (kind IN ('police', 'community', 'court', 'prosecutor')),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    public_key text NOT NULL UNIQUE CHECK (length(public_key) = 40),
    revoked_at timestamptz,
    last_seq   bigint NOT NULL DEFAULT 0,     -- the source's event sequence; bumped under row lock
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Events are published on the topic decision.<kind>.<id>, and ZeroMQ matches
-- subscriptions by prefix: if one source's id began with another's of the same
-- kind ("spd", "spd2"), the first could read the second's events. Refuse such ids.
CREATE FUNCTION s_source_id_not_prefix() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    other text;
BEGIN
    SELECT id INTO other FROM source
     WHERE kind = NEW.kind AND id <> NEW.id
       AND (starts_with(id, NEW.id) OR starts_with(NEW.id, id)) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'divert: source id % and % (both %) must not begin with one another: their event topics would overlap',
            NEW.id, other, NEW.kind USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER source_id_not_prefix BEFORE INSERT OR UPDATE OF id, kind ON source
    FOR EACH ROW EXECUTE FUNCTION s_source_id_not_prefix();

-- Operator monitors: may subscribe to every event and replay any source.
CREATE TABLE monitor (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name       text NOT NULL DEFAULT '',
    public_key text NOT NULL UNIQUE CHECK (length(public_key) = 40),
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Which pathways each kind of source may send (policy.md §1).
CREATE TABLE pathway_permission (
    kind    text NOT NULL,
    pathway text NOT NULL CHECK (pathway IN ('arrest_diversion', 'social_contact', 'community', 'pretrial_diversion')),
    PRIMARY KEY (kind, pathway)
);
INSERT INTO pathway_permission VALUES
    ('police', 'arrest_diversion'), ('police', 'social_contact'),
    ('community', 'community'),
    ('court', 'pretrial_diversion'), ('prosecutor', 'pretrial_diversion');

-- A person, as identified by a source's own id or by last name + date of birth.
-- Personal data: read only by divertd and operators, never in events or logs.
CREATE TABLE person (
    id               bigserial PRIMARY KEY,
    source_id        text REFERENCES source (id),
    source_person_id text,
    first_name       text,
    last_name        text,
    last_name_key    text GENERATED ALWAYS AS (lower(last_name)) STORED,
    dob              date,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (source_person_id IS NOT NULL OR (last_name IS NOT NULL AND dob IS NOT NULL))
);
CREATE INDEX person_by_source_id ON person (source_id, source_person_id) WHERE source_person_id IS NOT NULL;
CREATE INDEX person_by_name_dob ON person (last_name_key, dob) WHERE dob IS NOT NULL;

CREATE TABLE referral (
    id                bigserial PRIMARY KEY,
    source_id         text NOT NULL REFERENCES source (id),
    referral_id       text NOT NULL,                 -- the source's UUID (idempotency key)
    person_id         bigint NOT NULL REFERENCES person (id),
    pathway           text NOT NULL,
    tier              int NOT NULL CHECK (tier BETWEEN 1 AND 3),
    program           text REFERENCES program (name),
    submitted_at      timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    payload           jsonb NOT NULL,                -- as received; personal data
    digest            text NOT NULL,                 -- SHA-1 of the canonical payload
    state             text NOT NULL CHECK (state IN ('accepted', 'waitlisted', 'declined', 'withdrawn', 'lapsed', 'exited')),
    waitlist_entry_id bigint,
    UNIQUE (source_id, referral_id)
);
CREATE INDEX referral_person ON referral (person_id);

CREATE TABLE enrollment (
    id              bigserial PRIMARY KEY,
    referral_id     bigint NOT NULL UNIQUE REFERENCES referral (id),
    person_id       bigint NOT NULL REFERENCES person (id),
    program         text NOT NULL REFERENCES program (name),
    case_manager_id text NOT NULL REFERENCES case_manager (id),
    status          text NOT NULL DEFAULT 'pending_intake'
                    CHECK (status IN ('pending_intake', 'active', 'in_the_wind', 'exited')),
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    intake_due_at   timestamptz NOT NULL,
    ends_at         timestamptz,                     -- time-delimited programs
    exited_at       timestamptz,
    exit_reason     text,
    CHECK ((status = 'exited') = (exited_at IS NOT NULL))
);
-- A person is enrolled (not exited) in at most one program at a time.
CREATE UNIQUE INDEX enrollment_one_open_per_person ON enrollment (person_id) WHERE status <> 'exited';
CREATE INDEX enrollment_open_by_cm ON enrollment (case_manager_id) WHERE status <> 'exited';
CREATE INDEX enrollment_exits ON enrollment (program, exited_at) WHERE exited_at IS NOT NULL;

CREATE TABLE waitlist_entry (
    id          bigserial PRIMARY KEY,
    program     text NOT NULL REFERENCES program (name),
    person_id   bigint NOT NULL REFERENCES person (id),
    referral_id bigint NOT NULL REFERENCES referral (id),   -- the referral that opened it
    tier        int NOT NULL CHECK (tier BETWEEN 1 AND 3),
    score       int NOT NULL,                                -- best base score (no aging)
    received_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'promoted', 'expired', 'withdrawn')),
    closed_at   timestamptz
);
CREATE UNIQUE INDEX waitlist_one_open_per_person ON waitlist_entry (person_id) WHERE state = 'open';
CREATE INDEX waitlist_open ON waitlist_entry (program, tier, score DESC, received_at) WHERE state = 'open';
ALTER TABLE referral ADD FOREIGN KEY (waitlist_entry_id) REFERENCES waitlist_entry (id);

-- Every decision, ever. Append-only: the trigger below refuses UPDATE, DELETE
-- and TRUNCATE. No personal data: reply holds what the referrer was told.
CREATE TABLE decision_event (
    id              bigserial PRIMARY KEY,
    source_id       text NOT NULL REFERENCES source (id),
    seq             bigint NOT NULL CHECK (seq >= 1),
    referral_id     bigint NOT NULL REFERENCES referral (id),
    decision        text NOT NULL CHECK (decision IN ('accept', 'waitlist', 'decline', 'withdrawn', 'lapsed')),
    reason          text NOT NULL CHECK (reason IN (
                        'accepted', 'accepted_from_waitlist', 'at_capacity', 'waitlist_full',
                        'reserved_for_priority', 'outside_service_area', 'no_behavioral_health_need',
                        'not_unsheltered', 'excluded_offense', 'already_enrolled', 'linked_to_pending',
                        'waitlist_expired', 'withdrawn', 'intake_lapsed', 'no_consent')),
    program         text,
    case_manager_id text,
    tier            int,
    score           int,
    components      jsonb,        -- score components {pathway, acuity, contacts, aging}
    capacity        jsonb,        -- the capacity snapshot the decision saw
    from_waitlist   boolean NOT NULL DEFAULT false,
    policy_version  int,
    decided_by      text,         -- which daemon (or divertctl) recorded it
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    reply           jsonb NOT NULL,
    UNIQUE (source_id, seq)
);
CREATE INDEX decision_event_referral ON decision_event (referral_id, id);

CREATE FUNCTION s_append_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RAISE EXCEPTION 'divert: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER decision_event_append_only BEFORE UPDATE OR DELETE ON decision_event
    FOR EACH ROW EXECUTE FUNCTION s_append_only();
CREATE TRIGGER decision_event_no_truncate BEFORE TRUNCATE ON decision_event
    FOR EACH STATEMENT EXECUTE FUNCTION s_append_only();

-- ---------------------------------------------------------------------------
-- The hard-cap invariant.

-- Enrollments keep their case manager's caseload. The UPDATE takes the case
-- manager's row lock, so concurrent transactions serialize on it and each
-- sees the other's committed count.
CREATE FUNCTION s_enrollment_caseload() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    old_counts boolean := false;
    new_counts boolean := false;
    cm record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_counts := OLD.status <> 'exited';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_counts := NEW.status <> 'exited';
    END IF;
    IF old_counts AND NOT (new_counts AND NEW.case_manager_id = OLD.case_manager_id) THEN
        UPDATE case_manager SET caseload = caseload - 1 WHERE id = OLD.case_manager_id;
    END IF;
    IF new_counts AND NOT (old_counts AND NEW.case_manager_id = OLD.case_manager_id) THEN
        UPDATE case_manager SET caseload = caseload + 1, last_assigned_at = clock_timestamp()
         WHERE id = NEW.case_manager_id
        RETURNING * INTO cm;
        IF cm.program <> NEW.program THEN
            RAISE EXCEPTION 'divert: case manager % is in program %, not %', cm.id, cm.program, NEW.program
                USING ERRCODE = 'check_violation';
        END IF;
        IF NOT cm.active THEN
            RAISE EXCEPTION 'divert: case manager % is not active', cm.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER enrollment_caseload AFTER INSERT OR UPDATE OR DELETE ON enrollment
    FOR EACH ROW EXECUTE FUNCTION s_enrollment_caseload();

-- No case manager above the hard cap; the caseload counter is derived.
CREATE FUNCTION s_case_manager_cap() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    cap int;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.caseload <> 0 THEN
            RAISE EXCEPTION 'divert: a new case manager starts with caseload 0'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.caseload <> OLD.caseload AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'divert: caseload is derived from enrollments and cannot be set directly'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.program <> OLD.program AND OLD.caseload > 0 THEN
        RAISE EXCEPTION 'divert: case manager % still holds % enrollments in %', OLD.id, OLD.caseload, OLD.program
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT hard_cap INTO cap FROM program WHERE name = NEW.program;
    IF NEW.caseload > cap AND NEW.caseload > OLD.caseload THEN
        RAISE EXCEPTION 'divert: case manager % would hold % people, above the hard cap of % in %',
            NEW.id, NEW.caseload, cap, NEW.program
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER case_manager_cap BEFORE INSERT OR UPDATE ON case_manager
    FOR EACH ROW EXECUTE FUNCTION s_case_manager_cap();

-- A program's hard cap can't go below what someone already holds, and every
-- policy change bumps the policy version stored with decisions.
CREATE FUNCTION s_program_policy() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    top record;
BEGIN
    IF NEW.hard_cap < OLD.hard_cap THEN
        SELECT id, caseload INTO top FROM case_manager
         WHERE program = NEW.name AND caseload > NEW.hard_cap ORDER BY caseload DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'divert: hard cap % is below the caseload of % (%)', NEW.hard_cap, top.id, top.caseload
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
        NEW.policy_version := OLD.policy_version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER program_policy BEFORE UPDATE ON program
    FOR EACH ROW EXECUTE FUNCTION s_program_policy();
