-- 010_web.sql — divert-web: the people who use the web interface, their
-- sessions and login throttling, the audit of every disclosure of personal
-- data, and the least-privilege role divert-web logs in with.
--
--   web_user           a person who logs in: partner (bound to one source),
--                      case_manager (bound to one case manager), program, admin.
--                      Passwords are argon2id hashes (libsodium's
--                      crypto_pwhash_str), made by divertctl or divert-web;
--                      the database never sees a password.
--   web_session        a login: the SHA-256 of its random 256-bit token (the
--                      cookie holds the token, the database only its hash),
--                      the CSRF token, idle and absolute expiry.
--   web_login_failure  failed logins per user name and per address, and the
--                      lock they earned.
--   disclosure         every time personal data left divert: by divert-web
--                      (actor_kind 'web', the user name) or by the
--                      case-management feed (actor_kind 'cms', the key id).
--
-- divert_web (a NOLOGIN group; divert-web's login role is a member) reads
-- views without personal data (programs, caseloads, the waitlist, decisions)
-- and calls SECURITY DEFINER functions for everything else. Every function
-- that returns personal data takes the session's token hash, finds the user
-- itself, checks what that user may see, and writes the disclosure row in
-- the same transaction: the role alone reads no one's personal data.

SET LOCAL search_path = divert, pg_catalog;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'divert_web') THEN
        CREATE ROLE divert_web NOLOGIN;
    END IF;
END $$;

CREATE TABLE web_user (
    name                text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role                text NOT NULL CHECK (role IN ('partner', 'case_manager', 'program', 'admin')),
    source_id           text REFERENCES source (id),
    case_manager_id     text REFERENCES case_manager (id),
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%' AND length(password_hash) < 256),
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    disabled_at         timestamptz,
    last_login_at       timestamptz,
    CHECK ((role = 'partner') = (source_id IS NOT NULL)),
    CHECK ((role = 'case_manager') = (case_manager_id IS NOT NULL))
);

CREATE TABLE web_session (
    token_hash      text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_name       text NOT NULL REFERENCES web_user (name) ON DELETE CASCADE,
    csrf            text NOT NULL CHECK (length(csrf) BETWEEN 32 AND 128),
    address         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    idle            interval NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX web_session_user ON web_session (user_name);

CREATE TABLE web_login_failure (
    scope           text NOT NULL CHECK (scope IN ('user', 'address')),
    key             text NOT NULL,
    failures        int NOT NULL DEFAULT 0,
    first_at        timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    PRIMARY KEY (scope, key)
);

-- The disclosure table itself is 007_case_management.sql's (append-only,
-- indexed by referral); divert-web's functions below add its rows.


-- ---------------------------------------------------------------------------
-- Views without personal data (divert-web's program dashboard and lists).

-- Program policy rows (dv_program_load reads them).
CREATE VIEW web_programs AS
    SELECT p.* FROM program p;

CREATE VIEW web_sources AS
    SELECT s.id, s.kind, s.name, s.revoked_at IS NOT NULL AS revoked,
           COALESCE((SELECT array_agg(pp.pathway ORDER BY pp.pathway) FROM pathway_permission pp
                      WHERE pp.kind = s.kind), '{}') AS pathways
      FROM source s;

CREATE VIEW web_case_managers AS
    SELECT c.id, c.program, c.name, c.area, c.active, c.caseload,
           count(e.id) FILTER (WHERE e.status = 'pending_intake') AS pending_intake,
           count(e.id) FILTER (WHERE e.status = 'active') AS active_count,
           count(e.id) FILTER (WHERE e.status = 'in_the_wind') AS in_the_wind
      FROM case_manager c LEFT JOIN enrollment e ON e.case_manager_id = c.id AND e.status <> 'exited'
     GROUP BY c.id;

-- The open waitlist entries, unordered: divert-web puts them in promotion
-- order with dv_waitlist (common/dv_waitlist.c, the one definition of the
-- order, policy.md §3), as divertd and divertctl do.
CREATE VIEW web_waitlist AS
    SELECT w.id, w.program, r.referral_id, r.source_id, w.tier, w.score AS base_score, w.received_at,
           (extract(epoch FROM w.received_at) * 1000000)::bigint AS received_us,
           w.received_at + p.waitlist_ttl AS expires_at,
           extract(epoch FROM now() - w.received_at)::bigint AS waited_seconds,
           extract(epoch FROM w.received_at + p.waitlist_ttl - now())::bigint AS expires_in_seconds
      FROM waitlist_entry w JOIN program p ON p.name = w.program JOIN referral r ON r.id = w.referral_id
     WHERE w.state = 'open';

CREATE VIEW web_program_exits AS
    SELECT p.name AS program,
           (SELECT count(*) FROM enrollment x WHERE x.program = p.name
               AND x.exited_at > now() - interval '90 days') AS exits_90d
      FROM program p;

-- Every decision event, with what explain shows (no payload, no person).
CREATE VIEW web_decisions AS
    SELECT e.id, e.at, e.source_id, s.name AS source_name, s.kind AS source_kind, r.referral_id,
           e.seq, e.decision, e.reason, e.program, e.case_manager_id, c.name AS case_manager_name,
           e.tier, e.score, e.components, e.capacity, e.from_waitlist, e.policy_version,
           r.pathway, r.state AS referral_state
      FROM decision_event e JOIN referral r ON r.id = e.referral_id JOIN source s ON s.id = e.source_id
      LEFT JOIN case_manager c ON c.id = e.case_manager_id;

CREATE VIEW web_referrals AS
    SELECT r.source_id, r.referral_id, r.pathway, r.tier, r.program, r.state, r.received_at,
           e.status AS enrollment_status, e.case_manager_id, e.intake_due_at, e.exit_reason,
           w.state AS waitlist_state, waitlist_expires_at(w) AS waitlist_expires_at
      FROM referral r
      LEFT JOIN enrollment e ON e.referral_id = r.id
      LEFT JOIN waitlist_entry w ON w.id = r.waitlist_entry_id;


-- ---------------------------------------------------------------------------
-- Users (divertctl user ..., and the admin desk through the functions below)

CREATE FUNCTION s_web_user_json(u web_user) RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN jsonb_build_object('name', u.name, 'role', u.role, 'source_id', u.source_id,
        'case_manager_id', u.case_manager_id, 'disabled', u.disabled_at IS NOT NULL,
        'created_at', s_rfc3339(u.created_at), 'password_changed_at', s_rfc3339(u.password_changed_at),
        'disabled_at', s_rfc3339(u.disabled_at), 'last_login_at', s_rfc3339(u.last_login_at),
        'sessions', (SELECT count(*) FROM web_session s WHERE s.user_name = u.name AND s.expires_at > now()));
END $$;

-- role: partner | case_manager | program | admin; binding: the source id
-- (partner) or case manager id (case_manager), else NULL.
-- Returns {"user": ...} or {"error": code, "field": ..., "message": ...}.
CREATE FUNCTION user_add(name text, role text, binding text, password_hash text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    IF name IS NULL OR name !~ '^[a-z0-9][a-z0-9._-]{0,63}$' THEN
        RETURN jsonb_build_object('error', 'invalid', 'field', 'name', 'message',
            'a user name is 1-64 characters: lowercase letters, digits, ''.'', ''_'' or ''-'', starting with a letter or digit');
    END IF;
    IF role IS NULL OR role NOT IN ('partner', 'case_manager', 'program', 'admin') THEN
        RETURN jsonb_build_object('error', 'invalid', 'field', 'role', 'message',
            'the role is partner:SOURCE, case_manager:CM, program or admin');
    END IF;
    IF role = 'partner' AND NOT EXISTS (SELECT 1 FROM source s WHERE s.id = binding) THEN
        RETURN jsonb_build_object('error', 'invalid', 'field', 'binding', 'message', 'no source with this id');
    END IF;
    IF role = 'case_manager' AND NOT EXISTS (SELECT 1 FROM case_manager c WHERE c.id = binding) THEN
        RETURN jsonb_build_object('error', 'invalid', 'field', 'binding', 'message', 'no case manager with this id');
    END IF;
    IF role IN ('program', 'admin') AND binding IS NOT NULL THEN
        RETURN jsonb_build_object('error', 'invalid', 'field', 'binding', 'message',
            'the program and admin roles are not bound to a source or case manager');
    END IF;
    IF EXISTS (SELECT 1 FROM web_user w WHERE w.name = user_add.name) THEN
        RETURN jsonb_build_object('error', 'conflict', 'field', 'name', 'message', 'a user with this name exists');
    END IF;
    INSERT INTO web_user (name, role, source_id, case_manager_id, password_hash)
    VALUES (user_add.name, user_add.role, CASE WHEN user_add.role = 'partner' THEN binding END,
            CASE WHEN user_add.role = 'case_manager' THEN binding END, user_add.password_hash)
    RETURNING * INTO u;
    RETURN jsonb_build_object('user', s_web_user_json(u));
END $$;

-- A new password ends every session of the user.
CREATE FUNCTION user_passwd(name text, password_hash text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    UPDATE web_user w SET password_hash = user_passwd.password_hash, password_changed_at = now()
     WHERE w.name = user_passwd.name RETURNING * INTO u;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', 'not_found', 'field', 'name', 'message', 'no user with this name');
    END IF;
    DELETE FROM web_session s WHERE s.user_name = u.name;
    DELETE FROM web_login_failure f WHERE f.scope = 'user' AND f.key = u.name;
    RETURN jsonb_build_object('user', s_web_user_json(u));
END $$;

-- Disabling ends every session of the user at once; enabling lets them log in again.
CREATE FUNCTION user_set_disabled(name text, disabled boolean) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    UPDATE web_user w SET disabled_at = CASE WHEN disabled THEN COALESCE(w.disabled_at, now()) END
     WHERE w.name = user_set_disabled.name RETURNING * INTO u;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('error', 'not_found', 'field', 'name', 'message', 'no user with this name');
    END IF;
    IF disabled THEN
        DELETE FROM web_session s WHERE s.user_name = u.name;
    END IF;
    RETURN jsonb_build_object('user', s_web_user_json(u));
END $$;

CREATE FUNCTION user_list() RETURNS jsonb LANGUAGE plpgsql STABLE
    SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN COALESCE((SELECT jsonb_agg(s_web_user_json(u) ORDER BY u.name) FROM web_user u), '[]');
END $$;


-- ---------------------------------------------------------------------------
-- Logins, throttled per user name and per address.

-- Before the password is checked: {"retry_after": seconds} while the name or
-- the address is locked, else {"hash": the argon2id hash or null}: null when
-- there is no such user or it is disabled (divert-web then checks against a
-- dummy hash, so the answer takes as long).
CREATE FUNCTION web_login_check(name text, address text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    until timestamptz;
BEGIN
    SELECT max(f.locked_until) INTO until FROM web_login_failure f
     WHERE ((f.scope = 'user' AND f.key = name) OR (f.scope = 'address' AND f.key = address))
       AND f.locked_until > now();
    IF until IS NOT NULL THEN
        RETURN jsonb_build_object('retry_after', GREATEST(1, ceil(extract(epoch FROM until - now()))::int));
    END IF;
    RETURN jsonb_build_object('hash',
        (SELECT u.password_hash FROM web_user u WHERE u.name = web_login_check.name AND u.disabled_at IS NULL));
END $$;

-- After the password was checked. ok: a new session (token_hash, csrf) with
-- its idle timeout and absolute lifetime; the user's failures are forgotten.
-- Not ok: one more failure for the name and for the address; `limit_user` /
-- `limit_address` failures within `window` lock it for `lockout`.
-- Returns the session's user (web_session's shape) or {"failed": true, "retry_after": s|null}.
CREATE FUNCTION web_login_finish(name text, address text, ok boolean, token_hash text, csrf text,
                                 idle interval, lifetime interval, limit_user int, limit_address int,
                                 window_ interval, lockout interval) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    until timestamptz;
BEGIN
    IF ok THEN
        DELETE FROM web_login_failure f WHERE f.scope = 'user' AND f.key = name;
        INSERT INTO web_session (token_hash, user_name, csrf, address, idle, expires_at)
        VALUES (web_login_finish.token_hash, name, web_login_finish.csrf, address, idle, now() + lifetime);
        UPDATE web_user u SET last_login_at = now() WHERE u.name = web_login_finish.name;
        RETURN web_session(web_login_finish.token_hash);
    END IF;
    -- A name that can't be a user's is not kept (it may be anything typed
    -- into the wrong field); the address still counts.
    INSERT INTO web_login_failure AS f (scope, key, failures, first_at)
    SELECT v.scope, v.key, 1, now()
      FROM (VALUES ('user', name), ('address', address)) AS v(scope, key)
     WHERE v.scope = 'address' OR name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'
    ON CONFLICT (scope, key) DO UPDATE
       SET failures = CASE WHEN f.first_at < now() - window_ THEN 1 ELSE f.failures + 1 END,
           first_at = CASE WHEN f.first_at < now() - window_ THEN now() ELSE f.first_at END;
    UPDATE web_login_failure f SET locked_until = now() + lockout, failures = 0, first_at = now()
     WHERE ((f.scope = 'user' AND f.key = name AND f.failures >= limit_user)
         OR (f.scope = 'address' AND f.key = address AND f.failures >= limit_address));
    SELECT max(f.locked_until) INTO until FROM web_login_failure f
     WHERE ((f.scope = 'user' AND f.key = name) OR (f.scope = 'address' AND f.key = address))
       AND f.locked_until > now();
    RETURN jsonb_build_object('failed', true, 'retry_after',
        CASE WHEN until IS NOT NULL THEN GREATEST(1, ceil(extract(epoch FROM until - now()))::int) END);
END $$;

-- The live session's user, or NULL. Internal: every function below starts here.
CREATE FUNCTION s_web_actor(token_hash text) RETURNS web_user
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    SELECT w.* INTO u FROM web_session s JOIN web_user w ON w.name = s.user_name
     WHERE s.token_hash = s_web_actor.token_hash AND s.expires_at > now()
       AND s.last_seen_at + s.idle > now() AND w.disabled_at IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN u;
END $$;

-- The session's user and what it is bound to, and its CSRF token; the idle
-- timeout starts again. NULL when the session is unknown, idle too long,
-- past its lifetime, or its user disabled.
CREATE FUNCTION web_session(token_hash text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
    s web_session;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE web_session w SET last_seen_at = now() WHERE w.token_hash = web_session.token_hash RETURNING * INTO s;
    RETURN jsonb_build_object('name', u.name, 'role', u.role, 'csrf', s.csrf,
        'idle_seconds', extract(epoch FROM s.idle)::int,
        'expires_at', s_rfc3339(s.expires_at),
        'source', (SELECT jsonb_build_object('id', x.id, 'name', x.name, 'kind', x.kind,
                        'revoked', x.revoked, 'pathways', to_jsonb(x.pathways))
                     FROM web_sources x WHERE x.id = u.source_id),
        'case_manager', (SELECT jsonb_build_object('id', c.id, 'name', c.name, 'program', c.program,
                        'active', c.active) FROM case_manager c WHERE c.id = u.case_manager_id));
END $$;

-- Whether the session is live, without resetting its idle timeout (a page's
-- open events stream asks this; it must not keep an unattended session alive).
CREATE FUNCTION web_session_valid(token_hash text) RETURNS boolean
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    RETURN (s_web_actor(token_hash)).name IS NOT NULL;
END $$;

CREATE FUNCTION web_logout(token_hash text) RETURNS boolean
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    DELETE FROM web_session s WHERE s.token_hash = web_logout.token_hash;
    RETURN FOUND;
END $$;

-- Forget expired sessions and old failures (divert-web calls it every minute).
CREATE FUNCTION web_housekeeping() RETURNS int
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    gone int;
BEGIN
    DELETE FROM web_session s WHERE s.expires_at <= now() OR s.last_seen_at + s.idle <= now();
    GET DIAGNOSTICS gone = ROW_COUNT;
    DELETE FROM web_login_failure f WHERE COALESCE(f.locked_until, f.first_at) < now() - interval '1 day';
    RETURN gone;
END $$;

CREATE FUNCTION web_active_sessions() RETURNS int LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    SELECT count(*)::int FROM web_session s WHERE s.expires_at > now() AND s.last_seen_at + s.idle > now()
$$;


-- ---------------------------------------------------------------------------
-- The partner desk

-- The partner's own referrals, newest first, without personal data: the
-- latest decision, the waitlist position, the enrollment's status.
CREATE FUNCTION web_partner_referrals(token_hash text, max_rows int) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL OR u.role <> 'partner' THEN
        RETURN NULL;
    END IF;
    RETURN COALESCE((SELECT jsonb_agg(x.item ORDER BY x.received_at DESC) FROM (
        SELECT r.received_at, jsonb_build_object(
            'referral_id', r.referral_id, 'pathway', r.pathway, 'program', r.program, 'state', r.state,
            'area', r.payload ->> 'area',
            'received_at', s_rfc3339(r.received_at), 'submitted_at', s_rfc3339(r.submitted_at),
            'latest', (SELECT e.reply || jsonb_build_object('at', s_rfc3339(e.at)) FROM decision_event e
                        WHERE e.referral_id = r.id ORDER BY e.id DESC LIMIT 1),
            'waitlist', (SELECT jsonb_build_object('entry_id', w.id, 'program', w.program,
                                'expires_at', s_rfc3339(w.expires_at))
                           FROM web_waitlist w WHERE w.id = r.waitlist_entry_id AND r.state = 'waitlisted'),
            'enrollment', (SELECT jsonb_build_object('status', e.status, 'exit_reason', e.exit_reason,
                                'intake_due_at', s_rfc3339(e.intake_due_at))
                             FROM enrollment e WHERE e.referral_id = r.id),
            'exits_90d', (SELECT x.exits_90d FROM web_program_exits x WHERE x.program = r.program)) AS item
          FROM referral r WHERE r.source_id = u.source_id
         ORDER BY r.received_at DESC LIMIT max_rows) x), '[]');
END $$;


-- ---------------------------------------------------------------------------
-- Personal data: only through these, each disclosure recorded.

-- One referral as its source submitted it, for the partner that sent it or
-- the case manager it is assigned to (an open enrollment); NULL for anyone
-- else (and for an unknown referral: no one learns that it exists).
CREATE FUNCTION web_referral_details(token_hash text, src text, ref text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
    r referral;
    e enrollment;
    what text;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM referral x WHERE x.source_id = src AND x.referral_id = lower(ref);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO e FROM enrollment x WHERE x.referral_id = r.id;
    IF u.role = 'partner' AND r.source_id = u.source_id THEN
        what := 'referral_details';
    ELSIF u.role = 'case_manager' AND e.id IS NOT NULL AND e.case_manager_id = u.case_manager_id
          AND e.status <> 'exited' THEN
        what := 'person_details';
    ELSE
        RETURN NULL;
    END IF;
    INSERT INTO disclosure (actor_kind, actor_id, referral_id, what) VALUES ('web', u.name, r.id, what);
    RETURN jsonb_build_object(
        'source', (SELECT jsonb_build_object('id', s.id, 'name', s.name, 'kind', s.kind) FROM source s WHERE s.id = r.source_id),
        'referral_id', r.referral_id, 'received_at', s_rfc3339(r.received_at), 'state', r.state,
        'program', r.program, 'tier', r.tier,
        'referral', r.payload - 'referral_id',
        'enrollment', CASE WHEN e.id IS NOT NULL THEN jsonb_build_object('status', e.status,
            'case_manager', (SELECT jsonb_build_object('id', c.id, 'name', c.name) FROM case_manager c WHERE c.id = e.case_manager_id),
            'enrolled_at', s_rfc3339(e.enrolled_at), 'intake_due_at', s_rfc3339(e.intake_due_at),
            'ends_at', s_rfc3339(e.ends_at), 'exited_at', s_rfc3339(e.exited_at), 'exit_reason', e.exit_reason) END,
        'decisions', COALESCE((SELECT jsonb_agg(jsonb_build_object('at', s_rfc3339(d.at), 'decision', d.decision,
                                  'reason', d.reason, 'program', d.program) ORDER BY d.id)
                                 FROM decision_event d WHERE d.referral_id = r.id), '[]'));
END $$;

-- The case manager's people: every open enrollment assigned to them, with
-- who the person is and how many days are left to complete intake. Each
-- person listed is one disclosure ('worklist').
CREATE FUNCTION web_cm_people(token_hash text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
    out jsonb;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL OR u.role <> 'case_manager' THEN
        RETURN NULL;
    END IF;
    INSERT INTO disclosure (actor_kind, actor_id, referral_id, what)
    SELECT 'web', u.name, e.referral_id, 'worklist' FROM enrollment e
     WHERE e.case_manager_id = u.case_manager_id AND e.status <> 'exited';
    SELECT COALESCE(jsonb_agg(jsonb_build_object(
            'source_id', r.source_id, 'source_name', s.name, 'referral_id', r.referral_id,
            'status', e.status, 'program', e.program, 'pathway', r.pathway,
            'person', jsonb_build_object('first_name', r.payload #>> '{person,first_name}',
                                         'last_name', r.payload #>> '{person,last_name}',
                                         'source_person_id', r.payload #>> '{person,source_person_id}'),
            'area', r.payload ->> 'area',
            'enrolled_at', s_rfc3339(e.enrolled_at), 'intake_due_at', s_rfc3339(e.intake_due_at),
            'intake_seconds_left', CASE WHEN e.status = 'pending_intake'
                                        THEN extract(epoch FROM e.intake_due_at - now())::bigint END,
            'ends_at', s_rfc3339(e.ends_at))
            ORDER BY CASE e.status WHEN 'pending_intake' THEN 0 WHEN 'in_the_wind' THEN 1 ELSE 2 END,
                     e.intake_due_at, e.enrolled_at), '[]')
      INTO out
      FROM enrollment e JOIN referral r ON r.id = e.referral_id JOIN source s ON s.id = r.source_id
     WHERE e.case_manager_id = u.case_manager_id AND e.status <> 'exited';
    RETURN out;
END $$;

-- Whether the case manager may change this enrollment: its status and
-- program (no personal data), or NULL.
CREATE FUNCTION web_cm_enrollment(token_hash text, src text, ref text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL OR u.role <> 'case_manager' THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT jsonb_build_object('status', e.status, 'program', e.program)
              FROM referral r JOIN enrollment e ON e.referral_id = r.id
             WHERE r.source_id = src AND r.referral_id = lower(ref)
               AND e.case_manager_id = u.case_manager_id AND e.status <> 'exited');
END $$;


-- ---------------------------------------------------------------------------
-- The admin desk: the user functions above, for an admin's session only.

CREATE FUNCTION s_web_admin(token_hash text) RETURNS web_user
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    u web_user;
BEGIN
    u := s_web_actor(token_hash);
    IF u.name IS NULL OR u.role <> 'admin' THEN
        RETURN NULL;
    END IF;
    RETURN u;
END $$;

CREATE FUNCTION web_admin_users(token_hash text) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    IF (s_web_admin(token_hash)).name IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('users', user_list(),
        'sources', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'kind', s.kind,
                        'revoked', s.revoked) ORDER BY s.id) FROM web_sources s), '[]'),
        'case_managers', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name,
                        'program', c.program, 'active', c.active) ORDER BY c.id) FROM case_manager c), '[]'));
END $$;

CREATE FUNCTION web_admin_user_add(token_hash text, name text, role text, binding text, password_hash text)
    RETURNS jsonb LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    IF (s_web_admin(token_hash)).name IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN user_add(name, role, binding, password_hash);
END $$;

CREATE FUNCTION web_admin_user_passwd(token_hash text, name text, password_hash text)
    RETURNS jsonb LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    IF (s_web_admin(token_hash)).name IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN user_passwd(name, password_hash);
END $$;

CREATE FUNCTION web_admin_user_disabled(token_hash text, name text, disabled boolean)
    RETURNS jsonb LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    admin web_user;
BEGIN
    admin := s_web_admin(token_hash);
    IF admin.name IS NULL THEN
        RETURN NULL;
    END IF;
    IF disabled AND admin.name = web_admin_user_disabled.name THEN
        RETURN jsonb_build_object('error', 'conflict', 'field', 'name', 'message',
            'you cannot disable your own account');
    END IF;
    RETURN user_set_disabled(name, disabled);
END $$;


-- ---------------------------------------------------------------------------
-- Privileges

REVOKE ALL ON web_user, web_session, web_login_failure, disclosure FROM PUBLIC;
REVOKE ALL ON web_programs, web_sources, web_case_managers, web_waitlist, web_program_exits,
              web_decisions, web_referrals FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA divert FROM PUBLIC;

ALTER FUNCTION user_add(text, text, text, text) SECURITY DEFINER;
ALTER FUNCTION user_passwd(text, text) SECURITY DEFINER;
ALTER FUNCTION user_set_disabled(text, boolean) SECURITY DEFINER;
ALTER FUNCTION user_list() SECURITY DEFINER;
ALTER FUNCTION web_login_check(text, text) SECURITY DEFINER;
ALTER FUNCTION web_login_finish(text, text, boolean, text, text, interval, interval, int, int, interval, interval) SECURITY DEFINER;
ALTER FUNCTION web_session(text) SECURITY DEFINER;
ALTER FUNCTION web_logout(text) SECURITY DEFINER;
ALTER FUNCTION web_session_valid(text) SECURITY DEFINER;
ALTER FUNCTION web_housekeeping() SECURITY DEFINER;
ALTER FUNCTION web_active_sessions() SECURITY DEFINER;
ALTER FUNCTION web_partner_referrals(text, int) SECURITY DEFINER;
ALTER FUNCTION web_referral_details(text, text, text) SECURITY DEFINER;
ALTER FUNCTION web_cm_people(text) SECURITY DEFINER;
ALTER FUNCTION web_cm_enrollment(text, text, text) SECURITY DEFINER;
ALTER FUNCTION web_admin_users(text) SECURITY DEFINER;
ALTER FUNCTION web_admin_user_add(text, text, text, text, text) SECURITY DEFINER;
ALTER FUNCTION web_admin_user_passwd(text, text, text) SECURITY DEFINER;
ALTER FUNCTION web_admin_user_disabled(text, text, boolean) SECURITY DEFINER;

GRANT USAGE ON SCHEMA divert TO divert_web;
GRANT SELECT ON schema_migration, web_programs, web_sources, web_case_managers, web_waitlist,
                web_program_exits, web_decisions, web_referrals TO divert_web;
GRANT EXECUTE ON FUNCTION web_login_check(text, text),
    web_login_finish(text, text, boolean, text, text, interval, interval, int, int, interval, interval),
    web_session(text), web_session_valid(text), web_logout(text), web_housekeeping(), web_active_sessions(),
    web_partner_referrals(text, int), web_referral_details(text, text, text), web_cm_people(text),
    web_cm_enrollment(text, text, text), web_admin_users(text),
    web_admin_user_add(text, text, text, text, text), web_admin_user_passwd(text, text, text),
    web_admin_user_disabled(text, text, boolean), s_rfc3339(timestamptz) TO divert_web;

-- Operators: divertctl user add | passwd | disable | enable | list; and the
-- audit of disclosures (ids and times, no personal data).
GRANT EXECUTE ON FUNCTION user_add(text, text, text, text), user_passwd(text, text),
    user_set_disabled(text, boolean), user_list() TO divert_operator;
GRANT SELECT ON disclosure TO divert_operator;
