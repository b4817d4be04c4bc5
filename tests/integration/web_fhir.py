#!/usr/bin/python3
"""web_fhir — divert-web's read-only FHIR R4 endpoint (HL7 SDOH Clinical Care)
against the real divertd and PostgreSQL, as the least-privilege roles.

Referrals are driven through every state divert has (accepted, waitlisted,
declined, intake completed, in the wind, discharged with a reason, withdrawn
from the waitlist and after an accept, waitlist expired, intake lapsed, the
waitlist full) through the partner desk, the case-manager desk and
divertctl; then each referral's Task and ServiceRequest are checked against
the mapping and the required elements of the guide's profiles (SDOHCC Task
For Referral Management, SDOHCC ServiceRequest, SDOHCC Healthcare Service
for Referral Management with the capacity-status extension, US Core
Organization), the capacity status against what divertd then decides,
_lastUpdated filtering and paging, every role's scope (a partner sees its
source's referrals, a case manager the people assigned to them, nobody
without a session), the CapabilityStatement, errors as OperationOutcome,
the content type, and that no personal data is in any response and no
disclosure is recorded.
"""
import json
import os
import re
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True         # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import PORT, Client, Site, Tally, ctl, referral_form, sql  # noqa: E402

t = Tally("web_fhir")
site = Site(t)
WEB = PORT + 2
PW = {u: "pw-%s-0123456789" % u for u in ("outreach", "police", "rivera", "okafor", "manager", "admin")}
USERS = [("outreach", "partner:harbor", PW["outreach"]), ("police", "partner:spd", PW["police"]),
         ("rivera", "case_manager:cm-rivera", PW["rivera"]), ("okafor", "case_manager:cm-okafor", PW["okafor"]),
         ("manager", "program", PW["manager"]), ("admin", "admin", PW["admin"])]

SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare"
TASK_PROFILE = SDOHCC + "/StructureDefinition/SDOHCC-TaskForReferralManagement"
REQUEST_PROFILE = SDOHCC + "/StructureDefinition/SDOHCC-ServiceRequest"
SERVICE_PROFILE = SDOHCC + "/StructureDefinition/SDOHCC-HealthcareServiceForReferralManagement"
CAPACITY_EXTENSION = SDOHCC + "/StructureDefinition/SDOHCC-ExtensionHealthcareServiceCapacityStatus"
TEMPORARY_CODES = SDOHCC + "/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
ORGANIZATION_PROFILE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
# SDOHCC-ValueSetReferralTaskStatus: FHIR task-status without ready and received
REFERRAL_TASK_STATUS = {"draft", "requested", "accepted", "rejected", "cancelled", "on-hold", "in-progress",
                        "failed", "completed", "entered-in-error"}
REQUEST_STATUS = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
CAPACITY_CODES = {"capacity", "no-capacity", "waitlist", "additional-assessment-required"}
INSTANT = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"

BODIES = []                             # every FHIR response body, for the personal-data check
SECRETS = []                            # every name, date of birth, note, contact, person id sent


def person(tag, first, last, dob):
    SECRETS.extend([first, last, dob, "SPID-" + tag, "note-" + tag, "555-01" + tag[-2:]])
    return {"person": {"source_person_id": "SPID-" + tag, "first_name": first, "last_name": last, "dob": dob},
            "notes": "note-" + tag, "contact": {"worker": "Sam", "callback": "+1-206-555-01" + tag[-2:]}}


def fhir(client, path, **kw):
    """GET a FHIR path; checks the content type; returns (status, heads, body)."""
    headers = {"Accept": "application/fhir+json"}
    headers.update(kw.pop("headers", {}))
    status, heads, body = client.get("/fhir/" + path, headers=headers, **kw)
    BODIES.append(json.dumps(body) if not isinstance(body, str) else body)
    if not heads.get("content-type", "").startswith("application/fhir+json"):
        t.check("GET /fhir/%s answers application/fhir+json" % path, False, heads.get("content-type"))
    return status, heads, body


def outcome(what, got, status, code=None):
    """An OperationOutcome with this HTTP status (and issue code)."""
    s, heads, body = got
    ok = (s == status and isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"
          and body.get("issue") and body["issue"][0].get("severity") in ("error", "fatal")
          and (code is None or body["issue"][0].get("code") == code)
          and heads.get("content-type", "").startswith("application/fhir+json"))
    return t.check(what, ok, "%s %s" % (s, body))


def no_empty(node, path="$"):
    """FHIR forbids null, empty strings, arrays and objects: the first offender, or None."""
    if node is None or node == "" or node == [] or node == {}:
        return path
    if isinstance(node, dict):
        for k, v in node.items():
            bad = no_empty(v, path + "." + k)
            if bad:
                return bad
    if isinstance(node, list):
        for i, v in enumerate(node):
            bad = no_empty(v, "%s[%d]" % (path, i))
            if bad:
                return bad
    return None


def keys_of(node, into):
    """Every key of a JSON document, into a set."""
    if isinstance(node, dict):
        for k, v in node.items():
            into.add(k)
            keys_of(v, into)
    elif isinstance(node, list):
        for v in node:
            keys_of(v, into)


def coded(concept, system, code):
    return any(c.get("system") == system and c.get("code") == code for c in (concept or {}).get("coding", []))


# ---------------------------------------------------------------------------
# The profiles' required elements (cardinalities from the guide's
# StructureDefinitions, HL7 SDOH Clinical Care 3.0.0 and US Core 7.0.0)

def check_task(label, task):
    problems = []
    if task.get("resourceType") != "Task":
        problems.append("resourceType")
    if not re.match(FHIR_ID, str(task.get("id", ""))):
        problems.append("id")
    if TASK_PROFILE not in task.get("meta", {}).get("profile", []):
        problems.append("meta.profile")
    if not re.match(INSTANT, task.get("meta", {}).get("lastUpdated", "")):
        problems.append("meta.lastUpdated")
    if task.get("status") not in REFERRAL_TASK_STATUS:                   # status 1..1, required binding
        problems.append("status")
    if "statusReason" in task and not task["statusReason"].get("text"):  # statusReason.text 1..1
        problems.append("statusReason.text")
    if task.get("status") in ("rejected", "cancelled", "on-hold", "failed") and "statusReason" not in task:
        problems.append("statusReason for " + str(task.get("status")))
    if task.get("intent") != "order":                                    # intent = order
        problems.append("intent")
    if not coded(task.get("code"), TASK_CODE, "fulfill"):                # code 1..1 = task-code#fulfill
        problems.append("code")
    if not re.match(r"^ServiceRequest/\d+$", task.get("focus", {}).get("reference", "")):   # focus 1..1
        problems.append("focus")
    subject = task.get("for", {})                                        # for 1..1 (Patient)
    if subject.get("type") != "Patient" or not subject.get("identifier", {}).get("value") or "display" in subject:
        problems.append("for")
    if not re.match(INSTANT, task.get("authoredOn", "")):                # authoredOn 1..1
        problems.append("authoredOn")
    if not re.match(r"^Organization/[A-Za-z0-9\-.]+$", task.get("requester", {}).get("reference", "")):
        problems.append("requester")                                     # requester 1..1
    if task.get("owner", {}).get("reference") not in ("HealthcareService/LEAD", "HealthcareService/CO-LEAD"):
        problems.append("owner")
    if not re.match(INSTANT, task.get("lastModified", "")):
        problems.append("lastModified")
    if task.get("priority") not in ("routine", "urgent"):
        problems.append("priority")
    bad = no_empty(task)
    if bad:
        problems.append("empty " + bad)
    return t.check("%s: the Task has the profile's required elements" % label, not problems, problems)


def check_request(label, request, referral_id):
    problems = []
    if request.get("resourceType") != "ServiceRequest" or REQUEST_PROFILE not in request.get("meta", {}).get("profile", []):
        problems.append("resourceType/profile")
    if request.get("status") not in REQUEST_STATUS:                      # status 1..1
        problems.append("status")
    if request.get("intent") != "order":                                 # intent 1..1
        problems.append("intent")
    if not request.get("code", {}).get("coding"):                        # code 1..1 (US Core)
        problems.append("code")
    subject = request.get("subject", {})                                 # subject 1..1 (US Core)
    if subject.get("type") != "Patient" or not subject.get("identifier", {}).get("value"):
        problems.append("subject")
    if not any(coded(c, US_CORE_CATEGORY, "sdoh") for c in request.get("category", [])):
        problems.append("category")
    if not re.match(INSTANT, request.get("authoredOn", "")) or "reference" not in request.get("requester", {}):
        problems.append("authoredOn/requester")
    ids = [i.get("value") for i in request.get("identifier", []) if i.get("system") == "urn:ietf:rfc:3986"]
    if ids != ["urn:uuid:" + referral_id]:
        problems.append("identifier")
    bad = no_empty(request)
    if bad:
        problems.append("empty " + bad)
    return t.check("%s: the ServiceRequest has the profile's required elements" % label, not problems, problems)


def capacity_of(service):
    for ext in service.get("extension", []):
        if ext.get("url") == CAPACITY_EXTENSION:
            for sub in ext.get("extension", []):
                if sub.get("url") == "capacityStatus":
                    codings = sub.get("valueCodeableConcept", {}).get("coding", [])
                    return codings[0].get("code") if codings and codings[0].get("system") == TEMPORARY_CODES else None
    return None


def check_service(service):
    problems = []
    if service.get("resourceType") != "HealthcareService" or SERVICE_PROFILE not in service.get("meta", {}).get("profile", []):
        problems.append("resourceType/profile")
    capacity = [e for e in service.get("extension", []) if e.get("url") == CAPACITY_EXTENSION]
    if len(capacity) != 1:                                               # capacity-status 1..1
        problems.append("capacity-status extension")
    elif capacity_of(service) not in CAPACITY_CODES:                     # capacityStatus 1..1
        problems.append("capacityStatus")
    elif any(k.startswith("value") for k in capacity[0]):               # ext-1: extensions or a value
        problems.append("a complex extension has no value of its own")
    if service.get("active") is not True:                                # active 1..1 = true
        problems.append("active")
    if not any(coded(c, US_CORE_CATEGORY, "sdoh") for c in service.get("category", [])):
        problems.append("category ServiceCategory")                      # category 1..*, coding 1..1 sdoh
    if len(service.get("type", [])) != 1:                                # type 1..1
        problems.append("type")
    if not service.get("name"):                                          # name 1..1
        problems.append("name")
    bad = no_empty(service)
    if bad:
        problems.append("empty " + bad)
    return t.check("HealthcareService/%s has the profile's required elements" % service.get("id"), not problems, problems)


# ---------------------------------------------------------------------------

def wait_for(query, want, seconds=15):
    deadline = time.time() + seconds
    got = None
    while time.time() < deadline:
        got = sql(query)
        if got == want:
            return got
        time.sleep(0.2)
    return got


def state_of(referral_id):
    return sql("SELECT state FROM divert.referral WHERE referral_id = '%s'" % referral_id)


def owner_of(referral_id):
    return sql("SELECT e.case_manager_id FROM divert.enrollment e JOIN divert.referral r ON r.id = e.referral_id"
               " WHERE r.referral_id = '%s'" % referral_id)


def marker():
    """An instant between two phases, on the database's clock."""
    time.sleep(0.05)
    at = sql("SELECT divert.s_rfc3339(clock_timestamp())")
    time.sleep(0.05)
    return at


def search_all(client, query, label):
    """Every Task of a search, following next links; (tasks, total, pages)."""
    tasks, pages, total = [], 0, None
    path = "Task?" + query
    while path and pages < 50:
        status, _, bundle = fhir(client, path)
        if not t.check("%s: page %d is a searchset Bundle" % (label, pages + 1),
                       status == 200 and bundle.get("resourceType") == "Bundle" and bundle.get("type") == "searchset",
                       "%s %s" % (status, bundle)):
            break
        total = bundle.get("total")
        pages += 1
        for entry in bundle.get("entry", []):
            tasks.append(entry["resource"])
            if entry.get("fullUrl") != "http://127.0.0.1:%d/fhir/Task/%s" % (WEB, entry["resource"]["id"]):
                t.check("%s: fullUrl names the Task" % label, False, entry.get("fullUrl"))
        nxt = [link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"]
        path = None
        if nxt:
            parsed = urllib.parse.urlsplit(nxt[0])
            path = parsed.path[len("/fhir/"):] + "?" + parsed.query
    return tasks, total, pages


def run():
    if not site.setup(users=USERS):
        return
    rc, _, err = ctl("cms", "add", "web-cms", "--programs", "LEAD,CO-LEAD", "--name", "divert-web",
                     "--cert-out", os.path.join(site.keys, "cms.cert"))
    t.eq("divert-web has a case-management key", (rc, err), (0, ""))
    # Two case managers, hard cap 3, target 2: paced 4; a tier-2 referral
    # is accepted while free - 1 >= 2 (T <= 1), a tier-1 one while anyone is below 3.
    sql("UPDATE divert.program SET hard_cap = 3, target_avg = 2 WHERE name = 'LEAD'")
    if not site.start_divertd("    waitlist_recheck = 1s\n"):
        return
    web, _ = site.start_web("web", "127.0.0.1:%d" % WEB)
    if web.poll() is not None:
        return
    c = {}
    for name, _, password in USERS:
        c[name] = Client(WEB)
        status, _, _ = c[name].login(name, password)
        t.eq("%s logs in" % name, status, 200)

    t.section("the CapabilityStatement, open like /api/health")
    anon = Client(WEB)
    status, heads, cap = fhir(anon, "metadata")
    t.eq("GET /fhir/metadata without a session is 200", status, 200)
    t.eq("... application/fhir+json", heads.get("content-type"), "application/fhir+json; fhirVersion=4.0")
    t.eq("... a CapabilityStatement, active, instance, FHIR 4.0.1",
         (cap.get("resourceType"), cap.get("status"), cap.get("kind"), cap.get("fhirVersion")),
         ("CapabilityStatement", "active", "instance", "4.0.1"))
    t.check("... JSON only", "json" in cap.get("format", []) and not any("xml" in f for f in cap.get("format", [])))
    t.check("... with a date and an implementation (kind instance)",
            cap.get("date") and cap.get("implementation", {}).get("description"))
    rest = (cap.get("rest") or [{}])[0]
    resources = {r["type"]: r for r in rest.get("resource", [])}
    t.eq("... a server", rest.get("mode"), "server")
    t.eq("... Task: read and search-type",
         sorted(i["code"] for i in resources.get("Task", {}).get("interaction", [])), ["read", "search-type"])
    t.check("... searched by _lastUpdated",
            any(p.get("name") == "_lastUpdated" and p.get("type") == "date" for p in resources["Task"].get("searchParam", [])))
    t.eq("... ServiceRequest: read", [i["code"] for i in resources.get("ServiceRequest", {}).get("interaction", [])], ["read"])
    t.check("... HealthcareService: read", "read" in [i["code"] for i in resources.get("HealthcareService", {}).get("interaction", [])])
    t.eq("... the profiles each resource claims",
         [resources[k].get("supportedProfile") for k in ("Task", "ServiceRequest", "HealthcareService")],
         [[TASK_PROFILE], [REQUEST_PROFILE], [SERVICE_PROFILE]])
    t.eq("... nothing else is offered", sorted(resources), ["HealthcareService", "Organization", "ServiceRequest", "Task"])
    t.check("... no empty elements", no_empty(cap) is None, no_empty(cap))

    t.section("capacity before anyone is referred")
    status, _, lead = fhir(c["outreach"], "HealthcareService/LEAD")
    t.eq("a partner reads HealthcareService/LEAD", status, 200)
    check_service(lead)
    t.eq("LEAD has capacity (nobody enrolled)", capacity_of(lead), "capacity")
    status, _, services = fhir(c["outreach"], "HealthcareService")
    t.eq("HealthcareService search: every program", (status, services.get("total"),
         sorted(e["resource"]["id"] for e in services.get("entry", []))), (200, 2, ["CO-LEAD", "LEAD"]))
    for e in services.get("entry", []):
        check_service(e["resource"])

    t.section("phase 1: referrals through the desks")
    ref = {}

    def submit(client, key, pathway="community", **changes):
        body = referral_form(pathway, **changes)
        status, _, data = client.post("/api/partner/referrals", body)
        ref[key] = body["referral_id"]
        return (data or {}).get("decision", {}).get("decision")

    t.eq("A (harbor) is accepted", submit(c["outreach"], "A", **person("01", "Aurelio", "Zwanenburg", "1971-01-11")), "accept")
    t.eq("B (harbor) is accepted", submit(c["outreach"], "B", **person("02", "Bettina", "Yarborough", "1972-02-12")), "accept")
    status, _, lead = fhir(c["outreach"], "HealthcareService/LEAD")
    t.eq("now a community referral would wait: capacity status 'waitlist' (No Capacity - Has Waitlist)",
         capacity_of(lead), "waitlist")
    t.eq("C (harbor) is waitlisted, as the capacity status said",
         submit(c["outreach"], "C", **person("03", "Casimir", "Xochitlan", "1973-03-13")), "waitlist")
    t.eq("D (harbor) is waitlisted", submit(c["outreach"], "D", **person("04", "Dorotea", "Wolfenden", "1974-04-14")), "waitlist")
    t.eq("E (harbor) is declined: outside the service area",
         submit(c["outreach"], "E", area="nowhere", **person("05", "Evander", "Vukovich", "1975-05-15")), "decline")
    t.eq("F (police, arrest diversion) is accepted (tier 1 may use the reserve)",
         submit(c["police"], "F", "arrest_diversion", **person("06", "Fenella", "Umberfield", "1976-06-16")), "accept")
    rc, _, err = ctl("program", "set", "LEAD", "--waitlist-cap", "2")
    status, _, lead = fhir(c["outreach"], "HealthcareService/LEAD")
    t.eq("the waitlist at its cap: capacity status 'no-capacity'", capacity_of(lead), "no-capacity")
    t.eq("K (harbor) is declined, as the capacity status said",
         submit(c["outreach"], "K", **person("07", "Kasimira", "Tennysonne", "1977-07-17")), "decline")
    ctl("program", "set", "LEAD", "--waitlist-cap", "200")
    m1 = marker()

    t.section("phase 2: intake, in the wind, a discharge, a withdrawal")
    owner_a = owner_of(ref["A"])
    cm_a = c["rivera" if owner_a == "cm-rivera" else "okafor"]
    status, _, data = cm_a.post("/api/cm/enrollment", {"source_id": "harbor", "referral_id": ref["A"],
                                                       "change": "intake_completed"})
    t.eq("A: intake completed at the case manager's desk", (status, data.get("enrollment", {}).get("status")),
         (200, "active"))
    t.eq("B: divertctl enrollment set active", ctl("enrollment", "set", ref["B"], "active")[0], 0)
    t.eq("B: divertctl enrollment set in_the_wind", ctl("enrollment", "set", ref["B"], "in_the_wind")[0], 0)
    status, _, data = c["outreach"].post("/api/partner/withdraw", {"referral_id": ref["D"]})
    t.eq("D: withdrawn from the waitlist by harbor", (status, data.get("decision", {}).get("decision")),
         (200, "withdrawn"))
    m2 = marker()

    t.section("phase 3: a waitlist expires, a discharge, an accept withdrawn, an intake lapses")
    ctl("program", "set", "LEAD", "--waitlist-ttl", "1s")
    t.eq("C: its waitlist entry expires", wait_for("SELECT state FROM divert.referral WHERE referral_id = '%s'"
                                                   % ref["C"], "declined"), "declined")
    ctl("program", "set", "LEAD", "--waitlist-ttl", "30d")
    status, _, data = cm_a.post("/api/cm/enrollment", {"source_id": "harbor", "referral_id": ref["A"],
                                                       "change": "exited", "reason": "graduated"})
    t.eq("A: discharged, graduated", (status, data.get("enrollment", {}).get("status")), (200, "exited"))
    status, _, data = c["police"].post("/api/partner/withdraw", {"referral_id": ref["F"]})
    t.eq("F: withdrawn by the police before intake", (status, data.get("decision", {}).get("decision")),
         (200, "withdrawn"))
    ctl("program", "set", "LEAD", "--intake-window", "1s")
    t.eq("G (police) is accepted with a 1 s intake window",
         submit(c["police"], "G", "arrest_diversion", **person("08", "Gwendolyn", "Sarkisian", "1978-08-18")), "accept")
    ctl("program", "set", "LEAD", "--intake-window", "30d")
    t.eq("G: its intake lapses", wait_for("SELECT state FROM divert.referral WHERE referral_id = '%s'" % ref["G"],
                                          "lapsed"), "lapsed")
    disclosures = sql("SELECT count(*) FROM divert.disclosure")

    t.section("every referral's Task: the mapping of divert's states")
    tasks, total, _ = search_all(c["manager"], "_count=500", "program: every Task")
    t.eq("the program manager sees every referral", total, int(sql("SELECT count(*) FROM divert.referral")))
    by_ref = {}
    for task in tasks:
        by_ref[task.get("focus", {}).get("identifier", {}).get("value", "").replace("urn:uuid:", "")] = task
    t.check("each Task's focus names its referral_id", all(ref[k] in by_ref for k in ref), sorted(by_ref))
    expected = {
        "A": ("completed", "discharged", "graduated"),
        "B": ("in-progress", "in the wind", None),
        "C": ("cancelled", "waitlist expired", "the referral waited longer than the waitlist allows"),
        "D": ("cancelled", "withdrawn", "withdrawn by the referrer"),
        "E": ("rejected", "declined", "outside the service area"),
        "F": ("cancelled", "withdrawn", "withdrawn by the referrer"),
        "G": ("failed", "intake lapsed", "intake was not completed in time"),
        "K": ("rejected", "declined", "the waitlist is full"),
    }
    requests = {"A": "completed", "B": "active", "C": "revoked", "D": "revoked", "E": "revoked", "F": "revoked",
                "G": "revoked", "K": "revoked"}
    subjects = set()
    for key, (status_, business, reason) in expected.items():
        task = by_ref.get(ref[key], {})
        check_task(key, task)
        t.eq("%s: Task.status, businessStatus, statusReason" % key,
             (task.get("status"), task.get("businessStatus", {}).get("text"), task.get("statusReason", {}).get("text")),
             (status_, business, reason))
        status, _, read = fhir(c["manager"], "Task/" + str(task.get("id")))
        t.eq("%s: GET Task/{id} is the same Task" % key, (status, read), (200, task))
        status, _, request = fhir(c["manager"], task.get("focus", {}).get("reference", "ServiceRequest/0"))
        t.eq("%s: its ServiceRequest is read (status %s)" % (key, requests[key]), (status, request.get("status")),
             (200, requests[key]))
        check_request(key, request, ref[key])
        t.eq("%s: the ServiceRequest's subject is the Task's" % key, request.get("subject"), task.get("for"))
        subjects.add(json.dumps(task.get("for")))
        t.match("%s: the person is a name-based UUID (RFC 4122 version 3), not the referral's" % key,
                task.get("for", {}).get("identifier", {}).get("value"),
                r"^urn:uuid:(?!%s)[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$" % ref[key])
        t.eq("%s: requested by its source, owned by LEAD" % key,
             (task.get("requester", {}).get("reference"), task.get("owner", {}).get("reference")),
             ("Organization/" + ("spd" if key in "FG" else "harbor"), "HealthcareService/LEAD"))
        t.eq("%s: priority from the tier" % key, task.get("priority"), "urgent" if key in "FG" else "routine")
    t.eq("each referral's person is a pseudonym of its own", len(subjects), len(expected))
    example = by_ref.get(ref["A"], {})
    print("# A's Task: " + json.dumps(example))
    print("# A's ServiceRequest: " + json.dumps(fhir(c["manager"], example.get("focus", {}).get("reference", "x"))[2]))
    print("# HealthcareService/LEAD: " + json.dumps(fhir(c["manager"], "HealthcareService/LEAD")[2]))
    # A referral accepted and still waiting for intake, and one still waitlisted
    t.eq("H (harbor) is accepted: the discharge and the withdrawal freed places",
         submit(c["outreach"], "H", **person("09", "Hieronymus", "Quagliaroli", "1979-09-19")), "accept")
    t.eq("I (harbor) is waitlisted", submit(c["outreach"], "I", **person("10", "Ilsabeth", "Pemberwick", "1980-10-20")),
         "waitlist")
    for key, want in (("H", ("accepted", "intake pending", None)), ("I", ("accepted", "waitlisted", None))):
        found, _, _ = search_all(c["manager"], "_lastUpdated=gt" + urllib.parse.quote(m2) + "&_count=500", key)
        task = [x for x in found if x.get("focus", {}).get("identifier", {}).get("value") == "urn:uuid:" + ref[key]]
        t.eq("%s: Task.status, businessStatus, statusReason" % key,
             tuple((task[0].get("status"), task[0].get("businessStatus", {}).get("text"),
                    task[0].get("statusReason", {}).get("text"))) if task else None, want)
        if task:
            check_task(key, task[0])
            status, _, request = fhir(c["manager"], task[0]["focus"]["reference"])
            t.eq("%s: its ServiceRequest is active" % key, request.get("status"), "active")

    t.section("_lastUpdated")
    changed, total, _ = search_all(c["manager"], "_lastUpdated=gt%s&_lastUpdated=le%s" % (
        urllib.parse.quote(m1), urllib.parse.quote(m2)), "phase 2 window")
    t.eq("gt phase 1, le phase 2: exactly the referrals phase 2 changed last (A changed again in phase 3)",
         sorted(k for k in ref if ref[k] in [x["focus"]["identifier"]["value"][9:] for x in changed]), ["B", "D"])
    t.eq("... total says so", total, 2)
    before, _, _ = search_all(c["manager"], "_lastUpdated=le" + urllib.parse.quote(m1), "before phase 2")
    names = sorted(k for k in ref if ref[k] in [x["focus"]["identifier"]["value"][9:] for x in before])
    t.eq("le phase 1: those unchanged since (E and K declined)", names, ["E", "K"])
    after, _, _ = search_all(c["manager"], "_lastUpdated=gt" + urllib.parse.quote(m2), "after phase 2")
    names = sorted(k for k in ref if ref[k] in [x["focus"]["identifier"]["value"][9:] for x in after])
    t.eq("gt phase 2: phase 3's changes and the new referrals", names, ["A", "C", "F", "G", "H", "I"])
    t.check("every Task returned was modified in the window",
            all(m1 < x["lastModified"] <= m2 for x in changed), [x["lastModified"] for x in changed])
    one = changed[0] if changed else {"lastModified": m2, "id": "0"}
    ids = lambda q: [x["id"] for x in search_all(c["manager"], q, "bound")[0]]  # noqa: E731
    exact = urllib.parse.quote(one["lastModified"])
    t.check("ge a Task's lastModified includes it", one["id"] in ids("_lastUpdated=ge" + exact))
    t.check("gt it excludes it", one["id"] not in ids("_lastUpdated=gt" + exact))
    t.check("le it includes it", one["id"] in ids("_lastUpdated=le" + exact))
    t.check("lt it excludes it", one["id"] not in ids("_lastUpdated=lt" + exact))
    offset = re.sub(r"Z$", "+00:00", m1)
    same, _, _ = search_all(c["manager"], "_lastUpdated=gt" + urllib.parse.quote(offset) + "&_lastUpdated=le"
                            + urllib.parse.quote(m2), "offset")
    t.eq("an instant with an offset means the same", sorted(x["id"] for x in same), sorted(x["id"] for x in changed))
    for bad, why in (("_lastUpdated=eq" + m1, "the prefix eq"), ("_lastUpdated=sa" + m1, "the prefix sa"),
                     ("_lastUpdated=" + m1, "no prefix"), ("_lastUpdated=gt2026-01-01", "a date without a time"),
                     ("_lastUpdated=gt2026-01-01T00:00:00", "an instant without a time zone"),
                     ("_lastUpdated=gtyesterday", "not an instant"),
                     ("_lastUpdated=gt2026-13-01T00:00:00Z", "month 13"),
                     ("_lastUpdated=gt2026-02-30T00:00:00Z", "the 30th of February"),
                     ("_lastUpdated=gt2026-02-01T24:00:00Z", "hour 24"),
                     ("_lastUpdated=gt0000-01-01T00:00:00Z", "year 0"),
                     ("_lastUpdated=gt2026-02-01T00:00:00+15:00", "an offset beyond 14 hours"),
                     ("_lastUpdated=gt%s&_lastUpdated=ge%s" % (m1, m1), "two lower bounds"),
                     ("status=completed", "an unsupported parameter"), ("_count=many", "_count not a number"),
                     ("_count=-1", "a negative _count"), ("_cursor=xyz", "a cursor this server did not make")):
        outcome("Task search with %s is 400" % why, fhir(c["manager"], "Task?" + bad.replace("+", "%2B")), 400, "invalid")

    t.section("paging")
    everything = int(sql("SELECT count(*) FROM divert.referral"))
    pages_tasks, total, pages = search_all(c["manager"], "_count=3", "_count=3")
    t.eq("_count=3: every Task once, in pages of 3", (total, len(pages_tasks), len({x["id"] for x in pages_tasks}), pages),
         (everything, everything, everything, -(-everything // 3)))
    keys = [(x["lastModified"], int(x["id"])) for x in pages_tasks]
    t.check("... in (lastModified, id) order", keys == sorted(keys), keys)
    status, _, bundle = fhir(c["manager"], "Task")
    t.eq("no _count: 50 per page (all of them here), no next link",
         (len(bundle.get("entry", [])), [l["relation"] for l in bundle.get("link", [])]), (everything, ["self"]))
    t.match("... the self link says _count=50", bundle.get("link", [{}])[0].get("url"), r"_count=50$")
    status, _, bundle = fhir(c["manager"], "Task?_count=100000")
    t.match("_count above 500 is 500", bundle.get("link", [{}])[0].get("url"), r"_count=500$")
    status, _, bundle = fhir(c["manager"], "Task?_count=0")
    t.eq("_count=0: only the total", (status, bundle.get("total"), "entry" in bundle), (200, everything, False))
    t.eq("... and no empty elements", no_empty(bundle), None)
    status, _, bundle = fhir(c["manager"], "Task?_lastUpdated=gt2999-01-01T00:00:00Z")
    t.eq("nothing modified after 2999: total 0, no entries, nothing empty",
         (status, bundle.get("total"), "entry" in bundle, no_empty(bundle)), (200, 0, False, None))
    status, _, bundle = fhir(c["manager"], "Task?_count=2&_lastUpdated=gt" + urllib.parse.quote(m1))
    nxt = [l["url"] for l in bundle.get("link", []) if l["relation"] == "next"]
    t.check("a next link keeps the filter", nxt and "_lastUpdated=gt" in nxt[0] and "_count=2" in nxt[0], nxt)

    t.section("who sees what")
    mine, total, _ = search_all(c["outreach"], "_count=500", "harbor")
    t.eq("harbor's partner sees harbor's referrals only", (total, {x["requester"]["reference"] for x in mine}),
         (int(sql("SELECT count(*) FROM divert.referral WHERE source_id = 'harbor'")), {"Organization/harbor"}))
    police, total, _ = search_all(c["police"], "_count=500", "spd")
    t.eq("the police partner sees its own", (total, {x["requester"]["reference"] for x in police}),
         (2, {"Organization/spd"}))
    spd_task = police[0] if police else {"id": "0", "focus": {"reference": "ServiceRequest/0"}}
    outcome("harbor can't read a police Task (404, as if it did not exist)", fhir(c["outreach"], "Task/" + spd_task["id"]),
            404, "not-found")
    outcome("... nor its ServiceRequest", fhir(c["outreach"], spd_task["focus"]["reference"]), 404, "not-found")
    outcome("a Task that does not exist is 404 too", fhir(c["outreach"], "Task/999999999"), 404, "not-found")
    status, _, org = fhir(c["outreach"], "Organization/harbor")
    t.eq("harbor reads its own Organization", (status, org.get("name"), org.get("active")), (200, "Harbor Outreach", True))
    t.check("... US Core Organization", ORGANIZATION_PROFILE in org.get("meta", {}).get("profile", []))
    outcome("... not the police's", fhir(c["outreach"], "Organization/spd"), 404, "not-found")
    status, _, org = fhir(c["manager"], "Organization/spd")
    t.eq("the program manager reads any source", (status, org.get("name")), (200, "City Police"))
    for name in ("rivera", "okafor"):
        theirs, total, _ = search_all(c[name], "_count=500", name)
        want = sql("SELECT COALESCE(string_agg(r.referral_id, ',' ORDER BY r.referral_id), '') FROM divert.enrollment e"
                   " JOIN divert.referral r ON r.id = e.referral_id WHERE e.case_manager_id = 'cm-%s'" % name)
        t.eq("%s sees the people assigned to them, and only them" % name,
             ",".join(sorted(x["focus"]["identifier"]["value"][9:] for x in theirs)), want)
    other = c["okafor" if owner_a == "cm-rivera" else "rivera"]
    outcome("the other case manager can't read A's Task", fhir(other, "Task/" + by_ref.get(ref["A"], {}).get("id", "0")),
            404, "not-found")
    all_admin, total, _ = search_all(c["admin"], "_count=500", "admin")
    t.eq("an admin sees every referral", total, everything)

    t.section("a referral linked to a waiting one follows the entry's enrollment")
    linked = person("11", "Ilsabeth", "Pemberwick", "1980-10-20")
    linked["person"]["source_person_id"] = "SPD-11"
    t.eq("L (police, social contact) for I's person is linked to I's waitlist entry",
         submit(c["police"], "L", "social_contact", **linked), "waitlist")
    t.eq("... as linked_to_pending", sql("SELECT e.reason FROM divert.decision_event e JOIN divert.referral r"
         " ON r.id = e.referral_id WHERE r.referral_id = '%s'" % ref["L"]), "linked_to_pending")
    m3 = marker()
    t.eq("B: discharged, moved (divertctl)", ctl("discharge", ref["B"], "--reason", "moved")[0], 0)
    t.eq("I's entry is promoted: I and L accepted", wait_for(
        "SELECT string_agg(state, ',' ORDER BY id) FROM divert.referral WHERE referral_id IN ('%s', '%s')"
        % (ref["I"], ref["L"]), "accepted,accepted"), "accepted,accepted")
    m4 = marker()
    t.eq("I: intake completed (divertctl)", ctl("enrollment", "set", ref["I"], "active")[0], 0)
    later, _, _ = search_all(c["manager"], "_lastUpdated=gt" + urllib.parse.quote(m4), "after the promotion")
    found = {x["focus"]["identifier"]["value"][9:]: x for x in later}
    t.eq("gt after the promotion: I's intake changed I and L (L through the entry's enrollment)",
         sorted(k for k in ref if ref[k] in found), ["I", "L"])
    task_l = found.get(ref["L"], {})
    t.eq("L: in-progress, active, like the enrollment it shares",
         (task_l.get("status"), task_l.get("businessStatus", {}).get("text")), ("in-progress", "active"))
    check_task("L", task_l)
    window, _, _ = search_all(c["manager"], "_lastUpdated=gt%s&_lastUpdated=le%s" % (
        urllib.parse.quote(m3), urllib.parse.quote(m4)), "the promotion")
    t.eq("last modified between L's referral and I's intake: B (its discharge; I and L changed again since)",
         sorted(k for k in ref if ref[k] in [x["focus"]["identifier"]["value"][9:]
                                                                           for x in window]), ["B"])
    status, _, task_b = fhir(c["manager"], "Task/" + by_ref.get(ref["B"], {}).get("id", "0"))
    t.eq("B: completed, discharged, moved away", (task_b.get("status"), task_b.get("businessStatus", {}).get("text"),
         task_b.get("statusReason", {}).get("text")), ("completed", "discharged", "moved away"))
    owner_i = owner_of(ref["I"])
    theirs, _, _ = search_all(c["rivera" if owner_i == "cm-rivera" else "okafor"], "_count=500", "I's case manager")
    t.check("I's case manager sees L too (the person assigned to them)",
            "urn:uuid:" + ref["L"] in [x["focus"]["identifier"]["value"] for x in theirs])
    police, _, _ = search_all(c["police"], "_count=500", "spd")
    t.check("the police see L, not I", ["urn:uuid:" + ref["L"] in [x["focus"]["identifier"]["value"] for x in police],
                                        "urn:uuid:" + ref["I"] in [x["focus"]["identifier"]["value"] for x in police]]
            == [True, False])
    everything = int(sql("SELECT count(*) FROM divert.referral"))

    t.section("without a session")
    for path in ("Task", "Task?_lastUpdated=gt" + m1, "Task/1", "ServiceRequest/1", "HealthcareService",
                 "HealthcareService/LEAD", "Organization/harbor"):
        got = fhir(anon, path)
        outcome("GET /fhir/%s without a session is 401" % path, got, 401, "login")
    t.match("... with WWW-Authenticate", fhir(anon, "Task")[1].get("www-authenticate"), r"^Bearer")
    token = c["manager"].cookie
    bearer = Client(WEB)
    status, _, bundle = fhir(bearer, "Task?_count=1", headers={"Authorization": "Bearer " + token})
    t.eq("the session's token as a bearer token works", (status, bundle.get("total")), (200, everything))
    outcome("a made-up bearer token is 401", fhir(bearer, "Task", headers={"Authorization": "Bearer " + "A" * 43}),
            401, "login")
    c["admin"].post("/api/logout", {})
    outcome("after logout: 401", fhir(c["admin"], "Task"), 401, "login")

    t.section("not what this server does")
    outcome("POST /fhir/Task is 405", c["manager"].request("POST", "/fhir/Task", {"resourceType": "Task"}), 405,
            "not-supported")
    outcome("PUT /fhir/Task/1 is 405", c["manager"].request("PUT", "/fhir/Task/1", {"resourceType": "Task"}), 405)
    outcome("DELETE /fhir/Task/1 is 405", c["manager"].request("DELETE", "/fhir/Task/1"), 405)
    outcome("Patient is not served (404)", fhir(c["manager"], "Patient/1"), 404, "not-supported")
    outcome("Task/abc is 404", fhir(c["manager"], "Task/abc"), 404, "not-found")
    outcome("Task/1/_history is 404", fhir(c["manager"], "Task/1/_history"), 404)
    outcome("ServiceRequest search is not offered", fhir(c["manager"], "ServiceRequest"), 404, "not-supported")
    outcome("_format=xml is 406", fhir(c["manager"], "Task?_format=xml"), 406, "not-supported")
    status, _, _ = fhir(c["manager"], "Task?_format=json")
    t.eq("_format=json is fine", status, 200)
    outcome("an unknown parameter on a read is 400", fhir(c["manager"], "Task/1?x=y"), 400, "invalid")

    t.section("no personal data")
    text = "\n".join(BODIES)
    leaked = [s for s in SECRETS if s in text]
    t.eq("no name, date of birth, note, contact or person id in any FHIR response", leaked, [])
    fields = set()
    for body in BODIES:
        try:
            keys_of(json.loads(body), fields)
        except ValueError:
            pass
    t.eq("no person fields at all", sorted(fields & {"first_name", "last_name", "dob", "birthDate", "person", "notes",
                                                     "contact", "telecom", "address", "gender"}), [])
    t.eq("and no disclosure was recorded for them", sql("SELECT count(*) FROM divert.disclosure"), disclosures)
    site.stop(web)


try:
    run()
finally:
    site.stop_all()
t.end()
