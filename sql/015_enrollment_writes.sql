-- 015_enrollment_writes.sql — the work every new enrollment sets off, done
-- with less: the same rules and the same rows as 008's triggers, cheaper on
-- the path every accepted referral takes (make bench BENCH_PROFILE=1: the
-- INSERT of a batch's enrollments was a third of record()'s time).
--
--   s_feed_append   takes the changes as an array of a row type (feed_change)
--                   instead of jsonb: nothing built as JSON and parsed again,
--                   one pg_notify statement instead of a loop. The seq rule
--                   (the next seq of each program, in (program, enrollment)
--                   order, taken under the program's feed row) is unchanged
--                   and lives here now: 008's jsonb form, which 008's
--                   s_enrollment_feed still calls for UPDATEs, hands over.
--   The INSERT triggers get functions of their own, so 008's functions keep
--   serving UPDATE and DELETE unchanged (their INSERT branches no longer run):
--   s_enrollment_feed_insert  the new rows as `assigned` changes.
--   s_enrollment_caseload_insert  one statement raises the caseloads of the
--                   case managers that are in the enrollment's program and
--                   active; only when some row found none of those (another
--                   program, an inactive case manager) does it look for which,
--                   with 008's messages. The trigger names, and so the order
--                   the triggers fire in, are 008's.
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

CREATE OR REPLACE FUNCTION s_feed_append(changes jsonb) RETURNS void LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    PERFORM s_feed_append(ARRAY(SELECT jsonb_populate_recordset(NULL::feed_change, changes)));
END $$;

CREATE FUNCTION s_enrollment_feed_insert() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    PERFORM s_feed_append(ARRAY(
        SELECT ROW(n.program, n.id, n.referral_id, 'assigned', n.status, n.case_manager_id, NULL, NULL,
                   n.status_since)::feed_change FROM new_rows n));
    RETURN NULL;
END $$;
DROP TRIGGER enrollment_feed_insert ON enrollment;
CREATE TRIGGER enrollment_feed_insert AFTER INSERT ON enrollment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_feed_insert();

CREATE FUNCTION s_enrollment_caseload_insert() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    wanted int;
    raised int;
    bad record;
BEGIN
    WITH d AS (SELECT n.case_manager_id AS cm, n.program, count(*)::int AS net
                 FROM new_rows n WHERE n.status <> 'exited' GROUP BY n.case_manager_id, n.program),
    u AS (UPDATE case_manager c SET caseload = c.caseload + d.net, last_assigned_at = now()
            FROM d WHERE c.id = d.cm AND c.program = d.program AND c.active
          RETURNING c.id)
    SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM u) INTO wanted, raised;
    IF wanted = raised THEN
        RETURN NULL;
    END IF;
    -- Some row's case manager is in another program or inactive: which (the
    -- caseloads raised are undone with the statement)
    SELECT n.case_manager_id AS cm, n.program, c.program AS cm_program INTO bad
      FROM new_rows n JOIN case_manager c ON c.id = n.case_manager_id
     WHERE n.status <> 'exited' AND (c.program <> n.program OR NOT c.active)
     LIMIT 1;
    IF FOUND AND bad.cm_program <> bad.program THEN
        RAISE EXCEPTION 'divert: case manager % is in program %, not %', bad.cm, bad.cm_program, bad.program
            USING ERRCODE = 'check_violation';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'divert: case manager % is not active', bad.cm
            USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'divert: a new enrollment''s case manager was not found' USING ERRCODE = 'check_violation';
END $$;
REVOKE EXECUTE ON FUNCTION s_enrollment_feed_insert(), s_enrollment_caseload_insert() FROM PUBLIC;
DROP TRIGGER enrollment_caseload_insert ON enrollment;
CREATE TRIGGER enrollment_caseload_insert AFTER INSERT ON enrollment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_caseload_insert();

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
