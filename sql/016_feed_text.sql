-- 016_feed_text.sql — the enrollment feed's page built as json text, not
-- jsonb (and one program's case managers read without a dead argument). divertd reads a page after every burst of its own accepts (store.c,
-- S_FEED_MS) and parses it as text anyway; building each event as jsonb
-- (sorted, binary, then printed) was 7 ms for a page of 250 events, as json
-- 3-4 ms (make bench BENCH_PROFILE=1, and the same page timed in psql). The
-- events carry the same keys and values; as with any JSON, the order of the
-- keys is not part of the wire contract (protocol.md).
--
--   s_enrollment_event_text  the wire form of an enrollment event: the one home
--                   of its keys (012's s_enrollment_event_json, the jsonb form
--                   the case-management replies use, now converts it).
--   enrollment_feed_after    014's page, built with it, returning json.
--   program_case_managers    one program's, without 008's dead argument (below).

CREATE FUNCTION s_enrollment_event_text(ev enrollment_event, source_id text, referral_id text) RETURNS json
    LANGUAGE sql STABLE AS $$
    SELECT json_strip_nulls(json_build_object(
        'v', 1, 'type', 'enrollment_event', 'program', ev.program, 'seq', ev.seq,
        'source_id', source_id, 'referral_id', referral_id, 'change', ev.change,
        'status', ev.status, 'case_manager', ev.case_manager_id,
        'from_case_manager', ev.from_case_manager_id, 'reason', ev.reason, 'at', divert.s_rfc3339(ev.at)))
$$;
REVOKE EXECUTE ON FUNCTION s_enrollment_event_text(enrollment_event, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION s_enrollment_event_json(ev enrollment_event, source_id text, referral_id text)
    RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT divert.s_enrollment_event_text(ev, source_id, referral_id)::jsonb
$$;

-- 014's page (the events after `positions`, at most `lim`, with "own" on
-- each: made by this connection's divert.actor), unchanged but for the type.
DROP FUNCTION enrollment_feed_after(jsonb, int);
CREATE FUNCTION enrollment_feed_after(positions jsonb, lim int) RETURNS json LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    me text := NULLIF(current_setting('divert.actor', true), '');
    result json;
BEGIN
    WITH f AS (
        SELECT f.program, f.last_seq, COALESCE((positions ->> f.program)::bigint, f.last_seq) AS at_seq
          FROM enrollment_feed f),
    ev AS (
        SELECT e, row_number() OVER (ORDER BY e.program, e.seq) AS n
          FROM f CROSS JOIN LATERAL (SELECT * FROM enrollment_event x WHERE x.program = f.program AND x.seq > f.at_seq
                                      ORDER BY x.seq LIMIT lim + 1) e
         WHERE f.last_seq > f.at_seq),
    taken AS (SELECT (ev.e).* FROM ev WHERE ev.n <= lim)
    SELECT json_build_object(
        'positions', positions
            || COALESCE((SELECT jsonb_object_agg(f.program, f.at_seq) FROM f WHERE NOT positions ? f.program), '{}')
            || COALESCE((SELECT jsonb_object_agg(m.program, m.seq)
                           FROM (SELECT t.program, max(t.seq) AS seq FROM taken t GROUP BY t.program) m), '{}'),
        'events', COALESCE((SELECT json_agg(json_build_object(
                          'topic', 'enrollment.' || t.program,
                          'event', s_enrollment_event_text(t::enrollment_event, r.source_id, r.referral_id),
                          'own', me IS NOT NULL AND t.actor = me) ORDER BY t.program, t.seq)
                              FROM taken t CROSS JOIN LATERAL (SELECT x.source_id, x.referral_id FROM referral x
                                                                WHERE x.id = t.referral_id LIMIT 1) r), '[]'),
        'more', EXISTS (SELECT 1 FROM ev WHERE ev.n > lim))
      INTO result;
    RETURN result;
END $$;
REVOKE EXECUTE ON FUNCTION enrollment_feed_after(jsonb, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enrollment_feed_after(jsonb, int) TO divert_daemon;

-- One program's active case managers, for the daemon's cache (cache.c reads
-- them only when program_lock's staff_version is not the cache's, one program
-- at a time since 015): (id, name, caseload, last_assigned_us, staff_version)
-- in id order; a program with none is one row with id NULL, for the version.
-- Replaces 008's form, whose list of programs and staff versions already
-- known nobody passes any more.
DROP FUNCTION program_case_managers(text[], jsonb);
CREATE FUNCTION program_case_managers(prog text)
    RETURNS TABLE (id text, name text, caseload int, last_assigned_us bigint, staff_version bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT c.id, c.name, c.caseload, COALESCE((extract(epoch FROM c.last_assigned_at) * 1000000)::bigint, 0),
           s.staff_version
      FROM program_stat s LEFT JOIN case_manager c ON c.program = s.program AND c.active
     WHERE s.program = prog
     ORDER BY c.id;
END $$;
REVOKE EXECUTE ON FUNCTION program_case_managers(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION program_case_managers(text) TO divert_daemon;
