#!/usr/bin/python3
"""web_systemd — divert-web's side of Type=notify, with a notification
socket of our own as systemd's: READY=1 only once it listens and the
database answered, WATCHDOG=1 at least every half WatchdogSec, STATUS= with
what it is doing, SIGHUP answered RELOADING=1 then READY=1 (the keys are
read again),
SIGTERM answered STOPPING=1 and exit 0. A key added while it runs is used
at once; a key taken away stays in use until SIGHUP (keys are cached).
"""
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True         # nothing written into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import PORT, TMP, Client, Site, Tally, ctl, referral_form  # noqa: E402

t = Tally("web_systemd")
site = Site(t)
WEB = PORT + 2
PW = "pw-clerk-0123456789"


def messages(sock, seconds):
    out = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            out.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return out


def run():
    # divert-web starts without the court's key; it is added while running.
    if not site.setup(sources=(("court", "court", "County Court"),), cms=(("cm-a", "A. Rivera"),),
                      users=(("clerk", "partner:court", PW),), web_sources=()):
        return
    if not site.start_divertd():
        return
    path = os.path.join(TMP, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
    proc, log = site.start_web("web", "127.0.0.1:%d" % WEB, env=env, expect_ready=False)
    got = messages(sock, 8)
    ready = [m for m in got if "READY=1" in m]
    t.check("READY=1 is sent", ready, got)
    with open(log) as f:
        t.check("... once it listens and the database answered", "ready: listening" in f.read())
    t.check("STATUS= says it is serving", any("STATUS=serving on 127.0.0.1:%d; database up" % WEB in m for m in got), got)
    later = messages(sock, 2.2)
    t.check("WATCHDOG=1 at least every half WatchdogSec (1 s here)",
            sum("WATCHDOG=1" in m for m in later) >= 3, later)

    c = Client(WEB)
    t.eq("the clerk logs in", c.login("clerk", PW)[0], 200)
    status, _, data = c.post("/api/partner/referrals", referral_form(pathway="pretrial_diversion"))
    t.eq("without the court's key nothing can be sent (503)", status, 503)
    for suffix in (".cert", ".cert_secret"):
        os.rename(os.path.join(TMP, "court" + suffix), os.path.join(site.keys, "court" + suffix))
    status, _, data = c.post("/api/partner/referrals", referral_form(pathway="pretrial_diversion"))
    t.eq("a key added while it runs is used without a restart", (status, data.get("decision", {}).get("type")),
         (200, "decision"))
    for suffix in (".cert", ".cert_secret"):
        os.rename(os.path.join(site.keys, "court" + suffix), os.path.join(TMP, "court" + suffix))
    status, _, data = c.post("/api/partner/referrals", referral_form(pathway="pretrial_diversion"))
    t.eq("a key taken away is still in use until a reload", status, 200)
    proc.send_signal(signal.SIGHUP)
    got = messages(sock, 2)
    reload_at = [i for i, m in enumerate(got) if "RELOADING=1" in m]
    t.check("SIGHUP: RELOADING=1 with MONOTONIC_USEC", reload_at and "MONOTONIC_USEC=" in got[reload_at[0]], got)
    t.check("... then READY=1", reload_at and any("READY=1" in m for m in got[reload_at[0] + 1:]), got)
    status, _, data = c.post("/api/partner/referrals", referral_form(pathway="pretrial_diversion"))
    t.eq("after the reload the keys are read again: the court's is gone (503)", status, 503)

    proc.send_signal(signal.SIGTERM)
    got = messages(sock, 3)
    t.check("SIGTERM: STOPPING=1", any("STOPPING=1" in m for m in got), got)
    t.eq("... and exit 0", proc.wait(15), 0)
    sock.close()


try:
    run()
finally:
    site.stop_all()
t.end()
