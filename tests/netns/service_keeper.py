#!/usr/bin/env python3
"""A stand-in for systemd's part in keeping jobs alive across restarts of grapped, for hosts with
no systemd (tests/netns/restart.sh). It does what grapped.service asks of systemd, by the same
protocol: it gives grapped a NOTIFY_SOCKET, keeps the descriptors grapped sends with FDSTORE=1 and
FDNAME=, forgets those named by FDSTOREREMOVE=1, restarts grapped whenever it exits (Restart=, with
FileDescriptorStorePreserve=yes: a stop and start keeps the store too) and hands the kept
descriptors to the new grapped as LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID. As a child subreaper it
also reaps the jobs grapped leaves behind, as PID 1 would.

usage: service_keeper.py DIR -- GRAPPED [ARGS...]
  DIR/pid      grapped's current PID (rewritten at each start)
  DIR/starts   how many times grapped was started
  DIR/store    the names of the kept descriptors, one per line (rewritten on each change)
SIGTERM to the keeper stops grapped for good and ends the keeper.
"""
import array
import ctypes
import os
import select
import signal
import socket
import sys
import time


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    d, cmd = sys.argv[1], sys.argv[3:]
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    sock_path = os.path.join(d, "notify")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    store = []  # (name, fd)
    state = {"pid": 0, "starts": 0, "stopping": False}

    def write(name, text):
        with open(os.path.join(d, name + ".tmp"), "w") as f:
            f.write(text)
        os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))

    def start():
        names = ":".join(n for n, _ in store)
        fds = [fd for _, fd in store]
        pid = os.fork()
        if pid == 0:
            high = [os.dup(fd) for fd in fds]  # out of the way of 3.. first
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
            os.closerange(3 + len(high), 4096)
            env = dict(os.environ, NOTIFY_SOCKET=sock_path)
            if fds:
                env.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=names)
            os.execve(cmd[0], cmd, env)
        state["pid"] = pid
        state["starts"] += 1
        write("pid", str(pid))
        write("starts", str(state["starts"]))

    def on_term(*_):
        state["stopping"] = True
        if state["pid"]:
            os.kill(state["pid"], signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    write("store", "")
    start()
    restart_at = None
    while True:
        while True:  # reap: grapped (restart it) and orphaned jobs
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == state["pid"]:
                state["pid"] = 0
                if state["stopping"]:
                    return
                restart_at = time.monotonic() + 0.5  # RestartSec
        if restart_at and time.monotonic() >= restart_at:
            restart_at = None
            start()
        try:
            ready, _, _ = select.select([sock], [], [], 0.1)
        except InterruptedError:
            continue
        if not ready:
            continue
        fds = array.array("i")
        msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(64 * fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        fields = dict(line.split("=", 1) for line in msg.decode(errors="replace").splitlines() if "=" in line)
        name = fields.get("FDNAME", "stored")
        if fields.get("FDSTORE") == "1":
            store.extend((name, fd) for fd in fds)
        else:
            for fd in fds:
                os.close(fd)
        if fields.get("FDSTOREREMOVE") == "1":
            for n, fd in [e for e in store if e[0] == name]:
                os.close(fd)
            store[:] = [e for e in store if e[0] != name]
        write("store", "".join(n + "\n" for n, _ in store))


if __name__ == "__main__":
    main()
