-- 005_waitlist_ttl.sql — a waitlist entry expires under its program's
-- current time-to-live (policy.md §5): received_at + program.waitlist_ttl,
-- read whenever it matters, never fixed when the entry was made. Shortening
-- the TTL expires those now older than it; lengthening it keeps them.
--
-- The stored expires_at column goes; divert.waitlist_expires_at(entry) is
-- the one place the date is computed (lifecycle, the status reply,
-- divertctl waitlist and explain).

SET LOCAL search_path = divert, pg_catalog;

ALTER TABLE waitlist_entry DROP COLUMN expires_at;

CREATE FUNCTION waitlist_expires_at(w waitlist_entry) RETURNS timestamptz LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog
    AS $$ SELECT w.received_at + p.waitlist_ttl FROM program p WHERE p.name = w.program $$;

-- The latest decision on one of a source's referrals (the `status` request),
-- NULL when the source has no such referral. A referral still waiting has
-- its waitlist.expires_at under the current policy.
CREATE FUNCTION status_reply(src text, ref text) RETURNS jsonb LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    r referral;
    w waitlist_entry;
    reply jsonb;
BEGIN
    SELECT * INTO r FROM referral WHERE source_id = src AND referral_id = lower(ref);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT e.reply INTO reply FROM decision_event e WHERE e.referral_id = r.id ORDER BY e.id DESC LIMIT 1;
    IF r.state = 'waitlisted' AND reply ->> 'decision' = 'waitlist' AND reply ? 'waitlist' THEN
        SELECT * INTO w FROM waitlist_entry WHERE id = r.waitlist_entry_id AND state = 'open';
        IF FOUND THEN
            reply := jsonb_set(reply, '{waitlist,expires_at}', to_jsonb(s_rfc3339(waitlist_expires_at(w))));
        END IF;
    END IF;
    RETURN reply;
END $$;

-- As in 002, without the fixed expiry of a new waitlist entry.
CREATE OR REPLACE FUNCTION batch_record(batch jsonb) RETURNS jsonb LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    it jsonb;
    out jsonb := '[]';
    pid bigint;
    rid bigint;
    wid bigint;
    state text;
    ev decision_event;
    prog program;
BEGIN
    FOR it IN SELECT jsonb_array_elements(batch -> 'items') LOOP
        pid := (it ->> 'person_id')::bigint;
        IF pid IS NULL THEN
            INSERT INTO person (source_id, source_person_id, first_name, last_name, dob)
            VALUES (it ->> 'source', it #>> '{person,spid}', it #>> '{person,first}',
                    it #>> '{person,last}', (it #>> '{person,dob}')::date)
            RETURNING id INTO pid;
        END IF;
        state := CASE it ->> 'decision' WHEN 'accept' THEN 'accepted'
                                        WHEN 'waitlist' THEN 'waitlisted' ELSE 'declined' END;
        INSERT INTO referral (source_id, referral_id, person_id, pathway, tier, score, program,
                              submitted_at, payload, digest, state)
        VALUES (it ->> 'source', it ->> 'referral_id', pid, it ->> 'pathway', (it ->> 'tier')::int,
                (it ->> 'score')::int, it ->> 'program', (it ->> 'submitted_at')::timestamptz,
                it -> 'payload', it ->> 'digest', state)
        RETURNING id INTO rid;

        IF it ->> 'decision' = 'accept' THEN
            SELECT * INTO prog FROM program WHERE name = it ->> 'program';
            INSERT INTO enrollment (referral_id, person_id, program, case_manager_id, intake_due_at, ends_at)
            VALUES (rid, pid, prog.name, it ->> 'case_manager', now() + prog.intake_window, now() + prog.term);
        ELSIF (it ->> 'waitlist_new')::boolean THEN
            INSERT INTO waitlist_entry (program, person_id, referral_id, tier, score, received_at)
            VALUES (it ->> 'program', pid, rid, (it ->> 'tier')::int, (it ->> 'score')::int, now())
            RETURNING id INTO wid;
            UPDATE referral SET waitlist_entry_id = wid WHERE id = rid;
        ELSIF it ? 'waitlist_link' AND it ->> 'waitlist_link' IS NOT NULL THEN
            wid := (it ->> 'waitlist_link')::bigint;
            UPDATE waitlist_entry w
               SET tier = (it ->> 'tier')::int, score = (it ->> 'score')::int
             WHERE w.id = wid
               AND ((it ->> 'tier')::int < w.tier
                    OR ((it ->> 'tier')::int = w.tier AND (it ->> 'score')::int > w.score));
            UPDATE referral SET waitlist_entry_id = wid WHERE id = rid;
        END IF;

        ev := s_append_event(it ->> 'source', rid, it, false, batch ->> 'decided_by');
        out := out || jsonb_build_array(jsonb_build_object(
            'reply', ev.reply, 'event', event_wire(ev), 'topic', event_topic(ev.source_id)));
    END LOOP;
    RETURN out;
END $$;

-- As in 003, with expiry under the current time-to-live.
CREATE OR REPLACE FUNCTION lifecycle(decided_by text) RETURNS jsonb LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
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
    FOR w IN UPDATE waitlist_entry x SET state = 'expired', closed_at = now()
               FROM program p
              WHERE x.state = 'open' AND p.name = x.program AND x.received_at + p.waitlist_ttl <= now()
             RETURNING x.* LOOP
        FOR r IN UPDATE referral SET state = 'declined'
                  WHERE waitlist_entry_id = w.id AND state = 'waitlisted' RETURNING * LOOP
            ev := s_append_event(r.source_id, r.id, s_later(r, 'decline', 'waitlist_expired', NULL, NULL), false, decided_by);
            out := out || jsonb_build_array(s_published(ev));
        END LOOP;
    END LOOP;
    RETURN out;
END $$;

GRANT EXECUTE ON FUNCTION status_reply(text, text) TO divert_daemon;
REVOKE EXECUTE ON FUNCTION waitlist_expires_at(waitlist_entry), status_reply(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION waitlist_expires_at(waitlist_entry) TO divert_operator;
