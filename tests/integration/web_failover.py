#!/usr/bin/env python3
"""web_failover — divert-web with two divertd on one database.

Two real divertd, A and B, on the test's database; divert-web is given both
(divert/intake and divert/decisions list A, then B). A program manager's
live stream (Server-Sent Events) is open throughout.

- Both up: /api/health says both are connected; a referral sent to B
  directly (divert-submit) reaches the stream, although the web's own
  clients talk to A: the web listens to every daemon, since each publishes
  only what it decided.
- Three partner desks (two sources) submit referrals through the web; when
  a third are answered, A is killed with SIGKILL. Every submission is
  answered, each referral has exactly one first decision in the database,
  the one the web answered (a resend after the failover that A had
  recorded is a replay on B), and both daemons decided some. Another
  partner, whose client was left on A, is answered by B at once (the web
  knew A was gone), and referrals A decided, sent again through the web,
  are replays of what A decided.
- The stream carries every decision B made and every enrollment event
  (both daemons publish those: each reaches the stream once), never an
  event twice, and a "resync" when A's connection was lost; health says
  daemon 1 is not connected. A started again: connected again, another
  "resync".
- Configuration errors in the lists exit 78 with a clear message.
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import (BIN, PORT, TMP, Client, Site, Stream, Tally, ctl, referral_form, sql, uuid)  # noqa: E402

t = Tally("web_failover")
site = Site(t)
A_INTAKE, A_DECISIONS = "tcp://127.0.0.1:%d" % PORT, "tcp://127.0.0.1:%d" % (PORT + 1)
B_INTAKE, B_DECISIONS = "tcp://127.0.0.1:%d" % (PORT + 2), "tcp://127.0.0.1:%d" % (PORT + 3)
WEB = PORT + 5
PW = {"outreach": "pw-outreach-0123456789", "police": "pw-police-0123456789", "manager": "pw-manager-0123456789",
      "pier": "pw-pier-0123456789"}
DESKS = (("outreach", "community"), ("outreach", "community"), ("police", "social_contact"))
PER_DESK = 15


def health():
    status, _, data = Client(WEB).get("/api/health")
    return data if status == 200 and isinstance(data, dict) else {}


def wait_health(predicate, seconds):
    deadline = time.time() + seconds
    data = health()
    while not predicate(data) and time.time() < deadline:
        time.sleep(0.1)
        data = health()
    return data


def connected(data):
    return [d.get("connected") for d in data.get("daemons", [])]


def key(event):
    kind, data = event
    if kind == "decision":
        return ("decision", data.get("source_id"), data.get("seq"))
    if kind == "enrollment":
        return ("enrollment", data.get("program"), data.get("seq"))
    return None


def keys_seen(stream):
    return [k for k in (key(e) for e in stream.events if isinstance(e[1], dict)) if k]


def pid_of(name):
    return [p for p, _, what in site.procs if what == name][0]


def submit_direct(endpoint, cert, person):
    """One referral straight to a daemon with divert-submit; its referral id."""
    rid = uuid()
    request = ('{"referral_id":"%s","pathway":"social_contact","submitted_at":"%s","person":{"source_person_id":"%s"},'
               '"area":"downtown","housing":"unsheltered","behavioral_health":["substance_use"],"consent":true}'
               % (rid, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), person))
    out = subprocess.run([os.path.join(BIN, "divert-submit"), "--endpoint", endpoint, "--server-key",
                          os.path.join(site.keys, "server.cert"), "--cert", os.path.join(site.keys, cert),
                          "--json", "-"], input=request, capture_output=True, text=True, timeout=30)
    return rid, out


class Desk(threading.Thread):
    """One partner user submitting referrals one after the other."""

    def __init__(self, number, user, pathway, answers, lock):
        super().__init__(daemon=True)
        self.number, self.pathway, self.bodies = number, pathway, {}
        self.client = Client(WEB)
        self.client.login(user, PW[user])
        self.answers, self.lock = answers, lock

    def run(self):
        for k in range(PER_DESK):
            body = referral_form(pathway=self.pathway, person={"source_person_id": "D%d-%d" % (self.number, k)})
            self.bodies[body["referral_id"].lower()] = body
            try:
                status, _, data = self.client.post("/api/partner/referrals", body)
            except Exception as e:                      # noqa: BLE001 (reported as an answer)
                status, data = None, str(e)
            with self.lock:
                self.answers.append((body["referral_id"], status, data))


def run():
    if not site.setup(sources=(("harbor", "community", "Harbor Outreach"), ("spd", "police", "City Police"),
                               ("pier", "community", "Pier Outreach")),
                      users=(("outreach", "partner:harbor", PW["outreach"]), ("police", "partner:spd", PW["police"]),
                             ("pier", "partner:pier", PW["pier"]), ("manager", "program", PW["manager"]))):
        return
    if not (site.start_divertd(name="divertd-a", intake=A_INTAKE, decisions=A_DECISIONS)
            and site.start_divertd(name="divertd-b", intake=B_INTAKE, decisions=B_DECISIONS)):
        return
    configuration_errors()
    site.intake = "%s, %s" % (A_INTAKE, B_INTAKE)
    site.decisions = "%s,%s" % (A_DECISIONS, B_DECISIONS)
    web, _ = site.start_web("web", "127.0.0.1:%d" % WEB)
    if web.poll() is not None:
        return

    t.section("both daemons up")
    data = wait_health(lambda d: connected(d) == [True, True], 10)
    t.eq("health: both daemons connected", (data.get("divertd"), connected(data)), ("up", [True, True]))
    t.eq("... each by its place in the lists, without its address",
         [sorted(d.keys()) for d in data.get("daemons", [])], [["connected", "daemon", "seconds"]] * 2)
    t.check("... no endpoint in the open answer", "127.0.0.1" not in str(data), data)
    manager = Client(WEB)
    manager.login("manager", PW["manager"])
    stream = Stream(manager)
    t.eq("the program dashboard's stream opens", stream.status, 200)
    stream.wait_for(lambda e: e[0] == "hello", 5)
    rid, out = submit_direct(B_INTAKE, "spd.cert", "B-direct")
    t.check("a referral sent to B directly is decided", out.returncode in (0, 1), out.stderr)
    t.check("... and reaches the stream (the web listens to B too)",
            stream.wait_for(lambda e: e[0] == "decision" and e[1].get("referral_id") == rid, 10))

    pier = Client(WEB)
    pier.login("pier", PW["pier"])
    status, _, data = pier.post("/api/partner/referrals", referral_form(person={"source_person_id": "P-1"}))
    t.eq("another partner's referral is decided (by A, the first)", status, 200)

    t.section("A killed under load")
    answers, lock = [], threading.Lock()
    desks = [Desk(i, user, pathway, answers, lock) for i, (user, pathway) in enumerate(DESKS)]
    for desk in desks:
        desk.start()
    total = len(desks) * PER_DESK
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            if len(answers) >= total // 3:
                break
        time.sleep(0.01)
    with lock:
        before = len(answers)
    a = pid_of("divertd-a")
    a.kill()
    a.wait()
    t.check("A killed with a third answered (%d of %d)" % (before, total), total // 3 <= before < total, before)
    for desk in desks:
        desk.join(60)
    t.eq("every submission is answered with a decision", [(s, isinstance(d, dict) and "decision" in d)
                                                          for _, s, d in answers if s != 200 or "decision" not in d], [])
    t.eq("... all of them", len(answers), total)

    ids = [rid for rid, _, _ in answers]
    t.eq("each referral has exactly one first decision in the database", sql(
        "SELECT count(*) FROM (SELECT r.id FROM divert.referral r"
        "  LEFT JOIN divert.decision_event e ON e.referral_id = r.id"
        "   AND e.decision IN ('accept', 'waitlist', 'decline') AND NOT e.from_waitlist"
        " GROUP BY r.id HAVING count(e.id) <> 1) twice"), "0")
    t.eq("... one referral for each submission (and the other two)", sql("SELECT count(*) FROM divert.referral"),
         str(total + 2))
    stored = {}
    for line in sql("SELECT DISTINCT ON (r.id) lower(r.referral_id) || ' ' || e.decision || ' ' || e.seq"
                    " FROM divert.referral r JOIN divert.decision_event e ON e.referral_id = r.id"
                    " ORDER BY r.id, e.id").splitlines():
        referral, decision, seq = line.split()
        stored[referral] = (decision, int(seq))
    told = {rid.lower(): (d["decision"].get("decision"), d["decision"].get("seq"))
            for rid, s, d in answers if s == 200 and isinstance(d, dict) and "decision" in d}
    mismatched = [(r, told.get(r.lower()), stored.get(r.lower())) for r in ids if told.get(r.lower()) != stored.get(r.lower())]
    t.eq("what the web answered is what the database holds", mismatched[:5], [])
    replayed = sum(1 for _, s, d in answers if s == 200 and d["decision"].get("replayed"))
    print("# %d of %d answered before the kill; %d answers were replays" % (before, total, replayed))
    b = pid_of("divertd-b")
    by = sql("SELECT string_agg(DISTINCT split_part(decided_by, ':', 2), ' ') FROM divert.decision_event").split()
    t.check("both daemons decided some", str(a.pid) in by and str(b.pid) in by, by)

    started = time.time()
    status, _, data = pier.post("/api/partner/referrals", referral_form(person={"source_person_id": "P-2"}))
    took = time.time() - started
    t.eq("the other partner, whose client was left on A, is answered", status, 200)
    t.check("... at once, by B: the web knew A was gone (not after the 3 s timeout)", took < 2, "%.1f s" % took)
    t.check("... a new decision, not a replay", isinstance(data, dict) and data["decision"].get("replayed") is False, data)

    t.section("sent again through the web, A still dead")
    events = sql("SELECT count(*) FROM divert.decision_event")
    again = []
    for line in sql("SELECT lower(r.referral_id) FROM divert.referral r JOIN divert.decision_event e"
                    " ON e.referral_id = r.id WHERE e.decided_by LIKE '%%:%d' AND e.source_id <> 'pier'"
                    " ORDER BY e.id LIMIT 6" % a.pid).splitlines():
        desk = [d for d in desks if line in d.bodies][0]
        status, _, data = desk.client.post("/api/partner/referrals", desk.bodies[line])
        decision = data.get("decision", {}) if isinstance(data, dict) else {}
        again.append((status, decision.get("replayed"), (decision.get("decision"), decision.get("seq")) == stored[line]))
    t.check("referrals A decided, sent again, are answered by B as replays of what A decided (%d)" % len(again),
            again and all(x == (200, True, True) for x in again), again)
    t.eq("... and nothing new is recorded", sql("SELECT count(*) FROM divert.decision_event"), events)

    t.section("the live stream after the kill")
    from_b = set(("decision", s, int(q)) for s, q in (line.split() for line in sql(
        "SELECT source_id || ' ' || seq FROM divert.decision_event WHERE decided_by LIKE '%%:%d'" % b.pid).splitlines()))
    enrollments = set(("enrollment", p, int(q)) for p, q in (line.split() for line in sql(
        "SELECT program || ' ' || seq FROM divert.enrollment_event").splitlines()))
    deadline = time.time() + 15
    while time.time() < deadline and not (from_b | enrollments) <= set(keys_seen(stream)):
        stream.read(0.3)
    seen = keys_seen(stream)
    t.check("the stream carries every decision B made (%d)" % len(from_b),
            from_b and from_b <= set(seen), sorted(from_b - set(seen))[:5])
    t.check("... and every enrollment event (%d), published by both daemons while A lived" % len(enrollments),
            enrollments and enrollments <= set(seen), sorted(enrollments - set(seen))[:5])
    twice = sorted(k for k in set(seen) if seen.count(k) > 1)
    t.eq("no event reaches the stream twice", twice[:5], [])
    t.check("the stream got \"resync\" when A's connection was lost", any(e[0] == "resync" for e in stream.events))
    data = wait_health(lambda d: connected(d) == [False, True], 5)
    t.eq("health: daemon 1 not connected, daemon 2 connected", (data.get("divertd"), connected(data)),
         ("partial", [False, True]))

    t.section("A back")
    resyncs = sum(1 for e in stream.events if e[0] == "resync")
    if site.start_divertd(name="divertd-a2", intake=A_INTAKE, decisions=A_DECISIONS):
        data = wait_health(lambda d: connected(d) == [True, True], 10)
        t.eq("health: both connected again (ZeroMQ connects by itself)", (data.get("divertd"), connected(data)),
             ("up", [True, True]))
        t.check("another \"resync\": what A published while it was away is fetched again",
                stream.wait_for(lambda e: e[0] == "resync" and
                                sum(1 for x in stream.events if x[0] == "resync") > resyncs, 5))
    rid, out = submit_direct(A_INTAKE, "spd.cert", "A-again")
    t.check("a decision made by A after its return reaches the stream",
            out.returncode in (0, 1, 2) and stream.wait_for(
                lambda e: e[0] == "decision" and e[1].get("referral_id") == rid, 10), out.stderr)
    stream.close()
    log = open(os.path.join(TMP, "web.log")).read()
    t.match("the web log says A's connection was lost", log, "live updates: lost the connection to " + A_DECISIONS)
    t.match("... and that it came back", log, "live updates: connected to %s again" % A_DECISIONS)
    t.eq("divert-web stops cleanly", site.stop(web), 0)


def configuration_errors():
    t.section("configuration errors in the endpoint lists exit 78")
    many = ",".join("tcp://127.0.0.1:%d" % (7000 + i) for i in range(17))
    for name, intake, decisions, pattern in (
            ("count", "%s,%s" % (A_INTAKE, B_INTAKE), A_DECISIONS,
             r"'divert/intake' names 2 endpoints and 'divert/decisions' 1: give each daemon's intake and"
             r" decisions endpoints, in the same order"),
            ("empty", "%s,,%s" % (A_INTAKE, B_INTAKE), "%s,%s" % (A_DECISIONS, B_DECISIONS),
             r"'divert/intake': endpoint 2 of 3 is empty"),
            ("entry", "%s,%s" % (A_INTAKE, B_INTAKE), "%s, http://127.0.0.1:%d" % (A_DECISIONS, PORT + 3),
             r"'divert/decisions': endpoint 2 of 2, \"http://127.0.0.1:\d+\", is not tcp://HOST:PORT or ipc://PATH"),
            ("port", "%s,tcp://127.0.0.1" % A_INTAKE, "%s,%s" % (A_DECISIONS, B_DECISIONS),
             r"'divert/intake': endpoint 2 of 2, \"tcp://127.0.0.1\", is not tcp://HOST:PORT"),
            ("many", many, many, r"'divert/intake' names 17 endpoints; at most 16 daemons are served")):
        site.intake, site.decisions = intake, decisions
        proc, log = site.start_web("config-" + name, "127.0.0.1:%d" % (PORT + 6), expect_ready=False)
        t.eq("%s: exit 78" % name, proc.wait(15), 78)
        t.match("%s: the message names the problem" % name, open(log).read(), pattern)


try:
    run()
finally:
    site.stop_all()
t.end()
