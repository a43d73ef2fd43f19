#!/usr/bin/env python3
# The client side of tests/netns/api.sh, run as an unprivileged user: malformed requests for every
# field of every command of grapped's local API, a 2 MiB line, binary junk, invalid UTF-8, a half
# line, then 200 connections held at once (with a flood of over-long lines beside them) while the
# shell checks that root is still served. Usage: api_abuse.py SOCKET SIGNAL_DIR
import json, os, socket, sys, threading, time

SOCK, DIR = sys.argv[1], sys.argv[2]
failures = []


def connect():
    """A connection; a full listen backlog (EAGAIN) is waited out for up to 2 s."""
    for attempt in range(200):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(SOCK)
            return s
        except BlockingIOError:
            s.close()
            if attempt == 199:
                raise
            time.sleep(0.01)


def exchange(raw):
    """Sends raw bytes, returns the reply line as parsed JSON (None when the daemon sent nothing)."""
    s = connect()
    try:
        s.sendall(raw)
    except OSError:  # the daemon stopped reading (a line over 1 MiB): its answer is still queued
        pass
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    return json.loads(data) if data.strip() else None


def expect_error(what, raw, *needles):
    r = exchange(raw)
    if not isinstance(r, dict) or r.get("ok") is not False or r.get("v") != 1 or not isinstance(r.get("error"), str):
        failures.append(f"{what}: not an error reply: {r!r}")
        return
    for n in needles:
        if n not in r["error"]:
            failures.append(f"{what}: error {r['error']!r} does not name {n!r}")


GOOD = {
    "nodes": {}, "status": {}, "ps": {}, "eof": {},
    "run": {"argv": ["true"]}, "kill": {"job": "1.1"}, "stdin": {"data": "eA=="}, "signal": {"sig": 2},
    "node": {"op": "show"}, "boot-server": {}, "migrate": {"job": "1.1", "to": "2"},
}
FIELDS = {
    "run": {"argv": [1, "ls", [], ["ls", 2], {"a": 1}], "env": ["X=1", [{"X": 1}], 5], "cwd": [5, "relative", ["/"]],
            "node": ["2", -1, 1.5, 70000, [1]], "stdin": ["yes", 1], "stay": [1, "no"], "detach": ["no", []],
            "tty_out": [[True], 0], "tty_err": [{}, "x"]},
    "ps": {"all": ["yes", 1, [True]]},
    "kill": {"job": [11, ["1.1"], {}], "sig": ["TERM", 0, 100000, 2.5, [15]]},
    "stdin": {"data": [1, "!!!not base64", ["eA=="]]},
    "signal": {"sig": ["INT", -3, 1e300, {}]},
    "node": {"op": [1, ["show"], {}], "value": [900, [], True]},
    "boot-server": {"op": [True, 1, ["enable"]]},
    "migrate": {"job": [1, [], {}], "to": [2, ["2"]], "precopy": ["yes", 1]},
}


def line(obj):
    return (json.dumps(obj) + "\n").encode()


def corpus():
    n = 0
    for cmd, fields in FIELDS.items():
        for field, values in fields.items():
            for v in values:
                req = {"v": 1, "cmd": cmd, **GOOD[cmd], field: v}
                expect_error(f"{cmd}.{field}={v!r}", line(req), f'"{field}"')
                n += 1
        for field in [f for f in GOOD[cmd]]:
            req = {"v": 1, "cmd": cmd, **GOOD[cmd]}
            del req[field]
            expect_error(f"{cmd} without {field}", line(req), f'"{field}"', "missing")
            n += 1
    for cmd in GOOD:  # the envelope: v of every wrong type, cmd of every wrong type
        for v in ["1", None, [1], {}, 1.5, 2, True]:
            expect_error(f"{cmd} v={v!r}", line({"v": v, "cmd": cmd, **GOOD[cmd]}), "v")
            n += 1
    for c in [1, None, [], {}, True, 1.5]:
        expect_error(f"cmd={c!r}", line({"v": 1, "cmd": c}), '"cmd"')
        n += 1
    expect_error("the old crash", b'{"cmd":1}\n', '"v"')
    expect_error("unknown command", line({"v": 1, "cmd": "reboot"}), "unknown command")
    for junk in [b"[1,2]", b"null", b"42", b'"nodes"', b"not json", b"{", b""]:
        expect_error(f"not an object {junk!r}", junk + b"\n", "JSON object")
    expect_error("invalid UTF-8", b'{"v":1,"cmd":"n\xffodes"}\n', "UTF-8")
    expect_error("binary junk", bytes(range(256)) * 4 + b"\n", "UTF-8")
    expect_error("a NUL byte", b'{"v":1,\x00"cmd":"nodes"}\n', "UTF-8")
    expect_error("a 2 MiB line", b"x" * (2 << 20) + b"\n", "1 MiB")
    expect_error("a 2 MiB line without newline", b"{" + b" " * (2 << 20), "1 MiB")
    s = connect()  # half a line, then gone
    s.sendall(b'{"v":1,"cmd":"no')
    s.close()
    return n + 18


def flood(stop, counts):
    while not stop.is_set():
        try:
            r = exchange(b"y" * (3 << 20))
            counts["flood"] += 1 if r and r.get("ok") is False else 0
        except OSError:
            counts["flood_refused"] += 1
            time.sleep(0.05)


def hold():
    stop, counts = threading.Event(), {"flood": 0, "flood_refused": 0}
    t = threading.Thread(target=flood, args=(stop, counts))
    t.start()
    held = []
    for _ in range(200):
        try:
            held.append(connect())
        except OSError as e:
            failures.append(f"connect {len(held)}: {e}")
            break
    time.sleep(0.5)
    admitted = 0
    for s in held:
        s.setblocking(False)
        try:
            data = s.recv(4096)
            if data and b"per user" not in data and b"for root" not in data and b"limit" not in data:
                failures.append(f"refusal without reason: {data!r}")
        except BlockingIOError:
            admitted += 1
    open(os.path.join(DIR, "holding"), "w").close()
    deadline = time.time() + 4
    while not os.path.exists(os.path.join(DIR, "release")) and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join()
    for s in held:
        s.close()
    if admitted > 16:
        failures.append(f"{admitted} of 200 connections admitted for one user (at most 16)")
    return admitted, counts["flood"]


sent = corpus()
admitted, floods = hold()
print(f"api_abuse: {sent} malformed requests answered with errors; 200 connections held, {admitted} admitted; "
      f"{floods} over-long lines refused")
for f in failures:
    print("FAIL:", f, file=sys.stderr)
sys.exit(1 if failures else 0)
