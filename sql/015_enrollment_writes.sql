-- 015_enrollment_writes.sql — the work every new enrollment sets off, done
-- with less: the same rules and the same rows as 008's triggers, cheaper on
-- the path every accepted referral takes (make bench BENCH_PROFILE=1: the
-- INSERT of a batch's enrollments was a third of record()'s time).
--
--   s_feed_append   takes the changes as an array of a row type (feed_change)
--                   instead of jsonb: nothing built as JSON and parsed again,
--                   one pg_notify statement instead of a loop. The seq rule
--                   (the next seq of each program, in (program, enrollment)
--                   order, taken under the program's feed row) is unchanged.
--   s_enrollment_feed  builds that array from the transition tables.
--   s_enrollment_caseload  on INSERT: one statement raises the caseloads of
--                   the case managers that are in the enrollment's program
--                   and active, and only when some row found none of those
--                   (a wrong program, an inactive case manager) does it look
--                   for which, with 008's messages. UPDATE and DELETE are 008's.
--   program_lock    also returns the staff version (below).

CREATE TYPE feed_change AS (
    program              text,
    enrollment_id        bigint,
    referral_id          bigint,
    change               text,
    status               text,
    case_manager_id      text,
    from_case_manager_id text,
    reason               text,
    at                   timestamptz
);

DROP FUNCTION s_feed_append(jsonb);
CREATE FUNCTION s_feed_append(changes feed_change[]) RETURNS void LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    actor text := COALESCE(NULLIF(current_setting('divert.actor', true), ''), 'sql:' || session_user);
BEGIN
    WITH c AS (
        SELECT x.*, row_number() OVER (PARTITION BY x.program ORDER BY x.enrollment_id) AS k
          FROM unnest(changes) AS x),
    n AS (SELECT c.program, count(*) AS cnt FROM c GROUP BY c.program),
    f AS (INSERT INTO enrollment_feed AS f (program, last_seq)
          SELECT n.program, n.cnt FROM n ORDER BY n.program
          ON CONFLICT (program) DO UPDATE SET last_seq = f.last_seq + EXCLUDED.last_seq
          RETURNING f.program, f.last_seq)
    INSERT INTO enrollment_event (program, seq, enrollment_id, referral_id, change, status, case_manager_id,
                                  from_case_manager_id, reason, at, actor)
    SELECT c.program, f.last_seq - n.cnt + c.k, c.enrollment_id, c.referral_id, c.change, c.status,
           c.case_manager_id, c.from_case_manager_id, c.reason, c.at, actor
      FROM c JOIN n ON n.program = c.program JOIN f ON f.program = c.program;
    PERFORM pg_notify('divert_enrollment', p.program)
       FROM (SELECT DISTINCT x.program FROM unnest(changes) AS x ORDER BY x.program) p;
END $$;
REVOKE EXECUTE ON FUNCTION s_feed_append(feed_change[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION s_enrollment_feed() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    changes feed_change[];
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(ROW(n.program, n.id, n.referral_id, 'assigned', n.status, n.case_manager_id,
                             NULL, NULL, n.status_since)::feed_change)
          INTO changes FROM new_rows n;
    ELSE
        SELECT o.status AS old_status, n.status AS new_status, o.id INTO bad
          FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE n.program <> o.program OR n.referral_id <> o.referral_id
            OR (n.case_manager_id <> o.case_manager_id AND (n.status <> o.status OR o.status = 'exited'))
            OR (n.status <> o.status AND NOT (
                   (o.status <> 'exited' AND n.status = 'exited')
                OR (o.status = 'pending_intake' AND n.status = 'active')
                OR (o.status = 'active' AND n.status = 'in_the_wind')
                OR (o.status = 'in_the_wind' AND n.status = 'active')))
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'divert: an enrollment can''t go from % to % (or change program, referral, or case manager with its status)',
                bad.old_status, bad.new_status USING ERRCODE = 'check_violation';
        END IF;
        SELECT array_agg(ROW(n.program, n.id, n.referral_id,
                   CASE WHEN n.case_manager_id <> o.case_manager_id THEN 'transferred'
                        WHEN n.status = 'exited' THEN 'exited'
                        WHEN o.status = 'pending_intake' THEN 'intake_completed'
                        WHEN n.status = 'in_the_wind' THEN 'in_the_wind'
                        ELSE 're_engaged' END,
                   n.status, n.case_manager_id,
                   CASE WHEN n.case_manager_id <> o.case_manager_id THEN o.case_manager_id END,
                   CASE WHEN n.status = 'exited' THEN n.exit_reason END,
                   CASE WHEN n.case_manager_id <> o.case_manager_id THEN clock_timestamp() ELSE n.status_since END
                   )::feed_change)
          INTO changes
          FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE n.case_manager_id <> o.case_manager_id OR n.status <> o.status;
    END IF;
    IF changes IS NOT NULL THEN
        PERFORM s_feed_append(changes);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION s_enrollment_caseload() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    cms text[];
    programs text[];
    deltas int[];
    wanted int;
    raised int;
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH d AS (SELECT n.case_manager_id AS cm, n.program, count(*)::int AS net
                     FROM new_rows n WHERE n.status <> 'exited' GROUP BY n.case_manager_id, n.program),
        u AS (UPDATE case_manager c SET caseload = c.caseload + d.net, last_assigned_at = now()
                FROM d WHERE c.id = d.cm AND c.program = d.program AND c.active
              RETURNING c.id)
        SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM u) INTO wanted, raised;
        IF wanted = raised THEN
            RETURN NULL;
        END IF;
        -- Some row's case manager is in another program or inactive: which
        -- (below; the caseloads raised are undone with the statement)
        SELECT array_agg(n.case_manager_id), array_agg(n.program), array_agg(1) INTO cms, programs, deltas
          FROM new_rows n WHERE n.status <> 'exited';
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(x.cm), array_agg(x.program), array_agg(x.delta) INTO cms, programs, deltas FROM (
            SELECT o.case_manager_id AS cm, o.program, -1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id
             WHERE o.status <> 'exited' AND NOT (n.status <> 'exited' AND n.case_manager_id = o.case_manager_id)
            UNION ALL
            SELECT n.case_manager_id, n.program, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
             WHERE n.status <> 'exited' AND NOT (o.status <> 'exited' AND n.case_manager_id = o.case_manager_id)) x;
    ELSE
        SELECT array_agg(o.case_manager_id), array_agg(o.program), array_agg(-1) INTO cms, programs, deltas
          FROM old_rows o WHERE o.status <> 'exited';
    END IF;
    IF cms IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT d.cm, d.program, c.program AS cm_program INTO bad
      FROM unnest(cms, programs, deltas) AS d(cm, program, delta) JOIN case_manager c ON c.id = d.cm
     WHERE d.delta > 0 AND (c.program <> d.program OR NOT c.active)
     LIMIT 1;
    IF FOUND AND bad.cm_program <> bad.program THEN
        RAISE EXCEPTION 'divert: case manager % is in program %, not %', bad.cm, bad.cm_program, bad.program
            USING ERRCODE = 'check_violation';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'divert: case manager % is not active', bad.cm
            USING ERRCODE = 'check_violation';
    ELSIF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'divert: a new enrollment''s case manager was not found' USING ERRCODE = 'check_violation';
    END IF;
    UPDATE case_manager c
       SET caseload = c.caseload + d.net,
           last_assigned_at = CASE WHEN d.gained THEN now() ELSE c.last_assigned_at END
      FROM (SELECT x.cm, sum(x.delta)::int AS net, bool_or(x.delta > 0) AS gained
              FROM unnest(cms, deltas) AS x(cm, delta) GROUP BY x.cm) d
     WHERE c.id = d.cm AND (d.net <> 0 OR d.gained);
    RETURN NULL;
END $$;

-- program_lock also returns each program's staff version, read under the
-- lock as the waitlist version is: divertd reads a program's case managers
-- again (program_case_managers) only when it is not the cache's, instead of
-- asking program_case_managers in every batch's first round trip.
DROP FUNCTION program_lock(text[]);
CREATE FUNCTION program_lock(programs text[])
    RETURNS TABLE (name text, policy_version int, waitlist_open int, waitlist_version bigint,
                   generation bigint, now_us bigint, staff_version bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    PERFORM 1 FROM program p WHERE p.name = ANY (programs) ORDER BY p.name FOR UPDATE;
    RETURN QUERY
        SELECT p.name, p.policy_version, s.waitlist_open, s.waitlist_version,
               (SELECT g.n FROM policy_generation g), s_us(now()), s.staff_version
          FROM program p JOIN program_stat s ON s.program = p.name
         WHERE p.name = ANY (programs) ORDER BY p.name;
END $$;
REVOKE EXECUTE ON FUNCTION program_lock(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION program_lock(text[]) TO divert_daemon;
