#!/usr/bin/python3
"""web_metrics — divert-web's /metrics for Prometheus, against the real
divertd (metrics_interval 1s), the real divert-web and PostgreSQL as the
least-privilege roles.

A known stream goes through divertd: referrals from two sources (accepts,
waitlisted at capacity, declines for five reasons, a replay), a referral and
a withdrawal through the partner desk, a case-management system's changes
(intake, in the wind, exit, transfer), an operator's discharge, and the
promotions they free. Then /metrics is scraped and read with a strict parser
of the text format (every line a # HELP, # TYPE or sample; names, labels and
escapes valid; TYPE before samples; each family together; no series twice;
histogram buckets cumulative and rising, +Inf equal to _count, _sum and
_count present), and compared with the database: decisions by decision and
reason with decision_event (this divertd's), enrollment changes with
enrollment_event (this divertd's own and the case-management key's, never
the operator's), the latency histogram's count with the referrals sent, the
batch sizes' sum with the requests that needed the database, caseloads and
caps with case_manager and program, waitlist lengths with the open entries.
Also: the exact Content-Type; who may read it (loopback, behind a proxy by
X-Forwarded-For, login by session or HTTP Basic with throttling, off); a
database divert-web can't reach (200, divert_database_up 0, nothing else);
stale daemon rows left out and old ones deleted; a divertd restart (its
final counts written at the clean stop, a new daemon label from zero, the
old one gone after three intervals); a bad `metrics` setting (exit 78); no
personal data in the exposition.
"""
import base64
import json
import math
import os
import re
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True         # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import BIN, PORT, TMP, Client, Site, Tally, ctl, referral_form, sql, uuid  # noqa: E402

t = Tally("web_metrics")
site = Site(t)
PW = {u: "pw-%s-0123456789" % u for u in ("manager", "admin", "outreach")}
USERS = [("manager", "program", PW["manager"]), ("admin", "admin", PW["admin"]),
         ("outreach", "partner:harbor", PW["outreach"])]
WEB, LOGIN, OFF, DOWN, UNUSED = PORT + 2, PORT + 3, PORT + 4, PORT + 5, PORT + 6
SOCK = os.path.join(TMP, "metrics.sock")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SECRETS = ["Quixote", "Webperson", "1981-04-0", "1990-01-01", "met at the pier", "555-0100"]


# ---------------------------------------------------------------------------
# A strict reader of the text exposition format (version 0.0.4)

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


class FormatError(Exception):
    pass


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not FLOAT.match(text):
        raise FormatError("not a number: %r" % text)
    return float(text)


def unescape(text, quote):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise FormatError("a lone backslash")
            n = text[i + 1]
            if n == "\\":
                out.append("\\")
            elif n == "n":
                out.append("\n")
            elif n == '"' and quote:
                out.append('"')
            else:
                raise FormatError("an unknown escape \\%s" % n)
            i += 2
        elif c == '"' and quote:
            raise FormatError("an unescaped quote")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text):
    """The inside of {...}: name="value" pairs; a dict."""
    labels, i = {}, 0
    while i < len(text):
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', text[i:])
        if not m:
            raise FormatError("a bad label at %r" % text[i:])
        name = m.group(1)
        if name.startswith("__"):
            raise FormatError("a reserved label name %s" % name)
        j = i + m.end()
        value = []
        while True:
            if j >= len(text):
                raise FormatError("an unterminated label value")
            if text[j] == "\\":
                value.append(text[j:j + 2])
                j += 2
                continue
            if text[j] == '"':
                break
            value.append(text[j])
            j += 1
        if name in labels:
            raise FormatError("label %s twice" % name)
        labels[name] = unescape("".join(value), True)
        j += 1
        if j < len(text):
            if text[j] != ",":
                raise FormatError("labels not separated by a comma")
            j += 1
        i = j
    return labels


def family_of(name, families):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and families.get(name[:-len(suffix)], {}).get("type") in ("histogram", "summary"):
            return name[:-len(suffix)]
    return name


def parse_exposition(body):
    """{family: {"type", "help", "samples": [(name, labels, value)]}}; raises FormatError."""
    if body and not body.endswith("\n"):
        raise FormatError("the last line has no newline")
    families, seen, done, current = {}, set(), set(), None
    for number, line in enumerate(body.split("\n")[:-1], 1):
        where = "line %d (%r)" % (number, line)
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)\Z", line)
            if not m:
                raise FormatError("%s: a comment that is not # HELP or # TYPE" % where)
            kind, name, rest = m.groups()
            if not METRIC_NAME.match(name):
                raise FormatError("%s: a bad metric name" % where)
            if name in done:
                raise FormatError("%s: family %s again after other families" % (where, name))
            if current and current != name:
                done.add(current)
            current = name
            family = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if kind == "HELP":
                if family["help"] is not None:
                    raise FormatError("%s: HELP twice" % where)
                family["help"] = unescape(rest, False)
            else:
                if family["type"] is not None or family["samples"]:
                    raise FormatError("%s: TYPE twice, or after samples" % where)
                if rest not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise FormatError("%s: an unknown type" % where)
                family["type"] = rest
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?\Z", line)
        if not m:
            raise FormatError("%s: not a sample" % where)
        name, _, label_text, value_text, _ = m.groups()
        labels = parse_labels(label_text) if label_text else {}
        value = parse_value(value_text)
        family_name = family_of(name, families)
        family = families.get(family_name)
        if not family or family["type"] is None:
            raise FormatError("%s: a sample before its family's TYPE" % where)
        if family_name != current:
            raise FormatError("%s: a sample away from its family's lines" % where)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise FormatError("%s: the same series twice" % where)
        seen.add(key)
        if family["type"] == "counter" and not (value >= 0):
            raise FormatError("%s: a negative counter" % where)
        family["samples"].append((name, labels, value))
    for name, family in families.items():
        if family["type"] == "histogram":
            check_histogram(name, family["samples"])
    return families


def check_histogram(name, samples):
    series = {}
    for sample, labels, value in samples:
        rest = dict(labels)
        le = rest.pop("le", None)
        entry = series.setdefault(tuple(sorted(rest.items())), {"buckets": [], "sum": None, "count": None})
        if sample == name + "_bucket":
            if le is None:
                raise FormatError("%s: a bucket without le" % name)
            entry["buckets"].append((parse_value(le), value))
        elif sample == name + "_sum":
            entry["sum"] = value
        elif sample == name + "_count":
            entry["count"] = value
        else:
            raise FormatError("%s: sample %s in a histogram" % (name, sample))
    for labels, entry in series.items():
        buckets = entry["buckets"]
        if entry["sum"] is None or entry["count"] is None:
            raise FormatError("%s%s: _sum or _count missing" % (name, labels))
        if not buckets or buckets[-1][0] != math.inf:
            raise FormatError("%s%s: no +Inf bucket last" % (name, labels))
        for (le1, c1), (le2, c2) in zip(buckets, buckets[1:]):
            if not le2 > le1 or c2 < c1:
                raise FormatError("%s%s: buckets not rising and cumulative" % (name, labels))
        if buckets[-1][1] != entry["count"]:
            raise FormatError("%s%s: +Inf bucket %s is not _count %s" % (name, labels, buckets[-1][1], entry["count"]))


def strict_parser_refuses():
    """The parser itself: a test that can't fail tests nothing."""
    t.section("the strict parser refuses what Prometheus would")
    good = "# HELP a_total x\n# TYPE a_total counter\na_total{k=\"v\"} 1\n"
    bad = {
        "no TYPE": "a_total 1\n",
        "a bad escape": "# TYPE a counter\na{k=\"\\t\"} 1\n",
        "an unescaped quote": "# TYPE a gauge\na{k=\"x\"y\"} 1\n",
        "a bad value": "# TYPE a gauge\na 1,5\n",
        "a sample away from its family": "# TYPE a gauge\n# TYPE b gauge\na 1\n",
        "the same series twice": "# TYPE a gauge\na 1\na 2\n",
        "no +Inf": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "+Inf not _count": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "buckets falling": "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
                           "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
        "no newline at the end": "# TYPE a gauge\na 1",
        "another comment": "# hello\n",
    }
    try:
        parse_exposition(good)
        ok = True
    except FormatError:
        ok = False
    t.check("it reads a good exposition", ok)
    for what, text in bad.items():
        try:
            parse_exposition(text)
            refused = False
        except FormatError:
            refused = True
        t.check("it refuses %s" % what, refused)


# ---------------------------------------------------------------------------

def scrape(client, **kw):
    status, heads, body = client.get("/metrics", **kw)
    return status, heads, body if isinstance(body, str) else json.dumps(body)


def read(client, what):
    """Scrape and parse; the families, or None (a failed check)."""
    status, heads, body = scrape(client)
    if not t.eq("%s: 200" % what, status, 200):
        print("# " + body[:300])
        return None
    try:
        return parse_exposition(body)
    except FormatError as error:
        t.check("%s: the exposition is well-formed" % what, False, error)
        return None


def series(families, name, **labels):
    """{label tuple: value} of a family's samples called `name` matching labels."""
    out = {}
    family = families.get(family_of(name, families), {"samples": []}) if families else {"samples": []}
    for sample, sample_labels, value in family["samples"]:
        if sample == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            out[tuple(sorted(sample_labels.items()))] = value
    return out


def counts(families, name, key, daemon):
    """{label value of key: value} of one daemon's counter."""
    return {dict(k)[key] if key else (): int(v) for k, v in series(families, name, daemon=daemon).items()}


def decisions(families, daemon):
    return {(dict(k)["decision"], dict(k)["reason"]): int(v)
            for k, v in series(families, "divert_decisions_total", daemon=daemon).items()}


def db_decisions(daemon):
    rows = sql("SELECT decision || ' ' || reason || ' ' || count(*) FROM divert.decision_event"
               " WHERE decided_by = 'divertd@%s' GROUP BY decision, reason" % daemon)
    return {(r.split()[0], r.split()[1]): int(r.split()[2]) for r in rows.splitlines() if r}


def db_changes(daemon):
    rows = sql("SELECT change || ' ' || count(*) FROM divert.enrollment_event"
               " WHERE actor = 'divertd@%s' OR actor LIKE 'cms:%%' GROUP BY change" % daemon)
    return {r.split()[0]: int(r.split()[1]) for r in rows.splitlines() if r}


def wait_for(client, predicate, seconds=15):
    """Scrape until predicate(families) holds; the last families."""
    deadline = time.time() + seconds
    families = None
    while time.time() < deadline:
        status, _, body = scrape(client)
        if status == 200:
            try:
                families = parse_exposition(body)
                if predicate(families):
                    return families
            except FormatError:
                pass
        time.sleep(0.3)
    return families


# ---------------------------------------------------------------------------

def referral(pathway, person, **changes):
    body = {"v": 1, "type": "referral", "referral_id": uuid(), "pathway": pathway,
            "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "person": person, "area": "downtown", "housing": "unsheltered",
            "behavioral_health": ["substance_use"], "consent": True}
    if pathway in ("arrest_diversion", "pretrial_diversion"):
        body["offense"] = {"code": "VUCSA-POSS"}
    body.update(changes)
    return body


def submit(source, requests):
    """divert-submit with the source's key; its replies (JSON lines)."""
    path = os.path.join(TMP, "stream-%s.jsonl" % source)
    with open(path, "w") as f:
        for r in requests:
            f.write(json.dumps(r) + "\n")
    out = subprocess.run([os.path.join(BIN, "divert-submit"), "--endpoint", site.intake, "--server-key",
                          os.path.join(site.keys, "server.cert"), "--cert", os.path.join(site.keys, source + ".cert"),
                          "--timeout", "20000", "--json", path], capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def cms(*args):
    out = subprocess.run([os.path.join(BIN, "divert-cms"), "--endpoint", site.intake, "--server-key",
                          os.path.join(site.keys, "server.cert"), "--cert", os.path.join(site.keys, "lead-cms.cert"),
                          "--timeout", "20000", "--json"] + list(args), capture_output=True, text=True)
    return out.returncode, out.stdout


def divertd_proc():
    return [p for p, _, what in site.procs if what == "divertd"][-1]


def run():
    strict_parser_refuses()
    if not site.setup(users=USERS, sources=(("harbor", "community", "Harbor Outreach"),
                                            ("spd", "police", "City Police"))):
        return
    rc, _, err = ctl("cms", "add", "lead-cms", "--programs", "LEAD", "--name", "LEAD case records",
                     "--cert-out", os.path.join(site.keys, "lead-cms.cert"))
    t.eq("a case-management key for LEAD", (rc, err), (0, ""))
    # Small caps so that capacity runs out: 2 case managers, hard cap 3,
    # paced 4, one slot held for tier 1 (tier 2 fits while T <= 2).
    sql("UPDATE divert.program SET hard_cap = 3, target_avg = 2, reserve_tier1 = 1, reserve_tier2 = 1"
        " WHERE name = 'LEAD'")
    if not site.start_divertd("    metrics_interval = 1s\n"):
        return
    daemon = "%s:%d" % (socket.gethostname(), divertd_proc().pid)
    web, web_log = site.start_web("web", "127.0.0.1:%d" % WEB)
    if web.poll() is not None:
        return
    client = Client(WEB)

    first = known_stream(client, daemon)
    exposition_matches_database(client, daemon, first)
    access_modes(client)
    database_down()
    stale_rows(client, daemon)
    restart(client, daemon)
    configuration_error()

    t.section("stopping")
    t.eq("divert-web exits 0 on SIGTERM", site.stop(web), 0)
    logs = [os.path.join(TMP, name) for name in os.listdir(TMP) if name.endswith(".log")]
    found = [(s, log) for log in logs for s in SECRETS if s in open(log, errors="replace").read()]
    t.eq("no personal data in any log", found, [])


def known_stream(client, daemon):
    t.section("a known stream of referrals and enrollment changes")
    families = wait_for(client, lambda f: series(f, "divert_daemons") == {(): 1.0})
    t.eq("divert_daemons counts this divertd once it wrote its counters", series(families, "divert_daemons"),
         {(): 1.0})
    t.eq("its counters start empty", decisions(families, daemon), {})
    t.eq("its latency histogram is there, at zero",
         series(families, "divert_decision_latency_seconds_count", daemon=daemon),
         {(("daemon", daemon),): 0.0})

    def person(n):
        return {"source_person_id": "H-%d" % n, "last_name": "Quixote%d" % n, "dob": "1981-04-%02d" % n}
    c = [referral("community", person(n)) for n in range(1, 10)]
    c[5]["area"] = "uptown"                        # outside_service_area
    c[6]["consent"] = False                        # no_consent
    c[7]["behavioral_health"] = []                 # no_behavioral_health_need
    c[8]["housing"] = "housed"                     # not_unsheltered
    replies = submit("harbor", c + [c[0]])         # the first again: replayed
    got = [(r.get("decision"), r.get("reason"), bool(r.get("replayed"))) for r in replies]
    t.eq("harbor's referrals are decided as the policy says", got,
         [("accept", "accepted", False)] * 3 + [("waitlist", "at_capacity", False)] * 2
         + [("decline", "outside_service_area", False), ("decline", "no_consent", False),
            ("decline", "no_behavioral_health_need", False), ("decline", "not_unsheltered", False),
            ("accept", "accepted", True)])
    p1 = referral("arrest_diversion", {"source_person_id": "SPD-1", "last_name": "Other", "dob": "1970-01-01"})
    p2 = referral("arrest_diversion", {"last_name": "Quixote1", "dob": "1981-04-01"})   # c[0]'s person
    replies = submit("spd", [p1, p2])
    got = [(r.get("decision"), r.get("reason")) for r in replies]
    t.eq("the police's: tier 1 accepted at T=3, the same person already enrolled", got,
         [("accept", "accepted"), ("decline", "already_enrolled")])

    # The partner desk: one more waitlisted, and an accepted one withdrawn
    partner = Client(WEB)
    t.eq("the partner logs in", partner.login("outreach", PW["outreach"])[0], 200)
    status, _, data = partner.post("/api/partner/referrals", referral_form(
        person={"first_name": "Ann", "last_name": "Webperson", "dob": "1990-01-01"}))
    t.eq("a referral from the partner desk is waitlisted", (status, (data or {}).get("decision", {}).get("decision")),
         (200, "waitlist"))
    status, _, data = partner.post("/api/partner/withdraw", {"referral_id": c[2]["referral_id"]})
    t.eq("an accepted referral withdrawn at the partner desk", status, 200)

    # The case-management system: intake, in the wind, exit (frees a slot:
    # c[3] is promoted), a transfer; the operator discharges c[1] (c[4]
    # promoted). The operator's change is not divertd's.
    steps = [("enroll", "harbor", c[0]["referral_id"], "intake_completed"),
             ("enroll", "harbor", c[0]["referral_id"], "in_the_wind"),
             ("enroll", "harbor", c[0]["referral_id"], "exited", "--reason", "graduated")]
    for step in steps:
        rc, out = cms(*step)
        t.eq("divert-cms %s %s" % (step[0], step[3]), rc, 0)
    cm_now = sql("SELECT e.case_manager_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                 " WHERE r.referral_id = '%s'" % p1["referral_id"])
    other = "cm-okafor" if cm_now == "cm-rivera" else "cm-rivera"
    rc, out = cms("transfer", "spd", p1["referral_id"], other)
    t.eq("divert-cms transfer", rc, 0)
    deadline = time.time() + 10
    while time.time() < deadline and sql("SELECT state FROM divert.referral WHERE referral_id = '%s'"
                                         % c[3]["referral_id"]) != "accepted":
        time.sleep(0.2)
    t.eq("the exit promoted the head of the waitlist", sql(
        "SELECT state FROM divert.referral WHERE referral_id = '%s'" % c[3]["referral_id"]), "accepted")
    rc, out, err = ctl("discharge", c[1]["referral_id"], "--reason", "moved")
    t.eq("divertctl discharge (an operator's change)", (rc, err), (0, ""))
    deadline = time.time() + 10
    while time.time() < deadline and sql("SELECT state FROM divert.referral WHERE referral_id = '%s'"
                                         % c[4]["referral_id"]) != "accepted":
        time.sleep(0.2)
    t.eq("the discharge promoted the next", sql(
        "SELECT state FROM divert.referral WHERE referral_id = '%s'" % c[4]["referral_id"]), "accepted")
    t.eq("the operator's change is recorded with the operator as actor",
         sql("SELECT count(*) FROM divert.enrollment_event WHERE actor NOT LIKE 'divertd@%' AND actor NOT LIKE 'cms:%'"),
         "1")
    # requests that needed the database: 12 + 1 referrals, 1 withdrawal, 4 cms
    return {"referrals": 13, "requests": 18}


def exposition_matches_database(client, daemon, sent):
    t.section("the exposition against the database")
    want_decisions = {("accept", "accepted"): 4, ("waitlist", "at_capacity"): 3,
                      ("decline", "outside_service_area"): 1, ("decline", "no_consent"): 1,
                      ("decline", "no_behavioral_health_need"): 1, ("decline", "not_unsheltered"): 1,
                      ("decline", "already_enrolled"): 1, ("withdrawn", "withdrawn"): 1,
                      ("accept", "accepted_from_waitlist"): 2}
    t.eq("the database holds the stream's decisions, all by this divertd", db_decisions(daemon), want_decisions)
    want_changes = {"assigned": 6, "intake_completed": 1, "in_the_wind": 1, "exited": 2, "transferred": 1}
    t.eq("and its enrollment changes (the operator's left out)", db_changes(daemon), want_changes)

    def settled(families):
        return (decisions(families, daemon) == want_decisions
                and counts(families, "divert_enrollment_changes_total", "change", daemon) == want_changes
                and series(families, "divert_batch_size_sum", daemon=daemon) == {(("daemon", daemon),): sent["requests"]})
    started = time.time()
    families = wait_for(client, settled)
    t.check("the counters reach the database's figures within a few intervals (%.1fs)" % (time.time() - started),
            families and settled(families))
    if not families:
        return
    t.eq("divert_decisions_total == decision_event by decision and reason", decisions(families, daemon),
         db_decisions(daemon))
    t.eq("divert_enrollment_changes_total == enrollment_event by change",
         counts(families, "divert_enrollment_changes_total", "change", daemon), db_changes(daemon))
    t.eq("divert_decision_latency_seconds_count == the referrals sent (a replay too)",
         series(families, "divert_decision_latency_seconds_count", daemon=daemon), {(("daemon", daemon),): 13.0})
    latency_sum = list(series(families, "divert_decision_latency_seconds_sum", daemon=daemon).values())
    t.check("its sum is positive and under the count times 20 s", latency_sum and 0 < latency_sum[0] < 13 * 20,
            latency_sum)
    t.eq("divert_batch_size_sum == the requests that needed the database",
         series(families, "divert_batch_size_sum", daemon=daemon), {(("daemon", daemon),): 18.0})
    les = sorted((dict(k)["le"] for k in series(families, "divert_decision_latency_seconds_bucket", daemon=daemon)),
                 key=parse_value)
    t.eq("the latency buckets' le, as client libraries write them", les,
         ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"])
    batches = series(families, "divert_batch_size_count", daemon=daemon)
    t.check("divert_batch_size_count: between 1 and 18 batches", batches and 1 <= list(batches.values())[0] <= 18,
            batches)
    start = series(families, "divert_daemon_start_time_seconds", daemon=daemon)
    t.check("divert_daemon_start_time_seconds is the last minute",
            start and time.time() - 120 < list(start.values())[0] <= time.time() + 1, start)
    for name, kind in (("divert_decisions_total", "counter"), ("divert_enrollment_changes_total", "counter"),
                       ("divert_decision_latency_seconds", "histogram"), ("divert_batch_size", "histogram"),
                       ("divert_caseload", "gauge"), ("divert_caseload_cap", "gauge"),
                       ("divert_waitlist_length", "gauge"), ("divert_database_up", "gauge"),
                       ("divert_notification_queue_usage", "gauge"), ("divert_daemons", "gauge"),
                       ("divert_daemon_start_time_seconds", "gauge")):
        family = families.get(name, {})
        t.check("%s is a %s with HELP" % (name, kind), family.get("type") == kind and family.get("help"), family)

    caseloads = {(dict(k)["program"], dict(k)["case_manager"]): int(v)
                 for k, v in series(families, "divert_caseload").items()}
    rows = sql("SELECT program || ' ' || id || ' ' || caseload || ' ' || (SELECT count(*) FROM divert.enrollment e"
               " WHERE e.case_manager_id = c.id AND e.status <> 'exited') FROM divert.case_manager c")
    db = {(r.split()[0], r.split()[1]): (int(r.split()[2]), int(r.split()[3])) for r in rows.splitlines()}
    t.eq("divert_caseload == case_manager.caseload == the open enrollments", caseloads,
         {k: v[0] for k, v in db.items()})
    t.eq("... which are the open enrollments", {k: v[0] for k, v in db.items()}, {k: v[1] for k, v in db.items()})
    t.eq("3 people are open on LEAD's caseloads", sum(v for (p, _), v in caseloads.items() if p == "LEAD"), 3)
    caps = {(dict(k)["program"], dict(k)["case_manager"]): int(v) for k, v in series(families, "divert_caseload_cap").items()}
    t.eq("divert_caseload_cap is the program's hard cap, for each case manager", caps,
         {k: 3 for k in caseloads if k[0] == "LEAD"})
    waitlists = {dict(k)["program"]: int(v) for k, v in series(families, "divert_waitlist_length").items()}
    rows = sql("SELECT p.name || ' ' || (SELECT count(*) FROM divert.waitlist_entry w WHERE w.program = p.name"
               " AND w.state = 'open') FROM divert.program p")
    t.eq("divert_waitlist_length == the open waitlist entries, every program", waitlists,
         {r.split()[0]: int(r.split()[1]) for r in rows.splitlines()})
    t.eq("LEAD has the partner desk's referral waiting", waitlists.get("LEAD"), 1)
    t.eq("divert_database_up 1", series(families, "divert_database_up"), {(): 1.0})
    usage = series(families, "divert_notification_queue_usage")
    t.check("divert_notification_queue_usage is a fraction", usage and 0 <= usage[()] <= 1, usage)

    status, heads, body = scrape(client)
    print("# the exposition:\n" + "\n".join("# | " + line for line in body.splitlines()))
    t.eq("Content-Type is exactly the format's", heads.get("content-type"), CONTENT_TYPE)
    t.eq("not cached", heads.get("cache-control"), "no-store")
    found = [s for s in SECRETS if s in body]
    t.eq("no personal data in the exposition", found, [])
    status, heads, body = client.request("HEAD", "/metrics")
    t.eq("HEAD /metrics is 200 too", status, 200)
    status, heads, _ = client.request("POST", "/metrics", raw=b"x", headers={"Content-Type": "text/plain"})
    t.eq("POST /metrics is 405", (status, heads.get("allow")), (405, "GET, HEAD"))


def access_modes(client):
    t.section("who may read the metrics")
    proxied, _ = site.start_web("proxied", "unix:" + SOCK)
    status, _, body = scrape(Client(unix=SOCK))
    t.eq("behind a proxy that names no client: 403", status, 403)
    t.match("... saying why", body, "loopback")
    status, _, _ = scrape(Client(unix=SOCK, forwarded_for="127.0.0.1, 198.51.100.7"))
    t.eq("behind a proxy, for a client elsewhere (the last X-Forwarded-For): 403", status, 403)
    status, _, _ = scrape(Client(unix=SOCK, forwarded_for="198.51.100.7, 127.0.0.1"))
    t.eq("behind a proxy, for a loopback client: 200", status, 200)
    status, _, _ = scrape(Client(WEB, forwarded_for="198.51.100.7"))
    t.eq("X-Forwarded-For is not believed without a trusted proxy: 200 from 127.0.0.1", status, 200)
    site.stop(proxied)

    login, _ = site.start_web("login", "127.0.0.1:%d" % LOGIN, "    metrics = login\n    login_user_failures = 2\n")
    anon = Client(LOGIN)
    status, heads, body = scrape(anon)
    t.eq("login mode, nobody: 401 asking for Basic", (status, heads.get("www-authenticate", "").startswith("Basic")),
         (401, True))
    t.match("... saying what to send", body, "log in")
    partner = Client(LOGIN)
    partner.login("outreach", PW["outreach"])
    t.eq("a partner's session: 403", scrape(partner)[0], 403)
    manager = Client(LOGIN)
    manager.login("manager", PW["manager"])
    status, heads, body = scrape(manager)
    t.eq("a program manager's session: 200", (status, heads.get("content-type")), (200, CONTENT_TYPE))

    def basic(name, password):
        token = base64.b64encode(("%s:%s" % (name, password)).encode()).decode()
        return scrape(Client(LOGIN), headers={"Authorization": "Basic " + token})
    status, _, body = basic("admin", PW["admin"])
    t.eq("an admin's Basic credentials (Prometheus' basic_auth): 200", status, 200)
    try:
        parse_exposition(body)
        t.check("... the same exposition", "divert_decisions_total" in body)
    except FormatError as error:
        t.check("... the same exposition", False, error)
    t.eq("no session was opened for it", sql("SELECT count(*) FROM divert.web_session WHERE user_name = 'admin'"), "0")
    t.eq("a partner's Basic credentials: 403", basic("outreach", PW["outreach"])[0], 403)
    status, heads, _ = basic("manager", "wrong-password-123")
    t.eq("a wrong password: 401", (status, "www-authenticate" in heads), (401, True))
    t.eq("... counted as a failed login", sql("SELECT failures FROM divert.web_login_failure"
                                              " WHERE scope = 'user' AND key = 'manager'"), "1")
    status, heads, _ = basic("manager", "wrong-password-123")
    t.eq("the second failure locks the name: 429 with Retry-After", (status, bool(heads.get("retry-after"))),
         (429, True))
    t.eq("... and while locked, even the right password waits", basic("manager", PW["manager"])[0], 429)
    status, _, _ = scrape(Client(LOGIN), headers={"Authorization": "Basic !!!"})
    t.eq("credentials that are not base64: 401", status, 401)
    status, _, _ = scrape(Client(LOGIN), headers={"Authorization": "Basic " + base64.b64encode(b"admin").decode()})
    t.eq("credentials without a colon: 401", status, 401)
    site.stop(login)

    off, _ = site.start_web("off", "127.0.0.1:%d" % OFF, "    metrics = off\n")
    status, _, body = scrape(Client(OFF))
    t.eq("metrics = off: 404", status, 404)
    t.match("... saying so", body, "off")
    site.stop(off)


def database_down():
    t.section("a database divert-web can't reach")
    env = dict(os.environ)
    env.update({"PGHOST": "127.0.0.1", "PGPORT": str(UNUSED)})      # nothing listens there
    down, log = site.start_web("dbdown", "127.0.0.1:%d" % DOWN, expect_ready=False, env=env)
    deadline = time.time() + 15
    status = None
    while time.time() < deadline and status != 200:
        try:
            status, heads, body = scrape(Client(DOWN))
        except OSError:
            time.sleep(0.2)
    t.eq("still 200", status, 200)
    try:
        families = parse_exposition(body)
    except FormatError as error:
        families = {}
        t.check("well-formed", False, error)
    t.eq("divert_database_up 0", series(families, "divert_database_up"), {(): 0.0})
    t.eq("and nothing else", sorted(families), ["divert_database_up"])
    site.stop(down)


def stale_rows(client, daemon):
    t.section("rows of daemons that are gone")
    sql("INSERT INTO divert.daemon_metrics (daemon, started_at, updated_at, report_interval, metrics) VALUES"
        " ('ghost:1', now() - interval '1 hour', now() - interval '4 seconds', '1 second',"
        "  '{\"decisions\": {\"accept\": {\"accepted\": 99}}}'),"
        " ('fresh:2', now() - interval '1 hour', now(), '1 hour',"
        "  '{\"decisions\": {\"decline\": {\"at_capacity\": 7}}, \"batch_size\": {\"buckets\": [[1, 5], [2, 4]],"
        "    \"sum\": 1, \"count\": 5}}'),"
        " ('old:3', now() - interval '3 days', now() - interval '2 days', '10 seconds', '{}')")
    families = read(client, "with a stale, a fresh and an old row")
    daemons = sorted({dict(k)["daemon"] for k in series(families, "divert_daemon_start_time_seconds")})
    t.eq("a row silent for three of its intervals is left out; a fresh one is in", daemons, sorted([daemon, "fresh:2"]))
    t.eq("divert_daemons counts the fresh rows", series(families, "divert_daemons"), {(): 2.0})
    t.eq("the fresh row's counters", decisions(families, "fresh:2"), {("decline", "at_capacity"): 7})
    t.eq("its histogram that is not one is left out",
         series(families, "divert_batch_size_count", daemon="fresh:2"), {})
    deadline = time.time() + 5
    while time.time() < deadline and sql("SELECT count(*) FROM divert.daemon_metrics WHERE daemon = 'old:3'") != "0":
        time.sleep(0.2)
    t.eq("divertd deletes rows of daemons gone for a day", sql(
        "SELECT string_agg(daemon, ',' ORDER BY daemon) FROM divert.daemon_metrics WHERE daemon <> '%s'" % daemon),
        "fresh:2,ghost:1")
    sql("DELETE FROM divert.daemon_metrics WHERE daemon IN ('ghost:1', 'fresh:2')")
    t.eq("divert_web may not write the table", subprocess.run(
        ["psql", "-X", "-Atq", "-c", "DELETE FROM divert.daemon_metrics"],
        env=dict(os.environ, PGUSER=os.environ.get("DIVERT_WEB_USER", "nobody")), capture_output=True).returncode != 0,
        True)


def restart(client, daemon):
    t.section("a divertd restart")
    t.eq("divertd stops cleanly", site.stop(divertd_proc()), 0)
    row = sql("SELECT metrics FROM divert.daemon_metrics WHERE daemon = '%s'" % daemon)
    final = json.loads(row) if row else {}
    got = {(d, r): n for d, reasons in final.get("decisions", {}).items() for r, n in reasons.items()}
    t.eq("its final counts were written at the stop", got, db_decisions(daemon))
    if not site.start_divertd("    metrics_interval = 1s\n"):
        return
    fresh = "%s:%d" % (socket.gethostname(), divertd_proc().pid)
    t.check("the new divertd is a new daemon", fresh != daemon)
    families = wait_for(client, lambda f: bool(series(f, "divert_daemon_start_time_seconds", daemon=fresh)))
    t.check("its series appear", families and series(families, "divert_daemon_start_time_seconds", daemon=fresh))
    t.eq("its counters start from zero", decisions(families, fresh), {})
    families = wait_for(client, lambda f: not series(f, "divert_daemon_start_time_seconds", daemon=daemon), 10)
    t.eq("the stopped daemon's series are gone after three intervals",
         series(families, "divert_decisions_total", daemon=daemon), {})
    t.eq("only the new one is counted", series(families, "divert_daemons"), {(): 1.0})
    replies = submit("spd", [referral("arrest_diversion", {"source_person_id": "SPD-9", "last_name": "Nine",
                                                           "dob": "1970-01-09"})])
    t.eq("a referral to the new divertd", [(r.get("decision"), r.get("reason")) for r in replies],
         [("accept", "accepted")])
    families = wait_for(client, lambda f: decisions(f, fresh) == {("accept", "accepted"): 1})
    t.eq("is its first decision", decisions(families, fresh), db_decisions(fresh))


def configuration_error():
    t.section("configuration")
    conf = site.web_config("badmetrics", "127.0.0.1:%d" % UNUSED, "    metrics = sometimes\n")
    out = subprocess.run([os.path.join(BIN, "divert-web"), "-c", conf], capture_output=True, text=True, timeout=30)
    t.eq("metrics = sometimes: exit 78", out.returncode, 78)
    t.match("... naming the setting", out.stderr, "'divert-web/metrics' must be loopback, login or off")


try:
    run()
finally:
    site.stop_all()
t.end()
