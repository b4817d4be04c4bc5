-- site.sql — the data `make bench` measures divertd against (tests/harness/bench.sh).
--
-- Loaded as the superuser into a migrated database, set-based (a million
-- earlier referrals take a minute or two, not an hour). Every row is what
-- divertd or divertctl would have written: a person, a referral, its
-- decision event with the source's next seq (gap-free, continuing
-- source.last_seq), and for an accept its enrollment and enrollment events
-- with the program's next feed seq. Open enrollments are inserted with every
-- trigger on, so the case manager's caseload and the hard cap are the
-- database's own. Only the earlier (exited) enrollments of bench.history()
-- are written with three of enrollment's own triggers off, inside the one
-- transaction (nobody sees them off): for an exited row the caseload
-- trigger changes nothing, and the function writes what the others would
-- (status_since, the `assigned` and `exited` events in the feed). Every CHECK
-- and unique index stays on; the foreign keys are dropped and added back in
-- the same transaction, which checks every row (bench.s_foreign_keys).
-- bench.check() proves the result consistent (caseloads, feed and event
-- seqs, waitlist counters where the schema keeps them) and bench.sh runs it
-- after every load. Written against the schema's tables and triggers as
-- of migration 007, and kept working with 008's (statement-level feed
-- trigger, program_stat counters).
--
--   bench.referrals(...)      the workhorse: n referrals with one outcome
--   bench.site()              the base site (400 case managers) every scenario starts from
--   bench.programs(n, cms, per_cm)  more programs with case managers and open enrollments
--   bench.waiting(prog, n)    n more people on prog's waitlist
--   bench.history(n)          n earlier referrals (years of them, decided and done)
--   bench.more_cms(prog, n)   n more case managers in prog
--   bench.replay(prog, size, copies)  batches of divertd's statements, for the ceiling
--   bench.check()             raises unless the data is consistent

CREATE SCHEMA IF NOT EXISTS bench;

-- n referrals from `sources` (round robin), received evenly from from_at to
-- to_at, for program prog, each a new person with its decision event. The
-- pathway follows the source's kind (police: 3 arrest_diversion to 1
-- social_contact; community: community; court: pretrial_diversion).
-- outcome:
--   'open'      accepted, enrollment pending_intake (case managers round robin; triggers on)
--   'waiting'   waitlisted (at_capacity), an open waitlist entry
--   'exited'    accepted long ago, enrollment since exited (history)
--   'declined'  declined on eligibility (history)
CREATE OR REPLACE FUNCTION bench.referrals(tag text, n int, sources text[], prog text, outcome text,
                                           from_at timestamptz, to_at timestamptz) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    cms text[];
BEGIN
    PERFORM set_config('divert.actor', 'bench-setup', true);
    cms := ARRAY(SELECT id FROM case_manager WHERE program = prog AND active ORDER BY caseload, id);
    IF outcome IN ('open', 'exited') AND cardinality(cms) = 0 THEN
        RAISE EXCEPTION 'bench: % has no active case managers', prog;
    END IF;
    DROP TABLE IF EXISTS pg_temp.bench_new;
    CREATE TEMP TABLE bench_new ON COMMIT DROP AS
    SELECT y.*, s.last_seq + row_number() OVER (PARTITION BY y.src ORDER BY y.at, y.i) AS seq
      FROM (SELECT x.*,
                   CASE x.pathway WHEN 'arrest_diversion' THEN 1 WHEN 'pretrial_diversion' THEN 3 ELSE 2 END AS tier,
                   CASE x.pathway WHEN 'arrest_diversion' THEN 60 WHEN 'pretrial_diversion' THEN 20 ELSE 40 END
                       + 10 + 2 * (x.i % 6) AS score
              FROM (SELECT g.i, s.id AS src,
                           CASE s.kind WHEN 'police' THEN CASE WHEN g.i % 4 = 3 THEN 'social_contact'
                                                              ELSE 'arrest_diversion' END
                                       WHEN 'community' THEN 'community' ELSE 'pretrial_diversion' END AS pathway,
                           from_at + (to_at - from_at) * (g.i::float8 / greatest(n, 1)) AS at,
                           gen_random_uuid()::text AS uuid,
                           nextval('person_id_seq') AS person_id,
                           nextval('referral_id_seq') AS referral_id,
                           CASE WHEN outcome IN ('open', 'exited') THEN cms [1 + g.i % cardinality(cms)] END AS cm,
                           CASE outcome WHEN 'declined' THEN (ARRAY['not_unsheltered', 'outside_service_area',
                                        'no_behavioral_health_need', 'already_enrolled']) [1 + g.i % 4]
                                        WHEN 'waiting' THEN 'at_capacity' ELSE 'accepted' END AS reason,
                           CASE WHEN outcome = 'exited' THEN nextval('enrollment_id_seq') END AS enrollment_id
                      FROM generate_series(0, n - 1) AS g(i)
                      JOIN source s ON s.id = sources [1 + g.i % cardinality(sources)]) x) y
      JOIN source s ON s.id = y.src;
    UPDATE source s SET last_seq = x.top FROM (SELECT src, max(seq) AS top FROM bench_new GROUP BY src) x
     WHERE s.id = x.src;

    INSERT INTO person (id, source_id, source_person_id, first_name, last_name, dob, created_at)
    SELECT person_id, src, tag || '-' || i, 'Jo', 'Earlier' || tag || i, date '1940-01-01' + (i % 20000), at
      FROM bench_new;
    INSERT INTO referral (id, source_id, referral_id, person_id, pathway, tier, score, program, submitted_at,
                          received_at, payload, digest, state)
    SELECT referral_id, src, uuid, person_id, pathway, tier, score, prog, at, at,
           jsonb_build_object('pathway', pathway, 'submitted_at', s_rfc3339(at),
                              'person', jsonb_build_object('source_person_id', tag || '-' || i, 'first_name', 'Jo',
                                                           'last_name', 'Earlier' || tag || i,
                                                           'dob', date '1940-01-01' + (i % 20000)),
                              'area', 'downtown',
                              'housing', CASE WHEN prog = 'CO-LEAD' THEN 'hotel' ELSE 'unsheltered' END,
                              'behavioral_health', '["substance_use", "mental_health"]'::jsonb,
                              'offense', jsonb_build_object('code', 'VUCSA-POSS'), 'prior_contacts_12m', i % 6,
                              'consent', true, 'contact', jsonb_build_object('officer_id', (i % 9000)::text),
                              'notes', 'earlier referral ' || i, 'referral_id', uuid),
           md5(uuid) || substr(md5(tag), 1, 8),
           CASE outcome WHEN 'open' THEN 'accepted' WHEN 'waiting' THEN 'waitlisted'
                        WHEN 'exited' THEN 'exited' ELSE 'declined' END
      FROM bench_new;
    INSERT INTO decision_event (source_id, seq, referral_id, decision, reason, program, case_manager_id, tier,
                                score, components, capacity, from_waitlist, policy_version, decided_by, at, reply)
    SELECT b.src, b.seq, b.referral_id, d.decision, b.reason, prog, b.cm, b.tier, b.score,
           jsonb_build_object('pathway', b.score - 10 - 2 * (b.i % 6), 'acuity', 10, 'contacts', 2 * (b.i % 6), 'aging', 0),
           jsonb_build_object('n', cardinality(cms), 'total', b.i % 500, 'max_load', 20, 'paced', 800, 'free', 10,
                              'open_slots', 12, 'waitlist', 0, 'hard_cap', 25, 'target_avg', 20,
                              'reserve_tier1', 2, 'reserve_tier2', 3),
           false, 1, 'bench-setup', b.at,
           jsonb_strip_nulls(jsonb_build_object(
               'v', 1, 'type', 'decision', 'referral_id', b.uuid, 'seq', b.seq, 'decision', d.decision,
               'reason', b.reason, 'program', prog,
               'case_manager', CASE WHEN b.cm IS NOT NULL THEN jsonb_build_object('id', b.cm, 'name', 'CM ' || b.cm) END,
               'priority', jsonb_build_object('tier', b.tier, 'score', b.score),
               'waitlist', CASE WHEN outcome = 'waiting' THEN jsonb_build_object(
                               'position', b.i + 1, 'estimate', 'over_3_months',
                               'expires_at', s_rfc3339(b.at + interval '30 days')) END,
               'decided_at', s_rfc3339(b.at))) || '{"replayed": false}'::jsonb
      FROM bench_new b
      CROSS JOIN LATERAL (SELECT CASE outcome WHEN 'waiting' THEN 'waitlist' WHEN 'declined' THEN 'decline'
                                              ELSE 'accept' END AS decision) d;

    IF outcome = 'waiting' THEN
        WITH w AS (
            INSERT INTO waitlist_entry (program, person_id, referral_id, tier, score, received_at)
            SELECT prog, person_id, referral_id, tier, score, at FROM bench_new
            RETURNING id, referral_id)
        UPDATE referral r SET waitlist_entry_id = w.id FROM w WHERE r.id = w.referral_id;
    ELSIF outcome = 'open' THEN
        --  Every trigger on: caseloads, the hard cap, the feed.
        INSERT INTO enrollment (referral_id, person_id, program, case_manager_id, enrolled_at, intake_due_at, ends_at)
        SELECT b.referral_id, b.person_id, prog, b.cm, b.at, b.at + p.intake_window, b.at + p.term
          FROM bench_new b, program p WHERE p.name = prog ORDER BY b.at, b.i;
    ELSIF outcome = 'exited' THEN
        PERFORM bench.s_exited(prog);
    END IF;
    DROP TABLE bench_new;
END $$;

-- The earlier enrollments of bench_new, exited 30..170 days after they
-- began, with their `assigned` and `exited` events (as the triggers write
-- them) in the program's feed. enrollment's own triggers are off meanwhile
-- (every one of them, whatever the migrations named them: an exited row
-- changes no caseload, and the rest is written here); its foreign keys'
-- triggers stay.
CREATE OR REPLACE FUNCTION bench.s_exited(prog text) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    ALTER TABLE enrollment DISABLE TRIGGER USER;
    INSERT INTO enrollment (id, referral_id, person_id, program, case_manager_id, status, enrolled_at,
                            intake_due_at, ends_at, exited_at, exit_reason, status_since)
    SELECT b.enrollment_id, b.referral_id, b.person_id, prog, b.cm, 'exited', b.at, b.at + p.intake_window,
           b.at + p.term, b.at + (30 + b.i % 140) * interval '1 day',
           (ARRAY['graduated', 'moved', 'declined_services', 'incarcerated', 'other', 'intake_lapsed']) [1 + b.i % 6],
           b.at + (30 + b.i % 140) * interval '1 day'
      FROM bench_new b, program p WHERE p.name = prog;
    INSERT INTO enrollment_feed (program) VALUES (prog) ON CONFLICT DO NOTHING;
    WITH changes AS (
        SELECT b.enrollment_id, b.referral_id, b.cm, 'assigned' AS change, 'pending_intake' AS status,
               NULL AS reason, b.at
          FROM bench_new b
        UNION ALL
        SELECT b.enrollment_id, b.referral_id, b.cm, 'exited', 'exited',
               (ARRAY['graduated', 'moved', 'declined_services', 'incarcerated', 'other', 'intake_lapsed']) [1 + b.i % 6],
               b.at + (30 + b.i % 140) * interval '1 day'
          FROM bench_new b)
    INSERT INTO enrollment_event (program, seq, enrollment_id, referral_id, change, status, case_manager_id,
                                  reason, at, recorded_at, actor)
    SELECT prog, f.last_seq + row_number() OVER (ORDER BY c.at, c.enrollment_id, c.change = 'exited'),
           c.enrollment_id, c.referral_id, c.change, c.status, c.cm, c.reason, c.at, c.at, 'bench-setup'
      FROM changes c, enrollment_feed f WHERE f.program = prog;
    UPDATE enrollment_feed f SET last_seq = (SELECT max(seq) FROM enrollment_event e WHERE e.program = prog)
     WHERE f.program = prog;
    ALTER TABLE enrollment ENABLE TRIGGER USER;
END $$;

-- The base site. LEAD: 400 case managers, and a policy (hard cap and
-- target 1000) under which every referral the bench sends is accepted, in
-- every scenario and from the first to the last: the most expensive durable
-- decision (person, referral, enrollment, caseload, decision event,
-- enrollment event), and the same work whatever ran before. CO-LEAD: 40
-- case managers at the default 15/15, holding 598 people (two slots short
-- of its paced line of 600, so tier 2 waits and each freed slot promotes one
-- waiting person), and 50 people waiting (tier 2), received over the last 20
-- days. Sources: spd (the bench's police key), kcso (police), dsc
-- (community), court (court) and m01..m16 (police, the memory run's keys)
-- are made by bench.sh with divertctl; this adds the rest.
CREATE OR REPLACE FUNCTION bench.site() RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    UPDATE program SET hard_cap = 1000, target_avg = 1000, waitlist_cap = 100000 WHERE name = 'LEAD';
    UPDATE program SET waitlist_cap = 100000 WHERE name = 'CO-LEAD';
    INSERT INTO case_manager (id, program, name)
    SELECT 'cm-' || lpad(g::text, 4, '0'), 'LEAD', 'CM ' || g FROM generate_series(1, 400) g;
    INSERT INTO case_manager (id, program, name)
    SELECT 'co-' || lpad(g::text, 3, '0'), 'CO-LEAD', 'Co CM ' || g FROM generate_series(1, 40) g;
    PERFORM bench.referrals('co', 598, '{spd,kcso}', 'CO-LEAD', 'open', now() - interval '20 days', now() - interval '1 hour');
    PERFORM bench.waiting('CO-LEAD', 50);
END $$;

-- n more people waiting in prog (tier 2, community and social_contact),
-- received over the last 20 days (inside the default 30-day time-to-live).
CREATE OR REPLACE FUNCTION bench.waiting(prog text, n int) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    PERFORM bench.referrals('w' || (SELECT count(*) FROM waitlist_entry), n, '{dsc}', prog, 'waiting',
                            now() - interval '20 days', now() - interval '1 hour');
END $$;

-- A large deployment: `extra` more programs P001.. (names that don't begin
-- with one another), each taking no housing of its own (routing is by
-- housing: LEAD keeps taking every unsheltered referral, so the measured
-- work is the same and only the deployment's size differs), with `cms`
-- case managers spread over them, each holding per_cm open enrollments.
CREATE OR REPLACE FUNCTION bench.programs(extra int, cms int, per_cm int) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    p text;
BEGIN
    INSERT INTO program (name, accepts_housing)
    SELECT 'P' || lpad(g::text, 3, '0'), '{}' FROM generate_series(1, extra) g;
    INSERT INTO case_manager (id, program, name)
    SELECT 'pm-' || lpad(g::text, 5, '0'), 'P' || lpad((1 + g % extra)::text, 3, '0'), 'PM ' || g
      FROM generate_series(1, cms) g;
    FOR p IN SELECT name FROM program WHERE name LIKE 'P%' ORDER BY name LOOP
        PERFORM bench.referrals(lower(p), per_cm * (SELECT count(*) FROM case_manager WHERE program = p)::int,
                                '{kcso,spd}', p, 'open', now() - interval '25 days', now() - interval '1 hour');
    END LOOP;
END $$;

-- n earlier referrals, received evenly over the five years before the last
-- 180 days, all decided and done: 60% accepted and since exited (nine in
-- ten of them in LEAD, one in CO-LEAD), 40% declined on eligibility.
CREATE OR REPLACE FUNCTION bench.history(n int) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    since timestamptz := now() - interval '5 years' - interval '180 days';
    until timestamptz := now() - interval '180 days';
BEGIN
    PERFORM bench.s_foreign_keys('drop');
    PERFORM bench.referrals('hl', n * 54 / 100, '{spd,kcso}', 'LEAD', 'exited', since, until);
    PERFORM bench.referrals('hc', n * 6 / 100, '{spd,kcso}', 'CO-LEAD', 'exited', since, until);
    PERFORM bench.referrals('hd', n - n * 54 / 100 - n * 6 / 100, '{spd,kcso,dsc,court}', 'LEAD', 'declined',
                            since, until);
    PERFORM bench.s_foreign_keys('add');
END $$;

-- The foreign keys of the tables a load writes: 'drop' keeps their
-- definitions and drops them, 'add' adds them back as they were, which
-- checks every row at once (one join per key instead of one lookup per row
-- and key: a million-referral load in a fraction of the time). Both in the
-- load's transaction: nobody ever sees the keys missing, and a row that
-- breaks one fails the whole load.
CREATE OR REPLACE FUNCTION bench.s_foreign_keys(action text) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    k record;
BEGIN
    IF action = 'drop' THEN
        DROP TABLE IF EXISTS pg_temp.bench_keys;
        CREATE TEMP TABLE bench_keys ON COMMIT DROP AS
        SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def
          FROM pg_constraint
         WHERE contype = 'f' AND conrelid IN ('divert.person'::regclass, 'divert.referral'::regclass,
               'divert.decision_event'::regclass, 'divert.enrollment'::regclass, 'divert.enrollment_event'::regclass);
        FOR k IN SELECT * FROM bench_keys LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', k.tbl, k.conname);
        END LOOP;
    ELSE
        FOR k IN SELECT * FROM bench_keys LOOP
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.tbl, k.conname, k.def);
        END LOOP;
        DROP TABLE bench_keys;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION bench.more_cms(prog text, n int) RETURNS void
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    INSERT INTO case_manager (id, program, name)
    SELECT 'cx-' || lpad(g::text, 5, '0'), prog, 'CX ' || g FROM generate_series(1, n) g;
END $$;

-- The ceiling (bench.sh): the statements divertd sends PostgreSQL for
-- batches of `size` accepts into prog, ready to replay without divertd, one
-- committed transaction each. prog's last `size` accepted referrals (the
-- runs' own) are copied `copies` times as new ones: new row ids from divert's
-- own sequences, new referral and person ids (UUIDs) and last names (each
-- referral a new person, as bench_intake sends them), the same payload,
-- digest, score, capacity and reply; the case managers taken in turn, least
-- loaded first (as divertd spreads a batch); decision event seqs continuing
-- each source's, copy after copy. Copy 1..copies are the rows of
-- bench.replay_batch: the arguments of program_lock, source_lock,
-- intake_lookup, new_ids and record as divertd passes them (record's in the
-- shape record.c builds; the JSON ones as text, cast by the caller as divertd's
-- $1::jsonb is: a jsonb column's value would reach record as a TOAST pointer,
-- read again at every use), to be replayed in order: bench.replay_next gives
-- the next copy (nextval), and the view bench.replay_now is the copy this
-- transaction took (currval, read once: a bare currval() in the WHERE would
-- be called per row, without the index).
CREATE OR REPLACE FUNCTION bench.replay(prog text, size int, copies int) RETURNS text
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
BEGIN
    DROP VIEW IF EXISTS bench.replay_now;
    DROP TABLE IF EXISTS bench.replay_batch;
    DROP SEQUENCE IF EXISTS bench.replay_next;
    CREATE SEQUENCE bench.replay_next;
    CREATE TABLE bench.replay_batch AS
    WITH last AS (
        SELECT r.*, d.reason, d.components, d.capacity, d.policy_version, d.reply, p.first_name, p.last_name, p.dob
          FROM referral r JOIN enrollment e ON e.referral_id = r.id
          JOIN decision_event d ON d.referral_id = r.id JOIN person p ON p.id = r.person_id
         WHERE r.program = prog AND d.decision = 'accept' ORDER BY r.id DESC LIMIT size),
    old AS (SELECT l.*, row_number() OVER (ORDER BY l.id) AS k FROM last l),
    cms AS (
        SELECT c.id AS cm, row_number() OVER (ORDER BY c.caseload, c.id) - 1 AS k, count(*) OVER () AS n
          FROM case_manager c WHERE c.program = prog AND c.active),
    copied AS (
        SELECT o.*, g.copy, (g.copy - 1) * size + o.k - 1 AS j
          FROM old o CROSS JOIN generate_series(1, copies) AS g(copy)),
    new AS (
        SELECT o.*, c.cm, nextval('person_id_seq') AS new_person, nextval('referral_id_seq') AS new_row,
               gen_random_uuid()::text AS new_ref, gen_random_uuid()::text AS new_spid,
               format('Replay%sc%sx%s', size, o.copy, o.k) AS new_last,
               s.last_seq + row_number() OVER (PARTITION BY o.source_id ORDER BY o.j) AS new_seq
          FROM copied o JOIN source s ON s.id = o.source_id
          JOIN cms c ON c.k = o.j % c.n),
    seqs AS (           -- each copy's last seq per source
        SELECT m.copy, jsonb_agg(jsonb_build_object('id', m.source_id, 'last_seq', m.seq)) AS sources
          FROM (SELECT x.copy, x.source_id, max(x.new_seq) AS seq FROM new x GROUP BY 1, 2) m GROUP BY m.copy)
    SELECT n.copy, array_agg(DISTINCT n.program) AS programs, array_agg(DISTINCT n.source_id) AS sources,
           jsonb_agg(jsonb_build_object('source', n.source_id, 'referral_id', n.new_ref, 'spid', n.new_spid,
                                        'last', n.new_last, 'dob', n.dob) ORDER BY n.id)::text AS keys,
           count(*)::int AS n,
           jsonb_build_object(
               'decided_by', 'bench-replay',
               'programs', to_jsonb(array_agg(DISTINCT n.program)),
               'persons', jsonb_agg(jsonb_build_object('id', n.new_person, 'source_id', n.source_id, 'spid', n.new_spid,
                                    'first', n.first_name, 'last', n.new_last, 'dob', n.dob) ORDER BY n.id),
               'referrals', jsonb_agg(jsonb_build_object('id', n.new_row, 'source_id', n.source_id,
                                      'referral_id', n.new_ref, 'person_id', n.new_person, 'pathway', n.pathway,
                                      'tier', n.tier, 'score', n.score, 'program', n.program,
                                      'submitted_at', n.submitted_at, 'payload', n.payload, 'digest', n.digest,
                                      'state', n.state) ORDER BY n.id),
               'enrollments_new', jsonb_agg(jsonb_build_object('referral_id', n.new_row, 'person_id', n.new_person,
                                            'program', n.program, 'case_manager', n.cm) ORDER BY n.id),
               'sources', q.sources,
               'events', jsonb_agg(jsonb_build_object('source_id', n.source_id, 'seq', n.new_seq, 'referral_id', n.new_row,
                                   'decision', 'accept', 'reason', n.reason, 'program', n.program,
                                   'case_manager', n.cm, 'tier', n.tier, 'score', n.score,
                                   'components', n.components, 'capacity', n.capacity,
                                   'policy_version', n.policy_version, 'reply', n.reply) ORDER BY n.id))::text AS batch
      FROM new n JOIN seqs q ON q.copy = n.copy GROUP BY n.copy, q.sources;
    CREATE UNIQUE INDEX ON bench.replay_batch (copy);
    CREATE VIEW bench.replay_now AS
        SELECT * FROM bench.replay_batch WHERE copy = (SELECT currval('bench.replay_next'));
    IF (SELECT COALESCE(min(n), 0) FROM bench.replay_batch) < size THEN
        RAISE EXCEPTION 'bench: % has fewer than % accepted referrals to replay', prog, size;
    END IF;
    RETURN (SELECT format('%s batches of %s decisions, %s bytes of record''s argument each', count(*), min(n),
                          min(length(batch))) FROM bench.replay_batch);
END $$;

-- Raises unless the data is what divertd and the triggers keep: every case
-- manager's caseload is its open enrollments, no one above the hard cap,
-- decision event seqs 1..last_seq per source, enrollment event seqs
-- 1..last_seq per program, each enrollment's history begins `assigned`.
CREATE OR REPLACE FUNCTION bench.check() RETURNS text
    LANGUAGE plpgsql SET search_path = divert, pg_catalog AS $$
DECLARE
    bad text;
BEGIN
    SELECT c.id INTO bad FROM case_manager c JOIN program p ON p.name = c.program
     WHERE c.caseload <> (SELECT count(*) FROM enrollment e WHERE e.case_manager_id = c.id AND e.status <> 'exited')
        OR c.caseload > p.hard_cap LIMIT 1;
    IF FOUND THEN RAISE EXCEPTION 'bench: caseload of % is wrong', bad; END IF;
    SELECT s.id INTO bad FROM source s
     WHERE s.last_seq <> (SELECT count(*) FROM decision_event e WHERE e.source_id = s.id)
        OR s.last_seq <> COALESCE((SELECT max(seq) FROM decision_event e WHERE e.source_id = s.id), 0) LIMIT 1;
    IF FOUND THEN RAISE EXCEPTION 'bench: decision event seqs of % are not 1..last_seq', bad; END IF;
    SELECT f.program INTO bad FROM enrollment_feed f
     WHERE f.last_seq <> (SELECT count(*) FROM enrollment_event e WHERE e.program = f.program)
        OR f.last_seq <> COALESCE((SELECT max(seq) FROM enrollment_event e WHERE e.program = f.program), 0) LIMIT 1;
    IF FOUND THEN RAISE EXCEPTION 'bench: enrollment event seqs of % are not 1..last_seq', bad; END IF;
    SELECT e.id::text INTO bad FROM enrollment e
     WHERE NOT EXISTS (SELECT 1 FROM enrollment_event v WHERE v.enrollment_id = e.id AND v.change = 'assigned') LIMIT 1;
    IF FOUND THEN RAISE EXCEPTION 'bench: enrollment % has no assigned event', bad; END IF;
    IF to_regclass('divert.program_stat') IS NOT NULL THEN       -- 008's waitlist counters
        EXECUTE 'SELECT s.program FROM divert.program_stat s WHERE s.waitlist_open <> (SELECT count(*)
                   FROM divert.waitlist_entry w WHERE w.program = s.program AND w.state = ''open'') LIMIT 1' INTO bad;
        IF bad IS NOT NULL THEN RAISE EXCEPTION 'bench: the waitlist counter of % is wrong', bad; END IF;
    END IF;
    RETURN format('%s referrals, %s open enrollments, %s waiting, %s case managers in %s programs',
                  (SELECT count(*) FROM referral), (SELECT count(*) FROM enrollment WHERE status <> 'exited'),
                  (SELECT count(*) FROM waitlist_entry WHERE state = 'open'),
                  (SELECT count(*) FROM case_manager), (SELECT count(*) FROM program));
END $$;
