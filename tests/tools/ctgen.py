#!/usr/bin/env python3
"""ctgen: TCP and UDP exchanges of exact sizes, for hostflow's conntrack tests.

Run it inside a test host's namespace:
    ip netns exec NS python3 tests/tools/ctgen.py SUBCOMMAND [options]

echo --addr A --port P [--udp]
    Echo every datagram (UDP) or every byte of every connection (TCP) back.
    Runs until killed; writes --ready FILE once bound.

send --to A --port P [--udp] --count N --size S [--hold] [--src ADDR]
    N exchanges, each from a fresh socket (a fresh source port, so a fresh
    conntrack entry): send S bytes in one datagram (UDP) or one write (TCP,
    TCP_NODELAY), wait for the S bytes echoed. With --hold the sockets stay
    open and the process runs until killed (--ready FILE written when all
    exchanges are done); without it they are closed and the process exits.
    --bind-range LO: UDP source ports LO, LO+1, ... (for many entries fast).
    --no-reply: UDP, send without waiting for an answer.
"""
import argparse
import os
import select
import signal
import socket
import sys


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def ready(path):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("ready\n")
        os.rename(tmp, path)


def echo(a):
    fam = family(a.addr)
    if a.udp:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.addr, a.port))
        ready(a.ready)
        while True:
            data, peer = s.recvfrom(65536)
            s.sendto(data, peer)
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(1024)
    ready(a.ready)
    conns = []
    while True:
        r, _, _ = select.select([ls] + conns, [], [])
        for s in r:
            if s is ls:
                c, _ = ls.accept()
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns.append(c)
                continue
            data = s.recv(65536)
            if not data:
                s.close()
                conns.remove(s)
            else:
                s.sendall(data)


def recv_exact(s, n):
    got = 0
    while got < n:
        d = s.recv(n - got)
        if not d:
            raise SystemExit("ctgen: peer closed early")
        got += len(d)


def send(a):
    fam = family(a.to)
    payload = b"x" * a.size
    held = []
    for i in range(a.count):
        if a.udp:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            if a.bind_range or a.src:
                s.bind((a.src or "", a.bind_range + i if a.bind_range else 0))
            s.settimeout(5)
            try:
                s.sendto(payload, (a.to, a.port))
            except PermissionError:
                if not a.no_reply:
                    raise
                # a full conntrack table drops the packet at output (EPERM)
            if a.no_reply:
                held.append(s)  # a fresh source port each time: keep it bound
                continue
            data, _ = s.recvfrom(65536)
            if len(data) != a.size:
                raise SystemExit("ctgen: short echo")
        else:
            s = socket.socket(fam, socket.SOCK_STREAM)
            if a.src:
                s.bind((a.src, 0))
            s.settimeout(5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.connect((a.to, a.port))
            if a.size:
                s.sendall(payload)
                recv_exact(s, a.size)
        if a.hold:
            held.append(s)
        else:
            s.close()
    ready(a.ready)
    if a.hold:
        signal.pause()


def main():
    p = argparse.ArgumentParser(prog="ctgen")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--addr", required=True)
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--udp", action="store_true")
    e.add_argument("--ready")
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--udp", action="store_true")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--size", type=int, default=100)
    s.add_argument("--hold", action="store_true")
    s.add_argument("--src")
    s.add_argument("--bind-range", type=int, default=0)
    s.add_argument("--no-reply", action="store_true")
    s.add_argument("--ready")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    echo(a) if a.cmd == "echo" else send(a)


if __name__ == "__main__":
    main()
