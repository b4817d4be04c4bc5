-- 011_reports.sql — figures for funders and evaluators (issue 12, part 1):
-- what `divertctl report` prints and divert-web's program pages draw,
-- computed here, once, from the history — never from counters that could
-- drift (case_manager.caseload, program_stat):
--
--   decision_event      referrals (a referral's first decision is its intake
--                       decision), every later decision, acceptance
--   waitlist_entry      each wait: when it began and ended, and how
--   enrollment_event    acceptance, intake, exits, stays, caseloads at any time
--   case_manager_event  new here: when each case manager was added,
--                       deactivated, brought back or moved (a trigger writes it)
--   policy_event        new here: each program's capacity policy (hard cap,
--                       target average, funded slots, pacing margin) and since
--                       when it applied (a trigger writes it)
--
-- The API (JSON; divertctl formats it as text, CSV or JSON, divert-web draws it):
--
--   divert.report(program, from_day, to_day, by, figures) -> json
--       {"v": 1, "from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "by": "day|week|month|all",
--        "time_zone": "...", "programs": [...], "generated_at": RFC 3339,
--        "figures": [{"name", "title", "about", "columns": [...], "rows": [{column: value}...]}...]}
--       One function per figure (divert.report_<name>, below) is its only home.
--   divert.report_extract(program, from_day, to_day) -> json
--       {"v": 1, "from", "to", "time_zone", "programs", "columns", "rows"}: the
--       evaluator's extract, one row per referral, no personal data; each
--       person has a pseudonym (below).
--
-- Periods. from_day and to_day are days in the session's time zone (the
-- server's TimeZone, or the client's PGTZ), both included; to_day defaults
-- to today (a later day is taken as today), from_day to 29 days before
-- to_day. `by` groups rows into periods labelled by their first day: day,
-- week (ISO, from Monday), month, or all (one period, labelled from_day);
-- the first and last period may be partial. An event belongs to the period
-- of the day it happened. Snapshots (capacity, caseloads) are taken at the
-- end of each period (the end of its last day in the report, or now).
-- Percentiles (p50, p90) interpolate (percentile_cont); days are fractional.
--
-- Staff and policy before this migration: their history starts now. Before
-- it, each program's policy is taken as it is now, and each case manager as
-- active (or not) as now, from their creation.
--
-- Bad arguments (an unknown program or figure, a period that ends before it
-- starts or starts after today, more than 10 years) raise "divert: ..." with
-- SQLSTATE P0001, one line a client can show as it is.
--
-- Pseudonyms. An evaluator links a person's referrals (bookings diverted
-- before, re-referrals after) outside divert by a pseudonym:
-- hex(HMAC-SHA256(site secret, 'person:' || person row id)). The person row
-- is how divert itself identifies someone across referrals: intake links a
-- new referral to the person row of an earlier one with the same source
-- person id, or the same last name and date of birth (the rule behind
-- already_enrolled and linked_to_pending; two referrals of one person that
-- intake could not match, one with a source person id only and the other
-- with a name and date of birth only, are two persons here as there). Not a
-- hash of names: someone holding an extract and a list of names can't tell
-- who is who, and a corrected name changes nothing. The row's id outlives a
-- purge of the personal data (009), so the pseudonym stays the same in every
-- extract, before and after; keyed, it says nothing about the id (nor its
-- order) to anyone without the secret. A referral has one too ('referral:'
-- || row id), so overlapping extracts can be matched. The site secret is 32
-- random bytes, made in the database on the first extract, kept in
-- divert.report_secret, which no role but the owner may read: only
-- report_extract (SECURITY DEFINER) uses it, and it never leaves the server.
-- HMAC-SHA256 is RFC 2104 over PostgreSQL's built-in sha256() (no extension
-- needed), checked against RFC 4231's test vectors.

SET LOCAL search_path = divert, pg_catalog;

-- ---------------------------------------------------------------------------
-- Staff and policy history

CREATE TABLE case_manager_event (
    id              bigserial PRIMARY KEY,
    case_manager_id text NOT NULL,
    program         text NOT NULL,
    active          boolean NOT NULL,
    at              timestamptz NOT NULL,             -- from when
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX case_manager_event_cm ON case_manager_event (case_manager_id, at, id);

CREATE TABLE policy_event (
    id             bigserial PRIMARY KEY,
    program        text NOT NULL,
    policy_version int NOT NULL,
    hard_cap       int NOT NULL,
    target_avg     int NOT NULL,
    funded         int,
    pacing_margin  numeric(4,3) NOT NULL,
    since          timestamptz NOT NULL,              -- in effect from
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX policy_event_program ON policy_event (program, since, id);

CREATE TRIGGER case_manager_event_append_only BEFORE UPDATE OR DELETE ON case_manager_event
    FOR EACH ROW EXECUTE FUNCTION s_append_only();
CREATE TRIGGER case_manager_event_no_truncate BEFORE TRUNCATE ON case_manager_event
    FOR EACH STATEMENT EXECUTE FUNCTION s_append_only();
CREATE TRIGGER policy_event_append_only BEFORE UPDATE OR DELETE ON policy_event
    FOR EACH ROW EXECUTE FUNCTION s_append_only();
CREATE TRIGGER policy_event_no_truncate BEFORE TRUNCATE ON policy_event
    FOR EACH STATEMENT EXECUTE FUNCTION s_append_only();

-- A case manager added (from its created_at), deactivated, brought back or
-- moved to another program (from now).
CREATE FUNCTION s_case_manager_event() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_manager_event (case_manager_id, program, active, at)
        VALUES (NEW.id, NEW.program, NEW.active, NEW.created_at);
    ELSIF NEW.active IS DISTINCT FROM OLD.active OR NEW.program IS DISTINCT FROM OLD.program
       OR NEW.id IS DISTINCT FROM OLD.id THEN
        INSERT INTO case_manager_event (case_manager_id, program, active, at)
        VALUES (NEW.id, NEW.program, NEW.active, now());
    END IF;
    RETURN NULL;
END $$;
-- (Only for these columns: a caseload's change, on every accept and exit, fires nothing.)
CREATE TRIGGER case_manager_history AFTER INSERT OR UPDATE OF id, program, active ON case_manager
    FOR EACH ROW EXECUTE FUNCTION s_case_manager_event();

-- A program's capacity policy, when it is made and whenever it changes.
CREATE FUNCTION s_policy_event() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (NEW.hard_cap, NEW.target_avg, NEW.funded, NEW.pacing_margin, NEW.name)
                           IS DISTINCT FROM (OLD.hard_cap, OLD.target_avg, OLD.funded, OLD.pacing_margin, OLD.name) THEN
        INSERT INTO policy_event (program, policy_version, hard_cap, target_avg, funded, pacing_margin, since)
        VALUES (NEW.name, NEW.policy_version, NEW.hard_cap, NEW.target_avg, NEW.funded, NEW.pacing_margin, now());
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER program_policy_history AFTER INSERT OR UPDATE OF name, hard_cap, target_avg, funded, pacing_margin
    ON program FOR EACH ROW EXECUTE FUNCTION s_policy_event();

-- The history so far: staff as they are, from their creation; policy as it is, from now.
INSERT INTO case_manager_event (case_manager_id, program, active, at)
SELECT id, program, active, created_at FROM case_manager ORDER BY created_at, id;
INSERT INTO policy_event (program, policy_version, hard_cap, target_avg, funded, pacing_margin, since)
SELECT name, policy_version, hard_cap, target_avg, funded, pacing_margin, now() FROM program ORDER BY name;

-- ---------------------------------------------------------------------------
-- HMAC-SHA256 (RFC 2104) and the site secret

-- The inner and outer padded keys of `key` (hashed first when longer than
-- SHA-256's 64-byte block): computed once per extract.
CREATE FUNCTION s_hmac_pads(key bytea) RETURNS bytea[] LANGUAGE plpgsql IMMUTABLE STRICT
    SET search_path = divert, pg_catalog AS $$
DECLARE
    k bytea := CASE WHEN length(key) > 64 THEN sha256(key) ELSE key END;
    inner_pad bytea;
    outer_pad bytea;
BEGIN
    k := k || decode(repeat('00', 64 - length(k)), 'hex');
    inner_pad := k;
    outer_pad := k;
    FOR i IN 0 .. 63 LOOP
        inner_pad := set_byte(inner_pad, i, get_byte(k, i) # 54);     -- 0x36
        outer_pad := set_byte(outer_pad, i, get_byte(k, i) # 92);     -- 0x5c
    END LOOP;
    RETURN ARRAY[inner_pad, outer_pad];
END $$;

CREATE FUNCTION s_hmac(pads bytea[], message bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT sha256($1[2] || sha256($1[1] || $2)) $$;

CREATE FUNCTION hmac_sha256(key bytea, message bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
    SET search_path = divert, pg_catalog AS $$ SELECT s_hmac(s_hmac_pads($1), $2) $$;

-- One row: the key of the evaluator's pseudonyms. Nobody but the owner reads
-- it; report_extract makes it on first use.
CREATE TABLE report_secret (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    secret     bytea NOT NULL CHECK (length(secret) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- 32 bytes from the server's strong random source (gen_random_uuid draws
-- 122 random bits each from it; three of them, hashed).
CREATE FUNCTION s_new_secret() RETURNS bytea LANGUAGE sql VOLATILE AS $$
    SELECT sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
$$;

-- ---------------------------------------------------------------------------
-- Periods and scope

-- The period a day belongs to, labelled by its first day.
CREATE FUNCTION s_report_bucket(day date, by text, from_day date) RETURNS date LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE $2 WHEN 'day' THEN $1
                   WHEN 'week' THEN date_trunc('week', $1::timestamp)::date
                   WHEN 'month' THEN date_trunc('month', $1::timestamp)::date
                   ELSE $3 END
$$;

-- The periods of a report: label, and the instants its days in the report
-- begin and end (midnight in the session's time zone).
CREATE FUNCTION report_periods(from_day date, to_day date, by text)
    RETURNS TABLE (period date, starts timestamptz, ends timestamptz)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT b.period, greatest(b.period, $1)::timestamptz,
           least(CASE $3 WHEN 'day' THEN b.period + 1
                         WHEN 'week' THEN b.period + 7
                         WHEN 'month' THEN (b.period + interval '1 month')::date
                         ELSE $2 + 1 END, $2 + 1)::timestamptz
      FROM (SELECT DISTINCT s_report_bucket(d::date, $3, $1) AS period
              FROM generate_series($1::timestamp, $2::timestamp, interval '1 day') AS d) b
     ORDER BY 1
$$;

-- The programs and days of a report, checked: {"programs", "from", "to"}.
CREATE FUNCTION s_report_scope(program text, from_day date, to_day date) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
DECLARE
    programs text[];
BEGIN
    IF from_day > current_date THEN
        RAISE EXCEPTION 'divert: the period starts after today (%)', current_date;
    END IF;
    to_day := least(COALESCE(to_day, current_date), current_date);
    from_day := COALESCE(from_day, to_day - 29);
    IF from_day > to_day THEN
        RAISE EXCEPTION 'divert: the period starts (%) after it ends (%)', from_day, to_day;
    END IF;
    IF to_day - from_day > 3660 THEN
        RAISE EXCEPTION 'divert: a report covers at most 10 years';
    END IF;
    SELECT array_agg(p.name ORDER BY p.name) INTO programs FROM program p
     WHERE s_report_scope.program IS NULL OR p.name = s_report_scope.program;
    IF programs IS NULL THEN
        RAISE EXCEPTION 'divert: no program %', program;
    END IF;
    RETURN jsonb_build_object('programs', programs, 'from', from_day, 'to', to_day);
END $$;

-- The first decision of each referral (its intake decision), when it was in
-- the period and in one of the programs.
CREATE FUNCTION s_report_intakes(programs text[], from_day date, to_day date) RETURNS SETOF decision_event
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT e.* FROM decision_event e
     WHERE e.at >= $2::timestamptz AND e.at < ($3 + 1)::timestamptz AND e.program = ANY ($1)
       AND NOT EXISTS (SELECT 1 FROM decision_event f WHERE f.referral_id = e.referral_id AND f.id < e.id)
$$;

-- Days from one instant to another.
CREATE FUNCTION s_days(a timestamptz, b timestamptz) RETURNS numeric LANGUAGE sql IMMUTABLE
    AS $$ SELECT extract(epoch FROM $2 - $1) / 86400 $$;

-- ---------------------------------------------------------------------------
-- The figures: each one's only home. Arguments: (programs, from_day, to_day, by).
-- A figure with one row per program and period has a row for every period;
-- one broken down by a category has rows only where something was counted.

CREATE FUNCTION report_referrals(text[], date, date, text)
    RETURNS TABLE (program text, period date, referrals bigint, accepted bigint, waitlisted bigint, declined bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH i AS (SELECT i.program, s_report_bucket(i.at::date, $4, $2) AS period, i.decision
                 FROM s_report_intakes($1, $2, $3) i)
    SELECT p.name, b.period, count(i.decision), count(*) FILTER (WHERE i.decision = 'accept'),
           count(*) FILTER (WHERE i.decision = 'waitlist'), count(*) FILTER (WHERE i.decision = 'decline')
      FROM unnest($1) AS p(name) CROSS JOIN report_periods($2, $3, $4) b
      LEFT JOIN i ON i.program = p.name AND i.period = b.period
     GROUP BY 1, 2 ORDER BY 1, 2
$$;

CREATE FUNCTION report_referrals_by_pathway(text[], date, date, text)
    RETURNS TABLE (program text, period date, pathway text, referrals bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT i.program, s_report_bucket(i.at::date, $4, $2), r.pathway, count(*)
      FROM s_report_intakes($1, $2, $3) i JOIN referral r ON r.id = i.referral_id
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;

CREATE FUNCTION report_referrals_by_source_kind(text[], date, date, text)
    RETURNS TABLE (program text, period date, source_kind text, referrals bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT i.program, s_report_bucket(i.at::date, $4, $2), s.kind, count(*)
      FROM s_report_intakes($1, $2, $3) i JOIN source s ON s.id = i.source_id
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;

CREATE FUNCTION report_referrals_by_source(text[], date, date, text)
    RETURNS TABLE (program text, period date, source text, source_kind text, referrals bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT i.program, s_report_bucket(i.at::date, $4, $2), s.id, s.kind, count(*)
      FROM s_report_intakes($1, $2, $3) i JOIN source s ON s.id = i.source_id
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3
$$;

CREATE FUNCTION report_decisions(text[], date, date, text)
    RETURNS TABLE (program text, period date, decision text, reason text, decisions bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT e.program, s_report_bucket(e.at::date, $4, $2), e.decision, e.reason, count(*)
      FROM decision_event e
     WHERE e.at >= $2::timestamptz AND e.at < ($3 + 1)::timestamptz AND e.program = ANY ($1)
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
$$;

CREATE FUNCTION report_acceptance_by_tier(text[], date, date, text)
    RETURNS TABLE (program text, period date, tier int, referrals bigint, accepted_at_intake bigint,
                   accepted_from_waitlist bigint, accepted bigint, acceptance_rate numeric)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH i AS (
        SELECT i.program, s_report_bucket(i.at::date, $4, $2) AS period, i.tier, i.decision = 'accept' AS at_intake,
               i.decision <> 'accept' AND EXISTS (
                   SELECT 1 FROM decision_event a WHERE a.referral_id = i.referral_id AND a.id > i.id
                      AND a.decision = 'accept' AND a.at < ($3 + 1)::timestamptz) AS later
          FROM s_report_intakes($1, $2, $3) i)
    SELECT i.program, i.period, i.tier, count(*), count(*) FILTER (WHERE i.at_intake),
           count(*) FILTER (WHERE i.later), count(*) FILTER (WHERE i.at_intake OR i.later),
           round((count(*) FILTER (WHERE i.at_intake OR i.later))::numeric / count(*), 4)
      FROM i GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;

CREATE FUNCTION report_waitlist(text[], date, date, text)
    RETURNS TABLE (program text, period date, waits_ended bigint, promoted bigint, expired bigint, withdrawn bigint,
                   days_p50 numeric, days_p90 numeric)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH w AS (
        SELECT w.program, s_report_bucket(w.closed_at::date, $4, $2) AS period, w.state,
               s_days(w.received_at, w.closed_at) AS days
          FROM waitlist_entry w
         WHERE w.program = ANY ($1) AND w.state <> 'open'
           AND w.closed_at >= $2::timestamptz AND w.closed_at < ($3 + 1)::timestamptz)
    SELECT p.name, b.period, count(w.state), count(*) FILTER (WHERE w.state = 'promoted'),
           count(*) FILTER (WHERE w.state = 'expired'), count(*) FILTER (WHERE w.state = 'withdrawn'),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY w.days))::numeric, 2),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY w.days))::numeric, 2)
      FROM unnest($1) AS p(name) CROSS JOIN report_periods($2, $3, $4) b
      LEFT JOIN w ON w.program = p.name AND w.period = b.period
     GROUP BY 1, 2 ORDER BY 1, 2
$$;

-- An enrollment leaves pending_intake once: completed, lapsed, or otherwise
-- (withdrawn, or discharged before intake).
CREATE FUNCTION report_intake(text[], date, date, text)
    RETURNS TABLE (program text, period date, completed bigint, lapsed bigint, ended_otherwise bigint,
                   lapse_rate numeric, days_p50 numeric, days_p90 numeric)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH h AS (
        SELECT h.program, h.change, h.reason, h.status, h.at,
               lag(h.status) OVER (PARTITION BY h.enrollment_id ORDER BY h.at, h.id) AS before,
               first_value(h.at) OVER (PARTITION BY h.enrollment_id ORDER BY h.at, h.id) AS accepted_at
          FROM enrollment_event h WHERE h.program = ANY ($1)),
    ended AS (
        SELECT h.program, s_report_bucket(h.at::date, $4, $2) AS period,
               CASE WHEN h.change = 'intake_completed' THEN 'completed'
                    WHEN h.reason = 'intake_lapsed' THEN 'lapsed' ELSE 'otherwise' END AS how,
               s_days(h.accepted_at, h.at) AS days
          FROM h
         WHERE h.before = 'pending_intake' AND h.status <> 'pending_intake'
           AND h.at >= $2::timestamptz AND h.at < ($3 + 1)::timestamptz)
    SELECT p.name, b.period, count(*) FILTER (WHERE e.how = 'completed'), count(*) FILTER (WHERE e.how = 'lapsed'),
           count(*) FILTER (WHERE e.how = 'otherwise'),
           round((count(*) FILTER (WHERE e.how = 'lapsed'))::numeric / NULLIF(count(e.how), 0), 4),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY e.days) FILTER (WHERE e.how = 'completed'))::numeric, 2),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY e.days) FILTER (WHERE e.how = 'completed'))::numeric, 2)
      FROM unnest($1) AS p(name) CROSS JOIN report_periods($2, $3, $4) b
      LEFT JOIN ended e ON e.program = p.name AND e.period = b.period
     GROUP BY 1, 2 ORDER BY 1, 2
$$;

-- Exits with the days each enrollment held its slot (from acceptance), and
-- whether it had completed intake (served).
CREATE FUNCTION s_report_exits(text[], date, date)
    RETURNS TABLE (program text, at timestamptz, reason text, days numeric, served boolean)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH h AS (
        SELECT h.program, h.change, h.reason, h.at,
               first_value(h.at) OVER (PARTITION BY h.enrollment_id ORDER BY h.at, h.id) AS accepted_at,
               bool_or(h.change = 'intake_completed') OVER (PARTITION BY h.enrollment_id) AS served
          FROM enrollment_event h WHERE h.program = ANY ($1))
    SELECT h.program, h.at, h.reason, s_days(h.accepted_at, h.at), h.served
      FROM h WHERE h.change = 'exited' AND h.at >= $2::timestamptz AND h.at < ($3 + 1)::timestamptz
$$;

CREATE FUNCTION report_exits(text[], date, date, text)
    RETURNS TABLE (program text, period date, reason text, exits bigint, stay_days_p50 numeric, stay_days_p90 numeric)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    SELECT x.program, s_report_bucket(x.at::date, $4, $2), x.reason, count(*),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x.days))::numeric, 2),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY x.days))::numeric, 2)
      FROM s_report_exits($1, $2, $3) x
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
$$;

CREATE FUNCTION report_length_of_stay(text[], date, date, text)
    RETURNS TABLE (program text, period date, exits bigint, stay_days_p50 numeric, stay_days_p90 numeric)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH x AS (SELECT x.program, s_report_bucket(x.at::date, $4, $2) AS period, x.days
                 FROM s_report_exits($1, $2, $3) x WHERE x.served)
    SELECT p.name, b.period, count(x.days),
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x.days))::numeric, 2),
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY x.days))::numeric, 2)
      FROM unnest($1) AS p(name) CROSS JOIN report_periods($2, $3, $4) b
      LEFT JOIN x ON x.program = p.name AND x.period = b.period
     GROUP BY 1, 2 ORDER BY 1, 2
$$;

-- At the end of each period: the people each case manager holds (the
-- enrollment's latest change before then is not an exit, and names them),
-- for the case managers active in the program then and those holding anyone.
CREATE FUNCTION report_caseloads(text[], date, date, text)
    RETURNS TABLE (program text, period date, case_manager text, active boolean, caseload bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH b AS (SELECT * FROM report_periods($2, $3, $4)),
    spans AS (
        SELECT h.program, h.case_manager_id, h.status, h.at AS since,
               lead(h.at) OVER (PARTITION BY h.enrollment_id ORDER BY h.at, h.id) AS until
          FROM enrollment_event h WHERE h.program = ANY ($1)),
    staff AS (
        SELECT c.program, c.case_manager_id, c.active, c.at AS since,
               lead(c.at) OVER (PARTITION BY c.case_manager_id ORDER BY c.at, c.id) AS until
          FROM case_manager_event c),
    held AS (
        SELECT s.program, b.period, s.case_manager_id, count(*) AS caseload
          FROM b JOIN spans s ON s.status <> 'exited' AND s.since < b.ends AND (s.until IS NULL OR s.until >= b.ends)
         GROUP BY 1, 2, 3),
    active AS (
        SELECT s.program, b.period, s.case_manager_id
          FROM b JOIN staff s ON s.active AND s.program = ANY ($1)
                             AND s.since < b.ends AND (s.until IS NULL OR s.until >= b.ends))
    SELECT COALESCE(a.program, h.program), COALESCE(a.period, h.period), COALESCE(a.case_manager_id, h.case_manager_id),
           a.case_manager_id IS NOT NULL, COALESCE(h.caseload, 0)
      FROM active a FULL JOIN held h
        ON h.program = a.program AND h.period = a.period AND h.case_manager_id = a.case_manager_id
     ORDER BY 1, 2, 3
$$;

-- At the end of each period, as divert decides (policy.md §4): n active case
-- managers, T the people they hold, the policy then, paced = min(n*A,
-- floor(F*(1-m))) (n*A without F), free = paced - T, the waitlist W, and
-- staffing_gap = max(0, ceil((T + W) / (A*(1-m))) - n). `enrolled` also
-- counts people still held by an inactive case manager.
CREATE FUNCTION report_capacity(text[], date, date, text)
    RETURNS TABLE (program text, period date, case_managers bigint, enrolled bigint, total bigint, average numeric,
                   max_caseload bigint, hard_cap int, target_avg int, funded int, pacing_margin numeric,
                   paced bigint, free bigint, waitlist bigint, staffing_gap bigint)
    LANGUAGE sql STABLE SET search_path = divert, pg_catalog AS $$
    WITH loads AS (
        SELECT l.program, l.period, count(*) FILTER (WHERE l.active) AS n,
               COALESCE(sum(l.caseload) FILTER (WHERE l.active), 0)::bigint AS total,
               sum(l.caseload)::bigint AS enrolled,
               COALESCE(max(l.caseload) FILTER (WHERE l.active), 0) AS max_load
          FROM report_caseloads($1, $2, $3, $4) l GROUP BY 1, 2),
    c AS (
        SELECT p.name, b.period, COALESCE(l.n, 0) AS n, COALESCE(l.enrolled, 0) AS enrolled,
               COALESCE(l.total, 0) AS total, COALESCE(l.max_load, 0) AS max_load,
               pol.hard_cap, pol.target_avg, pol.funded, pol.pacing_margin,
               (SELECT count(*) FROM waitlist_entry w
                 WHERE w.program = p.name AND w.received_at < b.ends
                   AND (w.closed_at IS NULL OR w.closed_at >= b.ends)) AS waitlist
          FROM unnest($1) AS p(name) CROSS JOIN report_periods($2, $3, $4) b
          LEFT JOIN loads l ON l.program = p.name AND l.period = b.period
          LEFT JOIN LATERAL (      -- the policy then; before its history, the first known
              SELECT pe.* FROM (
                  (SELECT 0 AS pref, pe.* FROM policy_event pe WHERE pe.program = p.name AND pe.since < b.ends
                    ORDER BY pe.since DESC, pe.id DESC LIMIT 1)
                  UNION ALL
                  (SELECT 1, pe.* FROM policy_event pe WHERE pe.program = p.name ORDER BY pe.since, pe.id LIMIT 1)) pe
               ORDER BY pe.pref LIMIT 1) pol ON true),
    paced AS (
        SELECT c.*, (CASE WHEN c.funded IS NULL THEN c.n * c.target_avg
                          ELSE least(c.n * c.target_avg, floor(c.funded * (1 - c.pacing_margin))) END)::bigint AS paced
          FROM c)
    SELECT x.name, x.period, x.n, x.enrolled, x.total,
           CASE WHEN x.n > 0 THEN round(x.total::numeric / x.n, 2) END, x.max_load,
           x.hard_cap, x.target_avg, x.funded, x.pacing_margin, x.paced, x.paced - x.total, x.waitlist,
           CASE WHEN x.total + x.waitlist <= 0 THEN 0
                ELSE greatest(0, ceil((x.total + x.waitlist) / (x.target_avg * (1 - x.pacing_margin))) - x.n) END::bigint
      FROM paced x ORDER BY 1, 2
$$;

-- ---------------------------------------------------------------------------
-- The report

-- Every figure, in order: name (divert.report_<name> computes it), title, about.
CREATE FUNCTION report_figures() RETURNS TABLE (name text, title text, about text)
    LANGUAGE sql IMMUTABLE AS $$
    VALUES
    ('referrals', 'Referrals',
     'Referrals by their first decision (the intake decision) in the period: accepted, waitlisted or declined.'),
    ('referrals_by_pathway', 'Referrals by pathway',
     'Referrals whose intake decision was in the period, by pathway.'),
    ('referrals_by_source_kind', 'Referrals by kind of source',
     'Referrals whose intake decision was in the period, by the kind of source that sent them.'),
    ('referrals_by_source', 'Referrals by source',
     'Referrals whose intake decision was in the period, by the source that sent them.'),
    ('decisions', 'Decisions by outcome and reason',
     'Every decision in the period: at intake, and later (promotions from the waitlist, expiries, withdrawals, lapsed intakes).'),
    ('acceptance_by_tier', 'Acceptance by tier',
     'Referrals whose intake decision was in the period, by tier, and how many were accepted at intake or from the waitlist by the end of the report''s period (acceptance_rate = accepted / referrals).'),
    ('waitlist', 'Waits on the waitlist',
     'Waits that ended in the period (one per person waiting; linked referrals share it), how they ended, and their days (p50, p90).'),
    ('intake', 'From acceptance to intake',
     'Pending intakes that ended in the period: completed, lapsed (the intake window passed) or otherwise (withdrawn, discharged); lapse_rate = lapsed / all ended; days from acceptance to intake completed (p50, p90).'),
    ('exits', 'Exits by reason',
     'Enrollments that exited in the period, by reason, with the days from acceptance to exit (p50, p90).'),
    ('length_of_stay', 'Length of stay',
     'Enrollments that completed intake and exited in the period: days from acceptance to exit (p50, p90).'),
    ('capacity', 'Capacity at the end of each period',
     'Active case managers (n), people enrolled, the total T on active caseloads and its average, the policy then, paced = min(n*A, floor(F*(1-m))), free = paced - T, waitlist W, staffing_gap = max(0, ceil((T+W)/(A*(1-m))) - n).'),
    ('caseloads', 'Caseload per case manager at the end of each period',
     'Each case manager active in the program then, or still holding people, and how many people they hold.')
$$;

CREATE FUNCTION s_report_columns(fn regproc) RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.name ORDER BY a.i)
      FROM pg_proc p, unnest(p.proargnames, p.proargmodes::text[]) WITH ORDINALITY AS a(name, mode, i)
     WHERE p.oid = $1 AND a.mode = 't'
$$;

-- The report: see the top of this file. figures NULL = all, in order.
CREATE FUNCTION report(program text DEFAULT NULL, from_day date DEFAULT NULL, to_day date DEFAULT NULL,
                       by text DEFAULT 'day', figures text[] DEFAULT NULL)
    RETURNS json LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    scope jsonb;
    programs text[];
    unknown text;
    f record;
    fn regproc;
    figure_rows json;
    out json[] := '{}';
BEGIN
    IF by IS NULL OR by NOT IN ('day', 'week', 'month', 'all') THEN
        RAISE EXCEPTION 'divert: by must be day, week, month or all';
    END IF;
    SELECT x INTO unknown FROM unnest(figures) x WHERE x NOT IN (SELECT name FROM report_figures()) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'divert: no figure % (figures: %)', unknown,
            (SELECT string_agg(name, ', ') FROM report_figures());
    END IF;
    scope := s_report_scope(program, from_day, to_day);
    programs := ARRAY(SELECT jsonb_array_elements_text(scope -> 'programs'));
    from_day := (scope ->> 'from')::date;
    to_day := (scope ->> 'to')::date;
    FOR f IN SELECT * FROM report_figures() r WHERE figures IS NULL OR r.name = ANY (figures) LOOP
        fn := ('divert.report_' || f.name)::regproc;
        EXECUTE format('SELECT COALESCE(json_agg(row_to_json(t)), ''[]'') FROM %s($1, $2, $3, $4) t', fn)
           INTO figure_rows USING programs, from_day, to_day, by;
        out := out || json_build_object('name', f.name, 'title', f.title, 'about', f.about,
                                        'columns', s_report_columns(fn), 'rows', figure_rows);
    END LOOP;
    RETURN json_build_object('v', 1, 'from', from_day, 'to', to_day, 'by', by,
        'time_zone', current_setting('TimeZone'), 'programs', programs,
        'generated_at', s_rfc3339(now()), 'figures', array_to_json(out));
END $$;

-- ---------------------------------------------------------------------------
-- The evaluator's extract: one row per referral whose intake decision was in
-- the period, with what happened to it as known now. No names, dates of
-- birth, notes, contacts, source person ids or referral ids: the person
-- and the referral are pseudonyms; times are days.
--   person, referral     pseudonyms (hex HMAC-SHA256, see the top of this file)
--   referred_on          the day of the intake decision
--   program, pathway, tier, source_kind, decision, reason   of the intake decision
--   days_on_waitlist     waitlisted: from that decision to the one that ended the wait
--   wait_ended           promoted, expired, withdrawn, or waiting
--   accepted_on          the day it was accepted (at intake or from the waitlist)
--   intake_on, exited_on, exit_reason   of its enrollment
CREATE FUNCTION report_extract(program text DEFAULT NULL, from_day date DEFAULT NULL, to_day date DEFAULT NULL)
    RETURNS json LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    scope jsonb;
    programs text[];
    pads bytea[];
    columns text[] := '{person, referral, referred_on, program, pathway, tier, source_kind, decision, reason,'
                      ' days_on_waitlist, wait_ended, accepted_on, intake_on, exited_on, exit_reason}';
BEGIN
    scope := s_report_scope(program, from_day, to_day);
    programs := ARRAY(SELECT jsonb_array_elements_text(scope -> 'programs'));
    from_day := (scope ->> 'from')::date;
    to_day := (scope ->> 'to')::date;
    INSERT INTO report_secret (secret) VALUES (s_new_secret()) ON CONFLICT DO NOTHING;
    SELECT s_hmac_pads(s.secret) INTO pads FROM report_secret s;
    RETURN (
        SELECT json_build_object('v', 1, 'from', from_day, 'to', to_day, 'time_zone', current_setting('TimeZone'),
                   'programs', programs, 'columns', columns,
                   -- within a day, in the order of the pseudonyms: nothing of the order of arrival
                   'rows', COALESCE(json_agg(row_to_json(x) ORDER BY x.referred_on, x.referral), '[]'))
          FROM (
            SELECT encode(s_hmac(pads, convert_to('person:' || r.person_id, 'UTF8')), 'hex') AS person,
                   encode(s_hmac(pads, convert_to('referral:' || r.id, 'UTF8')), 'hex') AS referral,
                   i.at::date AS referred_on, i.program, r.pathway, i.tier, s.kind AS source_kind,
                   i.decision, i.reason,
                   CASE WHEN i.decision = 'waitlist' AND nx.at IS NOT NULL THEN round(s_days(i.at, nx.at), 1) END
                       AS days_on_waitlist,
                   CASE WHEN i.decision <> 'waitlist' THEN NULL
                        WHEN nx.at IS NULL THEN 'waiting'
                        WHEN nx.decision = 'accept' THEN 'promoted'
                        WHEN nx.reason = 'waitlist_expired' THEN 'expired'
                        ELSE nx.decision END AS wait_ended,
                   (SELECT min(a.at)::date FROM decision_event a
                     WHERE a.referral_id = r.id AND a.decision = 'accept') AS accepted_on,
                   (SELECT min(h.at)::date FROM enrollment_event h
                     WHERE h.enrollment_id = n.id AND h.change = 'intake_completed') AS intake_on,
                   (SELECT h.at::date FROM enrollment_event h
                     WHERE h.enrollment_id = n.id AND h.change = 'exited' ORDER BY h.id DESC LIMIT 1) AS exited_on,
                   (SELECT h.reason FROM enrollment_event h
                     WHERE h.enrollment_id = n.id AND h.change = 'exited' ORDER BY h.id DESC LIMIT 1) AS exit_reason
              FROM s_report_intakes(programs, from_day, to_day) i
              JOIN referral r ON r.id = i.referral_id
              JOIN source s ON s.id = r.source_id
              LEFT JOIN enrollment n ON n.referral_id = r.id
              LEFT JOIN LATERAL (SELECT e.at, e.decision, e.reason FROM decision_event e
                                  WHERE e.referral_id = r.id AND e.id > i.id ORDER BY e.id LIMIT 1) nx
                ON i.decision = 'waitlist') x);
END $$;

-- ---------------------------------------------------------------------------
-- Who may do what (004's roles, 010's divert_web): the report's figures
-- have no personal data, so both divert-web and operators may read them.
-- The extract is the operators' (divertctl report --evaluator). Nobody but
-- the owner reads the site secret.

REVOKE ALL ON case_manager_event, policy_event, report_secret FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA divert FROM PUBLIC;
GRANT SELECT ON case_manager_event, policy_event TO divert_operator;
GRANT EXECUTE ON FUNCTION report(text, date, date, text, text[]), report_figures() TO divert_operator, divert_web;
GRANT EXECUTE ON FUNCTION report_extract(text, date, date) TO divert_operator;
