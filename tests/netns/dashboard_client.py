#!/usr/bin/env python3
"""What a browser does with a node's dashboard, over plain HTTP (tests/netns/dashboard.sh).

dashboard_client.py HOST CHECK [ARG]; CHECK is one of:
  state NODE      prints NODE's state in the dashboard's cluster map ("none" if absent)
  page            the page, its script and style, the CSP, no path outside the assets
  history NODE    NODE's load history gains points
  events          the event stream sends the state at once, then at least once a second
  refused         an action without a session, and a made-up token, are refused
  session TOKEN   the token gives a session once; an action needs its CSRF header; block acts
  watch N SECONDS (ci/bench-dashboard) N browsers watch the event stream; prints the fewest
                  states any of them got
  dead_at NODE S  (ci/bench-dashboard) watches the stream until NODE shows dead; prints the time
Exits non-zero with the reason on a failed check.
"""
import http.client
import json
import sys
import time

HOST = sys.argv[1]


def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(HOST, 7480, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, dict(r.getheaders()), r.read()


def post(path, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return req("POST", path, json.dumps(body), h)


def check(cond, why):
    if not cond:
        sys.exit("dashboard check failed: %s" % why)


def state(node):
    _, _, b = req("GET", "/api/state")
    print({n["name"]: n["state"] for n in json.loads(b)["nodes"]}.get(node, "none"))


def page():
    s, h, b = req("GET", "/")
    check(s == 200 and b"<title>Grappe cluster</title>" in b, "GET / gave %s %r" % (s, b[:80]))
    check("default-src 'self'" in h.get("Content-Security-Policy", ""), "no CSP: %s" % h)
    for a in ("/assets/app.js", "/assets/style.css"):
        s, _, b = req("GET", a)
        check(s == 200 and len(b) > 500, "%s gave %s" % (a, s))
    check(req("GET", "/assets/../../etc/passwd")[0] == 404, "a path outside the assets was served")


def history(node):
    count = lambda: len(json.loads(req("GET", "/api/history?since=0")[2])["nodes"].get(node, {}).get("t", []))
    n0 = count()
    time.sleep(3)
    n1 = count()
    check(n1 >= n0 + 2, "%s's history went from %d to %d points in 3 s" % (node, n0, n1))
    print("%s's load history gained %d points in 3 s" % (node, n1 - n0))


def events():
    c = http.client.HTTPConnection(HOST, 7480, timeout=10)
    c.request("GET", "/api/events")
    r = c.getresponse()
    check(r.status == 200 and r.getheader("Content-Type", "").startswith("text/event-stream"), "GET /api/events: %s" % r.status)
    t0, got = time.time(), b""
    while time.time() - t0 < 3.2:
        got += r.read1(65536)
    states = got.count(b"event: state\n")
    check(states >= 3, "%d states in 3 s" % states)
    print("the event stream sent %d states in 3 s" % states)


def refused():
    s, _, b = post("/api/action", {"action": "block"})
    check(s == 403, "an action without a session gave %s %r" % (s, b))
    s, _, b = post("/api/session", {"token": "0" * 64})
    check(s == 403, "a made-up token gave %s %r" % (s, b))


def session(token):
    s, h, b = post("/api/session", {"token": token})
    check(s == 200, "the token gave %s %r" % (s, b))
    cookie = h["Set-Cookie"].split(";")[0]
    csrf = json.loads(b)["csrf"]
    check(post("/api/session", {"token": token})[0] == 403, "the token worked twice")
    check(post("/api/action", {"action": "block"}, {"Cookie": cookie})[0] == 403, "an action without the CSRF header was let in")
    s, _, b = post("/api/action", {"action": "block"}, {"Cookie": cookie, "X-Grappe-CSRF": csrf})
    check(s == 200, "block with the session gave %s %r" % (s, b))


def stream():
    c = http.client.HTTPConnection(HOST, 7480, timeout=30)
    c.request("GET", "/api/events")
    r = c.getresponse()
    check(r.status == 200, "GET /api/events: %s" % r.status)
    return r


def watch(n, seconds):
    import threading
    counts = []

    def one():
        r, got, t0 = stream(), b"", time.time()
        while time.time() - t0 < float(seconds):
            got += r.read1(65536)
        counts.append(got.count(b"event: state\n"))

    threads = [threading.Thread(target=one) for _ in range(int(n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(len(counts) == int(n), "only %d of %s watchers ended" % (len(counts), n))
    print(min(counts))


def dead_at(node, seconds):
    r, buf, t0, last = stream(), b"", time.time(), "no state"
    while time.time() - t0 < float(seconds):
        buf += r.read1(65536)
        while b"\n\n" in buf:
            frame, buf = buf.split(b"\n\n", 1)
            if not frame.startswith(b"event: state\ndata: "):
                continue
            nodes = json.loads(frame.split(b"data: ", 1)[1])["nodes"]
            last = ", ".join("%s %s" % (n["name"], n["state"]) for n in nodes)
            if any(n["name"] == node and n["state"] == "dead" for n in nodes):
                print("%.3f" % time.time())
                return
    sys.exit("%s not dead on the stream within %s s (last state: %s)" % (node, seconds, last))


CHECKS = {"watch": watch, "dead_at": dead_at, "state": state, "page": page, "history": history, "events": events, "refused": refused, "session": session}
if __name__ == "__main__":
    CHECKS[sys.argv[2]](*sys.argv[3:])
