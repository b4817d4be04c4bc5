#!/usr/bin/python3
"""web_browser — the desks of divert-web in a real browser: Debian's
chromium, headless, driven by chromium-driver through python3-selenium,
against the real divert-web, divertd and PostgreSQL.

  * a partner's outreach worker logs in by keyboard on a phone-sized window
    (360 x 740), submits a referral with two mistakes, sees each named beside
    its field, fixes them, sends it again from the keyboard and sees the
    decision in words, and the referral in their list;
  * the program dashboard, open in another browser, shows that decision
    live (no reload), and explains it;
  * the case manager it was assigned to sees the person pending intake with
    the days left, and their details (recorded in the disclosure audit);
  * the admin desk lists users and roles, and adds one (a short password
    refused beside its field first).

On every page, at 360 px and at desktop width: nothing wider than the
screen, a label on every control, text contrast of at least 4.5:1 (3:1 for
large text), no Content-Security-Policy violation and no script error.
Screenshots of each page go to $DIVERT_TMP/screenshots (and are copied to
$DIVERT_SCREENSHOTS, build/screenshots under make check).
"""
import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True         # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import PORT, TMP, Site, Tally, sql  # noqa: E402

from webpage import browser, quit_all, visible, wait  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

t = Tally("web_browser")
site = Site(t)
WEB = PORT + 2
BASE = "http://127.0.0.1:%d" % WEB
SHOTS = os.path.join(TMP, "screenshots")
PW = {u: "pw-%s-0123456789" % u for u in ("outreach", "rivera", "manager", "admin")}
USERS = [("outreach", "partner:harbor", PW["outreach"]), ("rivera", "case_manager:cm-rivera", PW["rivera"]),
         ("manager", "program", PW["manager"]), ("admin", "admin", PW["admin"])]
PHONE = (360, 740)
DESKTOP = (1280, 900)

# Checks run in the page: [overflowing width, unlabelled controls, low-contrast text].
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
var wide = document.documentElement.scrollWidth - window.innerWidth;
var unlabelled = [], low = [];
document.querySelectorAll('input, select, textarea, button').forEach(function (el) {
  if (el.type === 'hidden' || !shown(el)) return;
  var named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
    || (el.tagName === 'BUTTON' && el.textContent.trim());
  if (!named) unlabelled.push(el.tagName + '#' + el.id);
});
document.querySelectorAll('body *').forEach(function (el) {
  if (!shown(el)) return;
  var text = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim(); });
  if (!text) return;
  var cs = getComputedStyle(el), fg = rgb(cs.color), bg = background(el);
  var a = lum(fg), b = lum(bg), ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  var size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
  var large = size >= 24 || (bold && size >= 18.66);
  if (ratio < (large ? 3 : 4.5)) low.push(el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '" ' + ratio.toFixed(2));
});
return [wide, unlabelled, low, window.innerWidth];
"""




def text_of(driver, css, seconds=10):
    """The text of the first visible element matching css, once there."""
    return wait(driver, lambda d: visible(d, css).text if visible(d, css) else None, seconds)


def press(driver, css, xpath=None, key=None, seconds=10):
    """Click (or send key to) an element, found again if a redraw replaced it."""
    def attempt(d):
        el = d.find_element(By.CSS_SELECTOR, css)
        if xpath:
            el = el.find_element(By.XPATH, xpath)
        if key:
            el.send_keys(key)
        else:
            el.click()
        return True
    return wait(driver, attempt, seconds)


def shot(driver, name):
    """A screenshot of the whole page (beyond the window) at the window's width."""
    import base64
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics.get("contentSize")
    width = driver.execute_script("return window.innerWidth")
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(size["height"], 8000), "scale": 1}})
    path = os.path.join(SHOTS, name + ".png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(data["data"]))
    print("# screenshot %s" % path)


def page_checks(driver, what):
    wide, unlabelled, low, inner = driver.execute_script(PAGE_CHECKS)
    t.check("%s: nothing is wider than the %d px window" % (what, inner), wide <= 0, "%d px too wide" % wide)
    t.eq("%s: every control has a label" % what, unlabelled, [])
    t.eq("%s: all text has enough contrast" % what, low, [])


def console_problems(driver):
    """Script errors and CSP violations."""
    problems = []
    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        # Answers the page expects and handles: not logged in yet (401), field errors (422).
        if entry.get("source") == "network" and re.search(r"status of (401|422) ", message):
            continue
        if entry.get("level") == "SEVERE" or "Content Security Policy" in message:
            problems.append(message)
    return problems


def login(driver, name, keyboard=False):
    driver.get(BASE + "/")
    field = wait(driver, lambda d: visible(d, "#name"))
    if keyboard:
        wait(driver, lambda d: d.switch_to.active_element.get_attribute("id") == "name", 5)
        active = driver.switch_to.active_element
        active.send_keys(name + Keys.TAB)
        driver.switch_to.active_element.send_keys(PW[name] + Keys.ENTER)
    else:
        field.send_keys(name)
        driver.find_element(By.ID, "password").send_keys(PW[name])
        driver.find_element(By.ID, "submit").click()
    return wait(driver, lambda d: d.current_url.endswith(".html") and d.execute_script(
        "return document.readyState === 'complete'"), 15)


def set_date(driver, element_id, value):
    driver.execute_script("var e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, value)


def run():
    if not site.setup(users=USERS, cms=(("cm-rivera", "A. Rivera"),)):
        return
    if not site.start_divertd():
        return
    web, _ = site.start_web("web", "127.0.0.1:%d" % WEB)
    if web.poll() is not None:
        return
    os.makedirs(SHOTS, exist_ok=True)

    t.section("the program dashboard, open on a desktop")
    program = browser(DESKTOP)
    t.check("the program manager logs in", login(program, "manager"))
    t.check("the dashboard shows LEAD", wait(program, lambda d: "LEAD" in d.find_element(By.ID, "programs").text))
    t.check("today has no decisions yet", wait(program, lambda d: "Today: 0 decisions" in d.find_element(By.ID, "today").text))
    wait(program, lambda d: "Live" in d.find_element(By.ID, "live").text, 5)
    program.execute_script("window.notReloaded = true;")

    t.section("a partner on a phone")
    phone = browser(PHONE)
    phone.get(BASE + "/")
    wait(phone, lambda d: visible(d, "#name"))
    page_checks(phone, "login (360 px)")
    shot(phone, "login-360")
    t.check("the partner logs in by keyboard only", login(phone, "outreach", keyboard=True))
    t.check("... onto the partner desk", phone.current_url.endswith("/partner.html"))
    t.check("the form is ready (its pathway is set)", wait(
        phone, lambda d: d.find_element(By.ID, "pathway").get_attribute("value") == "community"))
    wait(phone, lambda d: "Live" in d.find_element(By.ID, "live").text, 5)
    page_checks(phone, "partner form (360 px)")
    shot(phone, "partner-form-360")

    # Two mistakes: a date of birth in the future, and no service area.
    phone.find_element(By.ID, "first").send_keys("Jo")
    phone.find_element(By.ID, "last").send_keys("Quixote")
    set_date(phone, "dob", "2999-01-01")
    phone.find_element(By.CSS_SELECTOR, "#housing option[value='unsheltered']").click()
    phone.find_element(By.ID, "need-su").click()
    phone.find_element(By.ID, "consent").click()
    phone.find_element(By.ID, "notes").send_keys("met at the pier")
    phone.find_element(By.ID, "send").click()
    summary = wait(phone, lambda d: visible(d, ".error-summary"))
    t.check("a referral with mistakes shows an error summary", summary)
    text = summary.text if summary else ""
    t.match("... naming the date of birth's problem", text, r"Date of birth: must not be in the future")
    t.match("... and the service area's", text, r"Service area: required")
    dob = phone.find_element(By.ID, "dob")
    t.eq("the date of birth is marked invalid", dob.get_attribute("aria-invalid"), "true")
    note = phone.find_elements(By.ID, dob.get_attribute("aria-describedby").split()[-1])
    t.check("... and the problem is beside it, tied to it for screen readers",
            note and "must not be in the future" in note[0].text)
    t.eq("the focus moves to the summary", phone.switch_to.active_element.get_attribute("class"), "error-summary")
    t.eq("nothing was recorded", sql("SELECT count(*) FROM divert.referral"), "0")
    page_checks(phone, "partner form with errors (360 px)")
    shot(phone, "partner-errors-360")

    set_date(phone, "dob", "1981-04-02")
    phone.find_element(By.ID, "area").send_keys("downtown" + Keys.ENTER)     # sent from the keyboard
    outcome = wait(phone, lambda d: visible(d, "#outcome-text"), 15)
    t.check("the fixed referral is decided", outcome)
    t.eq("the decision is shown at once, in words", outcome.text if outcome else None,
         "Accepted: A. Rivera will contact you.")
    t.check("the old error marks are gone", not phone.find_elements(By.CSS_SELECTOR, "#referral [aria-invalid]"))
    ref = sql("SELECT referral_id FROM divert.referral")
    t.check("one referral was recorded, from harbor", re.fullmatch(r"[0-9a-f-]{36}", ref) and
            sql("SELECT source_id FROM divert.referral") == "harbor", ref)
    row = text_of(phone, "#mine li[data-referral='%s']" % ref)
    t.check("it is in the partner's list", row)
    t.match("... with its status in words", row or "", r"Accepted: A\. Rivera will contact you\.")
    page_checks(phone, "partner decision (360 px)")
    shot(phone, "partner-decision-360")
    t.eq("no script errors or CSP violations on the partner desk", console_problems(phone), [])

    t.section("the dashboard updated live")
    live = wait(program, lambda d: ref[:8] in d.find_element(By.ID, "decisions").text, 10)
    t.check("the decision appears on the dashboard without a reload", live)
    t.check("... (the page was not reloaded)", program.execute_script("return window.notReloaded === true"))
    t.check("today's count went up", wait(program, lambda d: "Today: 1 decision: 1 accepted"
                                          in d.find_element(By.ID, "today").text, 5))
    t.check("A. Rivera's bar shows 1 of 25", wait(
        program, lambda d: d.find_elements(By.CSS_SELECTOR, "[aria-label='A. Rivera: 1 of 25 (pacing line 18)']"), 5))
    fresh = program.find_elements(By.CSS_SELECTOR, "#decisions li.fresh")
    t.check("the new decision is marked as new", fresh)
    t.check("no personal data on the dashboard", "Quixote" not in program.page_source and "1981" not in program.page_source)
    page_checks(program, "program dashboard (1280 px)")
    shot(program, "program-1280")
    press(program, "#decisions li[data-referral='%s'] button" % ref)
    panel = wait(program, lambda d: visible(d, "#explain"))
    t.check("explain opens for the decision", panel)
    t.match("... with the score's components and the capacity it saw", panel.text if panel else "",
            r"score \d+ = pathway \d+ \+ acuity \d+.*\n?.*it saw: 1 case manager holding 0")
    shot(program, "program-explain-1280")
    program.set_window_size(*PHONE)
    time.sleep(0.3)
    page_checks(program, "program dashboard (360 px)")
    shot(program, "program-360")
    t.eq("no script errors or CSP violations on the dashboard", console_problems(program), [])

    t.section("the case manager")
    cm = browser(PHONE)
    t.check("the case manager logs in", login(cm, "rivera"))
    person = text_of(cm, "#pending li[data-referral='%s']" % ref)
    t.check("the person is in 'Waiting for intake'", person)
    t.match("... by name, with the days left", person or "", r"Jo Quixote\s+30 days left")
    record = cm.find_element(By.ID, "record-note")
    t.check("without a case-management key, recording is off and says why", record.is_displayed()
            and "case-management key" in record.text)
    page_checks(cm, "case manager (360 px)")
    shot(cm, "cm-360")
    press(cm, "#pending li[data-referral='%s']" % ref, ".//button[starts-with(normalize-space(.), 'Details')]", Keys.ENTER)
    panel = wait(cm, lambda d: visible(d, "#details"))
    t.match("the person's details", panel.text if panel else "", r"Date of birth\s+1981-04-02")
    t.match("... with the notes", panel.text if panel else "", r"met at the pier")
    t.eq("the focus moves to them", cm.switch_to.active_element.get_attribute("id"), "details-title")
    page_checks(cm, "person details (360 px)")
    shot(cm, "cm-details-360")
    t.eq("the list and the details are in the disclosure audit", sql(
        "SELECT string_agg(DISTINCT what, ',' ORDER BY what) FROM divert.disclosure WHERE actor_id = 'rivera'"),
        "person_details,worklist")
    cm.set_window_size(*DESKTOP)
    time.sleep(0.3)
    page_checks(cm, "case manager (1280 px)")
    shot(cm, "cm-1280")
    t.eq("no script errors or CSP violations on the case manager's desk", console_problems(cm), [])

    t.section("the admin desk")
    admin = browser(DESKTOP)
    t.check("the admin logs in", login(admin, "admin"))
    t.check("the users are listed", wait(admin, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#users li[data-user]")) == 4))
    page_checks(admin, "admin (1280 px)")
    shot(admin, "admin-1280")
    admin.find_element(By.ID, "name").send_keys("sam")
    admin.find_element(By.CSS_SELECTOR, "#role option[value='partner']").click()
    t.check("choosing the partner role offers the sources", wait(
        admin, lambda d: d.find_elements(By.CSS_SELECTOR, "#binding option[value='harbor']")))
    press(admin, "#binding option[value='harbor']")
    admin.find_element(By.ID, "password").send_keys("short" + Keys.ENTER)
    problem = wait(admin, lambda d: visible(d, "#add .error-summary"))
    t.match("a short first password is refused beside its field", problem.text if problem else "",
            r"First password: at least 10 characters")
    admin.find_element(By.ID, "password").send_keys("-but-now-long-enough" + Keys.ENTER)
    t.check("then the user is added and listed", wait(admin, lambda d: d.find_elements(By.CSS_SELECTOR, "#users li[data-user='sam']")))
    t.eq("... as a partner of harbor", sql("SELECT role || ':' || source_id FROM divert.web_user WHERE name = 'sam'"),
         "partner:harbor")
    admin.set_window_size(*PHONE)
    time.sleep(0.3)
    page_checks(admin, "admin (360 px)")
    shot(admin, "admin-360")
    t.eq("no script errors or CSP violations on the admin desk", console_problems(admin), [])

    t.section("the partner desk at desktop width, and logging out")
    phone.set_window_size(*DESKTOP)
    phone.find_element(By.ID, "another").click()
    time.sleep(0.3)
    page_checks(phone, "partner desk (1280 px)")
    shot(phone, "partner-1280")
    phone.find_element(By.ID, "logout").click()
    t.check("logging out returns to the login page", wait(phone, lambda d: d.current_url.rstrip("/") == BASE))
    phone.get(BASE + "/partner.html")
    t.check("the desk then sends back to the login page", wait(phone, lambda d: d.current_url.rstrip("/") == BASE))
    shot(phone, "login-1280")


try:
    started = time.time()
    run()
    print("# browser part took %.1f s" % (time.time() - started))
except WebDriverException as e:
    t.check("the browser runs", False, str(e).splitlines()[0] if str(e) else e)
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
