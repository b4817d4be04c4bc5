#!/usr/bin/python3
"""web_cm — the case-manager desk's changes, end to end: divert-web sends
DIVERT/1 `enrollment` requests with a case-management key (protocol.md,
"Case-management systems") and divertd records them.

HTTP level: a case manager completes an intake (pending_intake -> active),
marks someone in the wind, re-engaged, and discharges with a reason (the
slot frees at once and the waitlist is promoted); a discharge without a
reason and a change the status doesn't allow are refused with the current
status named; another case manager's person can't be changed; replays are
harmless; the case manager's live stream gets the enrollment events of
their own people only. Browser: the case manager completes the intake of
the referral a partner just sent, on a phone, and the person moves to
"Active"; screenshots.
"""
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True         # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import PORT, TMP, Client, Site, Stream, Tally, ctl, referral_form, sql  # noqa: E402

t = Tally("web_cm")
site = Site(t)
WEB = PORT + 2
PW = {u: "pw-%s-0123456789" % u for u in ("outreach", "rivera", "okafor", "manager")}
USERS = [("outreach", "partner:harbor", PW["outreach"]), ("rivera", "case_manager:cm-rivera", PW["rivera"]),
         ("okafor", "case_manager:cm-okafor", PW["okafor"]), ("manager", "program", PW["manager"])]


def status_of(referral_id):
    return sql("SELECT e.status FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
               " WHERE r.referral_id = '%s'" % referral_id)


def owner_of(referral_id):
    return sql("SELECT e.case_manager_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
               " WHERE r.referral_id = '%s'" % referral_id)


def change(client, referral_id, what, reason=None):
    body = {"source_id": "harbor", "referral_id": referral_id, "change": what}
    if reason:
        body["reason"] = reason
    return client.post("/api/cm/enrollment", body)


def run():
    if not site.setup(users=USERS):
        return
    rc, out, err = ctl("cms", "add", "web-cms", "--programs", "LEAD,CO-LEAD", "--name", "divert-web",
                       "--cert-out", os.path.join(site.keys, "cms.cert"))
    if not t.eq("divertctl cms add makes divert-web's case-management key", rc, 0):
        print("# " + err)
        return
    # One place for tier 2: hard cap 2, target 1, reserve 0 (paced 2 for two case managers).
    sql("UPDATE divert.program SET hard_cap = 2, target_avg = 1, reserve_tier1 = 0, reserve_tier2 = 0 WHERE name = 'LEAD'")
    if not site.start_divertd():
        return
    web, _ = site.start_web("web", "127.0.0.1:%d" % WEB)
    if web.poll() is not None:
        return

    partner = Client(WEB)
    partner.login("outreach", PW["outreach"])
    first = referral_form(person={"source_person_id": "H-1"})
    second = referral_form(person={"source_person_id": "H-2"})
    waiting = referral_form(person={"source_person_id": "H-3"})
    for body in (first, second):
        status, _, data = partner.post("/api/partner/referrals", body)
        t.eq("a referral is accepted", (status, data.get("decision", {}).get("decision")), (200, "accept"))
    status, _, data = partner.post("/api/partner/referrals", waiting)
    t.eq("the third waits (the program is full)", data.get("decision", {}).get("decision"), "waitlist")

    clients = {}
    for name in ("rivera", "okafor"):
        clients["cm-" + name] = Client(WEB)
        clients["cm-" + name].login(name, PW[name])
    mine = clients[owner_of(first["referral_id"])]
    other = clients["cm-okafor" if owner_of(first["referral_id"]) == "cm-rivera" else "cm-rivera"]

    t.section("forbidden first")
    status, _, _ = change(other, first["referral_id"], "intake_completed")
    t.eq("another case manager can't complete my person's intake (404)", status, 404)
    t.eq("... nothing changed", status_of(first["referral_id"]), "pending_intake")
    status, _, data = mine.get("/api/cm/people")
    t.eq("the desk says changes can be recorded", data.get("can_record"), True)

    t.section("the life of an enrollment")
    stream = Stream(mine)
    stream.wait_for(lambda e: e[0] == "hello", 5)
    status, _, data = change(mine, first["referral_id"], "intake_completed")
    t.eq("intake completed", (status, data.get("enrollment", {}).get("status")), (200, "active"))
    t.eq("... in words", data.get("summary"), "Active: engaged with their case manager.")
    t.eq("... recorded by divertd", status_of(first["referral_id"]), "active")
    got = stream.wait_for(lambda e: e[0] == "enrollment" and e[1].get("referral_id") == first["referral_id"], 10)
    t.check("the case manager's live stream gets the enrollment event", got)
    status, _, data = change(mine, first["referral_id"], "intake_completed")
    t.eq("the same change again is a replay (no new event)", (status, data.get("enrollment", {}).get("replayed")),
         (200, True))
    status, _, data = change(mine, first["referral_id"], "re_engaged")
    t.eq("re-engaged while active is refused (409)", status, 409)
    t.match("... naming the current status", data.get("error"), "active")
    status, _, data = change(mine, first["referral_id"], "in_the_wind")
    t.eq("in the wind", (status, data.get("enrollment", {}).get("status")), (200, "in_the_wind"))
    status, _, data = change(mine, first["referral_id"], "re_engaged")
    t.eq("re-engaged", (status, data.get("enrollment", {}).get("status")), (200, "active"))
    status, _, data = change(mine, first["referral_id"], "exited")
    t.eq("a discharge without a reason is 422", status, 422)
    total = "SELECT sum(caseload) FROM divert.case_manager WHERE program = 'LEAD'"
    before = sql(total)
    status, _, data = change(mine, first["referral_id"], "exited", "graduated")
    t.eq("discharged: graduated", (status, data.get("enrollment", {}).get("status")), (200, "exited"))
    t.eq("... in words", data.get("summary"), "Discharged: graduated.")
    t.eq("... recorded with its reason", sql(
        "SELECT e.status || ' ' || e.exit_reason FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
        " WHERE r.referral_id = '%s'" % first["referral_id"]), "exited graduated")
    deadline = time.time() + 10
    while time.time() < deadline and sql("SELECT state FROM divert.referral WHERE referral_id = '%s'"
                                         % waiting["referral_id"]) != "accepted":
        time.sleep(0.2)
    t.eq("the freed slot goes to the waitlist at once", sql(
        "SELECT state FROM divert.referral WHERE referral_id = '%s'" % waiting["referral_id"]), "accepted")
    t.eq("... one out, one in: the program holds as many as before", sql(total), before)
    status, _, data = mine.get("/api/cm/people")
    t.check("the discharged person has left the list", first["referral_id"] not in str(data))
    status, _, data = change(mine, first["referral_id"], "in_the_wind")
    t.eq("no changes after a discharge (404: no longer one of mine)", status, 404)
    stream.close()
    site.stop(web)

    t.section("in a browser: the case manager completes an intake on a phone")
    browser_flow()


def browser_flow():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    web, _ = site.start_web("web2", "127.0.0.1:%d" % (WEB + 1))
    base = "http://127.0.0.1:%d" % (WEB + 1)
    partner = Client(WEB + 1)
    partner.login("outreach", PW["outreach"])
    # The program is full again (the promotion took the freed place): room for one more.
    rc, _, err = ctl("program", "set", "LEAD", "--hard-cap", "4", "--target-avg", "2")
    t.eq("room for the browser's referral", (rc, err), (0, ""))
    fresh = referral_form(person={"source_person_id": "H-browser", "first_name": "Ana", "last_name": "Lopez"})
    partner.post("/api/partner/referrals", fresh)
    owner = owner_of(fresh["referral_id"])
    name = "rivera" if owner == "cm-rivera" else "okafor"
    shots = os.path.join(TMP, "screenshots")
    os.makedirs(shots, exist_ok=True)
    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=360,740"):
        options.add_argument(arg)
    options.add_argument("--user-data-dir=" + tempfile.mkdtemp(dir=TMP))
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(d, 15, poll_frequency=0.1)
        d.get(base + "/")
        wait.until(lambda x: x.find_element(By.ID, "name").is_displayed())
        d.find_element(By.ID, "name").send_keys(name)
        d.find_element(By.ID, "password").send_keys(PW[name])
        d.find_element(By.ID, "submit").click()
        item = wait.until(lambda x: x.find_element(By.CSS_SELECTOR, "#pending li[data-referral='%s']" % fresh["referral_id"]))
        t.match("the new person is waiting for intake", item.text, r"Ana Lopez")
        d.save_screenshot(os.path.join(shots, "cm-pending-360.png"))
        item.find_element(By.XPATH, ".//button[starts-with(normalize-space(.), 'Intake completed')]").click()
        moved = wait.until(lambda x: x.find_elements(By.CSS_SELECTOR, "#active li[data-referral='%s']" % fresh["referral_id"]))
        t.check("after 'Intake completed' the person is under Active", moved)
        t.match("... and the page says so", d.find_element(By.ID, "message").text, r"Ana Lopez: Active")
        t.eq("divertd recorded it", status_of(fresh["referral_id"]), "active")
        d.save_screenshot(os.path.join(shots, "cm-active-360.png"))
    finally:
        d.quit()
        site.stop(web)


try:
    run()
finally:
    site.stop_all()
t.end()
