-- 012_metrics.sql — what divert-web's /metrics (Prometheus) reads (issue 12,
-- part 3).
--
--   daemon_metrics      one row per divertd process ("host:pid"): its process
--                       counters (daemon/metrics.h: decisions by decision and
--                       reason, enrollment changes by change, the decision
--                       latency and batch size histograms) as divertd last
--                       wrote them, every metrics_interval and once more at a
--                       clean stop. Counters start at zero with the process:
--                       a restarted divertd is a new row.
--   daemon_metrics_put  divertd's only way in (divert_daemon); it also deletes
--                       the rows of daemons gone for a day.
--   web_daemon_metrics  the rows divert-web exposes: those written within
--                       three of their daemon's intervals (a daemon that
--                       stopped or died drops out after that).
--   web_basic_check     HTTP Basic credentials for /metrics (`metrics =
--                       login`): web_login_check's answer (the lock, the
--                       password hash) and the user's role; failures are
--                       counted with web_login_finish like any failed login.
--
-- The enrollment feed also says which events this daemon's own connection
-- made ("own": actor = its divert.actor), so divertd counts its own changes
-- and never another daemon's or an operator's.
--
-- Nothing here holds personal data: counts by closed-list codes only.

SET LOCAL search_path = divert, pg_catalog;

CREATE TABLE daemon_metrics (
    daemon          text PRIMARY KEY CHECK (length(daemon) BETWEEN 1 AND 200),   -- host:pid
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    report_interval interval NOT NULL CHECK (report_interval >= interval '1 second'),
    metrics         jsonb NOT NULL CHECK (jsonb_typeof(metrics) = 'object')
);

CREATE FUNCTION daemon_metrics_put(daemon text, started_at timestamptz, report_interval interval, metrics jsonb)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
BEGIN
    INSERT INTO daemon_metrics AS d (daemon, started_at, updated_at, report_interval, metrics)
    VALUES (daemon_metrics_put.daemon, daemon_metrics_put.started_at, now(), daemon_metrics_put.report_interval,
            daemon_metrics_put.metrics)
    ON CONFLICT ON CONSTRAINT daemon_metrics_pkey DO UPDATE
       SET started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at,
           report_interval = EXCLUDED.report_interval, metrics = EXCLUDED.metrics;
    DELETE FROM daemon_metrics d WHERE d.updated_at < now() - interval '1 day';
END $$;

CREATE VIEW web_daemon_metrics AS
    SELECT d.daemon, d.started_at, d.updated_at, d.metrics
      FROM daemon_metrics d
     WHERE d.updated_at > now() - 3 * d.report_interval;

CREATE FUNCTION web_basic_check(name text, address text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    checked jsonb := web_login_check(name, address);
BEGIN
    IF checked ? 'retry_after' THEN
        RETURN checked;
    END IF;
    RETURN checked || jsonb_build_object('role',
        (SELECT u.role FROM web_user u WHERE u.name = web_basic_check.name AND u.disabled_at IS NULL));
END $$;

-- An enrollment event on the wire (007's enrollment_event_wire, whose one
-- home this now is): plain SQL the planner inlines into a set-based query,
-- with the referral's ids given, and 002's s_rfc3339 marked STABLE as its
-- to_char is (an IMMUTABLE function calling a STABLE one is never inlined:
-- each event paid two function calls with their search_path changes).
ALTER FUNCTION s_rfc3339(timestamptz) STABLE;
CREATE FUNCTION s_enrollment_event_json(ev enrollment_event, source_id text, referral_id text) RETURNS jsonb
    LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'v', 1, 'type', 'enrollment_event', 'program', ev.program, 'seq', ev.seq,
        'source_id', source_id, 'referral_id', referral_id, 'change', ev.change,
        'status', ev.status, 'case_manager', ev.case_manager_id,
        'from_case_manager', ev.from_case_manager_id, 'reason', ev.reason, 'at', divert.s_rfc3339(ev.at)))
$$;
REVOKE EXECUTE ON FUNCTION s_enrollment_event_json(enrollment_event, text, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION enrollment_event_wire(ev enrollment_event) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN (SELECT s_enrollment_event_json(ev, r.source_id, r.referral_id) FROM referral r WHERE r.id = ev.referral_id);
END $$;

-- 007's feed, with "own" on each entry: made by this connection's divert.actor.
-- Set-based: the new events of every program in (program, seq) order, the
-- first `lim` of them (a loop appending to a jsonb array was quadratic in
-- the batch: 34 ms for 125 events, make bench BENCH_PROFILE=1).
CREATE OR REPLACE FUNCTION enrollment_feed_after(positions jsonb, lim int) RETURNS jsonb LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    me text := NULLIF(current_setting('divert.actor', true), '');
    result jsonb;
BEGIN
    WITH f AS (
        SELECT f.program, COALESCE((positions ->> f.program)::bigint, f.last_seq) AS at_seq FROM enrollment_feed f),
    ev AS (
        SELECT e, row_number() OVER (ORDER BY e.program, e.seq) AS n
          FROM f CROSS JOIN LATERAL (SELECT * FROM enrollment_event x WHERE x.program = f.program AND x.seq > f.at_seq
                                      ORDER BY x.seq LIMIT lim + 1) e),
    taken AS (SELECT (ev.e).* FROM ev WHERE ev.n <= lim)
    SELECT jsonb_build_object(
        'positions', positions || COALESCE((SELECT jsonb_object_agg(f.program,
                          COALESCE((SELECT max(t.seq) FROM taken t WHERE t.program = f.program), f.at_seq)) FROM f), '{}'),
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

-- ---------------------------------------------------------------------------
-- Who may do what (004's and 010's roles)

REVOKE ALL ON daemon_metrics, web_daemon_metrics FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION daemon_metrics_put(text, timestamptz, interval, jsonb), web_basic_check(text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daemon_metrics_put(text, timestamptz, interval, jsonb) TO divert_daemon;
GRANT SELECT ON web_daemon_metrics TO divert_web;
GRANT EXECUTE ON FUNCTION web_basic_check(text, text) TO divert_web;
GRANT SELECT ON daemon_metrics TO divert_operator;
