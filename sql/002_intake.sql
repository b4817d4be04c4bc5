-- 002_intake.sql — the data side of divertd's intake batches.
--
-- divertd decides in C (common/dv_policy.c, daemon/decide.c); PostgreSQL
-- holds the truth and the locks. One batch of referrals is one transaction:
--
--   BEGIN;
--   SELECT divert.batch_begin($keys);    -- lock programs, read policy, caseloads,
--                                        -- waitlists, sources, prior referrals, persons
--   ... C decides every referral against that snapshot ...
--   SELECT divert.batch_record($items);  -- write referrals, enrollments, waitlist,
--                                        -- events (with per-source seq); returns replies
--   COMMIT;
--
-- Locking every program row FOR UPDATE at the start serializes intake across
-- daemons sharing the database, so a snapshot can't go stale before it is
-- written; the enrollment triggers of 001 check the hard cap regardless.

SET LOCAL search_path = divert, pg_catalog;

ALTER TABLE referral ADD COLUMN score int;       -- the priority score at intake

-- Microseconds since the epoch, the time unit between C and SQL.
CREATE FUNCTION s_us(t timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

-- RFC 3339 in UTC with milliseconds, as on the wire.
CREATE FUNCTION s_rfc3339(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- The wire form of one event (protocol.md "Events"), without personal data.
-- (These helpers are PL/pgSQL rather than SQL: their plans are cached for the
-- session instead of being made again on every call.)
CREATE FUNCTION event_wire(e decision_event) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN jsonb_build_object(
        'v', 1, 'type', 'event', 'source_id', e.source_id, 'seq', e.seq,
        'referral_id', (SELECT r.referral_id FROM referral r WHERE r.id = e.referral_id),
        'decision', e.decision, 'reason', e.reason, 'program', e.program,
        'tier', e.tier, 'from_waitlist', e.from_waitlist, 'at', s_rfc3339(e.at));
END $$;

CREATE FUNCTION event_topic(source_id text) RETURNS text LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN (SELECT 'decision.' || s.kind || '.' || s.id FROM source s WHERE s.id = event_topic.source_id);
END $$;

-- The decision reply (protocol.md "decision") as stored with its event, without
-- request_id (added per request when sent). The one place the reply is built:
-- intake, promotion, expiry, withdrawal and lapse all come through here.
CREATE FUNCTION s_reply(referral_uuid text, seq bigint, at timestamptz, decision text, reason text,
                        program text, cm text, tier int, score int, waitlist jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'v', 1, 'type', 'decision', 'referral_id', referral_uuid, 'seq', seq,
        'decision', decision, 'reason', reason, 'program', program,
        'case_manager', CASE WHEN decision = 'accept' AND cm IS NOT NULL THEN
                            (SELECT jsonb_build_object('id', c.id, 'name', c.name) FROM case_manager c WHERE c.id = cm) END,
        'priority', jsonb_build_object('tier', tier, 'score', score),
        'waitlist', CASE WHEN decision = 'waitlist' THEN waitlist END,
        'decided_at', s_rfc3339(at)))
        || jsonb_build_object('replayed', false);
END $$;

-- One program's policy and live capacity, as JSON for the daemon. Built as
-- json, not jsonb: it is only read once, by the daemon, and text JSON is
-- several times cheaper to build for hundreds of case managers.
CREATE FUNCTION s_program_snapshot(p program) RETURNS json LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN json_build_object(
        'policy', to_json(p),
        'waitlist_ttl_us', s_us('epoch'::timestamptz + p.waitlist_ttl),
        'cms', COALESCE((SELECT json_agg(json_build_object(
                    'id', c.id, 'name', c.name, 'caseload', c.caseload,
                    'last_assigned_us', COALESCE((extract(epoch FROM c.last_assigned_at) * 1000000)::bigint, 0))
                    ORDER BY c.id)
                 FROM case_manager c WHERE c.program = p.name AND c.active), '[]'),
        'waitlist', COALESCE((SELECT json_agg(json_build_object(
                    'id', w.id, 'tier', w.tier, 'score', w.score,
                    'received_us', (extract(epoch FROM w.received_at) * 1000000)::bigint) ORDER BY w.id)
                 FROM waitlist_entry w WHERE w.program = p.name AND w.state = 'open'), '[]'),
        'exits_90d', (SELECT count(*) FROM enrollment x
                       WHERE x.program = p.name AND x.exited_at > now() - interval '90 days'));
END $$;

-- keys: {"sources": [id...],
--        "referrals": [{"source": id, "referral_id": uuid}...],
--        "persons": [{"source": id, "spid": text|null, "last": text|null, "dob": "YYYY-MM-DD"|null}...]}
CREATE FUNCTION batch_begin(keys jsonb) RETURNS json LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    programs json;
BEGIN
    PERFORM 1 FROM program ORDER BY name FOR UPDATE;
    SELECT json_agg(s_program_snapshot(p) ORDER BY p.name) INTO programs FROM program p;
    RETURN json_build_object(
        'now_us', s_us(now()),
        'programs', programs,
        'sources', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                'id', s.id, 'kind', s.kind, 'revoked', s.revoked_at IS NOT NULL,
                'pathways', (SELECT jsonb_agg(pp.pathway) FROM pathway_permission pp WHERE pp.kind = s.kind)))
            FROM source s WHERE s.id IN (SELECT jsonb_array_elements_text(keys -> 'sources'))), '[]'),
        'referrals', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                'source', r.source_id, 'referral_id', r.referral_id, 'digest', r.digest,
                'first_reply', (SELECT e.reply FROM decision_event e WHERE e.referral_id = r.id ORDER BY e.id LIMIT 1)))
            FROM jsonb_to_recordset(keys -> 'referrals') AS k(source text, referral_id text)
            JOIN referral r ON r.source_id = k.source AND r.referral_id = k.referral_id), '[]'),
        'persons', COALESCE((SELECT jsonb_agg(s_person_lookup(k.source, k.spid, k.last, k.dob::date) ORDER BY k.ord)
            FROM ROWS FROM (jsonb_to_recordset(keys -> 'persons') AS (source text, spid text, last text, dob text))
                 WITH ORDINALITY AS k(source, spid, last, dob, ord)), '[]'));
END $$;

-- Everyone a referral may be about: the source's own person id, or the same
-- last name and date of birth from any source. Reports the first match and
-- whether any match is enrolled or waitlisted. (PL/pgSQL: its plans are
-- cached for the session, and each lookup is a plain index scan.)
CREATE FUNCTION s_person_lookup(src text, spid text, last text, dob date) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
DECLARE
    ids bigint[] := '{}';
BEGIN
    IF spid IS NOT NULL THEN
        ids := ids || ARRAY(SELECT p.id FROM person p WHERE p.source_id = src AND p.source_person_id = spid);
    END IF;
    IF last IS NOT NULL AND dob IS NOT NULL THEN
        ids := ids || ARRAY(SELECT p.id FROM person p WHERE p.last_name_key = lower(last) AND p.dob = s_person_lookup.dob);
    END IF;
    IF cardinality(ids) = 0 THEN
        RETURN jsonb_build_object('person_id', NULL, 'enrolled_program', NULL, 'waitlist', NULL);
    END IF;
    RETURN jsonb_build_object(
        'person_id', (SELECT min(i) FROM unnest(ids) i),
        'enrolled_program', (SELECT e.program FROM enrollment e
                              WHERE e.person_id = ANY (ids) AND e.status <> 'exited' LIMIT 1),
        'waitlist', (SELECT jsonb_build_object('id', w.id, 'program', w.program, 'tier', w.tier, 'score', w.score)
                       FROM waitlist_entry w WHERE w.person_id = ANY (ids) AND w.state = 'open' LIMIT 1));
END $$;

-- items: {"decided_by": text, "items": [{
--     "source", "referral_id", "person_id" (null = new person),
--     "person": {"spid", "first", "last", "dob"}, "pathway", "tier", "program",
--     "submitted_at", "payload", "digest", "decision", "reason",
--     "case_manager" (accept), "score", "components", "capacity", "policy_version",
--     "waitlist_link" (entry id, linked_to_pending), "waitlist_new" (bool),
--     "waitlist_expires_us", "waitlist" (the reply's {position, estimate, expires_at})}]}
-- Returns [{"reply": reply with seq and decided_at, "event": wire event, "topic": text}]
CREATE FUNCTION batch_record(batch jsonb) RETURNS jsonb LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
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
            INSERT INTO waitlist_entry (program, person_id, referral_id, tier, score, received_at, expires_at)
            VALUES (it ->> 'program', pid, rid, (it ->> 'tier')::int, (it ->> 'score')::int, now(),
                    to_timestamp((it ->> 'waitlist_expires_us')::bigint / 1000000.0))
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

-- Append one decision event with the source's next seq. The source row lock
-- taken by the UPDATE is held to COMMIT, so seq is gap-free and follows
-- commit order across every daemon on this database.
CREATE FUNCTION s_append_event(src text, rid bigint, it jsonb, from_waitlist boolean, decided_by text)
    RETURNS decision_event LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    next_seq bigint;
    at timestamptz := clock_timestamp();
    ev decision_event;
BEGIN
    UPDATE source SET last_seq = last_seq + 1 WHERE id = src RETURNING last_seq INTO next_seq;
    INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, program, case_manager_id,
                                tier, score, components, capacity, from_waitlist, policy_version,
                                decided_by, at, reply)
    VALUES (src, next_seq, rid, it ->> 'decision', it ->> 'reason', it ->> 'program',
            it ->> 'case_manager', (it ->> 'tier')::int, (it ->> 'score')::int, it -> 'components',
            it -> 'capacity', from_waitlist, (it ->> 'policy_version')::int, decided_by, at,
            s_reply((SELECT r.referral_id FROM referral r WHERE r.id = rid), next_seq, at,
                    it ->> 'decision', it ->> 'reason', it ->> 'program', it ->> 'case_manager',
                    (it ->> 'tier')::int, (it ->> 'score')::int, it -> 'waitlist'))
    RETURNING * INTO ev;
    RETURN ev;
END $$;
