-- 008_core.sql — the data side of divertd's decision core, set-based.
--
-- divertd decides in C (daemon/decide.h names every place a decision is
-- made) and builds every decision's reply and event there; PostgreSQL holds
-- the truth, the locks and the invariants. A transaction that decides is:
--
--   1. lock only the programs it touches (program_lock, in name order), then
--      the sources whose seq it will use (source_lock, in id order); read the
--      case managers of those programs (program_case_managers), what the
--      database knows about the referrals' persons and ids (intake_lookup),
--      ids for new rows (new_ids) — one pipelined round trip;
--   2. C decides against that view and the daemon's cache (policy, waitlists);
--   3. record(batch) writes everything with one statement per table, then
--      COMMIT — a second pipelined round trip.
--
-- Maintenance (lifecycle_due, waitlist_linked) and withdrawal (withdraw_target)
-- follow the same shape: find and lock, C decides, record() writes.
--
-- Per-program counters (program_stat: waitlist length and version, staff
-- version) and a policy generation (bumped by any program change) let the
-- daemon keep policy, waitlists and case managers in memory and know at
-- once, under the lock, whether they are current. The enrollment feed's and
-- the caseloads' triggers become statement-level: a batch of accepts is one
-- feed update per program and one caseload update.

SET LOCAL search_path = divert, pg_catalog;

-- ---------------------------------------------------------------------------
-- Counters

CREATE TABLE program_stat (
    program          text PRIMARY KEY REFERENCES program (name) ON UPDATE CASCADE,
    waitlist_open    int NOT NULL DEFAULT 0 CHECK (waitlist_open >= 0),
    waitlist_version bigint NOT NULL DEFAULT 0,      -- bumped by every waitlist change
    staff_version    bigint NOT NULL DEFAULT 0,      -- bumped by every change of its case managers' rows
    staff_base       bigint NOT NULL DEFAULT 0,      -- staff_version before staff_txid's first bump
    staff_txid       bigint                          -- the transaction that bumped it last
);
INSERT INTO program_stat (program, waitlist_open)
SELECT p.name, (SELECT count(*) FROM waitlist_entry w WHERE w.program = p.name AND w.state = 'open')
  FROM program p;

CREATE FUNCTION s_program_stat_row() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    INSERT INTO program_stat (program) VALUES (NEW.name) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER program_stat_row AFTER INSERT ON program
    FOR EACH ROW EXECUTE FUNCTION s_program_stat_row();

-- Waitlist changes, a statement at a time: +1 for each row now open, -1 for
-- each row that was; every changed row bumps the version.
CREATE FUNCTION s_waitlist_stat() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE program_stat s SET waitlist_open = s.waitlist_open + d.opened,
                                  waitlist_version = s.waitlist_version + d.changed
          FROM (SELECT program, count(*) FILTER (WHERE state = 'open') AS opened, count(*) AS changed
                  FROM new_rows GROUP BY program) d
         WHERE s.program = d.program;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE program_stat s SET waitlist_open = s.waitlist_open + d.opened,
                                  waitlist_version = s.waitlist_version + d.changed
          FROM (SELECT program, sum(opened) AS opened, sum(changed) AS changed FROM (
                    SELECT program, CASE WHEN state = 'open' THEN 1 ELSE 0 END AS opened, 1 AS changed FROM new_rows
                    UNION ALL
                    SELECT program, CASE WHEN state = 'open' THEN -1 ELSE 0 END, 0 FROM old_rows) x
                 GROUP BY program) d
         WHERE s.program = d.program;
    ELSE
        UPDATE program_stat s SET waitlist_open = s.waitlist_open - d.closed,
                                  waitlist_version = s.waitlist_version + d.changed
          FROM (SELECT program, count(*) FILTER (WHERE state = 'open') AS closed, count(*) AS changed
                  FROM old_rows GROUP BY program) d
         WHERE s.program = d.program;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER waitlist_stat_insert AFTER INSERT ON waitlist_entry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_waitlist_stat();
CREATE TRIGGER waitlist_stat_update AFTER UPDATE ON waitlist_entry
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_waitlist_stat();
CREATE TRIGGER waitlist_stat_delete AFTER DELETE ON waitlist_entry
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION s_waitlist_stat();

-- Any change to a program's case managers' rows (a caseload, a new one, one
-- leaving) bumps its staff version, once per statement. staff_base keeps
-- the version from before the bumping transaction's first bump: a daemon
-- that read version v under the program's lock and sees staff_base = v
-- after its own changes knows nobody else changed them (record() returns both).
CREATE FUNCTION s_staff_stat() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    programs text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT n.program) INTO programs FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT x.program) INTO programs
          FROM (SELECT n.program FROM new_rows n UNION ALL SELECT o.program FROM old_rows o) x;
    ELSE
        SELECT array_agg(DISTINCT o.program) INTO programs FROM old_rows o;
    END IF;
    UPDATE program_stat s
       SET staff_base = CASE WHEN s.staff_txid = txid_current() THEN s.staff_base ELSE s.staff_version END,
           staff_version = s.staff_version + 1, staff_txid = txid_current()
     WHERE s.program = ANY (programs);
    RETURN NULL;
END $$;
CREATE TRIGGER staff_stat_insert AFTER INSERT ON case_manager
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_staff_stat();
CREATE TRIGGER staff_stat_update AFTER UPDATE ON case_manager
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_staff_stat();
CREATE TRIGGER staff_stat_delete AFTER DELETE ON case_manager
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION s_staff_stat();

-- Caseloads, a statement at a time (replaces 001's row trigger, same rules):
-- each enrollment that counts (not exited) counts for its case manager; a
-- statement's changes are netted per case manager, so a transfer in and out
-- of the same person in one statement is no change. A case manager who gains
-- someone gets last_assigned_at = the transaction's time (divertd's
-- snapshot uses the same clock). The case manager's own trigger keeps the cap.
DROP TRIGGER enrollment_caseload ON enrollment;
DROP FUNCTION s_enrollment_caseload();
CREATE FUNCTION s_enrollment_caseload() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
DECLARE
    cms text[];
    programs text[];
    deltas int[];
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
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
    END IF;
    UPDATE case_manager c
       SET caseload = c.caseload + d.net,
           last_assigned_at = CASE WHEN d.gained THEN now() ELSE c.last_assigned_at END
      FROM (SELECT x.cm, sum(x.delta)::int AS net, bool_or(x.delta > 0) AS gained
              FROM unnest(cms, deltas) AS x(cm, delta) GROUP BY x.cm) d
     WHERE c.id = d.cm AND (d.net <> 0 OR d.gained);
    RETURN NULL;
END $$;
CREATE TRIGGER enrollment_caseload_insert AFTER INSERT ON enrollment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_caseload();
CREATE TRIGGER enrollment_caseload_update AFTER UPDATE ON enrollment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_caseload();
CREATE TRIGGER enrollment_caseload_delete AFTER DELETE ON enrollment
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_caseload();

-- Before a change: status_since, only when the statement didn't set it
-- (007's trigger, now called only then).
DROP TRIGGER enrollment_since ON enrollment;
CREATE TRIGGER enrollment_since_insert BEFORE INSERT ON enrollment
    FOR EACH ROW WHEN (NEW.status_since IS NULL) EXECUTE FUNCTION s_enrollment_since();
CREATE TRIGGER enrollment_since_update BEFORE UPDATE ON enrollment
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status_since IS NOT DISTINCT FROM OLD.status_since)
    EXECUTE FUNCTION s_enrollment_since();

-- Any change of policy (a program, the pathway permissions) bumps the
-- generation: a daemon that sees a new one reloads its policy cache.
CREATE TABLE policy_generation (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint NOT NULL
);
INSERT INTO policy_generation VALUES (true, 1);
CREATE FUNCTION s_policy_generation() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    UPDATE policy_generation SET n = n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER program_generation AFTER INSERT OR UPDATE OR DELETE ON program
    FOR EACH STATEMENT EXECUTE FUNCTION s_policy_generation();
CREATE TRIGGER pathway_generation AFTER INSERT OR UPDATE OR DELETE ON pathway_permission
    FOR EACH STATEMENT EXECUTE FUNCTION s_policy_generation();

-- A new referral row and its new waitlist entry refer to each other: the
-- referral's side is checked at COMMIT, so both go in one statement each.
ALTER TABLE referral ALTER CONSTRAINT referral_waitlist_entry_id_fkey DEFERRABLE INITIALLY DEFERRED;

-- What maintenance looks for, and a referral's waitlist entry's linked ones.
CREATE INDEX enrollment_intake_due ON enrollment (intake_due_at) WHERE status = 'pending_intake';
CREATE INDEX enrollment_term_end ON enrollment (ends_at) WHERE status <> 'exited' AND ends_at IS NOT NULL;
CREATE INDEX waitlist_open_by_age ON waitlist_entry (program, received_at) WHERE state = 'open';
CREATE INDEX referral_waitlist_entry ON referral (waitlist_entry_id) WHERE waitlist_entry_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- The enrollment feed, a statement at a time (replaces 007's row trigger;
-- the same transition table, actor and time).

DROP TRIGGER enrollment_feed ON enrollment;
DROP FUNCTION s_enrollment_event();

-- Append feed events for `changes` (a temp-less set: the caller's rows) with
-- the next seq of each program, in (program, enrollment) order.
CREATE FUNCTION s_feed_append(changes jsonb) RETURNS void LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    actor text := COALESCE(NULLIF(current_setting('divert.actor', true), ''), 'sql:' || session_user);
    program_name text;
BEGIN
    WITH c AS (
        SELECT x.*, row_number() OVER (PARTITION BY x.program ORDER BY x.enrollment_id) AS k
          FROM jsonb_to_recordset(changes) AS x(program text, enrollment_id bigint, referral_id bigint, change text,
                                               status text, case_manager_id text, from_case_manager_id text,
                                               reason text, at timestamptz)),
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
    FOR program_name IN SELECT DISTINCT x.program FROM jsonb_to_recordset(changes) AS x(program text) LOOP
        PERFORM pg_notify('divert_enrollment', program_name);
    END LOOP;
END $$;

CREATE FUNCTION s_enrollment_feed() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    changes jsonb;
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(jsonb_build_object('program', n.program, 'enrollment_id', n.id, 'referral_id', n.referral_id,
                   'change', 'assigned', 'status', n.status, 'case_manager_id', n.case_manager_id, 'at', n.status_since))
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
        SELECT jsonb_agg(jsonb_build_object('program', n.program, 'enrollment_id', n.id, 'referral_id', n.referral_id,
                   'change', CASE WHEN n.case_manager_id <> o.case_manager_id THEN 'transferred'
                                  WHEN n.status = 'exited' THEN 'exited'
                                  WHEN o.status = 'pending_intake' THEN 'intake_completed'
                                  WHEN n.status = 'in_the_wind' THEN 'in_the_wind'
                                  ELSE 're_engaged' END,
                   'status', n.status, 'case_manager_id', n.case_manager_id,
                   'from_case_manager_id', CASE WHEN n.case_manager_id <> o.case_manager_id THEN o.case_manager_id END,
                   'reason', CASE WHEN n.status = 'exited' THEN n.exit_reason END,
                   'at', CASE WHEN n.case_manager_id <> o.case_manager_id THEN clock_timestamp() ELSE n.status_since END))
          INTO changes
          FROM old_rows o JOIN new_rows n ON n.id = o.id
         WHERE n.case_manager_id <> o.case_manager_id OR n.status <> o.status;
    END IF;
    IF changes IS NOT NULL THEN
        PERFORM s_feed_append(changes);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER enrollment_feed_insert AFTER INSERT ON enrollment
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_feed();
CREATE TRIGGER enrollment_feed_update AFTER UPDATE ON enrollment
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION s_enrollment_feed();

-- ---------------------------------------------------------------------------
-- Round trip 1: lock, read
--
-- Every function divertd calls is PL/pgSQL, even a single query: PL/pgSQL
-- keeps its statements' plans for the connection, while a SQL-language
-- function that is SECURITY DEFINER (never inlined) is planned again on every
-- call, which cost 1-4 ms a call here (make bench, BENCH_PROFILE=1).
-- `#variable_conflict use_column`: a name of the result is also a column's.

-- Lock these programs (name order) and return their live counters and the
-- policy generation; `now_us` is the transaction's clock (every decision of
-- the transaction is dated with it).
CREATE FUNCTION program_lock(programs text[])
    RETURNS TABLE (name text, policy_version int, waitlist_open int, waitlist_version bigint,
                   generation bigint, now_us bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    PERFORM 1 FROM program p WHERE p.name = ANY (programs) ORDER BY p.name FOR UPDATE;
    RETURN QUERY
        SELECT p.name, p.policy_version, s.waitlist_open, s.waitlist_version,
               (SELECT g.n FROM policy_generation g), s_us(now())
          FROM program p JOIN program_stat s ON s.program = p.name
         WHERE p.name = ANY (programs) ORDER BY p.name;
END $$;

-- Lock these sources (id order) and return their last seq (decision events
-- appended in this transaction continue it, gap-free, in commit order) and
-- whether their key is revoked (a referral of a revoked key is refused in
-- the transaction, whatever the daemon has heard of it yet).
CREATE FUNCTION source_lock(sources text[]) RETURNS TABLE (id text, last_seq bigint, revoked boolean)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT s.id, s.last_seq, s.revoked_at IS NOT NULL FROM source s WHERE s.id = ANY (sources) ORDER BY s.id FOR UPDATE;
END $$;

-- The active case managers of these programs (read under their locks),
-- except those of a program whose staff version the daemon already has:
-- known is {"PROGRAM": staff_version, ...}. Per program read, a first row
-- with id NULL carries its staff version, then its case managers in id order.
CREATE FUNCTION program_case_managers(programs text[], known jsonb)
    RETURNS TABLE (program text, id text, name text, caseload int, last_assigned_us bigint, staff_version bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH stale AS (
        SELECT s.program, s.staff_version FROM program_stat s
         WHERE s.program = ANY (programs) AND (known -> s.program) IS DISTINCT FROM to_jsonb(s.staff_version))
    SELECT t.program, NULL::text, NULL::text, NULL::int, NULL::bigint, t.staff_version FROM stale t
    UNION ALL
    SELECT c.program, c.id, c.name, c.caseload,
           COALESCE((extract(epoch FROM c.last_assigned_at) * 1000000)::bigint, 0), t.staff_version
      FROM stale t JOIN case_manager c ON c.program = t.program AND c.active
     ORDER BY 1, 2 NULLS FIRST;
END $$;

-- The policy the daemon caches: every program, with the pathways each kind of
-- source may send, under one generation.
CREATE FUNCTION policy_rows() RETURNS TABLE (generation bigint, program json, waitlist_ttl_us bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT (SELECT g.n FROM policy_generation g), to_json(p), s_us('epoch'::timestamptz + p.waitlist_ttl)
      FROM program p ORDER BY p.name;
END $$;

CREATE FUNCTION pathway_rows() RETURNS TABLE (kind text, pathway text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT kind, pathway FROM pathway_permission ORDER BY kind, pathway;
END $$;

-- One program's open waitlist (for the daemon's cache) at its version.
CREATE FUNCTION program_waitlist(prog text)
    RETURNS TABLE (id bigint, tier int, score int, received_us bigint, version bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT w.id, w.tier, w.score, s_us(w.received_at), (SELECT s.waitlist_version FROM program_stat s WHERE s.program = prog)
      FROM waitlist_entry w WHERE w.program = prog AND w.state = 'open';
END $$;

-- Per program: exits in the last 90 days (the wait band's rate) and the
-- waitlist's length.
CREATE FUNCTION program_counts() RETURNS TABLE (program text, exits_90d bigint, waitlist_open int)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT p.name, (SELECT count(*) FROM enrollment e WHERE e.program = p.name AND e.exited_at > now() - interval '90 days'),
           (SELECT s.waitlist_open FROM program_stat s WHERE s.program = p.name)
      FROM program p ORDER BY p.name;
END $$;

-- What the database knows about each referral of a batch: keys
-- [{"source", "referral_id", "spid", "last", "dob"}...], in order. Per key:
-- an earlier referral with the same (source, referral_id) (its digest and
-- first reply), and the person: the source's own person id, or the same last
-- name and date of birth from any source; the first match's id, an open
-- enrollment of any match, an open waitlist entry of any match.
CREATE FUNCTION intake_lookup(keys jsonb)
    RETURNS TABLE (ord bigint, earlier_digest text, earlier_reply text, person_id bigint,
                   enrolled_program text, waitlist_id bigint, waitlist_program text,
                   waitlist_tier int, waitlist_score int)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT k.ord, r.digest,
           (SELECT e.reply::text FROM decision_event e WHERE e.referral_id = r.id ORDER BY e.id LIMIT 1),
           (SELECT min(x) FROM unnest(m.ids) x),
           (SELECT e.program FROM enrollment e WHERE e.person_id = ANY (m.ids) AND e.status <> 'exited' LIMIT 1),
           w.id, w.program, w.tier, w.score
      FROM ROWS FROM (jsonb_to_recordset(keys) AS (source text, referral_id text, spid text, last text, dob date))
           WITH ORDINALITY AS k(source, referral_id, spid, last, dob, ord)
      -- Lateral with LIMIT (and OFFSET 0 below) so each key is looked up by
      -- index, never by a join planned for jsonb_to_recordset's guess of 100 rows.
      LEFT JOIN LATERAL (SELECT r.id, r.digest FROM referral r
                          WHERE r.source_id = k.source AND r.referral_id = k.referral_id LIMIT 1) r ON true
      CROSS JOIN LATERAL (SELECT ARRAY(
              SELECT p.id FROM person p WHERE k.spid IS NOT NULL AND p.source_id = k.source AND p.source_person_id = k.spid
              UNION
              SELECT p.id FROM person p WHERE k.last IS NOT NULL AND k.dob IS NOT NULL
                                         AND p.last_name_key = lower(k.last) AND p.dob = k.dob) AS ids OFFSET 0) m
      LEFT JOIN LATERAL (SELECT w.id, w.program, w.tier, w.score FROM waitlist_entry w
                          WHERE w.person_id = ANY (m.ids) AND w.state = 'open' LIMIT 1) w ON true
     ORDER BY k.ord;
END $$;

-- Ids for the rows a batch may add: n each of persons, referrals, waitlist
-- entries (unused ones are gaps, as after any rollback).
CREATE FUNCTION new_ids(n int) RETURNS TABLE (person_id bigint, referral_id bigint, waitlist_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT nextval('divert.person_id_seq'), nextval('divert.referral_id_seq'), nextval('divert.waitlist_entry_id_seq')
      FROM generate_series(1, n);
END $$;

-- ---------------------------------------------------------------------------
-- Round trip 2: record what C decided, one statement per table

-- batch: {
--   "persons":     [{id, source_id, spid, first, last, dob}],
--   "referrals":   [{id, source_id, referral_id, person_id, pathway, tier, score, program,
--                    submitted_at, payload, digest, state, waitlist_entry_id}],
--   "waitlist_new":   [{id, program, person_id, referral_id, tier, score}],
--   "waitlist_bump":  [{id, tier, score}]            (kept only when a better priority)
--   "waitlist_close": [{id, state}]                  (promoted, expired, withdrawn)
--   "waitlist_primary": [{id, referral_id}]          (a linked referral takes an entry over)
--   "referral_states":  [{id, state}]
--   "enrollments_new":  [{referral_id, person_id, program, case_manager}]
--   "enrollments_exit": [{id, reason}]
--   "sources":     [{id, last_seq}]
--   "events":      [{source_id, seq, referral_id, decision, reason, program, case_manager, tier,
--                    score, components, capacity, from_waitlist, policy_version, reply}],
--   "decided_by":  text }
-- Returns each touched program's waitlist counters after it.
CREATE FUNCTION record(batch jsonb)
    RETURNS TABLE (program text, waitlist_open int, waitlist_version bigint, staff_version bigint, staff_base bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    touched text[];
BEGIN
    IF batch ? 'persons' THEN
        INSERT INTO person (id, source_id, source_person_id, first_name, last_name, dob)
        SELECT x.id, x.source_id, x.spid, x.first, x.last, x.dob
          FROM jsonb_to_recordset(batch -> 'persons') AS x(id bigint, source_id text, spid text, first text, last text, dob date);
    END IF;
    IF batch ? 'referrals' THEN
        INSERT INTO referral (id, source_id, referral_id, person_id, pathway, tier, score, program, submitted_at,
                              payload, digest, state, waitlist_entry_id)
        SELECT x.id, x.source_id, x.referral_id, x.person_id, x.pathway, x.tier, x.score, x.program, x.submitted_at,
               x.payload, x.digest, x.state, x.waitlist_entry_id
          FROM jsonb_to_recordset(batch -> 'referrals') AS x(id bigint, source_id text, referral_id text, person_id bigint,
               pathway text, tier int, score int, program text, submitted_at timestamptz, payload jsonb, digest text,
               state text, waitlist_entry_id bigint);
    END IF;
    IF batch ? 'waitlist_new' THEN
        INSERT INTO waitlist_entry (id, program, person_id, referral_id, tier, score, received_at)
        SELECT x.id, x.program, x.person_id, x.referral_id, x.tier, x.score, now()
          FROM jsonb_to_recordset(batch -> 'waitlist_new') AS x(id bigint, program text, person_id bigint,
               referral_id bigint, tier int, score int);
    END IF;
    IF batch ? 'waitlist_bump' THEN
        UPDATE waitlist_entry w SET tier = x.tier, score = x.score
          FROM jsonb_to_recordset(batch -> 'waitlist_bump') AS x(id bigint, tier int, score int)
         WHERE w.id = x.id AND w.state = 'open' AND (x.tier < w.tier OR (x.tier = w.tier AND x.score > w.score));
    END IF;
    IF batch ? 'waitlist_close' THEN
        UPDATE waitlist_entry w SET state = x.state, closed_at = now()
          FROM jsonb_to_recordset(batch -> 'waitlist_close') AS x(id bigint, state text)
         WHERE w.id = x.id AND w.state = 'open';
    END IF;
    IF batch ? 'waitlist_primary' THEN
        UPDATE waitlist_entry w SET referral_id = x.referral_id
          FROM jsonb_to_recordset(batch -> 'waitlist_primary') AS x(id bigint, referral_id bigint)
         WHERE w.id = x.id;
    END IF;
    IF batch ? 'referral_states' THEN
        UPDATE referral r SET state = x.state
          FROM jsonb_to_recordset(batch -> 'referral_states') AS x(id bigint, state text)
         WHERE r.id = x.id;
    END IF;
    IF batch ? 'enrollments_new' THEN
        INSERT INTO enrollment (referral_id, person_id, program, case_manager_id, intake_due_at, ends_at, status_since)
        SELECT x.referral_id, x.person_id, x.program, x.case_manager, now() + p.intake_window, now() + p.term, now()
          FROM jsonb_to_recordset(batch -> 'enrollments_new') AS x(referral_id bigint, person_id bigint, program text,
               case_manager text)
          JOIN program p ON p.name = x.program;
    END IF;
    IF batch ? 'enrollments_exit' THEN
        UPDATE enrollment e SET status = 'exited', exited_at = now(), exit_reason = x.reason
          FROM jsonb_to_recordset(batch -> 'enrollments_exit') AS x(id bigint, reason text)
         WHERE e.id = x.id AND e.status <> 'exited';
    END IF;
    IF batch ? 'sources' THEN
        UPDATE source s SET last_seq = x.last_seq
          FROM jsonb_to_recordset(batch -> 'sources') AS x(id text, last_seq bigint)
         WHERE s.id = x.id AND x.last_seq > s.last_seq;
    END IF;
    IF batch ? 'events' THEN
        INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, program, case_manager_id, tier,
                                    score, components, capacity, from_waitlist, policy_version, decided_by, at, reply)
        SELECT x.source_id, x.seq, x.referral_id, x.decision, x.reason, x.program, x.case_manager, x.tier, x.score,
               x.components, x.capacity, COALESCE(x.from_waitlist, false), x.policy_version, batch ->> 'decided_by',
               now(), x.reply
          FROM jsonb_to_recordset(batch -> 'events') AS x(source_id text, seq bigint, referral_id bigint, decision text,
               reason text, program text, case_manager text, tier int, score int, components jsonb, capacity jsonb,
               from_waitlist boolean, policy_version int, reply jsonb);
    END IF;
    SELECT array_agg(DISTINCT t) INTO touched FROM (
        SELECT jsonb_array_elements_text(COALESCE(batch -> 'programs', '[]')) AS t) x;
    RETURN QUERY SELECT s.program, s.waitlist_open, s.waitlist_version, s.staff_version, s.staff_base
                   FROM program_stat s WHERE s.program = ANY (COALESCE(touched, '{}')) ORDER BY s.program;
END $$;

-- ---------------------------------------------------------------------------
-- Maintenance and withdrawal: find and lock what is due

-- What time has made due (policy.md §1, §5), locked: Co-LEAD terms that
-- ended, intakes not completed within the intake window, waitlist entries
-- older than their program's current time-to-live (with each waitlisted
-- referral linked to them). The programs of all of them are locked first.
-- kind: term_end | lapse | expiry.
CREATE FUNCTION lifecycle_due()
    RETURNS TABLE (kind text, program text, enrollment_id bigint, entry_id bigint, referral_row bigint,
                   source_id text, source_kind text, referral_id text, tier int, score int)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    programs text[];
BEGIN
    SELECT array_agg(DISTINCT x.program) INTO programs FROM (
        SELECT e.program FROM enrollment e WHERE e.status <> 'exited' AND e.ends_at <= now()
        UNION ALL
        SELECT e.program FROM enrollment e WHERE e.status = 'pending_intake' AND e.intake_due_at <= now()
        UNION ALL
        SELECT w.program FROM waitlist_entry w JOIN program p ON p.name = w.program
         WHERE w.state = 'open' AND w.received_at <= now() - p.waitlist_ttl) x;
    IF programs IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM program p WHERE p.name = ANY (programs) ORDER BY p.name FOR UPDATE;
    RETURN QUERY
        SELECT 'term_end', e.program, e.id, NULL::bigint, r.id, r.source_id, s.kind, r.referral_id, r.tier, r.score
          FROM enrollment e JOIN referral r ON r.id = e.referral_id JOIN source s ON s.id = r.source_id
         WHERE e.status <> 'exited' AND e.ends_at <= now()
        UNION ALL
        SELECT 'lapse', e.program, e.id, NULL, r.id, r.source_id, s.kind, r.referral_id, r.tier, r.score
          FROM enrollment e JOIN referral r ON r.id = e.referral_id JOIN source s ON s.id = r.source_id
         WHERE e.status = 'pending_intake' AND e.intake_due_at <= now() AND (e.ends_at IS NULL OR e.ends_at > now())
        UNION ALL
        SELECT 'expiry', w.program, NULL, w.id, r.id, r.source_id, s.kind, r.referral_id, r.tier, r.score
          FROM waitlist_entry w JOIN program p ON p.name = w.program
          JOIN referral r ON r.waitlist_entry_id = w.id AND r.state = 'waitlisted' JOIN source s ON s.id = r.source_id
         WHERE w.state = 'open' AND w.received_at <= now() - p.waitlist_ttl
        ORDER BY 1, 2, 3, 4, 5;
END $$;

-- The waitlisted referrals linked to these entries (a promotion accepts each
-- of them), with the components of each one's first decision.
CREATE FUNCTION waitlist_linked(entries bigint[])
    RETURNS TABLE (entry_id bigint, referral_row bigint, source_id text, source_kind text, referral_id text,
                   person_id bigint, primary_referral boolean, tier int, score int, components text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT w.id, r.id, r.source_id, s.kind, r.referral_id, w.person_id, r.id = w.referral_id, r.tier, r.score,
           (SELECT e.components::text FROM decision_event e WHERE e.referral_id = r.id ORDER BY e.id LIMIT 1)
      FROM waitlist_entry w JOIN referral r ON r.waitlist_entry_id = w.id AND r.state = 'waitlisted'
      JOIN source s ON s.id = r.source_id
     WHERE w.id = ANY (entries) AND w.state = 'open'
     ORDER BY w.id, r.id;
END $$;

-- A source's referral for withdrawal, its program locked first: its state,
-- tier, score, program, waitlist entry (and the first other referral still
-- waiting on it), enrollment (id, status). No row: not the source's.
CREATE FUNCTION withdraw_target(src text, ref text)
    RETURNS TABLE (referral_row bigint, referral_id text, state text, program text, tier int, score int,
                   entry_id bigint, next_primary bigint, enrollment_id bigint, enrollment_status text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    prog text;
BEGIN
    SELECT r.program INTO prog FROM referral r WHERE r.source_id = src AND r.referral_id = lower(ref);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM 1 FROM program p WHERE p.name = prog FOR UPDATE;
    RETURN QUERY
        SELECT r.id, r.referral_id, r.state, r.program, r.tier, r.score, r.waitlist_entry_id,
               (SELECT min(o.id) FROM referral o WHERE o.waitlist_entry_id = r.waitlist_entry_id
                                                   AND o.state = 'waitlisted' AND o.id <> r.id),
               e.id, e.status
          FROM referral r LEFT JOIN enrollment e ON e.referral_id = r.id
         WHERE r.source_id = src AND r.referral_id = lower(ref)
           FOR UPDATE OF r;
END $$;

-- One source's decision events after since_seq (replay), as columns: C
-- builds the wire events (dv_reply.h), as it does when publishing.
CREATE FUNCTION events_after(src text, since bigint, lim int)
    RETURNS TABLE (source_id text, seq bigint, referral_id text, decision text, reason text, program text,
                   tier int, from_waitlist boolean, at_us bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT e.source_id, e.seq, r.referral_id, e.decision, e.reason, e.program, e.tier, e.from_waitlist, s_us(e.at)
      FROM decision_event e JOIN referral r ON r.id = e.referral_id
     WHERE e.source_id = src AND e.seq > since ORDER BY e.seq LIMIT lim;
END $$;

-- ---------------------------------------------------------------------------
-- The old whole-site functions go: every path decides in C now.

DROP FUNCTION batch_begin(jsonb);
DROP FUNCTION batch_record(jsonb);
DROP FUNCTION batch_promote(jsonb);
DROP FUNCTION lifecycle(text);
DROP FUNCTION withdraw(text, text, text);
DROP FUNCTION s_program_snapshot(program);
DROP FUNCTION s_person_lookup(text, text, text, date);
DROP FUNCTION s_published(decision_event);
DROP FUNCTION s_later(referral, text, text, text, int);
DROP FUNCTION s_append_event(text, bigint, jsonb, boolean, text);
DROP FUNCTION s_reply(text, bigint, timestamptz, text, text, text, text, int, int, jsonb);
DROP FUNCTION event_wire(decision_event);
DROP FUNCTION event_topic(text);

-- ---------------------------------------------------------------------------
-- Who may do what (004's roles). The trigger functions run as the owner
-- (SECURITY DEFINER): an operator's change of a program or a waitlist entry
-- keeps the counters without any right on them.

REVOKE ALL ON program_stat, policy_generation FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA divert FROM PUBLIC;
GRANT EXECUTE ON FUNCTION program_lock(text[]), source_lock(text[]), program_case_managers(text[], jsonb),
    policy_rows(), pathway_rows(), program_waitlist(text), program_counts(), intake_lookup(jsonb),
    new_ids(int), record(jsonb), lifecycle_due(), waitlist_linked(bigint[]), withdraw_target(text, text),
    events_after(text, bigint, int) TO divert_daemon;
GRANT SELECT ON program_stat, policy_generation TO divert_operator;
GRANT EXECUTE ON FUNCTION s_rfc3339(timestamptz), s_us(timestamptz), waitlist_expires_at(waitlist_entry),
    enrollment_change(text, text, text, text, timestamptz, text), enrollment_transfer(text, text, text, text)
    TO divert_operator;
