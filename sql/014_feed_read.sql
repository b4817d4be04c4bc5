-- 014_feed_read.sql — the enrollment feed read by divertd after every batch
-- that changed an enrollment (012's enrollment_feed_after) looks only at the
-- programs that have new events. 012's probed every program's events (one
-- index lookup each): with 100 programs that was 0.9 ms per batch on the
-- store's connection, before it could take the next batch (make bench
-- BENCH_PROFILE=1 BENCH_PROFILE_SCENARIO=cms2000 BENCH_PROFILE_LOAD=idle).
--
-- The same answer as 012's: positions gets, for each program, the last seq
-- handed out (or, for a program new to positions, its current last seq: it
-- is followed from now on), and events the next `lim` events in (program,
-- seq) order, each with its wire form (s_enrollment_event_json, 012) and
-- whether this connection's divert.actor made it.

CREATE OR REPLACE FUNCTION enrollment_feed_after(positions jsonb, lim int) RETURNS jsonb LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    me text := NULLIF(current_setting('divert.actor', true), '');
    result jsonb;
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
    SELECT jsonb_build_object(
        'positions', positions
            || COALESCE((SELECT jsonb_object_agg(f.program, f.at_seq) FROM f WHERE NOT positions ? f.program), '{}')
            || COALESCE((SELECT jsonb_object_agg(m.program, m.seq)
                           FROM (SELECT t.program, max(t.seq) AS seq FROM taken t GROUP BY t.program) m), '{}'),
        'events', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                          'topic', 'enrollment.' || t.program,
                          'event', s_enrollment_event_json(t::enrollment_event, r.source_id, r.referral_id),
                          'own', me IS NOT NULL AND t.actor = me) ORDER BY t.program, t.seq)
                              FROM taken t CROSS JOIN LATERAL (SELECT x.source_id, x.referral_id FROM referral x
                                                                WHERE x.id = t.referral_id LIMIT 1) r), '[]'),
        'more', EXISTS (SELECT 1 FROM ev WHERE ev.n > lim))
      INTO result;
    RETURN result;
END $$;
