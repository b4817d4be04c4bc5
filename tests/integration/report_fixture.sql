-- report_fixture.sql — the helpers both report tests (report.sh, web_report.py)
-- write their fixtures with, as the superuser, through divert's own tables and
-- triggers. Each test then writes its own timeline with them and checks every
-- figure by hand against it. All in pg_temp: gone with the session.
--
--   pg_temp.person(n)        a person FIXSP-n (names and date of birth made up)
--   pg_temp.p (n, id)        the test's persons, filled by the test
--   pg_temp.r (tag, id)      referral rows by the test's tag
--   ref(tag, source, person, pathway, tier, program, state)   a referral
--   ev(tag, at, decision, reason, cm, from_waitlist)          a decision event, the source's next seq
--   enroll(tag, at, cm)      the enrollment, assigned at `at`
--   change(tag, at, status, reason)                           the enrollment's status from `at`
--   wait(tag, received, state, closed)                        the referral's waitlist entry
--   link(tag, to_tag)        a referral linked to another's waitlist entry
SET search_path = divert, pg_catalog;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.person(n int) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO divert.person (source_id, source_person_id, first_name, last_name, dob)
    VALUES ('spd', 'FIXSP-' || n, 'Fixfirst' || n, 'Fixlast' || n, make_date(1950, 1, n)) RETURNING id $$;
CREATE TABLE pg_temp.p (n int PRIMARY KEY, id bigint);
CREATE TABLE pg_temp.r (tag text PRIMARY KEY, id bigint);
CREATE FUNCTION pg_temp.ref(tag text, src text, n int, pathway text, tier int, program text, state text) RETURNS void
    LANGUAGE sql AS $$
    WITH r AS (INSERT INTO divert.referral (source_id, referral_id, person_id, pathway, tier, program, submitted_at,
                                           payload, digest, state)
               SELECT src, gen_random_uuid()::text, p.id, pathway, tier, program, now(),
                      jsonb_build_object('notes', 'Fixnote-' || tag, 'contact', jsonb_build_object('callback', '+1-555-01' || n)),
                      'd', state FROM pg_temp.p p WHERE p.n = ref.n RETURNING id)
    INSERT INTO pg_temp.r SELECT tag, id FROM r $$;
CREATE FUNCTION pg_temp.ev(tag text, at timestamptz, decision text, reason text, cm text DEFAULT NULL,
                           from_waitlist boolean DEFAULT false) RETURNS void LANGUAGE sql AS $$
    INSERT INTO divert.decision_event (source_id, seq, referral_id, decision, reason, program, case_manager_id, tier,
                                       from_waitlist, at, reply)
    SELECT f.source_id, (SELECT COALESCE(max(seq), 0) + 1 FROM divert.decision_event x WHERE x.source_id = f.source_id),
           f.id, decision, reason, f.program, cm, f.tier, from_waitlist, at, '{}'
      FROM divert.referral f WHERE f.id = (SELECT id FROM pg_temp.r WHERE r.tag = ev.tag) $$;
CREATE FUNCTION pg_temp.enroll(tag text, at timestamptz, cm text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO divert.enrollment (referral_id, person_id, program, case_manager_id, enrolled_at, intake_due_at)
    SELECT f.id, f.person_id, f.program, cm, at, at + interval '30 days'
      FROM divert.referral f WHERE f.id = (SELECT id FROM pg_temp.r WHERE r.tag = enroll.tag) $$;
CREATE FUNCTION pg_temp.change(tag text, at timestamptz, status text, reason text DEFAULT NULL) RETURNS void
    LANGUAGE sql AS $$
    UPDATE divert.enrollment SET status = change.status, status_since = at,
           exited_at = CASE WHEN change.status = 'exited' THEN at END, exit_reason = reason
     WHERE referral_id = (SELECT id FROM pg_temp.r WHERE r.tag = change.tag) $$;
CREATE FUNCTION pg_temp.wait(tag text, received timestamptz, state text, closed timestamptz) RETURNS void
    LANGUAGE sql AS $$
    WITH w AS (INSERT INTO divert.waitlist_entry (program, person_id, referral_id, tier, score, received_at, state, closed_at)
               SELECT f.program, f.person_id, f.id, f.tier, 40, received, wait.state, closed
                 FROM divert.referral f WHERE f.id = (SELECT id FROM pg_temp.r WHERE r.tag = wait.tag) RETURNING id)
    UPDATE divert.referral SET waitlist_entry_id = (SELECT id FROM w)
     WHERE id = (SELECT id FROM pg_temp.r WHERE r.tag = wait.tag) $$;
CREATE FUNCTION pg_temp.link(tag text, to_tag text) RETURNS void LANGUAGE sql AS $$
    UPDATE divert.referral SET waitlist_entry_id = (SELECT waitlist_entry_id FROM divert.referral
                                                     WHERE id = (SELECT id FROM pg_temp.r WHERE r.tag = to_tag))
     WHERE id = (SELECT id FROM pg_temp.r WHERE r.tag = link.tag) $$;
