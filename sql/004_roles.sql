-- 004_roles.sql — who may do what in the database (least privilege).
--
--   owner            whoever runs `divertctl migrate`: owns the schema, runs DDL.
--   divert_daemon    divertd's login role is a member. It cannot run DDL, cannot
--                    write any table directly, and reads only what it needs:
--                    keys (ZAP), decision events and the ids of referrals
--                    (status, replay), the schema version. Every write goes
--                    through the SECURITY DEFINER functions of 002/003, which
--                    keep the rules (hard cap, seq, append-only events).
--   divert_operator  divertctl's login role (program managers, operators) is a
--                    member: staff, sources, keys, policy, enrollment status;
--                    read-only on events and referrals; no DDL.
-- Both are NOLOGIN groups: a site creates login roles in them, e.g.
--   CREATE ROLE divertd LOGIN IN ROLE divert_daemon;
--   CREATE ROLE alice LOGIN IN ROLE divert_operator;
-- Decision events are append-only for everyone (triggers of 001), owner included.

SET LOCAL search_path = divert, pg_catalog;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'divert_daemon') THEN
        CREATE ROLE divert_daemon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'divert_operator') THEN
        CREATE ROLE divert_operator NOLOGIN;
    END IF;
END $$;

-- Nothing for PUBLIC (functions are executable by PUBLIC by default).
REVOKE ALL ON SCHEMA divert FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA divert FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA divert FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA divert FROM PUBLIC;

-- The daemon's writes run as the owner, inside the functions that keep the rules.
ALTER FUNCTION batch_begin(jsonb) SECURITY DEFINER;
ALTER FUNCTION batch_record(jsonb) SECURITY DEFINER;
ALTER FUNCTION lifecycle(text) SECURITY DEFINER;
ALTER FUNCTION batch_promote(jsonb) SECURITY DEFINER;
ALTER FUNCTION withdraw(text, text, text) SECURITY DEFINER;
ALTER FUNCTION event_wire(decision_event) SECURITY DEFINER;
ALTER FUNCTION event_topic(text) SECURITY DEFINER;

GRANT USAGE ON SCHEMA divert TO divert_daemon, divert_operator;

GRANT EXECUTE ON FUNCTION batch_begin(jsonb), batch_record(jsonb), lifecycle(text),
    batch_promote(jsonb), withdraw(text, text, text), event_wire(decision_event),
    event_topic(text) TO divert_daemon;
GRANT SELECT ON schema_migration, decision_event TO divert_daemon;
GRANT SELECT (id, kind, public_key, revoked_at) ON source TO divert_daemon;
GRANT SELECT (id, public_key, revoked_at) ON monitor TO divert_daemon;
GRANT SELECT (id, source_id, referral_id) ON referral TO divert_daemon;

-- Operators: the divertctl commands. Person data (names, dates of birth) and
-- referral payloads are not granted: divertctl never prints them.
GRANT SELECT ON schema_migration, decision_event, pathway_permission TO divert_operator;
GRANT SELECT, INSERT, UPDATE ON program, case_manager, outreach_staff, source, monitor TO divert_operator;
GRANT SELECT, UPDATE ON enrollment, waitlist_entry TO divert_operator;
GRANT SELECT (id, source_id, referral_id, person_id, pathway, tier, score, program, submitted_at,
              received_at, state, waitlist_entry_id) ON referral TO divert_operator;
GRANT UPDATE (state) ON referral TO divert_operator;
GRANT EXECUTE ON FUNCTION event_wire(decision_event), event_topic(text), s_rfc3339(timestamptz),
    s_us(timestamptz) TO divert_operator;
