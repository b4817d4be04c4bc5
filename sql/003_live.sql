-- 003_live.sql — live capacity (policy.md §1 and §5): notifications when
-- capacity can have changed, the life of enrollments and waitlist entries
-- over time (terms ending, intakes lapsing, entries expiring), promotion from
-- the waitlist, and withdrawal.
--
-- Every capacity-freeing change, whoever makes it (divertctl, an operator's
-- SQL, another daemon), signals NOTIFY divert_capacity with the program's
-- name. divertd LISTENs, and also re-checks on a timer and after every
-- reconnect, so a lost notification delays a promotion but never loses one.
-- One maintenance pass is one transaction holding every program's row lock
-- (as intake does), so with several daemons each entry is promoted once.

SET LOCAL search_path = divert, pg_catalog;

CREATE FUNCTION s_notify_capacity() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
BEGIN
    IF TG_TABLE_NAME = 'enrollment' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('divert_capacity', OLD.program);
        ELSIF (NEW.status = 'exited' AND OLD.status <> 'exited')
           OR NEW.case_manager_id <> OLD.case_manager_id THEN
            PERFORM pg_notify('divert_capacity', NEW.program);
        END IF;
    ELSIF TG_TABLE_NAME = 'case_manager' THEN
        IF TG_OP = 'INSERT' THEN
            PERFORM pg_notify('divert_capacity', NEW.program);
        ELSIF NEW.active IS DISTINCT FROM OLD.active OR NEW.program IS DISTINCT FROM OLD.program THEN
            PERFORM pg_notify('divert_capacity', NEW.program);
        END IF;
    ELSIF TG_TABLE_NAME = 'program' THEN
        PERFORM pg_notify('divert_capacity', NEW.name);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER enrollment_notify AFTER UPDATE OR DELETE ON enrollment
    FOR EACH ROW EXECUTE FUNCTION s_notify_capacity();
CREATE TRIGGER case_manager_notify AFTER INSERT OR UPDATE OF active, program ON case_manager
    FOR EACH ROW EXECUTE FUNCTION s_notify_capacity();
CREATE TRIGGER program_notify AFTER UPDATE ON program
    FOR EACH ROW EXECUTE FUNCTION s_notify_capacity();

-- The event item for a referral's later decision (no intake fields).
CREATE FUNCTION s_later(r referral, decision text, reason text, cm text, score int) RETURNS jsonb
    LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('decision', decision, 'reason', reason, 'program', r.program,
                              'case_manager', cm, 'tier', r.tier, 'score', COALESCE(score, r.score))
$$;

CREATE FUNCTION s_published(ev decision_event) RETURNS jsonb LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    SELECT jsonb_build_object('reply', ev.reply, 'event', event_wire(ev), 'topic', event_topic(ev.source_id))
$$;

-- Time-driven changes, due now: Co-LEAD terms that ended (the slot frees),
-- intakes not completed within the intake window (lapsed, the referrer is
-- told), waitlist entries past their time-to-live (declined). Returns the
-- events to publish after COMMIT.
CREATE FUNCTION lifecycle(decided_by text) RETURNS jsonb LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    out jsonb := '[]';
    e enrollment;
    w waitlist_entry;
    r referral;
    ev decision_event;
BEGIN
    PERFORM 1 FROM program ORDER BY name FOR UPDATE;
    FOR e IN UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = 'term_ended'
              WHERE status <> 'exited' AND ends_at <= now() RETURNING * LOOP
        UPDATE referral SET state = 'exited' WHERE id = e.referral_id;
    END LOOP;
    FOR e IN UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = 'intake_lapsed'
              WHERE status = 'pending_intake' AND intake_due_at <= now() RETURNING * LOOP
        UPDATE referral SET state = 'lapsed' WHERE id = e.referral_id RETURNING * INTO r;
        ev := s_append_event(r.source_id, r.id, s_later(r, 'lapsed', 'intake_lapsed', NULL, NULL), false, decided_by);
        out := out || jsonb_build_array(s_published(ev));
    END LOOP;
    FOR w IN UPDATE waitlist_entry SET state = 'expired', closed_at = now()
              WHERE state = 'open' AND expires_at <= now() RETURNING * LOOP
        FOR r IN UPDATE referral SET state = 'declined'
                  WHERE waitlist_entry_id = w.id AND state = 'waitlisted' RETURNING * LOOP
            ev := s_append_event(r.source_id, r.id, s_later(r, 'decline', 'waitlist_expired', NULL, NULL), false, decided_by);
            out := out || jsonb_build_array(s_published(ev));
        END LOOP;
    END LOOP;
    RETURN out;
END $$;

-- Promotions decided by the daemon: items [{"entry_id", "case_manager",
-- "aging", "capacity", "policy_version"}]. Each entry becomes one enrollment
-- (for the referral that opened it) and one accept event, reason
-- accepted_from_waitlist, for every referral linked to it; each event's score
-- is that referral's intake components plus the aging points it earned.
CREATE FUNCTION batch_promote(batch jsonb) RETURNS jsonb LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    it jsonb;
    out jsonb := '[]';
    w waitlist_entry;
    r referral;
    prog program;
    ev decision_event;
    components jsonb;
BEGIN
    FOR it IN SELECT jsonb_array_elements(batch -> 'items') LOOP
        UPDATE waitlist_entry SET state = 'promoted', closed_at = now()
         WHERE id = (it ->> 'entry_id')::bigint AND state = 'open' RETURNING * INTO w;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'divert: waitlist entry % is no longer open', it ->> 'entry_id'
                USING ERRCODE = 'serialization_failure';
        END IF;
        SELECT * INTO prog FROM program WHERE name = w.program;
        INSERT INTO enrollment (referral_id, person_id, program, case_manager_id, intake_due_at, ends_at)
        VALUES (w.referral_id, w.person_id, w.program, it ->> 'case_manager',
                now() + prog.intake_window, now() + prog.term);
        FOR r IN UPDATE referral SET state = 'accepted'
                  WHERE waitlist_entry_id = w.id AND state = 'waitlisted' RETURNING * LOOP
            components := COALESCE((SELECT e.components FROM decision_event e WHERE e.referral_id = r.id
                                     ORDER BY e.id LIMIT 1), '{}') || jsonb_build_object('aging', it -> 'aging');
            ev := s_append_event(r.source_id, r.id,
                    s_later(r, 'accept', 'accepted_from_waitlist', it ->> 'case_manager',
                            least(100, r.score + (it ->> 'aging')::int))
                    || jsonb_build_object('components', components, 'capacity', it -> 'capacity',
                                          'policy_version', it -> 'policy_version'),
                    true, batch ->> 'decided_by');
            out := out || jsonb_build_array(s_published(ev));
        END LOOP;
    END LOOP;
    RETURN out;
END $$;

-- withdraw: the submitting source takes back its own referral, waitlisted or
-- accepted and still pending intake. Returns {"error": code, "message"} or
-- the published decision (decision withdrawn).
CREATE FUNCTION withdraw(src text, ref text, decided_by text) RETURNS jsonb LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    r referral;
    e enrollment;
    next_primary bigint;
    ev decision_event;
BEGIN
    PERFORM 1 FROM program ORDER BY name FOR UPDATE;
    SELECT * INTO r FROM referral WHERE source_id = src AND referral_id = lower(ref) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', 'not_found', 'message', 'no referral with this referral_id from this source');
    END IF;
    IF r.state = 'waitlisted' THEN
        UPDATE referral SET state = 'withdrawn' WHERE id = r.id;
        SELECT min(id) INTO next_primary FROM referral
         WHERE waitlist_entry_id = r.waitlist_entry_id AND state = 'waitlisted';
        IF next_primary IS NULL THEN
            UPDATE waitlist_entry SET state = 'withdrawn', closed_at = now() WHERE id = r.waitlist_entry_id;
        ELSE    -- another referral is linked to the same entry: it stays, for that one
            UPDATE waitlist_entry SET referral_id = next_primary
             WHERE id = r.waitlist_entry_id AND referral_id = r.id;
        END IF;
    ELSIF r.state = 'accepted' THEN
        SELECT * INTO e FROM enrollment WHERE referral_id = r.id;
        IF NOT FOUND OR e.status <> 'pending_intake' THEN
            RETURN jsonb_build_object('error', 'conflict', 'message',
                'only a waitlisted referral, or an accepted one still pending intake, can be withdrawn');
        END IF;
        UPDATE enrollment SET status = 'exited', exited_at = now(), exit_reason = 'withdrawn' WHERE id = e.id;
        UPDATE referral SET state = 'withdrawn' WHERE id = r.id;
    ELSE
        RETURN jsonb_build_object('error', 'conflict', 'message',
            'only a waitlisted referral, or an accepted one still pending intake, can be withdrawn');
    END IF;
    ev := s_append_event(src, r.id, s_later(r, 'withdrawn', 'withdrawn', NULL, NULL), false, decided_by);
    RETURN s_published(ev);
END $$;
