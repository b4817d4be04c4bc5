-- 013_fhir.sql — divert-web's FHIR side (issue 12, part 2): the facts each
-- referral's Task and ServiceRequest are built from (HL7 SDOH Clinical Care,
-- FHIR R4; clients/divert-web/fhir*.c builds the resources), scoped to what
-- the session's user may see, without personal data.
--
--   fhir_referral             per referral: its source, program, tier, state,
--                             its latest decision's reason, its enrollment
--                             (for a referral linked to a waitlist entry that
--                             was promoted, the entry's enrollment), and
--                             last_modified: the latest of its receipt, its
--                             decisions and its enrollment's changes (as
--                             recorded), to the millisecond.
--   web_fhir_referral(token, id)        one referral's facts, or NULL
--   web_fhir_referrals(token, ...)      a page of them by last_modified
--   web_fhir_source(token, id)          a source (Organization), or NULL
--
-- Who sees what: program and admin every referral; a partner its source's;
-- a case manager the referrals whose enrollment is assigned to them. No
-- names, dates of birth, notes, contacts or other fields of the payload:
-- the person is a per-referral pseudonym (an MD5-derived UUID of the
-- source and referral ids), so nothing here is a disclosure and nothing is
-- recorded in divert.disclosure.

SET LOCAL search_path = divert, pg_catalog;

CREATE VIEW fhir_referral AS
    SELECT r.id, r.source_id, s.name AS source_name, r.referral_id, r.tier, r.program, r.state,
           r.submitted_at, r.received_at, d.reason, d.at AS decided_at,
           e.id AS enrollment_id, e.status AS enrollment_status, e.exit_reason, e.case_manager_id,
           date_trunc('milliseconds', greatest(r.received_at, d.at, ev.changed)) AS last_modified
      FROM referral r
      JOIN source s ON s.id = r.source_id
      LEFT JOIN LATERAL (SELECT x.reason, x.at FROM decision_event x
                          WHERE x.referral_id = r.id ORDER BY x.id DESC LIMIT 1) d ON true
      LEFT JOIN LATERAL (
          SELECT y.id, y.status, y.exit_reason, y.case_manager_id FROM (
              SELECT n.id, n.status, n.exit_reason, n.case_manager_id, 0 AS k
                FROM enrollment n WHERE n.referral_id = r.id
              UNION ALL
              SELECT n.id, n.status, n.exit_reason, n.case_manager_id, 1
                FROM waitlist_entry w JOIN enrollment n ON n.referral_id = w.referral_id
               WHERE w.id = r.waitlist_entry_id AND w.referral_id <> r.id AND r.state = 'accepted') y
           ORDER BY y.k LIMIT 1) e ON true
      LEFT JOIN LATERAL (SELECT max(x.recorded_at) AS changed FROM enrollment_event x
                          WHERE x.enrollment_id = e.id) ev ON true;

-- Milliseconds since the epoch (exact for last_modified).
CREATE FUNCTION s_ms(t timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (extract(epoch FROM $1) * 1000)::bigint $$;

-- The person of one referral, as FHIR names them: a UUID that says nothing
-- but "the person this referral is about" (two referrals of one person are
-- two pseudonyms: linking them is not for FHIR's readers). A name-based
-- UUID (RFC 4122 version 3: MD5) of the source and referral ids.
CREATE FUNCTION s_fhir_subject(src text, ref text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(substr(h, 1, 12) || '3' || substr(h, 14, 3)
                          || substr('89ab', (('x' || substr(h, 17, 1))::bit(4)::int & 3) + 1, 1) || substr(h, 18),
                          '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5')
      FROM (SELECT md5('divert-fhir-subject/' || $1 || '/' || lower($2)) AS h) x
$$;

CREATE FUNCTION s_fhir_facts(f fhir_referral) RETURNS jsonb LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    SELECT jsonb_build_object('id', $1.id, 'source_id', $1.source_id, 'source_name', $1.source_name,
        'referral_id', $1.referral_id, 'subject', s_fhir_subject($1.source_id, $1.referral_id),
        'tier', $1.tier, 'program', $1.program, 'state', $1.state, 'reason', $1.reason,
        'enrollment_status', $1.enrollment_status, 'exit_reason', $1.exit_reason,
        'submitted_at', s_rfc3339($1.submitted_at), 'received_at', s_rfc3339($1.received_at),
        'last_modified', s_rfc3339($1.last_modified), 'last_modified_ms', s_ms($1.last_modified))
$$;

-- Whether user u may see referral f.
CREATE FUNCTION s_fhir_may(u web_user, f fhir_referral) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT $1.role IN ('program', 'admin')
        OR ($1.role = 'partner' AND $2.source_id = $1.source_id)
        OR ($1.role = 'case_manager' AND $2.case_manager_id = $1.case_manager_id)
$$;

-- One referral's facts (Task/{id}, ServiceRequest/{id}), or NULL: no such
-- referral, or not the user's to see (no one learns that it exists).
CREATE FUNCTION web_fhir_referral(token_hash text, ref bigint) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog SET jit = off AS $$
DECLARE
    u web_user;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT s_fhir_facts(f) FROM fhir_referral f WHERE f.id = ref AND s_fhir_may(u, f));
END $$;

-- The user's referrals whose last_modified is after `since` (or at it, when
-- since_inclusive) and before `until` (or at it), either bound NULL for
-- none, in (last_modified, id) order after the cursor (after_ms, after_id)
-- (NULL: from the start), at most lim + 1 of them (one more than a page,
-- so the caller knows there is a next page). Returns {"total": how many
-- match the bounds, "entries": [facts ...]}, or NULL without a session.
-- (No JIT: the planner's estimates for the candidates can pass its cost
-- thresholds, and compiling then costs far more than the query.)
CREATE FUNCTION web_fhir_referrals(token_hash text, since timestamptz, since_inclusive boolean,
                                   until timestamptz, until_inclusive boolean,
                                   after_ms bigint, after_id bigint, lim int) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog SET jit = off AS $$
DECLARE
    u web_user;
    out jsonb;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL OR lim IS NULL OR lim < 0 THEN
        RETURN NULL;
    END IF;
    -- Candidates first, so a poll for recent changes computes the facts of
    -- few referrals: anything changed at or after `since` was received,
    -- decided or had an enrollment change (its own, or its waitlist entry's
    -- referral's) at or after it (last_modified is their greatest,
    -- truncated, so this is a superset).
    WITH cand AS (
        SELECT r.id FROM referral r WHERE since IS NULL OR r.received_at >= since
        UNION
        SELECT x.referral_id FROM decision_event x WHERE since IS NOT NULL AND x.at >= since
        UNION
        SELECT x.referral_id FROM enrollment_event x WHERE since IS NOT NULL AND x.recorded_at >= since
        UNION
        SELECT l.id FROM enrollment_event x JOIN waitlist_entry w ON w.referral_id = x.referral_id
          JOIN referral l ON l.waitlist_entry_id = w.id AND l.id <> x.referral_id
         WHERE since IS NOT NULL AND x.recorded_at >= since),
    m AS (
        SELECT f FROM fhir_referral f
         WHERE f.id IN (SELECT cand.id FROM cand) AND s_fhir_may(u, f)
           AND (since IS NULL OR f.last_modified > since OR (since_inclusive AND f.last_modified = since))
           AND (until IS NULL OR f.last_modified < until OR (until_inclusive AND f.last_modified = until)))
    SELECT jsonb_build_object('total', (SELECT count(*) FROM m),
        'entries', COALESCE((SELECT jsonb_agg(s_fhir_facts(p.f) ORDER BY (p.f).last_modified, (p.f).id)
                               FROM (SELECT m.f FROM m
                                      WHERE after_ms IS NULL
                                         OR (s_ms((m.f).last_modified), (m.f).id) > (after_ms, COALESCE(after_id, 0))
                                      ORDER BY (m.f).last_modified, (m.f).id LIMIT lim + 1) p), '[]'))
      INTO out;
    RETURN out;
END $$;

-- A source as its Organization: any user may see any source's name and
-- kind (the desks show them), a partner only its own.
CREATE FUNCTION web_fhir_source(token_hash text, src text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL OR (u.role = 'partner' AND u.source_id IS DISTINCT FROM src) THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT jsonb_build_object('id', s.id, 'name', s.name, 'kind', s.kind,
                                      'revoked', s.revoked_at IS NOT NULL)
              FROM source s WHERE s.id = src);
END $$;

-- ---------------------------------------------------------------------------
-- Privileges: divert_web reads these facts only through the functions.

REVOKE ALL ON fhir_referral FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA divert FROM PUBLIC;
ALTER FUNCTION web_fhir_referral(text, bigint) SECURITY DEFINER;
ALTER FUNCTION web_fhir_referrals(text, timestamptz, boolean, timestamptz, boolean, bigint, bigint, int) SECURITY DEFINER;
ALTER FUNCTION web_fhir_source(text, text) SECURITY DEFINER;
GRANT EXECUTE ON FUNCTION web_fhir_referral(text, bigint),
    web_fhir_referrals(text, timestamptz, boolean, timestamptz, boolean, bigint, bigint, int),
    web_fhir_source(text, text) TO divert_web;
