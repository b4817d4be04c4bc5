-- 007_case_management.sql — the case-management side of the loop
-- (protocol.md "Case-management systems", policy.md §1 "Enrollments").
--
--   cms, cms_program     case-management keys and the programs each may see
--   enrollment_event     every change of an enrollment, once, with a gap-free
--                        per-program seq (enrollment_feed.last_seq, bumped
--                        under its row lock, so seq follows commit order),
--                        when it happened (at) and who made it (actor)
--   disclosure           every delivery of personal data (audit)
--
-- The feed is written by a trigger on enrollment, so every path records its
-- changes the same way: divertd's accept and promotion (assigned), its
-- lapse, term end and withdrawal (exited), the cms requests and divertctl
-- (through divert.enrollment_change / enrollment_transfer), and an
-- operator's SQL. The trigger also enforces the transition table:
--   pending_intake -> active (intake_completed) | exited
--   active         -> in_the_wind | exited
--   in_the_wind    -> active (re_engaged) | exited
-- and a transfer changes only the case manager of an open enrollment.
-- Who made a change is the session's divert.actor setting (divertd sets its
-- name once per connection, divertctl "divertctl:<role>", a cms request
-- "cms:<id>" for its transaction), else "sql:<role>".
-- Each new event NOTIFYs divert_enrollment; every divertd publishes the feed
-- (topic enrollment.<program>) after commit, whoever made the change.

SET LOCAL search_path = divert, pg_catalog;

-- ---------------------------------------------------------------------------
-- Case-management keys

CREATE TABLE cms (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    public_key text NOT NULL UNIQUE CHECK (length(public_key) = 40),
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cms_program (
    cms_id  text NOT NULL REFERENCES cms (id),
    program text NOT NULL REFERENCES program (name),
    PRIMARY KEY (cms_id, program)
);

-- A revoked cms key loses its open connections' requests and subscriptions
-- like every other key (006).
CREATE OR REPLACE VIEW revoked_identity AS
    SELECT kind || ':' || id AS identity FROM source WHERE revoked_at IS NOT NULL
    UNION ALL
    SELECT 'monitor:' || id FROM monitor WHERE revoked_at IS NOT NULL
    UNION ALL
    SELECT 'cms:' || id FROM cms WHERE revoked_at IS NOT NULL;
CREATE TRIGGER cms_revocation_notify AFTER UPDATE OF revoked_at, id OR DELETE ON cms
    FOR EACH STATEMENT EXECUTE FUNCTION s_notify_revocation();

-- The feed's topic is enrollment.<program>, and ZeroMQ matches subscriptions
-- by prefix: a key for LEAD must not hear LEAD-PILOT. Program names must not
-- begin with one another (as source ids of a kind, 001).
CREATE FUNCTION s_program_name_not_prefix() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    other text;
BEGIN
    SELECT name INTO other FROM program
     WHERE name <> NEW.name AND (starts_with(name, NEW.name) OR starts_with(NEW.name, name)) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'divert: program names % and % must not begin with one another: their enrollment feed topics would overlap',
            NEW.name, other USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER program_name_not_prefix BEFORE INSERT OR UPDATE OF name ON program
    FOR EACH ROW EXECUTE FUNCTION s_program_name_not_prefix();

-- ---------------------------------------------------------------------------
-- Enrollments: a closed list of exit reasons, and when the status began

UPDATE enrollment SET exit_reason = 'other'
 WHERE status = 'exited' AND exit_reason NOT IN ('graduated', 'moved', 'declined_services', 'incarcerated',
       'deceased', 'other', 'intake_lapsed', 'term_ended', 'withdrawn');
ALTER TABLE enrollment ADD CONSTRAINT enrollment_exit_reason CHECK (
    (status = 'exited') = (exit_reason IS NOT NULL)
    AND exit_reason IN ('graduated', 'moved', 'declined_services', 'incarcerated', 'deceased', 'other',
                        'intake_lapsed', 'term_ended', 'withdrawn'));
ALTER TABLE enrollment ADD COLUMN status_since timestamptz;
UPDATE enrollment SET status_since = COALESCE(exited_at, enrolled_at);
ALTER TABLE enrollment ALTER COLUMN status_since SET NOT NULL;

CREATE TABLE enrollment_feed (
    program  text PRIMARY KEY REFERENCES program (name),
    last_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE enrollment_event (
    id                   bigserial PRIMARY KEY,
    program              text NOT NULL REFERENCES program (name),
    seq                  bigint NOT NULL CHECK (seq >= 1),
    enrollment_id        bigint NOT NULL REFERENCES enrollment (id),
    referral_id          bigint NOT NULL REFERENCES referral (id),
    change               text NOT NULL CHECK (change IN ('assigned', 'intake_completed', 'in_the_wind',
                                                         're_engaged', 'transferred', 'exited')),
    status               text NOT NULL CHECK (status IN ('pending_intake', 'active', 'in_the_wind', 'exited')),
    case_manager_id      text NOT NULL,
    from_case_manager_id text,                     -- transferred: who had it
    reason               text,                     -- exited: the exit reason
    at                   timestamptz NOT NULL,     -- when it happened
    recorded_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor                text NOT NULL,            -- who made the change
    UNIQUE (program, seq)
);
CREATE INDEX enrollment_event_enrollment ON enrollment_event (enrollment_id, id);
CREATE TRIGGER enrollment_event_append_only BEFORE UPDATE OR DELETE ON enrollment_event
    FOR EACH ROW EXECUTE FUNCTION s_append_only();
CREATE TRIGGER enrollment_event_no_truncate BEFORE TRUNCATE ON enrollment_event
    FOR EACH STATEMENT EXECUTE FUNCTION s_append_only();

-- Every disclosure of personal data: the cms feed's deliveries of a referral
-- (actor_kind cms), divert-web's views of a person (actor_kind web).
CREATE TABLE IF NOT EXISTS disclosure (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('cms', 'web')),
    actor_id    text NOT NULL,
    referral_id bigint NOT NULL REFERENCES referral (id),
    what        text NOT NULL
);
CREATE INDEX IF NOT EXISTS disclosure_referral ON disclosure (referral_id, at);
CREATE TRIGGER disclosure_append_only BEFORE UPDATE OR DELETE ON disclosure
    FOR EACH ROW EXECUTE FUNCTION s_append_only();

-- The history so far, for a site that upgrades: each enrollment's assignment,
-- and its exit (intake, in-the-wind spells and transfers before this
-- migration were not recorded).
WITH history AS (
    SELECT e.program, e.id, e.referral_id, 'assigned' AS change, 'pending_intake' AS status,
           e.case_manager_id, NULL AS reason, e.enrolled_at AS at
      FROM enrollment e
    UNION ALL
    SELECT e.program, e.id, e.referral_id, 'exited', 'exited', e.case_manager_id, e.exit_reason, e.exited_at
      FROM enrollment e WHERE e.status = 'exited'
)
INSERT INTO enrollment_event (program, seq, enrollment_id, referral_id, change, status, case_manager_id,
                              reason, at, actor)
SELECT program, row_number() OVER (PARTITION BY program ORDER BY at, id, change = 'exited'),
       id, referral_id, change, status, case_manager_id, reason, at, 'migration'
  FROM history;
INSERT INTO enrollment_feed (program, last_seq)
SELECT p.name, COALESCE((SELECT max(seq) FROM enrollment_event e WHERE e.program = p.name), 0) FROM program p;

-- ---------------------------------------------------------------------------
-- The feed trigger

-- Before a change: when a status changes and the statement didn't say since
-- when, it is now (or the exit time).
CREATE FUNCTION s_enrollment_since() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.status_since := COALESCE(NEW.status_since, NEW.enrolled_at);
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status_since IS NOT DISTINCT FROM OLD.status_since THEN
        NEW.status_since := COALESCE(NEW.exited_at, now());
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER enrollment_since BEFORE INSERT OR UPDATE ON enrollment
    FOR EACH ROW EXECUTE FUNCTION s_enrollment_since();

CREATE FUNCTION s_enrollment_event() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    change text;
    at timestamptz := clock_timestamp();
    next_seq bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        change := 'assigned';
        at := NEW.status_since;
    ELSIF NEW.program <> OLD.program OR NEW.referral_id <> OLD.referral_id THEN
        RAISE EXCEPTION 'divert: an enrollment''s program and referral never change'
            USING ERRCODE = 'check_violation';
    ELSIF NEW.case_manager_id <> OLD.case_manager_id THEN
        IF NEW.status <> OLD.status OR OLD.status = 'exited' THEN
            RAISE EXCEPTION 'divert: a transfer moves an open enrollment and changes nothing else'
                USING ERRCODE = 'check_violation';
        END IF;
        change := 'transferred';
    ELSIF NEW.status = OLD.status THEN
        RETURN NULL;                        -- nothing the feed records changed
    ELSE
        change := CASE
            WHEN OLD.status = 'exited' THEN NULL
            WHEN NEW.status = 'exited' THEN 'exited'
            WHEN OLD.status = 'pending_intake' AND NEW.status = 'active' THEN 'intake_completed'
            WHEN OLD.status = 'active' AND NEW.status = 'in_the_wind' THEN 'in_the_wind'
            WHEN OLD.status = 'in_the_wind' AND NEW.status = 'active' THEN 're_engaged' END;
        IF change IS NULL THEN
            RAISE EXCEPTION 'divert: an enrollment can''t go from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        at := NEW.status_since;
    END IF;
    INSERT INTO enrollment_feed AS f (program, last_seq) VALUES (NEW.program, 1)
    ON CONFLICT (program) DO UPDATE SET last_seq = f.last_seq + 1
    RETURNING last_seq INTO next_seq;
    INSERT INTO enrollment_event (program, seq, enrollment_id, referral_id, change, status, case_manager_id,
                                  from_case_manager_id, reason, at, actor)
    VALUES (NEW.program, next_seq, NEW.id, NEW.referral_id, change, NEW.status, NEW.case_manager_id,
            CASE WHEN change = 'transferred' THEN OLD.case_manager_id END,
            CASE WHEN change = 'exited' THEN NEW.exit_reason END, at,
            COALESCE(NULLIF(current_setting('divert.actor', true), ''), 'sql:' || session_user));
    PERFORM pg_notify('divert_enrollment', NEW.program);
    RETURN NULL;
END $$;
CREATE TRIGGER enrollment_feed AFTER INSERT OR UPDATE ON enrollment
    FOR EACH ROW EXECUTE FUNCTION s_enrollment_event();

-- ---------------------------------------------------------------------------
-- The wire form of one enrollment event (protocol.md), without personal data

CREATE FUNCTION enrollment_event_wire(ev enrollment_event) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
DECLARE
    r referral;
BEGIN
    SELECT * INTO r FROM referral WHERE id = ev.referral_id;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'v', 1, 'type', 'enrollment_event', 'program', ev.program, 'seq', ev.seq,
        'source_id', r.source_id, 'referral_id', r.referral_id, 'change', ev.change,
        'status', ev.status, 'case_manager', ev.case_manager_id,
        'from_case_manager', ev.from_case_manager_id, 'reason', ev.reason, 'at', s_rfc3339(ev.at)));
END $$;

-- The events of every program after the positions given ({"LEAD": 12, ...}),
-- at most `lim` in all, for divertd to publish; a program not in positions
-- starts at its current end (nothing from before is republished).
-- Returns {"positions": {...}, "events": [{"topic", "event"}...], "more": bool}.
CREATE FUNCTION enrollment_feed_after(positions jsonb, lim int) RETURNS jsonb LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    out jsonb := '[]';
    f enrollment_feed;
    ev enrollment_event;
    at_seq bigint;
    taken int := 0;
    more boolean := false;
BEGIN
    FOR f IN SELECT * FROM enrollment_feed ORDER BY program LOOP
        at_seq := COALESCE((positions ->> f.program)::bigint, f.last_seq);
        FOR ev IN SELECT * FROM enrollment_event e
                   WHERE e.program = f.program AND e.seq > at_seq ORDER BY e.seq LOOP
            IF taken >= lim THEN
                more := true;
                EXIT;
            END IF;
            out := out || jsonb_build_array(jsonb_build_object(
                'topic', 'enrollment.' || ev.program, 'event', enrollment_event_wire(ev)));
            at_seq := ev.seq;
            taken := taken + 1;
        END LOOP;
        positions := positions || jsonb_build_object(f.program, at_seq);
    END LOOP;
    RETURN jsonb_build_object('positions', positions, 'events', out, 'more', more);
END $$;

-- ---------------------------------------------------------------------------
-- Changes, from the cms requests and divertctl alike

-- The reply to an enrollment or transfer request, for the enrollment's
-- latest event.
CREATE FUNCTION s_enrollment_reply(e enrollment, replayed boolean) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN jsonb_build_object(
        'v', 1, 'type', 'enrollment', 'program', e.program,
        'source_id', (SELECT r.source_id FROM referral r WHERE r.id = e.referral_id),
        'referral_id', (SELECT r.referral_id FROM referral r WHERE r.id = e.referral_id),
        'status', e.status, 'case_manager', e.case_manager_id,
        'seq', (SELECT ev.seq FROM enrollment_event ev WHERE ev.enrollment_id = e.id ORDER BY ev.id DESC LIMIT 1),
        'replayed', replayed);
END $$;

-- A refused request: {"error": code, "message"}; with a field, the message
-- is the field's problem, in the shape of the codec's invalid replies.
CREATE FUNCTION s_refusal(code text, message text, field text DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN field IS NULL THEN jsonb_build_object('error', code, 'message', message)
                ELSE jsonb_build_object('error', code, 'message', '1 field is invalid',
                        'errors', jsonb_build_array(jsonb_build_object('field', field, 'problem', message))) END
$$;

-- The enrollment of one referral, locked, after its program's row (the lock
-- order of intake and maintenance: program, then enrollment and case
-- manager, then the feed). NULL when there is none.
CREATE FUNCTION s_enrollment_locked(src text, ref text) RETURNS enrollment LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    e enrollment;
BEGIN
    SELECT en.* INTO e FROM enrollment en JOIN referral r ON r.id = en.referral_id
     WHERE r.source_id = src AND r.referral_id = lower(ref);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM program WHERE name = e.program FOR UPDATE;
    SELECT * INTO e FROM enrollment WHERE id = e.id FOR UPDATE;
    RETURN e;
END $$;

-- Apply one change (intake_completed, in_the_wind, re_engaged, exited) to
-- the enrollment of referral (src, ref), as `actor`, at `at` (NULL = now).
-- Returns {"reply": ...} or {"error", "message", "errors"?}. The same change
-- as the enrollment's latest one (same reason) is answered replayed.
CREATE FUNCTION enrollment_change(src text, ref text, change text, reason text, at timestamptz, actor text)
    RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    e enrollment;
    latest enrollment_event;
    target text;
    from_status text;
BEGIN
    e := s_enrollment_locked(src, ref);
    IF e.id IS NULL THEN
        RETURN s_refusal('not_found', 'no enrollment for this referral');
    END IF;
    SELECT * INTO latest FROM enrollment_event WHERE enrollment_id = e.id ORDER BY id DESC LIMIT 1;
    IF latest.change = change AND latest.reason IS NOT DISTINCT FROM reason THEN
        RETURN jsonb_build_object('reply', s_enrollment_reply(e, true));
    END IF;
    target := CASE change WHEN 'intake_completed' THEN 'active' WHEN 'in_the_wind' THEN 'in_the_wind'
                          WHEN 're_engaged' THEN 'active' WHEN 'exited' THEN 'exited' END;
    from_status := CASE change WHEN 'intake_completed' THEN 'pending_intake' WHEN 'in_the_wind' THEN 'active'
                               WHEN 're_engaged' THEN 'in_the_wind' END;
    IF target IS NULL THEN
        RETURN s_refusal('invalid', 'must be intake_completed, in_the_wind, re_engaged or exited', 'change');
    END IF;
    IF e.status = 'exited' OR (from_status IS NOT NULL AND e.status <> from_status) THEN
        RETURN s_refusal('conflict', format('the enrollment is %s: %s is not possible %s', e.status, change,
            CASE WHEN e.status = 'exited' THEN 'after it exited'
                 ELSE format('(only from %s)', from_status) END));
    END IF;
    IF (change = 'exited') <> (reason IS NOT NULL) THEN
        RETURN s_refusal('invalid', 'required when change is exited, and only then', 'reason');
    END IF;
    IF at IS NULL THEN
        at := now();
    ELSIF at > now() + interval '60 seconds' THEN
        RETURN s_refusal('invalid', 'in the future', 'at');
    ELSIF at > now() THEN
        at := now();                        -- a clock a little ahead of ours
    END IF;
    IF at < e.enrolled_at THEN
        RETURN s_refusal('invalid', 'before the referral was accepted', 'at');
    ELSIF at < latest.at THEN
        RETURN s_refusal('invalid', 'before the enrollment''s last change', 'at');
    END IF;
    PERFORM set_config('divert.actor', actor, true);
    UPDATE enrollment SET status = target, status_since = at,
                          exited_at = CASE WHEN target = 'exited' THEN at END,
                          exit_reason = CASE WHEN target = 'exited' THEN reason END
     WHERE id = e.id RETURNING * INTO e;
    IF target = 'exited' THEN
        UPDATE referral SET state = 'exited' WHERE id = e.referral_id;
    END IF;
    RETURN jsonb_build_object('reply', s_enrollment_reply(e, false));
END $$;

-- Move the open enrollment of referral (src, ref) to case manager cm, never
-- above the hard cap. Returns {"reply"} or {"error", "message"}.
CREATE FUNCTION enrollment_transfer(src text, ref text, cm text, actor text)
    RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    e enrollment;
    c case_manager;
    cap int;
    latest enrollment_event;
BEGIN
    e := s_enrollment_locked(src, ref);
    IF e.id IS NULL THEN
        RETURN s_refusal('not_found', 'no enrollment for this referral');
    END IF;
    SELECT * INTO c FROM case_manager WHERE id = cm FOR UPDATE;
    IF NOT FOUND THEN
        RETURN s_refusal('not_found', format('no case manager %s', cm));
    END IF;
    IF e.case_manager_id = cm THEN
        SELECT * INTO latest FROM enrollment_event WHERE enrollment_id = e.id ORDER BY id DESC LIMIT 1;
        IF latest.change = 'transferred' AND latest.case_manager_id = cm THEN
            RETURN jsonb_build_object('reply', s_enrollment_reply(e, true));
        END IF;
        RETURN s_refusal('conflict', format('the enrollment is already with %s', cm));
    END IF;
    IF e.status = 'exited' THEN
        RETURN s_refusal('conflict', 'the enrollment is exited: only an open enrollment can be transferred');
    END IF;
    IF c.program <> e.program THEN
        RETURN s_refusal('conflict', format('case manager %s is in %s, not %s', cm, c.program, e.program));
    END IF;
    IF NOT c.active THEN
        RETURN s_refusal('conflict', format('case manager %s is not active', cm));
    END IF;
    SELECT hard_cap INTO cap FROM program WHERE name = e.program;
    IF c.caseload >= cap THEN
        RETURN s_refusal('conflict', format('case manager %s is at the hard cap (%s)', cm, cap));
    END IF;
    PERFORM set_config('divert.actor', actor, true);
    UPDATE enrollment SET case_manager_id = cm WHERE id = e.id RETURNING * INTO e;
    RETURN jsonb_build_object('reply', s_enrollment_reply(e, false));
END $$;

-- ---------------------------------------------------------------------------
-- The cms requests (a key sees only its programs: anything else not_found)

-- (SQL functions: parameters by number, so no column can shadow one.)
CREATE FUNCTION s_cms_may(key_id text, prog text) RETURNS boolean LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    SELECT EXISTS (SELECT 1 FROM cms c JOIN cms_program cp ON cp.cms_id = c.id
                    WHERE c.id = $1 AND c.revoked_at IS NULL AND cp.program = $2)
$$;

-- The program of referral (src, ref)'s enrollment, when the key may see it.
CREATE FUNCTION s_cms_enrollment_program(key_id text, src text, ref text) RETURNS text LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    SELECT e.program FROM enrollment e JOIN referral r ON r.id = e.referral_id
     WHERE r.source_id = $2 AND r.referral_id = lower($3) AND s_cms_may($1, e.program)
$$;

CREATE FUNCTION cms_enrollment(cms_id text, src text, ref text, change text, reason text, at timestamptz)
    RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    IF s_cms_enrollment_program(cms_id, src, ref) IS NULL THEN
        RETURN s_refusal('not_found', 'no enrollment for this referral in this key''s programs');
    END IF;
    RETURN enrollment_change(src, ref, change, reason, at, 'cms:' || cms_id);
END $$;

CREATE FUNCTION cms_transfer(cms_id text, src text, ref text, cm text)
    RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    IF s_cms_enrollment_program(cms_id, src, ref) IS NULL THEN
        RETURN s_refusal('not_found', 'no enrollment for this referral in this key''s programs');
    END IF;
    RETURN enrollment_transfer(src, ref, cm, 'cms:' || cms_id);
END $$;

-- The program's feed after since_seq, at most lim events. Each `assigned`
-- event carries the referral as submitted and its intake due date, and each
-- such delivery of personal data is recorded in disclosure.
CREATE FUNCTION cms_enrollments(cms_id text, prog text, since bigint, lim int)
    RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    ev enrollment_event;
    wire jsonb;
    events jsonb := '[]';
    next_seq bigint := since;
    taken int := 0;
    more boolean := false;
    r referral;
BEGIN
    IF NOT s_cms_may(cms_id, prog) THEN
        RETURN s_refusal('not_found', 'no such program for this key');
    END IF;
    FOR ev IN SELECT * FROM enrollment_event WHERE program = prog AND seq > since ORDER BY seq LIMIT lim + 1 LOOP
        IF taken >= lim THEN
            more := true;
            EXIT;
        END IF;
        wire := enrollment_event_wire(ev);
        IF ev.change = 'assigned' THEN
            SELECT * INTO r FROM referral WHERE id = ev.referral_id;
            wire := wire || jsonb_build_object(
                'referral', (SELECT jsonb_object_agg(k, v) FROM jsonb_each(r.payload) AS x(k, v)
                              WHERE k IN ('pathway', 'submitted_at', 'person', 'area', 'housing',
                                          'behavioral_health', 'offense', 'contact', 'notes')),
                'intake_due', (SELECT s_rfc3339(e.intake_due_at) FROM enrollment e WHERE e.id = ev.enrollment_id));
            INSERT INTO disclosure (actor_kind, actor_id, referral_id, what)
            VALUES ('cms', cms_id, ev.referral_id, 'referral');
        END IF;
        events := events || jsonb_build_array(wire);
        next_seq := ev.seq;
        taken := taken + 1;
    END LOOP;
    RETURN jsonb_build_object('v', 1, 'type', 'enrollments', 'program', prog, 'events', events,
                              'next_seq', next_seq, 'more', more);
END $$;

-- The program's open caseload, without personal data, at a feed position:
-- one statement, so one snapshot (the seq and the caseload agree).
CREATE FUNCTION cms_caseload(cms_id text, prog text)
    RETURNS jsonb LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    IF NOT s_cms_may(cms_id, prog) THEN
        RETURN s_refusal('not_found', 'no such program for this key');
    END IF;
    RETURN (SELECT jsonb_build_object('v', 1, 'type', 'caseload', 'program', prog,
        'seq', COALESCE((SELECT f.last_seq FROM enrollment_feed f WHERE f.program = prog), 0),
        'case_managers', COALESCE((SELECT jsonb_agg(jsonb_build_object(
            'id', c.id, 'name', c.name, 'active', c.active,
            'enrollments', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'source_id', r.source_id, 'referral_id', r.referral_id, 'status', e.status,
                    'since', s_rfc3339(e.status_since)) ORDER BY e.id)
                FROM enrollment e JOIN referral r ON r.id = e.referral_id
                WHERE e.case_manager_id = c.id AND e.status <> 'exited'), '[]')) ORDER BY c.id)
            FROM case_manager c
           WHERE c.program = prog AND (c.active OR c.caseload > 0)), '[]')));
END $$;

-- ---------------------------------------------------------------------------
-- Who may do what (004's roles)

REVOKE ALL ON cms, cms_program, enrollment_feed, enrollment_event, disclosure FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA divert FROM PUBLIC;
GRANT SELECT (id, public_key, revoked_at) ON cms TO divert_daemon;
GRANT SELECT ON cms_program TO divert_daemon;
GRANT EXECUTE ON FUNCTION enrollment_feed_after(jsonb, int), cms_enrollment(text, text, text, text, text, timestamptz),
    cms_transfer(text, text, text, text), cms_enrollments(text, text, bigint, int), cms_caseload(text, text)
    TO divert_daemon;
GRANT SELECT, INSERT, UPDATE ON cms TO divert_operator;
GRANT SELECT, INSERT, DELETE ON cms_program TO divert_operator;
GRANT SELECT ON enrollment_event, enrollment_feed TO divert_operator;
GRANT SELECT ON disclosure TO divert_operator;
GRANT EXECUTE ON FUNCTION enrollment_change(text, text, text, text, timestamptz, text),
    enrollment_transfer(text, text, text, text) TO divert_operator;
-- The operator's enrollment changes go through enrollment_change/transfer
-- (which keep the transition table and the feed's actor): no direct UPDATE.
REVOKE UPDATE ON enrollment FROM divert_operator;
