-- 009_retention.sql — personal data is kept no longer than needed, and every
-- disclosure of it can be listed (issue 13, part 3).
--
--   site_policy   one row of site-wide policy: `retention`, how long the
--                 personal data of a referral is kept after its last
--                 decision or enrollment change (default 3 years;
--                 `divertctl site set --retention 3y`). Site-wide rather
--                 than per program: a person can be referred to several
--                 programs, and what the law asks of the site is one period.
--   purge         every purge run (divertctl purge, or divertd's daily
--                 maintenance with `purge = daily`): who, when, under which
--                 retention, how many referrals and persons; the referrals
--                 and persons it emptied point at it (purge_id).
--   divert.purge(actor, dry_run)  the one place personal data is removed.
--
-- What a purge removes: a person's source person id, names and date of
-- birth (the row stays, with purge_id set: referrals and enrollments point
-- at it), and a referral's payload as received, which is replaced by its
-- de-identified part (pathway, submitted_at, area, housing, behavioral
-- health, offense code, prior contacts, consent: what reports group by),
-- and its digest (a hash of the personal data). Decision events,
-- enrollments, enrollment events, the waitlist and the disclosure log have
-- no personal data and are kept whole, so reports and explain still work.
--
-- What is due: a referral whose last decision or enrollment change (or
-- receipt) is older than the retention, unless the person has any open
-- case: a waitlisted referral, an open waitlist entry, or an enrollment that
-- has not exited. "The person" is everyone intake would take for them: the
-- same source's person id, or the same last name and date of birth. A
-- person row is emptied once every referral about it is purged.
--
-- A purge takes every program's row lock first, as intake and maintenance
-- do, so no referral can be linked to a person while it is being emptied.

SET LOCAL search_path = divert, pg_catalog;

CREATE TABLE site_policy (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),      -- one row
    retention  interval NOT NULL DEFAULT '3 years' CHECK (retention >= interval '1 second'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO site_policy DEFAULT VALUES;

CREATE TABLE purge (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,               -- divertctl:<role>, divertd@host:pid
    retention interval NOT NULL,
    cutoff    timestamptz NOT NULL,        -- referrals last changed before this
    referrals int NOT NULL,
    persons   int NOT NULL
);
CREATE TRIGGER purge_append_only BEFORE UPDATE OR DELETE ON purge
    FOR EACH ROW EXECUTE FUNCTION s_append_only();
CREATE TRIGGER purge_no_truncate BEFORE TRUNCATE ON purge
    FOR EACH STATEMENT EXECUTE FUNCTION s_append_only();

ALTER TABLE referral ADD COLUMN purge_id bigint REFERENCES purge (id);
ALTER TABLE person ADD COLUMN purge_id bigint REFERENCES purge (id);
CREATE INDEX referral_unpurged ON referral (received_at) WHERE purge_id IS NULL;
CREATE INDEX referral_purge ON referral (purge_id) WHERE purge_id IS NOT NULL;

-- A person is identified (001) until purged, and a purged person is empty.
ALTER TABLE person DROP CONSTRAINT person_check;
ALTER TABLE person ADD CONSTRAINT person_identified CHECK (
    CASE WHEN purge_id IS NULL THEN source_person_id IS NOT NULL OR (last_name IS NOT NULL AND dob IS NOT NULL)
         ELSE source_person_id IS NULL AND first_name IS NULL AND last_name IS NULL AND dob IS NULL END);

-- The access audit's filters (by who, by when).
CREATE INDEX disclosure_actor ON disclosure (actor_kind, actor_id, at);
CREATE INDEX disclosure_at ON disclosure (at);

-- ---------------------------------------------------------------------------

-- When anything last happened to a referral: received, decided, or its
-- enrollment changed (for a referral linked to a waitlist entry, the
-- enrollment of the entry). Both when a change happened and when it was
-- recorded count, so a change reported late never shortens the retention.
CREATE FUNCTION referral_last_change(r referral) RETURNS timestamptz LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    SELECT greatest(r.received_at,
        (SELECT max(e.at) FROM decision_event e WHERE e.referral_id = r.id),
        (SELECT max(greatest(ev.at, ev.recorded_at)) FROM enrollment_event ev
          WHERE ev.referral_id = r.id
             OR ev.referral_id = (SELECT w.referral_id FROM waitlist_entry w WHERE w.id = r.waitlist_entry_id)),
        (SELECT max(greatest(n.status_since, n.exited_at)) FROM enrollment n WHERE n.referral_id = r.id))
$$;

-- Has the person of person row `pid` (as intake identifies them) any open
-- case: a waitlisted referral, an open waitlist entry, an open enrollment?
-- (SQL function: parameters by number, so no column can shadow one.)
CREATE FUNCTION person_has_open_case(pid bigint) RETURNS boolean LANGUAGE sql STABLE
    SET search_path = divert, pg_catalog AS $$
    WITH same AS (
        SELECT $1 AS id
        UNION
        SELECT q.id FROM person p JOIN person q
            ON q.source_id = p.source_id AND q.source_person_id = p.source_person_id
         WHERE p.id = $1 AND p.source_person_id IS NOT NULL
        UNION
        SELECT q.id FROM person p JOIN person q
            ON q.last_name_key = p.last_name_key AND q.dob = p.dob
         WHERE p.id = $1 AND p.dob IS NOT NULL AND p.last_name IS NOT NULL)
    SELECT EXISTS (SELECT 1 FROM enrollment e WHERE e.person_id IN (SELECT id FROM same) AND e.status <> 'exited')
        OR EXISTS (SELECT 1 FROM waitlist_entry w WHERE w.person_id IN (SELECT id FROM same) AND w.state = 'open')
        OR EXISTS (SELECT 1 FROM referral r WHERE r.person_id IN (SELECT id FROM same) AND r.state = 'waitlisted')
$$;

-- An interval as divertctl takes it: "3y", "30d", else seconds ("90s").
CREATE FUNCTION duration_text(i interval) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN $1 = make_interval(years => extract(year FROM $1)::int) THEN extract(year FROM $1)::int || 'y'
        WHEN $1 = make_interval(days => extract(day FROM $1)::int) THEN extract(day FROM $1)::int || 'd'
        ELSE floor(extract(epoch FROM $1))::bigint || 's' END
$$;

-- A referral's payload without personal data: what reports group by.
CREATE FUNCTION s_deidentified(payload jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'referral_id', $1 -> 'referral_id', 'pathway', $1 -> 'pathway', 'submitted_at', $1 -> 'submitted_at',
        'area', $1 -> 'area', 'housing', $1 -> 'housing', 'behavioral_health', $1 -> 'behavioral_health',
        'offense', CASE WHEN jsonb_typeof($1 -> 'offense') = 'object'
                        THEN jsonb_strip_nulls(jsonb_build_object('code', $1 #> '{offense,code}')) END,
        'prior_contacts_12m', $1 -> 'prior_contacts_12m', 'consent', $1 -> 'consent'))
        || jsonb_build_object('purged', true)
$$;

-- Remove the personal data past retention (or, with dry_run, only say what
-- would go). Returns {"purge_id" (null on a dry run), "dry_run", "retention"
-- ("3y"), "retention_seconds", "cutoff", "persons", "referrals": [{"source_id", "referral_id",
-- "program", "last_change"}...]}. Each real run is recorded in purge, even
-- when nothing was due.
CREATE FUNCTION purge(actor text, dry_run boolean) RETURNS jsonb LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = divert, pg_catalog AS $$
DECLARE
    ret interval;
    cutoff timestamptz;
    due bigint[];
    persons bigint[];
    run bigint;
    listed jsonb;
BEGIN
    IF NOT dry_run THEN
        PERFORM 1 FROM program ORDER BY name FOR UPDATE;
    END IF;
    SELECT s.retention INTO ret FROM site_policy s;
    cutoff := now() - ret;
    -- (received_at < cutoff first: the index narrows to the old ones)
    SELECT COALESCE(array_agg(r.id ORDER BY r.id), '{}') INTO due FROM referral r
     WHERE r.purge_id IS NULL AND r.received_at < cutoff
       AND referral_last_change(r) < cutoff AND NOT person_has_open_case(r.person_id);
    -- Persons all of whose referrals are purged (before or now)
    SELECT COALESCE(array_agg(DISTINCT p.id), '{}') INTO persons FROM person p
     WHERE p.purge_id IS NULL AND p.id IN (SELECT r.person_id FROM referral r WHERE r.id = ANY (due))
       AND NOT EXISTS (SELECT 1 FROM referral x WHERE x.person_id = p.id AND x.purge_id IS NULL
                          AND NOT x.id = ANY (due));
    SELECT COALESCE(jsonb_agg(jsonb_build_object('source_id', r.source_id, 'referral_id', r.referral_id,
                                                 'program', r.program,
                                                 'last_change', s_rfc3339(referral_last_change(r)))
                              ORDER BY r.id), '[]')
      INTO listed FROM referral r WHERE r.id = ANY (due);
    IF NOT dry_run THEN
        INSERT INTO purge (actor, retention, cutoff, referrals, persons)
        VALUES (actor, ret, cutoff, cardinality (due), cardinality (persons)) RETURNING id INTO run;
        UPDATE referral SET payload = s_deidentified(payload), digest = 'purged', purge_id = run
         WHERE id = ANY (due);
        UPDATE person SET source_person_id = NULL, first_name = NULL, last_name = NULL, dob = NULL,
                          purge_id = run
         WHERE id = ANY (persons);
    END IF;
    RETURN jsonb_build_object('purge_id', run, 'dry_run', dry_run,
        'retention', duration_text(ret), 'retention_seconds', floor(extract(epoch FROM ret))::bigint, 'cutoff', s_rfc3339(cutoff),
        'persons', cardinality (persons), 'referrals', listed);
END $$;

-- ---------------------------------------------------------------------------
-- Who may do what (004's roles)

REVOKE ALL ON site_policy, purge FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION referral_last_change(referral), person_has_open_case(bigint), s_deidentified(jsonb),
    duration_text(interval), purge(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION duration_text(interval) TO divert_operator;
GRANT EXECUTE ON FUNCTION purge(text, boolean) TO divert_daemon, divert_operator;
GRANT SELECT ON site_policy, purge TO divert_operator;
GRANT UPDATE (retention, updated_at) ON site_policy TO divert_operator;
GRANT SELECT (purge_id) ON referral TO divert_operator;
