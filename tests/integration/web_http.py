#!/usr/bin/python3
"""web_http — divert-web at the HTTP level, against the real divertd and
PostgreSQL (as the least-privilege roles), over real CURVE sockets.

Forbidden cases first: every API route without a session, every desk's
routes for every other role, a partner reaching another source's referrals,
a case manager another case manager's people, POSTs without or with a wrong
CSRF token or from another origin. Then logins (wrong password, unknown and
disabled users alike, throttling per user name and per address, behind a
proxy's X-Forwarded-For on the Unix socket), sessions (cookie attributes,
only the token's hash stored, logout, idle timeout and lifetime, a new
password or disabling ends them), bad input (field errors named as in
protocol.md, oversized bodies, malformed JSON), the partner desk's decisions
in words, withdrawal, the case-manager desk's reads, the program dashboard,
the admin desk and divertctl user, live events filtered per user, the
disclosure audit, HTTPS and the refusal to serve plain HTTP on a public
address, configuration errors, and no personal data in any log.
"""
import os
import re
import socket
import ssl
import sys
import time

sys.dont_write_bytecode = True         # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import (OPERATOR_USER, PORT, TMP, Client, Site, Stream, Tally, ctl, referral_form,  # noqa: E402
                     sha256, sql, tls_pair, uuid)

t = Tally("web_http")
site = Site(t)
PW = {u: "pw-%s-0123456789" % u for u in
      ("outreach", "police", "rivera", "okafor", "manager", "admin", "gone")}
PW["clerk"] = "pw-clerk-0123456789"
USERS = [("outreach", "partner:harbor", PW["outreach"]), ("police", "partner:spd", PW["police"]),
         ("clerk", "partner:court", PW["clerk"]),
         ("rivera", "case_manager:cm-rivera", PW["rivera"]), ("okafor", "case_manager:cm-okafor", PW["okafor"]),
         ("manager", "program", PW["manager"]), ("admin", "admin", PW["admin"]), ("gone", "program", PW["gone"])]
WEB = PORT + 2
SOCK = os.path.join(TMP, "web.sock")
SECRETS = ["Quixote", "Quixotically", "1981-04-02", "met at the pier", "555-0100", "Zanzibar"]


def run():
    # divert-web holds the keys of harbor and spd, not of the court.
    if not site.setup(users=USERS, sources=(("harbor", "community", "Harbor Outreach"),
                                            ("spd", "police", "City Police"), ("court", "court", "County Court")),
                      web_sources=("harbor", "spd")):
        return
    ctl("user", "disable", "gone")
    # Small caps so every kind of decision happens: 2 case managers, hard cap
    # 3, paced 4, reserve 1 for tier 1 (tier 2 fits while T <= 2).
    sql("UPDATE divert.program SET hard_cap = 3, target_avg = 2, reserve_tier1 = 1, reserve_tier2 = 1 WHERE name = 'LEAD'")
    if not site.start_divertd():
        return
    web, web_log = site.start_web("web", "127.0.0.1:%d" % WEB)
    # The same server behind a reverse proxy: Unix socket, short timeouts and
    # throttling limits, the client address from X-Forwarded-For.
    proxied, proxied_log = site.start_web("proxied", "unix:" + SOCK,
        "    session_idle = 3s\n    session_max = 7s\n    login_user_failures = 3\n"
        "    login_address_failures = 5\n    login_lockout = 3s\n")
    if web.poll() is not None or proxied.poll() is not None:
        return

    anon = Client(WEB)
    forbidden_first(anon)
    login_and_sessions()
    throttling()
    partner = partner_desk()
    case_managers(partner)
    program_desk()
    admin_desk()
    divertctl_user()
    live_events()
    audit()
    https_and_listening()
    configuration_errors()
    divertd_down()

    t.section("stopping")
    t.eq("divert-web exits 0 on SIGTERM", site.stop(web), 0)
    t.eq("the proxied divert-web exits 0 on SIGTERM", site.stop(proxied), 0)
    t.check("the Unix socket is removed", not os.path.exists(SOCK))
    no_personal_data_in_logs([web_log, proxied_log, os.path.join(TMP, "divertd.log")])


# ---------------------------------------------------------------------------
ROUTES = [("POST", "/api/logout"), ("GET", "/api/me"), ("GET", "/api/events"),
          ("GET", "/api/partner/form"), ("GET", "/api/partner/referrals"), ("POST", "/api/partner/referrals"),
          ("GET", "/api/partner/referral?id=" + "0" * 8 + "-0000-4000-8000-" + "0" * 12),
          ("POST", "/api/partner/withdraw"), ("GET", "/api/cm/people"), ("GET", "/api/cm/person?source=spd&id=x"),
          ("POST", "/api/cm/enrollment"), ("GET", "/api/program/dashboard"), ("GET", "/api/program/decisions"),
          ("GET", "/api/program/explain?source=spd&id=x"), ("GET", "/api/admin/users"), ("POST", "/api/admin/users"),
          ("POST", "/api/admin/passwd"), ("POST", "/api/admin/disable"), ("POST", "/api/admin/enable")]
DESKS = {"partner": "/api/partner/", "case_manager": "/api/cm/", "program": "/api/program/", "admin": "/api/admin/"}


def forbidden_first(anon):
    t.section("without a session: every route is 401")
    for method, path in ROUTES:
        status, _, data = anon.request(method, path, {} if method == "POST" else None)
        t.eq("%s %s without a session is 401" % (method, path.split("?")[0]), status, 401)
    status, _, _ = anon.request("GET", "/api/me", cookie=False, headers={"Cookie": "divert_session=" + "A" * 43})
    t.eq("a made-up session token is 401", status, 401)

    t.section("every desk is closed to every other role")
    clients = {}
    for name, role in (("outreach", "partner"), ("rivera", "case_manager"), ("manager", "program"), ("admin", "admin")):
        c = Client(WEB)
        status, _, _ = c.login(name, PW[name])
        t.eq("%s logs in" % name, status, 200)
        clients[role] = c
    for role, c in clients.items():
        for method, path in ROUTES:
            desk = [r for r, prefix in DESKS.items() if path.startswith(prefix)]
            if not desk or desk[0] == role:
                continue
            status, _, data = c.request(method, path, {} if method == "POST" else None)
            t.eq("%s: %s %s is 403" % (role, method, path.split("?")[0]), status, 403)

    t.section("requests that are not what they claim")
    c = clients["partner"]
    status, _, _ = c.request("POST", "/api/partner/referrals", raw=b"{}", headers={"Content-Type": "text/plain"})
    t.eq("a POST that is not JSON is 415", status, 415)
    status, _, _ = c.request("POST", "/api/partner/referrals", referral_form(), csrf=False)
    t.eq("a POST without the CSRF token is 403", status, 403)
    status, _, data = c.request("POST", "/api/partner/referrals", referral_form(), headers={"X-CSRF-Token": "x" * 43})
    t.eq("a POST with a wrong CSRF token is 403", status, 403)
    t.match("it says why", data.get("error"), "CSRF")
    status, _, _ = c.request("POST", "/api/partner/referrals", referral_form(),
                             headers={"X-CSRF-Token": clients["program"].csrf})
    t.eq("another session's CSRF token is 403", status, 403)
    status, _, data = c.request("POST", "/api/partner/referrals", referral_form(),
                                headers={"Origin": "https://evil.example"})
    t.eq("a POST from another origin is 403, even with the token", status, 403)
    t.eq("none of them recorded a referral", sql("SELECT count(*) FROM divert.referral"), "0")
    status, _, _ = c.request("POST", "/api/logout", {}, csrf=False)
    t.eq("logout needs the CSRF token too", status, 403)
    status, _, _ = c.get("/api/nothing")
    t.eq("an unknown API is 404", status, 404)
    status, heads, _ = c.request("DELETE", "/api/me")
    t.eq("a wrong method is 405", status, 405)
    t.eq("... with Allow", heads.get("allow"), "GET")
    for cl in clients.values():
        cl.post("/api/logout", {})


def login_and_sessions():
    t.section("logins")
    c = Client(WEB)
    status, _, wrong = c.login("outreach", "not-the-password")
    t.eq("a wrong password is 401", status, 401)
    status, _, unknown = c.login("nobody-here", "not-the-password")
    t.eq("an unknown user is 401", status, 401)
    t.eq("... with the same message as a wrong password", unknown, wrong)
    status, _, typo = c.login("Quixote 1981-04-02", "not-the-password")
    t.eq("a name that can't be a user's is 401 like the others", (status, typo), (401, wrong))
    t.eq("... and is not kept in the throttling table", sql(
        "SELECT count(*) FROM divert.web_login_failure WHERE key LIKE '%%uixote%%'"), "0")
    status, _, disabled = c.login("gone", PW["gone"])
    t.eq("a disabled user is 401 with the right password", status, 401)
    t.eq("... and the same message", disabled, wrong)
    status, _, data = c.request("POST", "/api/login", {"name": "outreach"})
    t.eq("a login without a password is 422", status, 422)
    t.eq("... naming the field", [e["field"] for e in data.get("errors", [])], ["password"])
    status, _, data = c.request("POST", "/api/login", raw=b"{\"name\": ", headers={"Content-Type": "application/json"})
    t.eq("a login that is not JSON is 400", status, 400)
    status, _, data = c.request("POST", "/api/login", raw=b"[1,2]", headers={"Content-Type": "application/json"})
    t.eq("a login that is not an object is 400", status, 400)
    status, _, _ = c.request("POST", "/api/login", raw=b"{\"name\":\"a\",\"name\":\"b\",\"password\":\"x\"}",
                             headers={"Content-Type": "application/json"})
    t.eq("a repeated key is 400", status, 400)
    big = b"{\"name\": \"" + b"x" * 70000 + b"\"}"
    status, _, data = c.request("POST", "/api/login", raw=big, headers={"Content-Type": "application/json"})
    t.eq("a body above max_body is 413", status, 413)
    t.check("the server still answers after it", c.get("/api/health")[0] == 200)

    status, heads, me = c.login("OUTREACH", PW["outreach"])
    t.eq("the right password logs in (the name in any case)", status, 200)
    cookie = heads.get("set-cookie", "")
    t.match("the cookie is HttpOnly", cookie, r"; HttpOnly")
    t.match("the cookie is Secure", cookie, r"; Secure")
    t.match("the cookie is SameSite=Strict", cookie, r"; SameSite=Strict")
    t.match("the cookie is for the whole site", cookie, r"; Path=/")
    t.check("the token is 256 bits of base64url", c.cookie and re.fullmatch(r"[A-Za-z0-9_-]{43}", c.cookie), c.cookie)
    t.eq("the database holds the token's SHA-256", sql(
        "SELECT count(*) FROM divert.web_session WHERE token_hash = '%s'" % sha256(c.cookie)), "1")
    t.eq("... and never the token itself", sql(
        "SELECT count(*) FROM divert.web_session WHERE token_hash = '%s' OR csrf = '%s'" % (c.cookie, c.cookie)), "0")
    t.eq("the session is the partner's, bound to harbor", (me.get("role"), me.get("source", {}).get("id")),
         ("partner", "harbor"))
    t.check("a CSRF token comes with it", len(me.get("csrf") or "") >= 32)
    t.eq("the desk is the partner page", me.get("home"), "/partner.html")
    t.eq("the last login is recorded", sql("SELECT last_login_at IS NOT NULL FROM divert.web_user WHERE name = 'outreach'"), "t")

    status, heads, _ = c.post("/api/logout", {})
    t.eq("logout is 200", status, 200)
    t.match("logout clears the cookie", heads.get("set-cookie"), r"divert_session=; .*Max-Age=0")
    status, _, _ = c.get("/api/me")
    t.eq("the old cookie is refused after logout", status, 401)
    t.eq("the session is gone from the database", sql(
        "SELECT count(*) FROM divert.web_session WHERE token_hash = '%s'" % sha256(c.cookie)), "0")

    t.section("sessions end")
    p = Client(unix=SOCK)
    p.login("police", PW["police"])
    t.eq("a session on the proxied server works", p.get("/api/me")[0], 200)
    time.sleep(2)
    t.eq("a request within the idle timeout (3 s) keeps it", p.get("/api/me")[0], 200)
    time.sleep(2)
    t.eq("... and again", p.get("/api/me")[0], 200)
    time.sleep(3.5)
    t.eq("after 3 s idle it has ended", p.get("/api/me")[0], 401)
    p.login("police", PW["police"])
    started = time.time()
    for _ in range(9):
        time.sleep(1)
        status = p.get("/api/me")[0]
        if status != 200:
            break
    t.eq("a busy session still ends at its lifetime (7 s)", status, 401)
    t.check("... and not before", time.time() - started >= 6.5, time.time() - started)

    a = Client(WEB)
    a.login("police", PW["police"])
    b = Client(WEB)
    b.login("police", PW["police"])
    rc, _, err = ctl("user", "passwd", "police", "--password-stdin", password="pw-police-new-0123456789")
    t.eq("divertctl user passwd exits 0", rc, 0)
    t.eq("a new password ends every session of the user", (a.get("/api/me")[0], b.get("/api/me")[0]), (401, 401))
    t.eq("the old password no longer works", Client(WEB).login("police", PW["police"])[0], 401)
    PW["police"] = "pw-police-new-0123456789"
    a.login("police", PW["police"])
    rc, _, _ = ctl("user", "disable", "police")
    t.eq("divertctl user disable exits 0", rc, 0)
    t.eq("disabling ends the session at once", a.get("/api/me")[0], 401)
    t.eq("a disabled user can't log in", Client(WEB).login("police", PW["police"])[0], 401)
    ctl("user", "enable", "police")
    t.eq("enabled again, they can", Client(WEB).login("police", PW["police"])[0], 200)


def throttling():
    t.section("login throttling (3 per user name, 5 per address, 3 s lock; behind the proxy)")
    mallory = Client(unix=SOCK, forwarded_for="203.0.113.7")
    statuses = [mallory.login("outreach", "guess-%d-xxxxxxx" % i)[0] for i in range(3)]
    t.eq("three wrong passwords: 401, 401, then 429 (the lock)", statuses, [401, 401, 429])
    elsewhere = Client(unix=SOCK, forwarded_for="198.51.100.20")
    status, heads, data = elsewhere.login("outreach", PW["outreach"])
    t.eq("the user name stays locked from any address, even with the right password", status, 429)
    t.check("... with Retry-After", heads.get("retry-after", "").isdigit(), heads.get("retry-after"))
    t.check("... and retry_after in the body", isinstance(data.get("retry_after"), int))
    t.eq("the same user on the other server (shared database) is locked too", Client(WEB).login("outreach", PW["outreach"])[0], 429)
    time.sleep(3.2)
    t.eq("after the lock the right password works", elsewhere.login("outreach", PW["outreach"])[0], 200)

    scanner = Client(unix=SOCK, forwarded_for="192.0.2.99")
    statuses = [scanner.login("user%d" % i, "guess-xxxxxxxxxx")[0] for i in range(5)]
    t.eq("five failures from one address (different names): the fifth locks it", statuses[-1], 429)
    t.eq("then a real user from that address is refused", scanner.login("rivera", PW["rivera"])[0], 429)
    t.eq("from another address the same user logs in", Client(unix=SOCK, forwarded_for="192.0.2.100").login(
        "rivera", PW["rivera"])[0], 200)
    t.eq("a locked attempt is not even counted (no new failures while locked)",
         sql("SELECT failures FROM divert.web_login_failure WHERE scope = 'address' AND key = '192.0.2.99'"), "0")
    forged = Client(WEB, forwarded_for="192.0.2.1")
    forged.login("admin", "guess-xxxxxxxxxx")
    t.eq("a direct (untrusted) client's X-Forwarded-For is ignored: its failure counts for 127.0.0.1",
         sql("SELECT count(*) FROM divert.web_login_failure WHERE scope = 'address' AND key = '192.0.2.1'"), "0")
    sql("DELETE FROM divert.web_login_failure")


def partner_desk():
    t.section("the partner desk: bad input")
    c = Client(WEB)
    c.login("outreach", PW["outreach"])
    status, _, form = c.get("/api/partner/form")
    t.eq("the form says what this partner may send", form.get("pathways"), ["community"])
    t.eq("... and the service areas", form.get("areas"), ["belltown", "downtown"])

    before = sql("SELECT count(*) FROM divert.referral")
    bad = referral_form(person={"first_name": "Jo", "last_name": "Quixote", "dob": "2999-01-01"},
                        area="", housing="castle", behavioral_health=["substance_use", "substance_use"],
                        notes="x" * 2001, prior_contacts_12m="three", colour="blue")
    status, _, data = c.post("/api/partner/referrals", bad)
    fields = sorted(e["field"] for e in data.get("errors", []))
    t.eq("a referral with mistakes is 422", status, 422)
    t.eq("each problem names its field as protocol.md does", fields,
         sorted(["colour", "prior_contacts_12m", "person.dob", "area", "housing", "behavioral_health[1]", "notes"]))
    t.check("no problem repeats a value that was sent",
            not any(s in str(data) for s in ("castle", "2999", "blue", "three")), data)
    t.match("the message counts them", data.get("error"), r"^7 fields need attention$")
    status, _, data = c.post("/api/partner/referrals", referral_form(person={"first_name": "Jo"}))
    t.eq("a person without an id or last name and date of birth is 422", status, 422)
    t.eq("... on person", [e["field"] for e in data.get("errors", [])], ["person"])
    status, _, data = c.post("/api/partner/referrals", referral_form(pathway="arrest_diversion"))
    t.eq("a pathway this partner may not send is 422", status, 422)
    t.eq("... on pathway", [e["field"] for e in data.get("errors", [])], ["pathway"])
    status, _, data = c.post("/api/partner/referrals", referral_form(source_id="spd"))
    t.eq("the source can't be chosen in the request (unknown field)", [e["field"] for e in data.get("errors", [])],
         ["source_id"])
    status, _, _ = c.request("POST", "/api/partner/referrals", raw=b"{\"pathway\": \"community\",",
                             headers={"Content-Type": "application/json"})
    t.eq("malformed JSON is 400", status, 400)
    status, _, _ = c.request("POST", "/api/partner/referrals", raw=b"\"community\"",
                             headers={"Content-Type": "application/json"})
    t.eq("JSON that is not an object is 400", status, 400)
    status, _, _ = c.request("POST", "/api/partner/referrals",
                             raw=(b"{\"notes\": \"" + b"n" * 66000 + b"\"}"), headers={"Content-Type": "application/json"})
    t.eq("an oversized body is 413", status, 413)
    # A chunked body has no Content-Length: it is cut off at max_body as it arrives.
    s = socket.create_connection(("127.0.0.1", WEB))
    chunk = b"x" * 30000
    head = ("POST /api/partner/referrals HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nCookie: divert_session=%s\r\nX-CSRF-Token: %s\r\n\r\n" % (c.cookie, c.csrf))
    s.sendall(head.encode() + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n")
    reply = s.recv(4096).decode("latin-1")
    s.close()
    t.match("an oversized chunked body is 413", reply.split("\r\n")[0], r" 413 ")
    t.eq("nothing was recorded for any of them", sql("SELECT count(*) FROM divert.referral"), before)

    t.section("the partner desk: decisions in words")
    first = referral_form()
    status, _, data = c.post("/api/partner/referrals", first)
    t.eq("a good referral is 200", status, 200)
    t.match("accepted, in words", data.get("summary"), r"^Accepted: (A\. Rivera|B\. Okafor) will contact you\.$")
    t.eq("the decision is divertd's reply", data.get("decision", {}).get("type"), "decision")
    t.eq("it was sent with harbor's key", sql(
        "SELECT source_id FROM divert.referral WHERE referral_id = '%s'" % first["referral_id"]), "harbor")
    t.eq("its submitted_at is the page's (the first attempt's)", sql(
        "SELECT submitted_at = '%s' FROM divert.referral WHERE referral_id = '%s'"
        % (first["submitted_at"], first["referral_id"])), "t")
    time.sleep(1.1)
    status, _, again = c.post("/api/partner/referrals", first)
    t.eq("the same referral sent again (later) gets the stored decision",
         (status, (again.get("decision") or {}).get("replayed")), (200, True))
    t.eq("... and is recorded once", sql(
        "SELECT count(*) FROM divert.decision_event e JOIN divert.referral r ON r.id = e.referral_id"
        " WHERE r.referral_id = '%s'" % first["referral_id"]), "1")
    for i in range(2):
        c.post("/api/partner/referrals", referral_form(person={"source_person_id": "H-%d" % i}))
    waiting = referral_form(person={"source_person_id": "H-wait"})
    status, _, data = c.post("/api/partner/referrals", waiting)
    t.eq("the fourth community referral is waitlisted, in words", data.get("summary"),
         "Waitlisted, position 1, no estimate yet.")
    status, _, data = c.post("/api/partner/referrals", referral_form(area="harbor-island",
                                                                     person={"source_person_id": "H-far"}))
    t.eq("outside the service area, in words", data.get("summary"), "Declined: outside the service area.")
    status, _, data = c.post("/api/partner/referrals", referral_form(consent=False, person={"source_person_id": "H-nc"}))
    t.eq("no consent, in words", data.get("summary"), "Declined: the person's consent to the referral is required.")
    bare = referral_form(person={"source_person_id": "H-nc"}, consent=False)
    del bare["submitted_at"]
    status, _, data = c.post("/api/partner/referrals", bare)
    t.eq("without submitted_at the server's time is used", sql(
        "SELECT submitted_at > now() - interval '1 minute' FROM divert.referral WHERE referral_id = '%s'"
        % bare["referral_id"]), "t")
    time.sleep(1.1)
    status, _, data = c.post("/api/partner/referrals", bare)
    t.eq("... so the same referral sent again a second later differs: 409 conflict", status, 409)
    status, _, data = c.post("/api/partner/referrals", referral_form(submitted_at="yesterday"))
    t.eq("a submitted_at that is not RFC 3339 is 422 on submitted_at",
         (status, [e["field"] for e in data.get("errors", [])]), (422, ["submitted_at"]))

    t.section("the partner desk: what it can't send")
    clerk = Client(WEB)
    clerk.login("clerk", PW["clerk"])
    status, _, data = clerk.post("/api/partner/referrals", referral_form(pathway="pretrial_diversion"))
    t.eq("a partner whose source's key this server doesn't hold gets 503", status, 503)
    t.match("... saying so", data.get("error"), "no key for your organisation")
    t.eq("... and nothing is recorded", sql("SELECT count(*) FROM divert.referral WHERE source_id = 'court'"), "0")

    t.section("the partner desk: its own list, details, withdrawal")
    police = Client(WEB)
    police.login("police", PW["police"])
    theirs = referral_form(pathway="arrest_diversion", person={"first_name": "Ana", "last_name": "Zanzibar",
                                                                "dob": "1990-01-01"})
    status, _, data = police.post("/api/partner/referrals", theirs)
    t.eq("the police desk submits an arrest diversion", status, 200)
    status, _, mine = c.get("/api/partner/referrals")
    ids = [r["referral_id"] for r in mine.get("referrals", [])]
    t.eq("the partner lists its own seven referrals", len(ids), 7)
    t.check("... and not the police's", theirs["referral_id"] not in ids)
    t.check("the list holds no personal data", not any(s in str(mine) for s in SECRETS), mine)
    row = [r for r in mine["referrals"] if r["referral_id"] == waiting["referral_id"]][0]
    t.eq("a row says where it stands, in words", row.get("summary"), "Waitlisted, position 1, no estimate yet.")
    t.eq("... and that it can be withdrawn", row.get("can_withdraw"), True)
    accepted = [r for r in mine["referrals"] if r["referral_id"] == first["referral_id"]][0]
    t.eq("an accepted row says the intake is pending", accepted.get("enrollment_summary"), "Intake pending.")
    status, _, _ = c.get("/api/partner/referral?id=" + theirs["referral_id"])
    t.eq("another source's referral details are 404", status, 404)
    status, _, data = c.post("/api/partner/withdraw", {"referral_id": theirs["referral_id"]})
    t.eq("withdrawing another source's referral is 404 (divertd: not_found)", status, 404)
    t.eq("... and it is untouched", sql("SELECT state FROM divert.referral WHERE referral_id = '%s'"
                                         % theirs["referral_id"]), "accepted")
    status, _, details = c.get("/api/partner/referral?id=" + first["referral_id"].upper())
    t.eq("its own referral's details (any case)", status, 200)
    t.eq("... as submitted", details.get("referral", {}).get("person", {}).get("last_name"), "Quixote")
    status, _, data = c.post("/api/partner/withdraw", {"referral_id": waiting["referral_id"], "reason": "moved away"})
    t.eq("withdrawing its waitlisted referral", (status, data.get("summary")), (200, "Withdrawn."))
    status, _, data = c.post("/api/partner/withdraw", {"referral_id": waiting["referral_id"]})
    t.eq("withdrawing it again is 409", status, 409)
    status, _, data = c.post("/api/partner/withdraw", {"referral_id": "not-a-uuid"})
    t.eq("withdraw without a UUID is 422", status, 422)
    return {"client": c, "first": first, "police": police, "theirs": theirs}


def case_managers(p):
    t.section("the case-manager desk")
    first, theirs = p["first"], p["theirs"]
    owner = sql("SELECT case_manager_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                " WHERE r.referral_id = '%s'" % first["referral_id"])
    mine = Client(WEB)
    mine.login("rivera" if owner == "cm-rivera" else "okafor", PW["rivera" if owner == "cm-rivera" else "okafor"])
    other = Client(WEB)
    other.login("okafor" if owner == "cm-rivera" else "rivera", PW["okafor" if owner == "cm-rivera" else "rivera"])
    before = sql("SELECT count(*) FROM divert.disclosure")
    status, _, data = other.get("/api/cm/person?source=harbor&id=" + first["referral_id"])
    t.eq("another case manager's person is 404", status, 404)
    status, _, data = other.post("/api/cm/enrollment", {"source_id": "harbor", "referral_id": first["referral_id"],
                                                        "change": "intake_completed"})
    t.eq("... and they can't record anything for them (404)", status, 404)
    t.eq("a refused look records no disclosure", sql("SELECT count(*) FROM divert.disclosure"), before)
    status, _, data = other.get("/api/cm/people")
    t.check("... nor see them in their list", first["referral_id"] not in str(data))
    t.eq("their own list records one disclosure per person on it ('worklist')", sql(
        "SELECT count(*) FROM divert.disclosure WHERE what = 'worklist' AND actor_id = '%s'" % other.me["name"]),
        str(len(data.get("people", []))))
    status, _, data = mine.get("/api/cm/people")
    t.eq("my people", status, 200)
    me = [x for x in data.get("people", []) if x["referral_id"] == first["referral_id"]]
    t.eq("the accepted person is mine, pending intake", [x["status"] for x in me], ["pending_intake"])
    t.check("with the days left before the intake window closes (30 days)",
            me and 29 * 86400 < me[0]["intake_seconds_left"] <= 30 * 86400, me)
    t.eq("with their name (a recorded disclosure)", me[0]["person"]["last_name"] if me else None, "Quixote")
    status, _, data = mine.get("/api/cm/person?source=harbor&id=" + first["referral_id"])
    t.eq("the person's details", (status, data.get("referral", {}).get("notes")), (200, "met at the pier"))
    status, _, data = mine.post("/api/cm/enrollment", {"source_id": "harbor", "referral_id": first["referral_id"],
                                                       "change": "exited"})
    t.eq("a discharge without a reason is 422", status, 422)
    t.eq("... on reason", [e["field"] for e in data.get("errors", [])], ["reason"])
    status, _, data = mine.post("/api/cm/enrollment", {"source_id": "harbor", "referral_id": first["referral_id"],
                                                       "change": "graduate"})
    t.eq("an unknown change is 422 on change", (status, [e["field"] for e in data.get("errors", [])]), (422, ["change"]))
    status, _, data = mine.post("/api/cm/enrollment", {"source_id": "harbor", "referral_id": first["referral_id"],
                                                       "change": "intake_completed"})
    t.eq("without a case-management key the change is refused (503), nothing recorded", status, 503)
    t.eq("... the enrollment is as it was", sql(
        "SELECT status FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
        " WHERE r.referral_id = '%s'" % first["referral_id"]), "pending_intake")
    status, _, data = mine.get("/api/cm/person?source=spd&id=" + theirs["referral_id"])
    expected = 200 if sql("SELECT case_manager_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
                          " WHERE r.referral_id = '%s'" % theirs["referral_id"]) == owner else 404
    t.eq("a person of another source is seen only when assigned to me", status, expected)
    p["cm"] = mine
    p["cm_other"] = other


def program_desk():
    t.section("the program dashboard")
    c = Client(WEB)
    c.login("manager", PW["manager"])
    status, _, data = c.get("/api/program/dashboard")
    t.eq("the dashboard", status, 200)
    lead = [x for x in data.get("programs", []) if x["name"] == "LEAD"]
    t.check("LEAD is on it", lead)
    lead = lead[0] if lead else {}
    total = int(sql("SELECT sum(caseload) FROM divert.case_manager WHERE program = 'LEAD'"))
    t.eq("its total is the caseloads'", lead.get("total"), total)
    t.eq("free = paced - total, as divertd computes it", lead.get("free"), lead.get("paced", 0) - total)
    t.eq("the pacing line is target x (1 - margin)", lead.get("pacing_line"), 1.8)
    t.eq("two case managers with bars", sorted(x["id"] for x in lead.get("case_managers", [])), ["cm-okafor", "cm-rivera"])
    t.eq("the waitlist is empty again (the waitlisted one was withdrawn)", lead.get("waitlist"), [])
    t.check("no personal data on it", not any(s in str(data) for s in SECRETS))
    status, _, data = c.get("/api/program/decisions")
    t.eq("today's decisions", status, 200)
    decisions = data.get("decisions", [])
    t.eq("all of today's decision events, newest first", len(decisions), int(sql("SELECT count(*) FROM divert.decision_event")))
    t.check("each in words", all(d.get("reason_words") for d in decisions))
    t.check("no personal data in them", not any(s in str(data) for s in SECRETS))
    ref = decisions[-1] if decisions else {}
    status, _, data = c.get("/api/program/explain?source=%s&id=%s" % (ref.get("source_id"), ref.get("referral_id")))
    t.eq("explain for a referral", status, 200)
    t.check("with its score components and the capacity it saw",
            data.get("events") and "components" in data["events"][0] and "capacity" in data["events"][0])
    t.check("no personal data in explain", not any(s in str(data) for s in SECRETS))
    status, _, _ = c.get("/api/program/explain?source=harbor&id=" + uuid())
    t.eq("explain for an unknown referral is 404", status, 404)
    status, _, _ = c.get("/api/program/explain?source=Bad!&id=x")
    t.eq("explain with a bad id is 422", status, 422)


def admin_desk():
    t.section("the admin desk")
    c = Client(WEB)
    c.login("admin", PW["admin"])
    status, _, data = c.get("/api/admin/users")
    t.eq("users and roles", status, 200)
    t.check("every user is listed", sorted(u["name"] for u in data.get("users", [])) == sorted(u[0] for u in USERS))
    t.check("no password hash leaves the database", "argon2" not in str(data))
    t.check("the sources and case managers to bind to", data.get("sources") and data.get("case_managers"))
    status, _, data = c.post("/api/admin/users", {"name": "new-partner", "role": "partner", "binding": "harbor",
                                                  "password": "short"})
    t.eq("a short password is 422 on password", (status, [e["field"] for e in data.get("errors", [])]), (422, ["password"]))
    status, _, data = c.post("/api/admin/users", {"name": "new-partner", "role": "partner", "binding": "nowhere",
                                                  "password": "long-enough-password"})
    t.eq("an unknown source is 422 on binding", (status, [e["field"] for e in data.get("errors", [])]), (422, ["binding"]))
    status, _, data = c.post("/api/admin/users", {"name": "Bad Name", "role": "program", "password": "long-enough-password"})
    t.eq("a bad user name is 422 on name", (status, [e["field"] for e in data.get("errors", [])]), (422, ["name"]))
    status, _, data = c.post("/api/admin/users", {"name": "new-partner", "role": "partner", "binding": "harbor",
                                                  "password": "long-enough-password"})
    t.eq("an admin adds a partner", status, 200)
    status, _, _ = c.post("/api/admin/users", {"name": "new-partner", "role": "program", "password": "long-enough-password"})
    t.eq("the same name again is 409", status, 409)
    n = Client(WEB)
    t.eq("the new user logs in", n.login("new-partner", "long-enough-password")[0], 200)
    t.eq("... onto the partner desk of harbor", n.me.get("source", {}).get("id"), "harbor")
    status, _, _ = c.post("/api/admin/passwd", {"name": "new-partner", "password": "another-long-password"})
    t.eq("an admin sets a new password", status, 200)
    t.eq("... which ends the user's session", n.get("/api/me")[0], 401)
    n.login("new-partner", "another-long-password")
    status, _, _ = c.post("/api/admin/disable", {"name": "new-partner"})
    t.eq("an admin disables a user", status, 200)
    t.eq("... whose session ends at once", n.get("/api/me")[0], 401)
    status, _, data = c.post("/api/admin/disable", {"name": "admin"})
    t.eq("an admin can't disable their own account", status, 409)
    status, _, _ = c.post("/api/admin/enable", {"name": "nobody"})
    t.eq("enabling an unknown user is 404", status, 404)
    status, _, _ = c.post("/api/admin/enable", {"name": "new-partner"})
    t.eq("an admin enables a user again", status, 200)


def divertctl_user():
    t.section("divertctl user")
    rc, out, err = ctl("user", "add", "cli-user", "--role", "partner:nowhere", "--password-stdin",
                       password="long-enough-password")
    t.eq("user add with an unknown source fails", rc, 1)
    t.match("... saying so", err, "no source with this id")
    rc, out, err = ctl("user", "add", "cli-user", "--role", "janitor", "--password-stdin", password="long-enough-password")
    t.eq("an unknown role is a usage error", rc, 64)
    rc, out, err = ctl("user", "add", "cli-user", "--role", "program", "--password-stdin", password="short")
    t.eq("a short password is refused", (rc, "10 to 256" in err), (1, True))
    rc, out, err = ctl("user", "add", "cli-user", "--role", "case_manager:cm-rivera", "--password-stdin",
                       password="long-enough-password")
    t.eq("user add as a case manager", (rc, out), (0, "user cli-user added (case_manager of cm-rivera)"))
    t.eq("the hash is argon2id", sql("SELECT password_hash LIKE '$argon2id$%' FROM divert.web_user WHERE name = 'cli-user'"), "t")
    rc, out, err = ctl("user", "list")
    t.match("user list shows them", out, r"cli-user +case_manager +cm-rivera +active +never")
    rc, out, err = ctl("user", "list", "--json")
    t.check("user list --json has no hashes", rc == 0 and "argon2" not in out and "cli-user" in out)
    rc, out, err = ctl("user", "passwd", "nobody", "--password-stdin", password="long-enough-password")
    t.eq("passwd for an unknown user fails", rc, 1)
    if OPERATOR_USER:
        try:
            sql("SELECT password_hash FROM divert.web_user", user=OPERATOR_USER)
            t.check("the operator role can't read the hashes", False, "it could")
        except RuntimeError as e:
            t.match("the operator role can't read the hashes", str(e), "permission denied")


def live_events():
    t.section("live events, filtered per user on the server")
    partner = Client(WEB)
    partner.login("outreach", PW["outreach"])
    program = Client(WEB)
    program.login("manager", PW["manager"])
    police = Client(WEB)
    police.login("police", PW["police"])
    s_partner, s_program, s_police = Stream(partner), Stream(program), Stream(police)
    t.eq("a stream opens for a partner", s_partner.status, 200)
    t.check("... and says hello", s_partner.wait_for(lambda e: e[0] == "hello", 5))
    s_program.wait_for(lambda e: e[0] == "hello", 5)
    s_police.wait_for(lambda e: e[0] == "hello", 5)
    ours = referral_form(person={"source_person_id": "H-live"})
    partner.post("/api/partner/referrals", ours)
    theirs = referral_form(pathway="social_contact", person={"source_person_id": "P-live"})
    police.post("/api/partner/referrals", theirs)
    got = s_partner.wait_for(lambda e: e[0] == "decision" and e[1].get("referral_id") == ours["referral_id"], 10)
    t.check("the partner's stream carries its own decision", got)
    t.check("... without personal data", got and not any(s in str(got) for s in SECRETS))
    s_partner.read(1)
    t.check("... and never another source's", all(e[1].get("source_id") in (None, "harbor") for e in s_partner.events
                                                   if isinstance(e[1], dict)))
    t.check("the police stream carries the police decision",
            s_police.wait_for(lambda e: e[0] == "decision" and e[1].get("referral_id") == theirs["referral_id"], 10))
    t.check("... and not the partner's", not any(isinstance(e[1], dict) and e[1].get("source_id") == "harbor"
                                                  for e in s_police.read(0.5)))
    t.check("the program stream carries both",
            s_program.wait_for(lambda e: e[0] == "decision" and e[1].get("referral_id") == ours["referral_id"], 10)
            and s_program.wait_for(lambda e: e[0] == "decision" and e[1].get("referral_id") == theirs["referral_id"], 10))
    partner.post("/api/logout", {})
    deadline = time.time() + 20
    while time.time() < deadline and not s_partner.ended:
        s_partner.read(1)
    t.check("a stream ends within its keep-alive (15 s) once its session has ended", s_partner.ended)
    for s in (s_partner, s_program, s_police):
        s.close()


def audit():
    t.section("the disclosure audit")
    rows = sql("SELECT actor_kind || ' ' || actor_id || ' ' || what FROM divert.disclosure ORDER BY id").splitlines()
    t.check("every disclosure is recorded by user and what", all(re.fullmatch(r"web [a-z0-9._-]+ [a-z_]+", r) for r in rows), rows)
    t.check("the partner's look at its referral is there",
            "web outreach referral_details" in rows)
    t.check("the case manager's list and the person's details are there",
            any(r.endswith(" worklist") for r in rows) and any(r.endswith(" person_details") for r in rows))
    t.eq("each names a referral", sql("SELECT count(*) FROM divert.disclosure WHERE referral_id IS NULL"), "0")
    t.eq("each has a time", sql("SELECT count(*) FROM divert.disclosure WHERE at IS NULL"), "0")
    web_user = os.environ.get("DIVERT_WEB_USER")
    if web_user:
        for what, query in (("read persons", "SELECT last_name FROM divert.person"),
                            ("read referral payloads", "SELECT payload FROM divert.referral"),
                            ("read sessions", "SELECT * FROM divert.web_session"),
                            ("write the audit", "DELETE FROM divert.disclosure"),
                            ("read details without a session",
                             "SELECT divert.web_referral_details('%s', 'harbor', 'x')" % ("0" * 64))):
            try:
                out = sql(query, user=web_user)
                t.check("divert-web's role cannot " + what, what.startswith("read details") and out == "", out)
            except RuntimeError as e:
                t.check("divert-web's role cannot " + what, "permission denied" in str(e), e)


def https_and_listening():
    t.section("HTTPS, and no plain HTTP on a public address")
    cert, key = tls_pair(TMP)
    port = PORT + 3
    tls, tls_log = site.start_web("tls", "0.0.0.0:%d" % port, "    tls_cert = %s\n    tls_key = %s\n" % (cert, key))
    context = ssl.create_default_context(cafile=cert)
    c = Client(port, tls=context)
    status, heads, data = c.get("/api/health")
    t.eq("divert-web answers over HTTPS", (status, data.get("db") if isinstance(data, dict) else None), (200, "up"))
    t.match("with Strict-Transport-Security", heads.get("strict-transport-security"), r"max-age=\d+")
    status, _, _ = c.login("manager", PW["manager"])
    t.eq("a login over HTTPS", status, 200)
    try:
        plain = Client(port).get("/api/health")[0]
    except Exception:
        plain = "refused"
    t.check("plain HTTP to the HTTPS port gets no answer", plain != 200, plain)
    t.eq("it stops cleanly", site.stop(tls), 0)

    proc, log = site.start_web("public", "0.0.0.0:%d" % (PORT + 4), expect_ready=False)
    t.eq("plain HTTP on 0.0.0.0 is refused at start (exit 78)", proc.wait(15), 78)
    t.match("... saying why", open(log).read(), r"plain HTTP is served only on a loopback address or a unix: socket")
    proc, log = site.start_web("public6", "[::]:%d" % (PORT + 4), expect_ready=False)
    t.eq("... and on [::] (exit 78)", proc.wait(15), 78)
    proc, log = site.start_web("loop6", "[::1]:%d" % (PORT + 5), expect_ready=True)
    t.eq("plain HTTP on [::1] is allowed", site.stop(proc), 0)


def configuration_errors():
    t.section("configuration errors exit 78")
    for name, extra, pattern in (
            ("typo", "    sesion_idle = 30m\n", r"unknown setting 'divert-web/sesion_idle'"),
            ("duration", "    session_idle = soon\n", r"'divert-web/session_idle' must be a duration"),
            ("tls-half", "    tls_cert = /nonexistent\n", r"tls_cert' and 'divert-web/tls_key' go together"),
            ("tls-missing", "    tls_cert = /nonexistent.crt\n    tls_key = /nonexistent.key\n", r"cannot read the TLS file"),
            ("listen", "", r"must be HOST:PORT")):
        listen = "nowhere" if name == "listen" else "127.0.0.1:%d" % (PORT + 6)
        proc, log = site.start_web("config-" + name, listen, extra, expect_ready=False)
        t.eq("%s: exit 78" % name, proc.wait(15), 78)
        t.match("%s: the message names the problem" % name, open(log).read(), pattern)


def divertd_down():
    t.section("divertd stopped")
    daemon = [p for p, _, what in site.procs if what == "divertd"][0]
    t.eq("divertd stops", site.stop(daemon), 0)
    c = Client(WEB)
    c.login("outreach", PW["outreach"])
    body = referral_form(person={"source_person_id": "H-down"})
    started = time.time()
    status, _, data = c.post("/api/partner/referrals", body)
    t.eq("a referral while divertd is down: 504", status, 504)
    t.match("... saying nothing is lost and to send it again", data.get("error"), "nothing is lost, submit again")
    t.check("... after two attempts of 3 s each", 5 <= time.time() - started < 15, time.time() - started)
    t.eq("the rest of the desk still works", c.get("/api/partner/referrals")[0], 200)
    if site.start_divertd():
        status, _, data = c.post("/api/partner/referrals", body)
        t.eq("sent again once divertd is back, it is decided", (status, data.get("decision", {}).get("type")),
             (200, "decision"))


def no_personal_data_in_logs(logs):
    t.section("no personal data in any log")
    for log in logs:
        text = open(log).read()
        found = [s for s in SECRETS if s in text]
        t.eq("%s holds no names, dates of birth, notes or phone numbers" % os.path.basename(log), found, [])
    text = open(logs[0]).read()
    t.match("the web log records logins and actions by user name", text, r"login: user=outreach")
    t.check("... but never a password or token", not any(p in text for p in PW.values()))


try:
    run()
finally:
    site.stop_all()
t.end()
