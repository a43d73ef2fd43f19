#!/usr/bin/env python3
"""Drives `grappe-build console --node 1` (no command: attached) through a pseudo-terminal, as a
person at a terminal would, against a node stand-in (fake_node.py): the terminal is raw while
attached, `hostname` runs on the node, Ctrl-C goes to the node's command and not to the console,
Ctrl-] detaches with status 0, and SIGTERM ends a session at once with 143; the terminal's mode
comes back every time.

Usage: pty_attach.py GRAPPE_BUILD DIR EXPECTED_HOSTNAME"""
import os
import pty
import select
import signal
import sys
import termios
import time

build, vm_dir, expected = sys.argv[1:4]


def fail(msg, seen=b""):
    sys.exit("FAIL: %s; the terminal showed: %r" % (msg, seen[-600:]))


def start():
    pid, master = pty.fork()
    if pid == 0:
        os.execv(build, [build, "console", "--dir", vm_dir, "--node", "1", "--timeout", "10"])
    return pid, master


def read_until(master, seen, want, limit=10):
    end = time.time() + limit
    while want not in seen:
        left = end - time.time()
        if left <= 0:
            fail("waited %d s for %r" % (limit, want), seen)
        r, _, _ = select.select([master], [], [], left)
        if r:
            try:
                data = os.read(master, 4096)
            except OSError:
                fail("the console ended while waiting for %r" % want, seen)
            seen += data
    return seen


def wait_exit(pid, limit):
    end = time.time() + limit
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    fail("the console did not end within %.1f s" % limit)


def cooked(master):
    lflag = termios.tcgetattr(master)[3]  # the pty's mode, as its slave side sees it
    return bool(lflag & termios.ICANON) and bool(lflag & termios.ECHO)


# A session: raw while attached, a command, Ctrl-C to the node's command, Ctrl-] detaches.
pid, master = start()
seen = read_until(master, b"", b"Ctrl-] detaches")
if cooked(master):
    fail("the terminal is not in raw mode while attached", seen)
os.write(master, b"hostname\r")
seen = read_until(master, seen, b"hostname\r\n" + expected.encode() + b"\r\n")
os.write(master, b"sleep 30\r")
time.sleep(0.5)
os.write(master, b"\x03")  # Ctrl-C: interrupts the node's sleep, not the console
os.write(master, b"echo after-$((6*7))\r")  # the output differs from the echoed line
seen = read_until(master, seen, b"after-42\r\n", limit=5)
os.write(master, b"\x1d")  # Ctrl-]
seen = read_until(master, seen, b"detached", limit=3)
rc = wait_exit(pid, 3)
if rc != 0:
    fail("detaching exited with %d, want 0" % rc, seen)
if not cooked(master):
    fail("the terminal's mode was not restored after detaching", seen)
os.close(master)
print("ok: attached through a pty: hostname ran, Ctrl-C reached the node, Ctrl-] detached (exit 0)")

# SIGTERM while attached: exits at once with 143, terminal restored.
pid, master = start()
seen = read_until(master, b"", b"Ctrl-] detaches")
t0 = time.time()
os.kill(pid, signal.SIGTERM)
rc = wait_exit(pid, 1.0)
if rc != 143:
    fail("SIGTERM while attached: exit %d, want 143" % rc, seen)
if not cooked(master):
    fail("the terminal's mode was not restored after SIGTERM", seen)
print("ok: SIGTERM while attached: exit 143 after %.2f s, terminal restored" % (time.time() - t0))
