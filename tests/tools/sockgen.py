#!/usr/bin/env python3
"""sockgen: open TCP sockets with known counts and hold them, for hostflow's tests.

Run it inside a test host's namespace:
    ip netns exec NS python3 tests/tools/sockgen.py SUBCOMMAND [options]

One process, one thread, no thread per connection: listeners, handshakes
under way and the control channel are watched with selectors.
The soft RLIMIT_NOFILE is raised to the hard limit at start, so one process
can hold many thousands of sockets.

listen --addr A --port PORTS [options]
    Bind and listen on A (IPv4, or IPv6 when A contains ':') for each port in
    PORTS ("80", "80,81", "8000-8009"). SO_REUSEADDR is always set.
      --backlog N     listen(2) backlog (default 128)
      --reuseport     set SO_REUSEPORT (several processes may share a port)
      --v6only        IPV6_V6ONLY=1 on an IPv6 listener
      --dualstack     IPV6_V6ONLY=0 on an IPv6 listener (also takes IPv4)
                      (neither: the namespace's net.ipv6.bindv6only decides)
      --no-accept     never call accept(2): connections wait in the accept
                      queue, which fills up at backlog+1
      --defer-accept S
                      TCP_DEFER_ACCEPT S seconds: a handshake whose client
                      sends no data stays a request socket (SYN_RECV) on
                      this side (about 63 s for S >= 64) while the client
                      is ESTABLISHED
      --on-eof hold|close
                      what to do with an accepted socket once the peer has
                      closed its side: hold it (default; it stays in
                      CLOSE_WAIT) or close it at once (the peer ends in
                      TIME_WAIT). Data from the peer is never read with hold.
    Accepted sockets are held open until told otherwise.

connect --to A --port P [options]
    Open connections to A:P (IPv4, or IPv6 when A contains ':') and hold them.
      --count N       number of connections (default 1)
      --src ADDR      bind the source address first
      --sport P       bind source ports P, P+1, ..., P+N-1 (SO_REUSEADDR set)
    Connections are made non-blocking, at most --window handshakes at a time;
    ready means every handshake completed (the client side is ESTABLISHED).
    Any failure (refused, unreachable, timed out) ends the process: exit 1.
      --window N      handshakes under way at once (default 256)
      --timeout S     give up on a handshake after S seconds (default 10)
      --nowait        do not wait for handshakes at all: ready once every
                      connect(2) is issued (lets sockets stay in SYN_SENT)
      --close         close every connection once all are connected (the
                      socket goes on through FIN_WAIT*/TIME_WAIT in the kernel)

Common options:
      --ready FILE    written (atomically: temp file + rename) once every
                      socket is in place; holds "pid=PID"
      --status FILE   rewritten atomically after every change; one line of
                      key=value pairs:
                        listen:  listeners=L accepted=A open=O
                        connect: connected=C open=O
                      (open = sockets this process still holds; with
                      --nowait, connected counts connect(2) calls issued)
      --pgrp          put the process in a process group of its own
                      (its pgid is then its pid)
      --keep-on-parent-exit
                      by default the process ends when its parent dies
                      (PR_SET_PDEATHSIG), so a killed test leaves no holder
                      behind; this turns that off

Signals, once ready:
    SIGTERM, SIGINT  close everything and exit 0, quietly
    SIGUSR1          listen: close the listening sockets, keep the accepted
                     ones (a listener gone while its connections live on;
                     any still in the accept queue are reset by the kernel,
                     so wait for the status to show them accepted first)
    SIGUSR2          listen: close every accepted socket
                     connect: close every connection
Each action is visible in the status file once done.

Exit status: 0 after SIGTERM/SIGINT; 1 on a socket error (message on
stderr): any error before ready, and a failing accept(2) (e.g. out of file
descriptors) after; 2 on bad usage.
"""

import argparse
import ctypes
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
PR_SET_PDEATHSIG = 1


def die(msg):
    print("sockgen: " + msg, file=sys.stderr)
    sys.exit(1)


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def parse_ports(spec):
    ports = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        lo = int(lo)
        hi = int(hi) if hi else lo
        if not (0 < lo <= hi < 65536):
            raise ValueError("bad port range " + part)
        ports.extend(range(lo, hi + 1))
    return ports


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:
        sys.exit(0)


class Control:
    """Signals delivered through a socketpair, so the selector wakes up."""

    def __init__(self, sel):
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        signal.set_wakeup_fd(self.wsock.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, lambda *_: None)
        sel.register(self.rsock, selectors.EVENT_READ, None)

    def signals(self):
        try:
            data = self.rsock.recv(512)
        except BlockingIOError:
            return []
        return list(data)


class Status:
    def __init__(self, path):
        self.path = path
        self.last = None

    def write(self, **kv):
        if not self.path:
            return
        text = " ".join("%s=%d" % (k, v) for k, v in kv.items()) + "\n"
        if text != self.last:
            write_atomic(self.path, text)
            self.last = text


def open_listener(addr, port, a):
    fam = family_of(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if fam == socket.AF_INET6 and a.v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, a.v6only)
    if a.defer_accept:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, a.defer_accept)
    s.bind((addr, port))
    s.listen(a.backlog)
    s.setblocking(False)
    return s


def cmd_listen(a):
    try:
        ports = parse_ports(a.port)
    except ValueError as e:
        print("sockgen: %s" % e, file=sys.stderr)
        sys.exit(2)
    sel = selectors.DefaultSelector()
    ctl = Control(sel)
    status = Status(a.status)
    listeners = []
    for port in ports:
        try:
            listeners.append(open_listener(a.addr, port, a))
        except OSError as e:
            die("listen %s port %d: %s" % (a.addr, port, e))
    if not a.no_accept:
        for s in listeners:
            sel.register(s, selectors.EVENT_READ, "listener")
    accepted = set()
    n_accepted = 0

    def report():
        status.write(listeners=len(listeners), accepted=n_accepted, open=len(accepted))

    report()
    if a.ready:
        write_atomic(a.ready, "pid=%d\n" % os.getpid())
    while True:
        for key, _ in sel.select():
            if key.data is None:
                for sig in ctl.signals():
                    if sig in (signal.SIGTERM, signal.SIGINT):
                        sys.exit(0)
                    if sig == signal.SIGUSR1:
                        for s in listeners:
                            if not a.no_accept:
                                sel.unregister(s)
                            s.close()
                        listeners = []
                    elif sig == signal.SIGUSR2:
                        for c in accepted:
                            if a.on_eof == "close":
                                sel.unregister(c)
                            c.close()
                        accepted.clear()
            elif key.fileobj.fileno() < 0:
                continue  # closed by a signal handled earlier in this batch
            elif key.data == "listener":
                while True:
                    try:
                        c, _ = key.fileobj.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        if e.errno in (errno.ECONNABORTED, errno.EPROTO):
                            continue
                        die("accept on %s port %d: %s"
                            % (a.addr, key.fileobj.getsockname()[1], e))
                    n_accepted += 1
                    accepted.add(c)
                    if a.on_eof == "close":
                        c.setblocking(False)
                        sel.register(c, selectors.EVENT_READ, "conn")
            else:
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(c)
                    accepted.discard(c)
                    c.close()
        report()


def cmd_connect(a):
    fam = family_of(a.to)
    if a.src and family_of(a.src) != fam:
        print("sockgen: --src and --to are of different families", file=sys.stderr)
        sys.exit(2)
    if a.sport and a.sport + a.count - 1 > 65535:
        print("sockgen: --sport range goes past 65535", file=sys.stderr)
        sys.exit(2)
    sel = selectors.DefaultSelector()
    ctl = Control(sel)
    status = Status(a.status)
    wildcard = "::" if fam == socket.AF_INET6 else "0.0.0.0"
    conns = []
    pending = {}  # socket -> (index, deadline), handshakes under way

    def fail(i, err):
        die("connect %d/%d to %s port %d: %s" % (i + 1, a.count, a.to, a.port, err))

    def start(i):
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            if a.src or a.sport:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if not a.sport:
                    # defer the port choice to connect(): then only the
                    # 4-tuple must be unique, not (address, port)
                    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((a.src or wildcard, a.sport + i if a.sport else 0))
            err = s.connect_ex((a.to, a.port))
        except OSError as e:
            fail(i, e)
        if err == 0 or (err == errno.EINPROGRESS and a.nowait):
            conns.append(s)
        elif err == errno.EINPROGRESS:
            pending[s] = (i, time.monotonic() + a.timeout)
            sel.register(s, selectors.EVENT_WRITE, "conn")
        else:
            fail(i, os.strerror(err))

    def on_signals(closing):
        for sig in ctl.signals():
            if sig in (signal.SIGTERM, signal.SIGINT):
                sys.exit(0)
            if sig == signal.SIGUSR2 and closing:
                for s in conns:
                    s.close()
                conns.clear()

    nxt = 0
    while nxt < a.count or pending:
        while nxt < a.count and len(pending) < a.window:
            start(nxt)
            nxt += 1
        if not pending:
            continue
        for key, _ in sel.select(timeout=0.5):
            if key.data is None:
                on_signals(False)
                continue
            s = key.fileobj
            i, _ = pending.pop(s)
            sel.unregister(s)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                fail(i, os.strerror(err))
            conns.append(s)
        now = time.monotonic()
        for i, deadline in pending.values():
            if now > deadline:
                fail(i, "timed out after %g s" % a.timeout)
    connected = len(conns)
    if a.close:
        for s in conns:
            s.close()
        conns.clear()
    status.write(connected=connected, open=len(conns))
    if a.ready:
        write_atomic(a.ready, "pid=%d\n" % os.getpid())
    while True:
        for _ in sel.select():
            on_signals(True)
        status.write(connected=connected, open=len(conns))


def main():
    p = argparse.ArgumentParser(prog="sockgen", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--ready", metavar="FILE")
        sp.add_argument("--status", metavar="FILE")
        sp.add_argument("--pgrp", action="store_true")
        sp.add_argument("--keep-on-parent-exit", action="store_true")

    lp = sub.add_parser("listen")
    lp.add_argument("--addr", required=True)
    lp.add_argument("--port", required=True)
    lp.add_argument("--backlog", type=int, default=128)
    lp.add_argument("--reuseport", action="store_true")
    g = lp.add_mutually_exclusive_group()
    g.add_argument("--v6only", dest="v6only", action="store_const", const=1)
    g.add_argument("--dualstack", dest="v6only", action="store_const", const=0)
    lp.add_argument("--no-accept", action="store_true")
    lp.add_argument("--defer-accept", type=int, default=0, metavar="S")
    lp.add_argument("--on-eof", choices=("hold", "close"), default="hold")
    common(lp)

    cp = sub.add_parser("connect")
    cp.add_argument("--to", required=True)
    cp.add_argument("--port", type=int, required=True)
    cp.add_argument("--count", type=int, default=1)
    cp.add_argument("--src")
    cp.add_argument("--sport", type=int, default=0)
    cp.add_argument("--nowait", action="store_true")
    cp.add_argument("--close", action="store_true")
    cp.add_argument("--timeout", type=float, default=10.0)
    cp.add_argument("--window", type=int, default=256)
    common(cp)

    a = p.parse_args()
    if a.pgrp:
        os.setpgid(0, 0)
    if not a.keep_on_parent_exit:
        die_with_parent()
    raise_nofile()
    try:
        if a.cmd == "listen":
            cmd_listen(a)
        else:
            cmd_connect(a)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
