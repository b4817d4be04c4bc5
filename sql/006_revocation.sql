-- 006_revocation.sql — a revoked key loses what it had on connections already
-- open (protocol.md: within 60 s), not only new connections.
--
-- The ZAP handler checks a key at each handshake; a connection that is open
-- keeps the identity it authenticated with, "kind:id" (ZAP User-Id, e.g.
-- "police:spd", "monitor:ops"). divertd keeps the set of revoked identities
-- in memory and refuses their requests and closes their subscriptions: its
-- database thread reads revoked_identity after every (re)connect, on NOTIFY
-- divert_revocation, and on a 15 s timer, so a lost notification delays a
-- revocation by seconds but never loses it.
--
-- Every kind of key is here: a new key table (say case-management keys, "cms:ID")
-- adds one UNION ALL to revoked_identity (CREATE OR REPLACE VIEW) and one
-- revocation_notify trigger on its table; divertd needs no change.

SET LOCAL search_path = divert, pg_catalog;

-- The identity of every revoked key, in the ZAP User-Id form.
CREATE VIEW revoked_identity AS
    SELECT kind || ':' || id AS identity FROM source WHERE revoked_at IS NOT NULL
    UNION ALL
    SELECT 'monitor:' || id FROM monitor WHERE revoked_at IS NOT NULL;

-- A key was revoked (or un-revoked, renamed, deleted): tell every divertd.
-- Statement-level: one notification per statement; PostgreSQL delivers it at
-- COMMIT, so divertd reads the committed set.
CREATE FUNCTION s_notify_revocation() RETURNS trigger LANGUAGE plpgsql
    SET search_path = divert, pg_catalog AS $$
BEGIN
    PERFORM pg_notify('divert_revocation', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER source_revocation_notify AFTER UPDATE OF revoked_at, id, kind OR DELETE ON source
    FOR EACH STATEMENT EXECUTE FUNCTION s_notify_revocation();
CREATE TRIGGER monitor_revocation_notify AFTER UPDATE OF revoked_at, id OR DELETE ON monitor
    FOR EACH STATEMENT EXECUTE FUNCTION s_notify_revocation();

-- Least privilege (as 004): the daemon reads the view (it runs with the
-- view owner's rights on source and monitor), nothing else new.
REVOKE EXECUTE ON FUNCTION s_notify_revocation() FROM PUBLIC;
GRANT SELECT ON revoked_identity TO divert_daemon, divert_operator;
