"""webtest — what divert-web's tests share (tests/integration/web_*.py).

A real site on the test's own database (tests/harness/run-all.sh gives each
test a fresh migrated database, 20 ports and a scratch directory): keys made
with divertctl, divertd and divert-web started as the least-privilege login
roles, an HTTP client that speaks to divert-web over TCP, TLS or its Unix
socket (stdlib only), and the tally that prints "NAME: N passed, N failed".
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("DIVERT_BIN", os.path.join(ROOT, "build", "bin"))
TMP = os.environ.get("DIVERT_TMP", "/tmp")
PORT = int(os.environ.get("DIVERT_PORT_BASE", "24000"))
STATIC = os.path.join(ROOT, "clients", "divert-web", "static")
SQL_DIR = os.environ.get("DIVERT_SQL_DIR", os.path.join(ROOT, "sql"))
DAEMON_USER = os.environ.get("DIVERT_DAEMON_USER", "")
OPERATOR_USER = os.environ.get("DIVERT_OPERATOR_USER", "")
WEB_USER = os.environ.get("DIVERT_WEB_USER", "")


class Tally:
    """ok / not ok lines and the summary line run-all.sh counts."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, what, condition, detail=""):
        if condition:
            self.passed += 1
            print("ok - " + what, flush=True)
        else:
            self.failed += 1
            print("not ok - " + what + (": " + str(detail) if detail != "" else ""), flush=True)
        return bool(condition)

    def eq(self, what, got, want):
        return self.check(what, got == want, "got %r, expected %r" % (got, want))

    def match(self, what, text, pattern):
        return self.check(what, text is not None and re.search(pattern, str(text)) is not None,
                          "%r does not match /%s/" % (text, pattern))

    def section(self, title):
        print("# " + title, flush=True)

    def end(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed), flush=True)
        sys.exit(0 if self.failed == 0 else 1)


def sql(query, user=None):
    """One query as the superuser (or user); its output, stripped."""
    env = dict(os.environ)
    if user:
        env["PGUSER"] = user
    out = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-Atq", "-c", query],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("psql: " + out.stderr.strip())
    return out.stdout.strip()


def ctl(*args, password=None, user=None):
    """divertctl as the operator role; returns (rc, stdout, stderr)."""
    env = dict(os.environ)
    env["PGUSER"] = user or OPERATOR_USER or env.get("PGUSER", "postgres")
    env["DIVERT_SQL_DIR"] = SQL_DIR
    out = subprocess.run([os.path.join(BIN, "divertctl")] + list(args), env=env, capture_output=True,
                         text=True, input=(password + "\n") if password is not None else None)
    return out.returncode, out.stdout.strip(), out.stderr.strip()


def uuid():
    with open("/proc/sys/kernel/random/uuid") as f:
        return f.read().strip()


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Site:
    """Keys, staff, users; divertd and divert-web processes."""

    def __init__(self, tally):
        self.t = tally
        self.keys = os.path.join(TMP, "keys")
        self.intake = "tcp://127.0.0.1:%d" % PORT
        self.decisions = "tcp://127.0.0.1:%d" % (PORT + 1)
        self.procs = []
        os.makedirs(self.keys, exist_ok=True)

    def setup(self, sources=(("harbor", "community", "Harbor Outreach"), ("spd", "police", "City Police")),
              cms=(("cm-rivera", "A. Rivera"), ("cm-okafor", "B. Okafor")),
              users=(), web_sources=None):
        ok = True
        steps = [("keygen", os.path.join(self.keys, "server.cert"))]
        for sid, kind, name in sources:
            steps.append(("source", "add", sid, "--kind", kind, "--name", name,
                          "--cert-out", os.path.join(self.keys, sid + ".cert")))
        steps.append(("monitor", "add", "web", "--cert-out", os.path.join(self.keys, "monitor.cert")))
        for cid, name in cms:
            steps.append(("cm", "add", cid, "--program", "LEAD", "--name", name))
        steps.append(("program", "set", "LEAD", "--areas", "downtown,belltown"))
        for step in steps:
            rc, out, err = ctl(*step)
            if rc != 0:
                ok = False
                print("# setup failed: divertctl %s: %s" % (" ".join(step), err))
        for name, role, password in users:
            rc, out, err = ctl("user", "add", name, "--role", role, "--password-stdin", password=password)
            if rc != 0:
                ok = False
                print("# setup failed: user add %s: %s" % (name, err))
        # The web server holds only the keys of the partners it serves.
        if web_sources is not None:
            for sid, _, _ in sources:
                if sid not in web_sources:
                    for suffix in (".cert", ".cert_secret"):
                        path = os.path.join(self.keys, sid + suffix)
                        shutil.move(path, os.path.join(TMP, sid + suffix))
        self.t.check("the site is set up with divertctl", ok)
        return ok

    def _wait_ready(self, proc, log, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            with open(log) as f:
                if "ready:" in f.read():
                    return True
            time.sleep(0.1)
        with open(log) as f:
            print("# %s did not start; its log:\n# " % what + "\n# ".join(f.read().splitlines()[-30:]))
        return False

    def start_divertd(self, extra="", name="divertd", intake=None, decisions=None):
        """divertd on the site's endpoints (or intake and decisions: another
        daemon on the same database, its config and log named after name);
        extra: more lines of its divertd section."""
        conf = os.path.join(TMP, name + ".conf")
        with open(conf, "w") as f:
            f.write("divertd\n    intake = %s\n    decisions = %s\n    server_cert = %s\n    log = stderr\n%s"
                    % (intake or self.intake, decisions or self.decisions, os.path.join(self.keys, "server.cert"),
                       extra))
            if DAEMON_USER:
                f.write("database\n    conninfo = \"user=%s\"\n" % DAEMON_USER)
        log = os.path.join(TMP, name + ".log")
        proc = subprocess.Popen([os.path.join(BIN, "divertd"), "-c", conf], stderr=open(log, "w"),
                                stdout=subprocess.DEVNULL)
        self.procs.append((proc, log, name))
        return self.t.check("%s is ready" % name, self._wait_ready(proc, log, name))

    def web_config(self, name, listen, extra="", keys=None):
        conf = os.path.join(TMP, name + ".conf")
        with open(conf, "w") as f:
            f.write("divert-web\n    listen = %s\n    static_dir = %s\n    log = stderr\n%s"
                    "divert\n    intake = %s\n    decisions = %s\n    keys = %s\n    timeout = 3s\n"
                    % (listen, STATIC, extra, self.intake, self.decisions, keys or self.keys))
            if WEB_USER:
                f.write("database\n    conninfo = \"user=%s\"\n" % WEB_USER)
        return conf

    def start_web(self, name, listen, extra="", expect_ready=True, keys=None, env=None):
        """Start divert-web with its own config; returns (proc, log)."""
        conf = self.web_config(name, listen, extra, keys)
        log = os.path.join(TMP, name + ".log")
        proc = subprocess.Popen([os.path.join(BIN, "divert-web"), "-c", conf], stderr=open(log, "w"),
                                stdout=subprocess.DEVNULL, env=env)
        self.procs.append((proc, log, name))
        if expect_ready:
            self.t.check("%s is ready on %s" % (name, listen), self._wait_ready(proc, log, name))
        return proc, log

    def stop(self, proc, timeout=15):
        """SIGTERM one process; its exit status (None if it had to be killed)."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return None
        return proc.returncode

    def stop_all(self):
        for proc, log, what in reversed(self.procs):
            rc = self.stop(proc)
            if rc not in (0, 78, 64, -15, None) and what:
                print("# %s exited %s" % (what, rc))


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Client:
    """One browser-like user agent: its session cookie and CSRF token."""

    def __init__(self, port=None, unix=None, tls=None, forwarded_for=None):
        self.port = port
        self.unix = unix
        self.tls = tls                  # an ssl.SSLContext for HTTPS
        self.forwarded_for = forwarded_for
        self.cookie = None
        self.csrf = None
        self.me = None

    def connection(self, timeout=15):
        if self.unix:
            return UnixConnection(self.unix, timeout)
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None, csrf=True, cookie=True):
        """Returns (status, headers dict (lower-case names), parsed JSON or text)."""
        h = {"Accept": "application/json"}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if method == "POST" and csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        if cookie and self.cookie:
            h["Cookie"] = "divert_session=" + self.cookie
        if self.forwarded_for:
            h["X-Forwarded-For"] = self.forwarded_for
        h.update(headers or {})
        c = self.connection()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            text = r.read().decode("utf-8", "replace")
            heads = {}
            for k, v in r.getheaders():
                heads[k.lower()] = (heads[k.lower()] + "\n" + v) if k.lower() in heads else v
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return r.status, heads, parsed
        finally:
            c.close()

    def login(self, name, password):
        status, heads, data = self.request("POST", "/api/login", {"name": name, "password": password})
        if status == 200:
            m = re.search(r"divert_session=([A-Za-z0-9_-]+)", heads.get("set-cookie", ""))
            self.cookie = m.group(1) if m else None
            self.csrf = data.get("csrf")
            self.me = data
        return status, heads, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)


class Stream:
    """An open /api/events stream (a raw socket: select, chunked decoding by
    hand) that collects the events as they come, and sees when it ends."""

    def __init__(self, client):
        conn = client.connection(timeout=5)
        conn.connect()
        self.sock = conn.sock
        request = ("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                   "Cookie: divert_session=%s\r\n\r\n" % (client.cookie or ""))
        self.sock.sendall(request.encode())
        self.raw = b""
        self.body = b""
        self.buffer = b""
        self.events = []
        self.ended = False
        self.status = None
        deadline = time.time() + 5
        while self.status is None and time.time() < deadline and not self.ended:
            self._receive(0.2)

    def _receive(self, seconds):
        import select
        ready, _, _ = select.select([self.sock], [], [], seconds)
        if not ready:
            return
        try:
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.ended = True
            return
        self.raw += data
        if self.status is None and b"\r\n\r\n" in self.raw:
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            self.status = int(head.split(b" ")[1])
        if self.status is not None:
            # chunked: SIZE\r\nDATA\r\n ... 0\r\n\r\n
            while b"\r\n" in self.raw:
                size_line, rest = self.raw.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    self.ended = True
                    self.raw = b""
                    break
                if len(rest) < size + 2:
                    break
                self.buffer += rest[:size]
                self.raw = rest[size + 2:]

    def read(self, seconds):
        """Read for up to `seconds`; returns every event so far as (kind, data)."""
        deadline = time.time() + seconds
        while time.time() < deadline and not self.ended:
            self._receive(min(0.2, max(0.0, deadline - time.time())))
            while b"\n\n" in self.buffer:
                block, self.buffer = self.buffer.split(b"\n\n", 1)
                if block.strip().startswith(b":"):
                    continue
                kind, data = "message", ""
                for line in block.decode().splitlines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                self.events.append((kind, json.loads(data) if data.startswith("{") else data))
        return self.events

    def wait_for(self, predicate, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            for event in self.read(0.3):
                if predicate(event):
                    return event
            if self.ended:
                break
        return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def referral_form(pathway="community", **changes):
    """A complete, valid form body for the partner desk."""
    body = {
        "referral_id": uuid(), "pathway": pathway,
        "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "person": {"first_name": "Jo", "last_name": "Quixote", "dob": "1981-04-02"},
        "area": "downtown", "housing": "unsheltered", "behavioral_health": ["substance_use"],
        "consent": True, "contact": {"worker": "Sam", "callback": "+1-206-555-0100"},
        "notes": "met at the pier",
    }
    if pathway in ("arrest_diversion", "pretrial_diversion"):
        body["offense"] = {"code": "VUCSA-POSS", "description": "possession"}
    body.update(changes)
    return body


def tls_pair(directory):
    """A self-signed certificate for 127.0.0.1 (openssl); (cert, key) paths."""
    cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key
