#!/usr/bin/python3
"""web_report — the program manager's report pages of divert-web, against
the real divert-web, divertd and PostgreSQL, and in Debian's chromium
(headless, through chromium-driver and python3-selenium).

A fixture with known counts (one week of March 2025, UTC; like report.sh's,
written as the superuser the way divert writes it) gives every figure
something to show. Then:

  * the API: GET /api/program/report is divert.report() for the same
    arguments (every figure, by day, week, month and all, all programs or
    one) and divertctl report --format json's figures; a few values checked
    by hand against the timeline; GET /api/program/report.csv is divertctl
    report --format csv --figure NAME, byte for byte, with its type and file
    name;
  * every bad argument is a 422 naming its field (dates, by, program,
    figure, a period that ends before it starts or starts after today,
    more than 1000 periods, more than 10 years);
  * program managers and admins only: 401 without a session, 403 for a
    partner and a case manager;
  * no personal data (names, dates of birth, source person ids, notes,
    contacts, referral ids) in any answer or in divert-web's log;
  * in the browser: the dashboard links to the reports; the form; one SVG
    chart per program for every figure, with the number of bars and points
    the fixture's counts give; each table holds the figure's rows; a CSV
    link downloads the figure's CSV; a bad period is named beside its
    field; at 360 and 1280 px nothing is wider than the screen, every
    control has a label, text has enough contrast, no script error and no
    Content-Security-Policy violation; an admin reaches the page too.
Screenshots go to $DIVERT_TMP/screenshots (copied to $DIVERT_SCREENSHOTS).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True         # nothing written into the source tree
os.environ["PGTZ"] = "UTC"             # psql, divertctl and divert-web count days alike
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import BIN, OPERATOR_USER, PORT, SQL_DIR, TMP, Client, Site, Tally, sql  # noqa: E402

from webpage import browser, quit_all, visible, wait  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

t = Tally("web_report")
site = Site(t)
WEB = PORT + 2
BASE = "http://127.0.0.1:%d" % WEB
SHOTS = os.path.join(TMP, "screenshots")
DOWNLOADS = os.path.join(TMP, "downloads")
PW = {u: "pw-%s-0123456789" % u for u in ("manager", "admin", "outreach", "rivera")}
USERS = [("manager", "program", PW["manager"]), ("admin", "admin", PW["admin"]),
         ("outreach", "partner:harbor", PW["outreach"]), ("rivera", "case_manager:cm-rivera", PW["rivera"])]
PHONE = (360, 740)
DESKTOP = (1280, 900)
FROM, TO = "2025-03-03", "2025-03-09"
WEEK = "from=%s&to=%s&by=day" % (FROM, TO)
FIGURES = ["referrals", "referrals_by_pathway", "referrals_by_source_kind", "referrals_by_source", "decisions",
           "acceptance_by_tier", "waitlist", "intake", "exits", "length_of_stay", "capacity", "caseloads"]
answers = []            # every body divert-web sent, for the personal-data check

# ---------------------------------------------------------------------------
# The fixture (UTC). LEAD: hard cap 5, target 2, pacing margin 0.2, funded 4
# (paced min(2n, floor(3.2)) = 3); cm-a and cm-b from February. CO-LEAD:
# its defaults, cm-z. Sources: spd (police), harbor (community).
#
#   R1 spd    arrest   03-03 12:00 accept cm-a; intake 03-04 12:00; exit graduated 03-08 12:00
#   R2 harbor comm.    03-03 13:00 accept cm-b; intake 03-06 13:00
#   R3 spd    social   03-04 12:00 waitlist (W3); promoted 03-06 12:00 to cm-a (pending intake)
#   R8 spd    arrest   03-04 12:00 CO-LEAD accept cm-z; intake 03-05 12:00
#   R4 harbor comm.    03-05 12:00 waitlist (W4); expired 03-09 12:00
#   R5 spd    arrest   03-05 14:00 decline outside_service_area
#   R6 harbor comm.    03-07 12:00 waitlist (W6); withdrawn 03-20 12:00 (after the week)
#   R7 spd    arrest   03-07 13:00 accept cm-b; exit declined_services 03-08 13:00 (before intake)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_fixture.sql")) as f:
    HELPERS = f.read()              # the helpers report.sh writes its fixture with too
FIXTURE = HELPERS + r"""
INSERT INTO case_manager (id, program, name, created_at) VALUES
    ('cm-a', 'LEAD', 'Case Manager A', '2025-02-01 00:00Z'), ('cm-b', 'LEAD', 'Case Manager B', '2025-02-01 00:00Z'),
    ('cm-z', 'CO-LEAD', 'Case Manager Z', '2025-02-01 00:00Z');
INSERT INTO pg_temp.p SELECT n, pg_temp.person(n) FROM generate_series(1, 8) n;

SELECT pg_temp.ref('R1', 'spd', 1, 'arrest_diversion', 1, 'LEAD', 'exited');
SELECT pg_temp.ev('R1', '2025-03-03 12:00Z', 'accept', 'accepted', 'cm-a');
SELECT pg_temp.enroll('R1', '2025-03-03 12:00Z', 'cm-a');
SELECT pg_temp.ref('R2', 'harbor', 2, 'community', 2, 'LEAD', 'accepted');
SELECT pg_temp.ev('R2', '2025-03-03 13:00Z', 'accept', 'accepted', 'cm-b');
SELECT pg_temp.enroll('R2', '2025-03-03 13:00Z', 'cm-b');
SELECT pg_temp.ref('R3', 'spd', 3, 'social_contact', 2, 'LEAD', 'accepted');
SELECT pg_temp.ev('R3', '2025-03-04 12:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R3', '2025-03-04 12:00Z', 'promoted', '2025-03-06 12:00Z');
SELECT pg_temp.ref('R8', 'spd', 8, 'arrest_diversion', 1, 'CO-LEAD', 'accepted');
SELECT pg_temp.ev('R8', '2025-03-04 12:00Z', 'accept', 'accepted', 'cm-z');
SELECT pg_temp.enroll('R8', '2025-03-04 12:00Z', 'cm-z');
SELECT pg_temp.change('R1', '2025-03-04 12:00Z', 'active');
SELECT pg_temp.change('R8', '2025-03-05 12:00Z', 'active');
SELECT pg_temp.ref('R4', 'harbor', 4, 'community', 2, 'LEAD', 'declined');
SELECT pg_temp.ev('R4', '2025-03-05 12:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R4', '2025-03-05 12:00Z', 'expired', '2025-03-09 12:00Z');
SELECT pg_temp.ref('R5', 'spd', 5, 'arrest_diversion', 1, 'LEAD', 'declined');
SELECT pg_temp.ev('R5', '2025-03-05 14:00Z', 'decline', 'outside_service_area');
SELECT pg_temp.ev('R3', '2025-03-06 12:00Z', 'accept', 'accepted_from_waitlist', 'cm-a', true);
SELECT pg_temp.enroll('R3', '2025-03-06 12:00Z', 'cm-a');
SELECT pg_temp.change('R2', '2025-03-06 13:00Z', 'active');
SELECT pg_temp.ref('R6', 'harbor', 6, 'community', 2, 'LEAD', 'withdrawn');
SELECT pg_temp.ev('R6', '2025-03-07 12:00Z', 'waitlist', 'at_capacity');
SELECT pg_temp.wait('R6', '2025-03-07 12:00Z', 'withdrawn', '2025-03-20 12:00Z');
SELECT pg_temp.ref('R7', 'spd', 7, 'arrest_diversion', 1, 'LEAD', 'exited');
SELECT pg_temp.ev('R7', '2025-03-07 13:00Z', 'accept', 'accepted', 'cm-b');
SELECT pg_temp.enroll('R7', '2025-03-07 13:00Z', 'cm-b');
SELECT pg_temp.change('R1', '2025-03-08 12:00Z', 'exited', 'graduated');
SELECT pg_temp.change('R7', '2025-03-08 13:00Z', 'exited', 'declined_services');
SELECT pg_temp.ev('R4', '2025-03-09 12:00Z', 'decline', 'waitlist_expired');
SELECT pg_temp.ev('R6', '2025-03-20 12:00Z', 'withdrawn', 'withdrawn');

UPDATE divert.referral f SET received_at = e.at, submitted_at = e.at
  FROM (SELECT referral_id, min(at) AS at FROM divert.decision_event GROUP BY 1) e WHERE e.referral_id = f.id;
SET session_replication_role = replica;
UPDATE divert.enrollment_event SET recorded_at = at;
DELETE FROM divert.policy_event WHERE program = 'LEAD';
INSERT INTO divert.policy_event (program, policy_version, hard_cap, target_avg, funded, pacing_margin, since) VALUES
    ('LEAD', 2, 5, 2, 4, 0.2, '2025-01-01 00:00Z');
SET session_replication_role = origin;
"""
PERSONAL = (["Fixfirst%d" % n for n in range(1, 9)] + ["Fixlast%d" % n for n in range(1, 9)]
            + ["FIXSP-%d" % n for n in range(1, 9)] + ["1950-01-0%d" % n for n in range(1, 9)]
            + ["Fixnote", "+1-555-01"])


def fixture():
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-q"], input=FIXTURE, text=True,
                         capture_output=True)
    t.check("the fixture is written through divert's triggers", out.returncode == 0, out.stderr.strip()[:400])
    t.eq("the enrollment history has every change", sql(
        "SELECT count(*) FILTER (WHERE change = 'assigned') || ' ' || count(*) FILTER (WHERE change = 'intake_completed')"
        " || ' ' || count(*) FILTER (WHERE change = 'exited') FROM divert.enrollment_event"), "5 3 2")
    PERSONAL.extend(sql("SELECT string_agg(referral_id, ' ') FROM divert.referral").split())


def ctl_raw(*args):
    """divertctl as the operator, its stdout as it is (not stripped)."""
    env = dict(os.environ)
    env["PGUSER"] = OPERATOR_USER or env.get("PGUSER", "postgres")
    env["DIVERT_SQL_DIR"] = SQL_DIR
    out = subprocess.run([os.path.join(BIN, "divertctl")] + list(args), env=env, capture_output=True)
    return out.returncode, out.stdout.decode(), out.stderr.decode()


def get(client, path):
    status, heads, data = client.get(path)
    answers.append(data if isinstance(data, str) else json.dumps(data))
    return status, heads, data


def sql_report(program, frm, to, by, figures=None):
    args = "%s, %s, %s, '%s'%s" % ("'%s'" % program if program else "NULL", "'%s'" % frm if frm else "NULL",
                                  "'%s'" % to if to else "NULL", by, ", ARRAY[%s]" % ",".join(
                                      "'%s'" % f for f in figures) if figures else "")
    return json.loads(sql("SELECT divert.report(%s)" % args))


def rows(report, name, program=None):
    for figure in report.get("figures", []):
        if figure["name"] == name:
            return [r for r in figure["rows"] if program is None or r["program"] == program]
    return None


def column(report, name, program, key):
    return [r[key] for r in rows(report, name, program) or []]


# ---------------------------------------------------------------------------
def api(manager):
    t.section("the report's JSON is divert.report()'s")
    status, heads, data = get(manager, "/api/program/report?" + WEEK)
    t.eq("GET /api/program/report is 200", status, 200)
    t.match("... JSON", heads.get("content-type"), r"^application/json")
    t.eq("... not cached", heads.get("cache-control"), "no-store")
    t.check("... with the page's security headers", "default-src 'none'" in heads.get("content-security-policy", ""))
    want = sql_report(None, FROM, TO, "day")
    t.eq("the period, the programs and the time zone", [data.get(k) for k in ("v", "from", "to", "by", "programs", "time_zone")],
         [1, FROM, TO, "day", ["CO-LEAD", "LEAD"], "UTC"])
    t.eq("every figure, in order", [f["name"] for f in data.get("figures", [])], FIGURES)
    t.eq("every figure equals divert.report()'s", data.get("figures"), want["figures"])
    rc, out, err = ctl_raw("report", "--from", FROM, "--to", TO, "--by", "day", "--format", "json")
    t.eq("... and divertctl report --format json's", data.get("figures"), json.loads(out).get("figures") if rc == 0 else err)
    for program in (None, "LEAD"):
        for by in ("week", "month", "all"):
            query = "from=%s&to=%s&by=%s%s" % (FROM, TO, by, "&program=" + program if program else "")
            status, _, data_by = get(manager, "/api/program/report?" + query)
            want_by = sql_report(program, FROM, TO, by)
            t.check("%s: 200 and every figure as divert.report()'s" % query,
                    status == 200 and data_by.get("figures") == want_by["figures"]
                    and data_by.get("programs") == want_by["programs"], status)

    t.section("the figures, by hand from the fixture")
    t.eq("LEAD referrals per day", [(r["period"][5:], r["accepted"], r["waitlisted"], r["declined"])
                                    for r in rows(data, "referrals", "LEAD")],
         [("03-03", 2, 0, 0), ("03-04", 0, 1, 0), ("03-05", 0, 1, 1), ("03-06", 0, 0, 0), ("03-07", 1, 1, 0),
          ("03-08", 0, 0, 0), ("03-09", 0, 0, 0)])
    t.eq("LEAD total on caseloads at the end of each day", column(data, "capacity", "LEAD", "total"), [2, 2, 2, 3, 4, 2, 2])
    t.eq("... waiting", column(data, "capacity", "LEAD", "waitlist"), [0, 1, 2, 1, 2, 2, 1])
    t.eq("... paced min(2n, floor(4 * 0.8)) and funded", {(r["paced"], r["funded"]) for r in rows(data, "capacity", "LEAD")},
         {(3, 4)})
    t.eq("... the staffing gap", column(data, "capacity", "LEAD", "staffing_gap"), [0, 0, 1, 1, 2, 1, 0])
    t.eq("cm-a's caseload", [r["caseload"] for r in rows(data, "caseloads", "LEAD") if r["case_manager"] == "cm-a"],
         [1, 1, 1, 2, 2, 1, 1])
    t.eq("acceptance by tier", [(r["tier"], r["referrals"], r["accepted"]) for r in rows(
        sql_report("LEAD", FROM, TO, "all"), "acceptance_by_tier")], [(1, 3, 2), (2, 4, 2)])

    t.section("CSV: divertctl's, byte for byte")
    for name in FIGURES:
        status, heads, body = get(manager, "/api/program/report.csv?figure=%s&%s" % (name, WEEK))
        rc, out, err = ctl_raw("report", "--from", FROM, "--to", TO, "--by", "day", "--format", "csv", "--figure", name)
        t.check("%s.csv is 200 and divertctl report --format csv --figure %s" % (name, name),
                status == 200 and rc == 0 and body == out, "%s %r" % (status, body[:120] if isinstance(body, str) else body))
    status, heads, body = get(manager, "/api/program/report.csv?figure=capacity&program=LEAD&from=%s&to=%s&by=week"
                              % (FROM, TO))
    rc, out, err = ctl_raw("report", "--program", "LEAD", "--from", FROM, "--to", TO, "--by", "week", "--format", "csv",
                           "--figure", "capacity")
    t.check("one program by week too", status == 200 and body == out, body)
    t.eq("... text/csv in UTF-8", heads.get("content-type"), "text/csv; charset=utf-8")
    t.eq("... downloaded as divert-<figure>-<from>-<to>.csv", heads.get("content-disposition"),
         'attachment; filename="divert-capacity-2025-03-03-2025-03-09.csv"')
    t.eq("... not cached", heads.get("cache-control"), "no-store")
    status, heads, body = get(manager, "/api/program/report.csv?figure=referrals")
    today = sql("SELECT current_date")
    month_ago = sql("SELECT current_date - 29")
    t.eq("without dates: the last 30 days (in the file name too)", (status, heads.get("content-disposition")),
         (200, 'attachment; filename="divert-referrals-%s-%s.csv"' % (month_ago, today)))
    status, _, data = get(manager, "/api/program/report?from=2025-03-03&to=2999-12-31&by=month")
    t.eq("a last day after today is taken as today", (status, data.get("from"), data.get("to")), (200, FROM, today))


def validation(manager):
    t.section("bad arguments are named")
    cases = [
        ("from=2025-02-29", ["from"], r"YYYY-MM-DD"),
        ("to=03/09/2025", ["to"], r"YYYY-MM-DD"),
        ("by=year", ["by"], r"day, week, month or all"),
        ("program=NOPE", ["program"], r"no such program \(CO-LEAD, LEAD\)"),
        ("from=x&by=y&to=2025-13-01", ["from", "to", "by"], r"."),
        ("from=2025-03-09&to=2025-03-03", ["to"], r"before the first day"),
        ("from=2999-01-01", ["from"], r"after today \(\d{4}-\d\d-\d\d\)"),
        ("from=2020-01-01&to=2025-01-01&by=day", ["by"], r"1828 periods by day: a report has at most 1000"),
        ("from=2000-01-01&to=2025-01-01&by=month", ["from"], r"at most 10 years"),
    ]
    for query, fields, problem in cases:
        status, heads, data = get(manager, "/api/program/report?" + query)
        errors = data.get("errors", []) if isinstance(data, dict) else []
        t.check("%s: 422 naming %s" % (query, ", ".join(fields)),
                status == 422 and sorted(e.get("field") for e in errors) == sorted(fields), "%s %s" % (status, data))
        t.match("... saying what is wrong", " ".join(e.get("problem", "") for e in errors), problem)
    status, _, data = get(manager, "/api/program/report?from=2020-01-01&to=2025-01-01&by=week")
    t.eq("five years by week is fine (262 periods)", (status, len(rows(data, "referrals", "LEAD") or [])), (200, 262))
    for query, problem in (("", r"required"), ("figure=nope", r"no such figure \(referrals, referrals_by_pathway, "),
                           ("figure=Bad!", r"no such figure"), ("figure=capacity&by=hour", r"")):
        status, _, data = get(manager, "/api/program/report.csv?" + query)
        errors = data.get("errors", []) if isinstance(data, dict) else []
        t.check("report.csv?%s: 422" % query, status == 422 and errors, "%s %s" % (status, data))
        if problem:
            t.match("... the figure %s" % problem.split(" (")[0].replace("\\", ""),
                    [e.get("problem") for e in errors if e.get("field") == "figure"], problem)


def roles(anon, others, admin):
    t.section("for program managers and admins only")
    for path in ("/api/program/report?" + WEEK, "/api/program/report.csv?figure=capacity&" + WEEK):
        short = path.split("?")[0]
        status, _, _ = get(anon, path)
        t.eq("%s without a session is 401" % short, status, 401)
        for who, client in others.items():
            status, _, data = get(client, path)
            t.eq("%s for a %s is 403" % (short, who), status, 403)
        status, _, _ = get(admin, path)
        t.eq("%s for an admin is 200" % short, status, 200)


def no_personal_data(web_log):
    t.section("no personal data")
    with open(web_log) as f:
        log = f.read()
    found = sorted({s for s in PERSONAL for a in answers if s in a})
    t.eq("none in any of the %d answers (names, dates of birth, ids, notes, contacts, referral ids)" % len(answers),
         found, [])
    t.eq("none in divert-web's log", sorted({s for s in PERSONAL if s in log}), [])


# ---------------------------------------------------------------------------
# The browser (as tests/integration/web_browser.py drives it)

PAGE_CHECKS = r"""
function rgb(c) { var m = /rgba?\(([^)]+)\)/.exec(c); return m ? m[1].split(',').map(parseFloat) : null; }
function lum(p) {
  var a = [p[0], p[1], p[2]].map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * a[0] + 0.7152 * a[1] + 0.0722 * a[2];
}
function background(el) {
  for (; el; el = el.parentElement) {
    var p = rgb(getComputedStyle(el).backgroundColor);
    if (p && (p.length < 4 || p[3] > 0.5)) return p;
  }
  return [255, 255, 255];
}
function shown(el) {
  var r = el.getBoundingClientRect();
  return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden';
}
function color(el) { return el instanceof SVGElement ? getComputedStyle(el).fill : getComputedStyle(el).color; }
var wide = document.documentElement.scrollWidth - window.innerWidth;
var unlabelled = [], low = [];
document.querySelectorAll('input, select, textarea, button').forEach(function (el) {
  if (el.type === 'hidden' || !shown(el)) return;
  var named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
    || (el.tagName === 'BUTTON' && el.textContent.trim());
  if (!named) unlabelled.push(el.tagName + '#' + el.id);
});
document.querySelectorAll('body *').forEach(function (el) {
  if (!shown(el) || el.tagName === 'title') return;
  var text = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim(); });
  if (!text) return;
  var cs = getComputedStyle(el), fg = rgb(color(el)), bg = background(el);
  if (!fg) return;
  var a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  var size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
  var large = size >= 24 || (bold && size >= 18.66);
  if (ratio < (large ? 3 : 4.5)) low.push(el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '" ' + ratio.toFixed(2));
});
var charts = Array.prototype.filter.call(document.querySelectorAll('svg.chart'), function (s) {
  return s.getBoundingClientRect().right > window.innerWidth + 1; }).length;
return [wide, unlabelled, low, window.innerWidth, charts];
"""

# What the page drew: per figure, per chart of a program, its bars and points.
DRAWN = r"""
var out = { order: [] };
document.querySelectorAll('section.figure').forEach(function (section) {
  out.order.push(section.getAttribute('data-figure'));
  var f = out[section.getAttribute('data-figure')] = { charts: {}, table: [], csv: null };
  section.querySelectorAll('.program-charts').forEach(function (part) {
    f.charts[part.getAttribute('data-program')] = Array.prototype.map.call(part.querySelectorAll('svg.chart'), function (s) {
      return [s.querySelectorAll('rect.mark').length, s.querySelectorAll('circle.point').length];
    });
  });
  section.querySelectorAll('table.numbers tbody tr').forEach(function (tr) {
    f.table.push(Array.prototype.map.call(tr.querySelectorAll('td'), function (td) { return td.textContent; }));
  });
  var a = section.querySelector('a.csv');
  f.csv = a ? a.getAttribute('href') : null;
});
return out;
"""

# LEAD's charts: [bars, points] each, from the fixture's timeline. Bars are drawn
# for counts above zero; a category's bar for each category counted.
LEAD_CHARTS = {
    "referrals": [[6, 0]],                  # 03-03 accepted; 04 waitlisted; 05 waitlisted, declined; 07 both
    "referrals_by_pathway": [[3, 0]],       # arrest diversion, community, social contact
    "referrals_by_source_kind": [[2, 0]],   # police, community
    "referrals_by_source": [[2, 0]],        # spd, harbor
    "decisions": [[5, 0]],                  # accepted, from the waitlist, at capacity, outside the area, expired
    "acceptance_by_tier": [[2, 0]],         # tiers 1 and 2
    "waitlist": [[2, 0], [0, 4]],           # W3 promoted 03-06, W4 expired 03-09; p50 and p90 on both days
    "intake": [[3, 0], [0, 4]],             # completed 03-04, 03-06, otherwise 03-08; p50, p90 of both completions
    "exits": [[2, 0]],                      # graduated, declined services
    "length_of_stay": [[0, 2]],             # R1 on 03-08: p50 and p90
    "capacity": [[13, 14], [11, 0]],        # 7 totals + 6 days with a wait; paced and funded each day;
                                            # 7 staff counts + 4 days with a gap
    "caseloads": [[7, 14], [7, 14]],        # cm-a, cm-b: a caseload each day; hard cap and target each day
}





def shot(driver, name):
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics.get("contentSize")
    width = driver.execute_script("return window.innerWidth")
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(size["height"], 16000), "scale": 1}})
    path = os.path.join(SHOTS, name + ".png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(data["data"]))
    print("# screenshot %s" % path)


def page_checks(driver, what):
    wide, unlabelled, low, inner, charts = driver.execute_script(PAGE_CHECKS)
    t.check("%s: nothing is wider than the %d px window" % (what, inner), wide <= 0 and charts == 0,
            "%d px too wide, %d charts beyond the edge" % (wide, charts))
    t.eq("%s: every control has a label" % what, unlabelled, [])
    t.eq("%s: all text has enough contrast" % what, low, [])


def console_problems(driver):
    problems = []
    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        if entry.get("source") == "network" and re.search(r"status of (401|422) ", message):
            continue
        if entry.get("level") == "SEVERE" or "Content Security Policy" in message:
            problems.append(message)
    return problems


def login(driver, name):
    driver.get(BASE + "/")
    field = wait(driver, lambda d: visible(d, "#name"))
    field.send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PW[name])
    driver.find_element(By.ID, "submit").click()
    return wait(driver, lambda d: d.current_url.endswith(".html") and d.execute_script(
        "return document.readyState === 'complete'"), 15)


def set_value(driver, element_id, value):
    driver.execute_script("var e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, value)


def shown_text(value):
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return "%.10g" % value
    return str(value)


def loaded(driver, period):
    return wait(driver, lambda d: period in d.find_element(By.ID, "status").text
                and len(d.find_elements(By.CSS_SELECTOR, "section.figure")) == len(FIGURES), 15)


def pages():
    os.makedirs(SHOTS, exist_ok=True)
    os.makedirs(DOWNLOADS, exist_ok=True)
    t.section("the report page, on a desktop")
    d = browser(DESKTOP)
    t.check("the program manager logs in", login(d, "manager"))
    link = wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "header nav a[href='/report.html']"))
    t.check("the dashboard links to the reports", link)
    link.click()
    t.check("... which open on the last 30 days", wait(d, lambda d: d.current_url.startswith(BASE + "/report.html")
                                                       and "to " + sql("SELECT current_date") in d.find_element(By.ID, "status").text, 15))
    set_value(d, "from", FROM)
    set_value(d, "to", TO)
    d.find_element(By.CSS_SELECTOR, "#by option[value='day']").click()
    d.find_element(By.ID, "show").click()
    t.check("the form asks for the fixture's week", loaded(d, "%s to %s, by day; days in UTC" % (FROM, TO)))
    t.check("... and the address keeps it", d.current_url.endswith("?from=%s&to=%s&by=day" % (FROM, TO)), d.current_url)
    report = sql_report(None, FROM, TO, "day")
    drawn = d.execute_script(DRAWN)
    t.eq("a section per figure, in order", drawn.get("order"), FIGURES)
    for name in FIGURES:
        f = drawn.get(name, {})
        t.eq("%s: LEAD's charts have the fixture's bars and points" % name, f.get("charts", {}).get("LEAD"), LEAD_CHARTS[name])
        t.check("%s: CO-LEAD has its part" % name, "CO-LEAD" in f.get("charts", {}))
        want = [[shown_text(r[c]) for c in fig["columns"]] for fig in report["figures"] if fig["name"] == name
                for r in fig["rows"]]
        t.eq("%s: its table holds the figure's rows" % name, f.get("table"), want)
        t.eq("%s: its CSV link" % name, f.get("csv"), "/api/program/report.csv?figure=%s&from=%s&to=%s&by=day" % (name, FROM, TO))
    t.eq("CO-LEAD: one day of referrals, one bar", drawn["referrals"]["charts"]["CO-LEAD"], [[1, 0]])
    t.eq("CO-LEAD: no funded slots, so no funded line (paced only)", drawn["capacity"]["charts"]["CO-LEAD"][0][1], 7)
    t.eq("CO-LEAD: no waits ended, said in words rather than an empty chart", drawn["waitlist"]["charts"]["CO-LEAD"], [])
    t.match("... ", d.find_element(By.CSS_SELECTOR, "#fig-waitlist [data-program='CO-LEAD']").text,
            r"How waits ended\nNone in this period\.\nDays on the waitlist\nNone in this period\.")
    label = d.execute_script("return document.querySelector('#fig-capacity svg.chart').getAttribute('aria-label')")
    t.eq("a chart is an image with a name", label, "CO-LEAD: people held and waiting, against capacity")
    page_checks(d, "report (1280 px)")
    shot(d, "report-1280")

    t.section("a CSV download")
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": DOWNLOADS})
    d.find_element(By.CSS_SELECTOR, "#fig-capacity a.csv").click()
    path = os.path.join(DOWNLOADS, "divert-capacity-%s-%s.csv" % (FROM, TO))
    t.check("the capacity CSV downloads as divert-capacity-%s-%s.csv" % (FROM, TO),
            wait(d, lambda d: os.path.exists(path) and not any(n.endswith(".crdownload") for n in os.listdir(DOWNLOADS)), 10),
            os.listdir(DOWNLOADS))
    rc, out, _ = ctl_raw("report", "--from", FROM, "--to", TO, "--by", "day", "--format", "csv", "--figure", "capacity")
    with open(path) if os.path.exists(path) else open(os.devnull) as f:
        t.eq("... and is divertctl's", f.read(), out)

    t.section("one program, and a mistake")
    d.find_element(By.CSS_SELECTOR, "#program option[value='LEAD']").click()
    d.find_element(By.ID, "show").click()
    t.check("LEAD alone", wait(d, lambda d: d.find_element(By.ID, "status").text.startswith("LEAD, ")
                                and not d.find_elements(By.CSS_SELECTOR, ".program-charts[data-program='CO-LEAD']")))
    t.match("... its CSV links name it", d.find_element(By.CSS_SELECTOR, "#fig-exits a.csv").get_attribute("href"),
            r"figure=exits&program=LEAD&from=")
    set_value(d, "from", TO)
    set_value(d, "to", FROM)
    d.find_element(By.ID, "show").click()
    summary = wait(d, lambda d: visible(d, ".error-summary"))
    t.match("a period that ends before it starts is named", summary.text if summary else "", r"To: before the first day")
    t.eq("... beside its field", d.find_element(By.ID, "to").get_attribute("aria-invalid"), "true")
    set_value(d, "from", FROM)
    set_value(d, "to", TO)
    d.find_element(By.ID, "show").click()
    t.check("fixed, the report is back", wait(d, lambda d: not visible(d, ".error-summary")
                                              and "LEAD, %s to %s" % (FROM, TO) in d.find_element(By.ID, "status").text))
    d.find_element(By.CSS_SELECTOR, "#program option[value='']").click()
    d.find_element(By.ID, "show").click()
    loaded(d, "CO-LEAD and LEAD, %s" % FROM)

    t.section("on a phone")
    d.set_window_size(*PHONE)
    t.check("the charts are drawn again at the phone's width", wait(d, lambda d: d.execute_script(
        "return document.querySelector('svg.chart').getBoundingClientRect().width <= window.innerWidth - 20")))
    drawn = d.execute_script(DRAWN)
    t.eq("... with the same bars and points", {n: drawn[n]["charts"].get("LEAD") for n in FIGURES}, LEAD_CHARTS)
    page_checks(d, "report (360 px)")
    shot(d, "report-360")
    t.eq("no script errors or CSP violations", console_problems(d), [])

    t.section("an admin")
    d.find_element(By.ID, "logout").click()
    wait(d, lambda d: d.current_url.rstrip("/") == BASE)
    t.check("the admin logs in", login(d, "admin"))
    link = wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "header nav a[href='/report.html']"))
    t.check("the admin desk links to the reports", link)
    d.get(BASE + "/report.html?" + WEEK)
    t.check("the admin sees the report", loaded(d, "%s to %s" % (FROM, TO)))
    t.eq("... its first page link goes back to the users", d.find_element(By.ID, "home-link").text, "Users")
    page_checks(d, "report for an admin (360 px)")
    t.eq("no script errors or CSP violations for the admin", console_problems(d), [])


# ---------------------------------------------------------------------------
def run():
    if not site.setup(users=USERS, cms=(("cm-rivera", "A. Rivera"),)):
        return
    fixture()
    if not site.start_divertd():
        return
    web, web_log = site.start_web("web", "127.0.0.1:%d" % WEB)
    if web.poll() is not None:
        return
    clients = {}
    for name in ("manager", "admin", "outreach", "rivera"):
        clients[name] = Client(WEB)
        status, _, _ = clients[name].login(name, PW[name])
        t.eq("%s logs in" % name, status, 200)
    api(clients["manager"])
    validation(clients["manager"])
    roles(Client(WEB), {"partner": clients["outreach"], "case manager": clients["rivera"]}, clients["admin"])
    try:
        started = time.time()
        pages()
        print("# browser part took %.1f s" % (time.time() - started))
    except WebDriverException as e:
        t.check("the browser runs", False, str(e).splitlines()[0] if str(e) else e)
    no_personal_data(web_log)


try:
    started = time.time()
    run()
    print("# took %.1f s" % (time.time() - started))
finally:
    quit_all()
    site.stop_all()
    target = os.environ.get("DIVERT_SCREENSHOTS")
    if target and os.path.isdir(SHOTS):
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(SHOTS):
            shutil.copy(os.path.join(SHOTS, name), os.path.join(target, name))
        print("# screenshots copied to %s" % target)
t.end()
