#!/usr/bin/env python3
"""A stand-in for a QEMU node's serial console, as `grappe-build qemu` exposes it: a UNIX socket
(DIR/nodeN.sock) relayed to a terminal where a root shell runs (here: sh on a pty, with a node's
prompt). Like QEMU's chardev server it serves one client at a time, and what the shell prints while
nobody is connected is only logged (DIR/nodeN.log).

Usage: fake_node.py SOCKET   (runs until killed)"""
import os
import pty
import select
import signal
import socket
import sys

sock_path = sys.argv[1]
log = open(os.path.splitext(sock_path)[0] + ".log", "ab", buffering=0)
pid, master = pty.fork()
if pid == 0:
    # Started in the background by a script, we inherit SIGINT ignored: a node's shell has it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    os.environ.update(PS1="root@grappe-node1:~# ", ENV="", HISTFILE="/dev/null")
    os.execvp("sh", ["sh", "-i"])

srv = socket.socket(socket.AF_UNIX)
srv.bind(sock_path)
srv.listen(4)
client = None
while True:
    fds = [srv, master] if client is None else [client, master]
    ready, _, _ = select.select(fds, [], [])
    if srv in ready:
        client, _ = srv.accept()
    if client is not None and client in ready:
        data = client.recv(65536)
        if not data:
            client.close()
            client = None
        else:
            os.write(master, data)
    if master in ready:
        try:
            data = os.read(master, 65536)
        except OSError:
            sys.exit(0)  # the shell exited
        log.write(data)
        if client is not None:
            try:
                client.sendall(data)
            except OSError:
                client.close()
                client = None
