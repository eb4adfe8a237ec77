#!/usr/bin/env python3
"""mkcorpus: write the seed corpora of hostflow's fuzz targets.

Usage: tests/fuzz/mkcorpus.py crafted [DIR]
       tests/fuzz/mkcorpus.py live [DIR [TAG]]
(DIR: default tests/fuzz/corpus; TAG: part of the live files' names, default "ns")

crafted   hand-made inputs, the same on every host: netlink messages with
          every message type and attribute shape the dump loop meets (one
          well formed inet_diag reply per family, a v4-mapped one, V6ONLY
          attributes, NLMSG_ERROR, an acknowledgement, NLMSG_DONE with and
          without an error, NLMSG_NOOP, NLMSG_OVERRUN, a truncated message);
          /proc/net/tcp{,6} lines of every state and the header; option
          lines for every key; a minimal /proc/net/netstat.
live      what the kernel of the current network namespace prints: its
          /proc/net/tcp, tcp6 and netstat, and the raw replies of inet_diag
          dumps (legacy TCPDIAG_GETSOCK and SOCK_DIAG_BY_FAMILY, listeners
          and connections), cut into files of a few messages. Run it inside a
          test namespace with known sockets on documentation addresses
          (198.51.100.0/24, 2001:db8::/32), e.g.
              ip netns exec NS tests/fuzz/mkcorpus.py live

Files are named "crafted-*" or "live-TAG-*"; existing files of the same name are
replaced, others are kept.
"""

import os
import socket
import struct
import sys

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
TCPDIAG_GETSOCK, SOCK_DIAG_BY_FAMILY = 18, 20
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP = 1, 2, 0x300
NETLINK_SOCK_DIAG = 4
INET_DIAG_MEMINFO, INET_DIAG_INFO, INET_DIAG_SHUTDOWN, INET_DIAG_SKV6ONLY = 1, 2, 8, 11
AF_INET, AF_INET6 = 2, 10
ALL_STATES = 0xFFF
LISTEN_ONLY = 1 << 10


def align4(n):
    return (n + 3) & ~3


def nlmsg(mtype, payload, seq=1, flags=NLM_F_MULTI, length=None):
    """One netlink message; @length overrides nlmsg_len (for broken ones)."""
    n = 16 + len(payload)
    hdr = struct.pack("=IHHII", n if length is None else length, mtype, flags, seq, 4242)
    return hdr + payload + b"\0" * (align4(n) - n)


def attr(atype, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, atype) + data + b"\0" * (align4(n) - n)


def diag_msg(family, state, src, sport, dst, dport, inode=1000, rq=0, wq=0, uid=0):
    """struct inet_diag_msg (72 bytes)."""
    def addr(a):
        b = socket.inet_pton(family, a)
        return b + b"\0" * (16 - len(b))
    sock_id = struct.pack("!HH", sport, dport) + addr(src) + addr(dst) + struct.pack("=III", 0, 0, 0)
    return (struct.pack("=BBBB", family, state, 0, 0) + sock_id +
            struct.pack("=IIIII", 0, rq, wq, uid, inode))


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crafted(root):
    d = os.path.join(root, "diag")
    v4 = diag_msg(AF_INET, 1, "198.51.100.1", 80, "198.51.100.11", 40001, rq=0, wq=0)
    lst = diag_msg(AF_INET, 10, "198.51.100.1", 80, "0.0.0.0", 0, rq=3, wq=128)
    v6 = diag_msg(AF_INET6, 1, "2001:db8::1", 443, "2001:db8::11", 40002)
    v6l = diag_msg(AF_INET6, 10, "::", 443, "::", 0, wq=4096)
    mapped = diag_msg(AF_INET6, 1, "::ffff:198.51.100.1", 443, "::ffff:198.51.100.16", 40005)
    done = nlmsg(NLMSG_DONE, struct.pack("=i", 0))
    v6only = attr(INET_DIAG_SKV6ONLY, b"\1")
    write(d, "crafted-v4", nlmsg(SOCK_DIAG_BY_FAMILY, v4) + done)
    write(d, "crafted-v4-listener-compat", nlmsg(TCPDIAG_GETSOCK, lst) + done)
    write(d, "crafted-v6-attrs", nlmsg(SOCK_DIAG_BY_FAMILY, v6 + attr(99, b"\xef\xbe\xad\xde") +
                                       v6only + attr(INET_DIAG_SHUTDOWN, b"\0")) + done)
    write(d, "crafted-v6-listener", nlmsg(SOCK_DIAG_BY_FAMILY, v6l + v6only) + done)
    write(d, "crafted-mapped", nlmsg(SOCK_DIAG_BY_FAMILY, mapped + attr(INET_DIAG_SKV6ONLY, b"\0")))
    write(d, "crafted-v6only-empty", nlmsg(SOCK_DIAG_BY_FAMILY, v6 + attr(INET_DIAG_SKV6ONLY, b"")))
    write(d, "crafted-attr-too-long", nlmsg(SOCK_DIAG_BY_FAMILY, v4 + struct.pack("=HH", 200, 99)))
    write(d, "crafted-short-msg", nlmsg(SOCK_DIAG_BY_FAMILY, v4[:60]))
    write(d, "crafted-unix-family", nlmsg(SOCK_DIAG_BY_FAMILY, b"\1" + v4[1:]) + done)
    write(d, "crafted-other-type", nlmsg(16, v4))
    write(d, "crafted-error-eperm", nlmsg(NLMSG_ERROR, struct.pack("=i", -1) + nlmsg(TCPDIAG_GETSOCK, b"")))
    write(d, "crafted-ack", nlmsg(NLMSG_ERROR, struct.pack("=i", 0) + nlmsg(TCPDIAG_GETSOCK, b"")) + done)
    write(d, "crafted-error-short", nlmsg(NLMSG_ERROR, struct.pack("=i", -1)))
    write(d, "crafted-done-enobufs", nlmsg(NLMSG_DONE, struct.pack("=i", -105)))
    write(d, "crafted-done-empty", nlmsg(NLMSG_DONE, b""))
    write(d, "crafted-noop-then-sock", nlmsg(NLMSG_NOOP, b"") + nlmsg(SOCK_DIAG_BY_FAMILY, v4) + done)
    write(d, "crafted-overrun", nlmsg(NLMSG_OVERRUN, b""))
    write(d, "crafted-foreign-seq", nlmsg(SOCK_DIAG_BY_FAMILY, v4) + nlmsg(SOCK_DIAG_BY_FAMILY, v4, seq=7))
    write(d, "crafted-truncated", (nlmsg(SOCK_DIAG_BY_FAMILY, v4) + done)[:-6])
    write(d, "crafted-len-past-end", nlmsg(SOCK_DIAG_BY_FAMILY, v4, length=4000))

    d = os.path.join(root, "proc")
    hdr4 = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
            "   uid  timeout inode\n")
    hdr6 = ("  sl  local_address                         remote_address                        st"
            " tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
    tail = " 1 0000000000000000 100 0 0 10 0\n"
    lines4 = [
        "   0: 016433C6:0050 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 1001"
        + tail,
        "   1: 016433C6:0050 0B6433C6:9C41 01 00000000:00000000 00:00000000 00000000  1000        0 1002"
        + tail,
        "   2: 0B6433C6:9C42 016433C6:0050 06 00000000:00000000 03:00001770 00000000     0        0 0 3"
        " 0000000000000000\n",
        "   3: 016433C6:0050 0C6433C6:9C43 03 00000000:00000000 02:000003E8 00000002     0        0 0 2"
        " 0000000000000000\n",
        "   4: 0B6433C6:9C44 016433C6:0051 02 00000001:00000000 01:00000064 00000001     0        0 1004"
        + tail,
        "   5: 016433C6:0050 0D6433C6:9C45 08 00000000:00000000 00:00000000 00000000 65534 -1 1005" + tail,
    ]
    lines6 = [
        "   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000  1000        0 1003" + tail,
        "   1: 0000000000000000FFFF0000016433C6:01BB 0000000000000000FFFF0000106433C6:9C45 01"
        " 00000000:00000000 00:00000000 00000000  1000        0 3001" + tail,
        "   2: B80D0120000000000000000001000000:01BB B80D0120000000000000000011000000:9C46 01"
        " 00000000:00000000 00:00000000 00000000     0        0 3002" + tail,
    ]
    write(d, "crafted-tcp", (hdr4 + "".join(lines4)).encode())
    write(d, "crafted-tcp6", (hdr6 + "".join(lines6)).encode())
    for i, l in enumerate(lines4):
        write(d, "crafted-tcp-line%d" % i, l.encode())
    for i, l in enumerate(lines6):
        write(d, "crafted-tcp6-line%d" % i, l.encode())
    write(d, "crafted-cut-after-inode", lines4[1].split(" 1 0000")[0].encode())
    write(d, "crafted-state-0", lines4[1].replace(" 01 ", " 00 ").encode())
    write(d, "crafted-lowercase-hex", lines4[1].lower().encode())
    write(d, "crafted-huge-numbers", lines4[1].replace("  1000 ", " 4294967296 ").encode())

    d = os.path.join(root, "options")
    opts = [
        ("all-keys", "ReportStates=true\nReportListeners=no\nResolveNames=off\nFilter=public\n"
         "IgnoreLoopback=1\nIncludeNet=198.51.100.0/24\nExcludeNet=2001:db8::/32\nIncludePort=80\n"
         "ExcludePort=22\nPeerPrefix4=24\nPeerPrefix6=64\nMaxFlows=20\nBackend=proc\n"
         "ObsoleteAfter=60\nFamily=ipv4\n"),
        ("spellings", "report states=yes\nreport_listeners=false\nMAX-FLOWS=100000\n"
         "peer_prefix6=128\nfamily=6\n"),
        ("duplicate", "MaxFlows=10\nMaxFlows=20\n"),
        ("unknown", "NoSuchKey=1\n"),
        ("bad-number", "MaxFlows=12x\nObsoleteAfter=-1\nPeerPrefix4=33\nIncludePort=0\n"
         "ExcludePort=65536\nMaxFlows=99999999999999999999999\n"),
        ("bad-cidr", "IncludeNet=198.51.100.0/33\nExcludeNet=2001:db8::/129\nIncludeNet=300.1.2.3\n"
         "IncludeNet=::ffff:198.51.100.1/120\nExcludeNet=198.51.100.0/\nIncludeNet=/24\n"),
        ("no-value", "ReportStates\nFilter\nIncludeNet\n"),
        ("many-nets", "".join("IncludeNet=198.51.%d.0/24\n" % i for i in range(66))),
        ("many-ports", "".join("ExcludePort=%d\n" % (i + 1) for i in range(66))),
        ("long-value", "IncludeNet=" + "1" * 200 + "\nFilter=" + "x" * 300 + "\n"),
    ]
    for name, text in opts:
        write(d, "crafted-" + name, text.encode())

    d = os.path.join(root, "netstat")
    write(d, "crafted-minimal", b"TcpExt: ListenOverflows ListenDrops TCPReqQFullDrop "
          b"TCPReqQFullDoCookies SyncookiesSent\nTcpExt: 1 2 3 4 5\n")
    write(d, "crafted-disagree", b"TcpExt: ListenOverflows ListenDrops\nTcpExt: 1\n")
    write(d, "crafted-no-values", b"TcpExt: ListenOverflows\n")
    write(d, "crafted-no-newline", b"TcpExt: ListenDrops SyncookiesSent\nTcpExt: 7 8")
    write(d, "crafted-not-a-number", b"TcpExt: ListenDrops\nTcpExt: 7a\n")
    write(d, "crafted-big", b"TcpExt: ListenDrops\nTcpExt: 99999999999999999999999\n")


def dump(req_type, family, states, ext):
    """The raw replies of one inet_diag dump, as a list of messages (bytes)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        s.bind((0, 0))
        sock_id = b"\0" * 48
        if req_type == TCPDIAG_GETSOCK:
            body = struct.pack("=BBBB", family, 0, 0, ext) + sock_id + struct.pack("=II", states, 0)
        else:
            body = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, ext, 0, states) + sock_id
        s.send(nlmsg(req_type, body, seq=1, flags=NLM_F_REQUEST | NLM_F_DUMP))
        msgs = []
        while True:
            buf = s.recv(65536)
            off = 0
            while off + 16 <= len(buf):
                n, t = struct.unpack_from("=IH", buf, off)
                msgs.append(buf[off:off + align4(n)])
                off += align4(n)
                if t in (NLMSG_DONE, NLMSG_ERROR):
                    return msgs
    finally:
        s.close()


def live(root, tag):
    d = os.path.join(root, "proc")
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/net/" + name, "rb") as f:
                lines = f.read().splitlines(keepends=True)
        except OSError:
            continue
        # the header and a few lines per file, so that each stays well under max_len
        for i in range(0, len(lines), 4):
            write(d, "live-%s-%s-%03d" % (tag, name, i // 4), b"".join(lines[i:i + 4]))
    with open("/proc/net/netstat", "rb") as f:
        write(os.path.join(root, "netstat"), "live-%s-netstat" % tag, f.read())

    d = os.path.join(root, "diag")
    # ext bits ask for more attributes: meminfo, info, vegas, cong, tos, tclass, skmeminfo, shutdown
    for what, rtype, fam, states, ext in (
            ("compat-listen", TCPDIAG_GETSOCK, AF_INET, LISTEN_ONLY, 0),
            ("compat-conn", TCPDIAG_GETSOCK, AF_INET, ALL_STATES & ~LISTEN_ONLY, 0),
            ("v4-all", SOCK_DIAG_BY_FAMILY, AF_INET, ALL_STATES, 0),
            ("v6-all", SOCK_DIAG_BY_FAMILY, AF_INET6, ALL_STATES, 0),
            ("v4-ext", SOCK_DIAG_BY_FAMILY, AF_INET, ALL_STATES, 0x80 | 0x10 | 0x08 | 0x01),
            ("v6-ext", SOCK_DIAG_BY_FAMILY, AF_INET6, ALL_STATES, 0xff)):
        msgs = dump(rtype, fam, states, ext)
        per = 1 if ext & 0x02 else 3  # INET_DIAG_INFO makes each message ~300 bytes
        for i in range(0, len(msgs), per):
            write(d, "live-%s-%s-%03d" % (tag, what, i // per), b"".join(msgs[i:i + per]))


def ct_msg(family, proto, osrc, odst, sport, dport, rsrc, rdst, counters=True, msgtype=0,
           tcp_state=3, seq=1):
    """A ctnetlink entry (IPCTNL_MSG_CT_NEW, or DELETE with msgtype 2)."""
    v4 = family == AF_INET
    def tuple_(t, src, dst, sp, dp):
        ip = attr(1 if v4 else 3, socket.inet_pton(family, src)) + \
             attr(2 if v4 else 4, socket.inet_pton(family, dst))
        pr = attr(1, bytes([proto]))
        if proto in (6, 17):
            pr += attr(2, struct.pack(">H", sp)) + attr(3, struct.pack(">H", dp))
        return attr(0x8000 | t, attr(0x8000 | 1, ip) + attr(0x8000 | 2, pr))
    body = struct.pack("=BBH", family, 0, 0)
    body += tuple_(1, osrc, odst, sport, dport) + tuple_(2, rsrc, rdst, dport, sport)
    if counters:
        for t, (p, b) in ((9, (4, 1216)), (10, (3, 1164))):
            body += attr(0x8000 | t, attr(1, struct.pack(">Q", p)) + attr(2, struct.pack(">Q", b)))
    if proto == 6:
        body += attr(0x8000 | 4, attr(0x8000 | 1, attr(1, bytes([tcp_state]))))
    body += attr(3, struct.pack(">I", 0xe)) + attr(12, struct.pack(">I", 1234)) + \
        attr(8, struct.pack(">I", 0)) + attr(18, struct.pack(">H", 0))
    return nlmsg((1 << 8) | msgtype, body, seq=seq)


def crafted_conntrack(root):
    d = os.path.join(root, "conntrack")
    done = nlmsg(NLMSG_DONE, struct.pack("=i", 0))
    tcp = ct_msg(AF_INET, 6, "198.51.100.2", "198.51.100.1", 40000, 80, "198.51.100.1", "198.51.100.2")
    udp6 = ct_msg(AF_INET6, 17, "2001:db8::2", "2001:db8::1", 5353, 53, "2001:db8::1", "2001:db8::2",
                  counters=False)
    nat = ct_msg(AF_INET, 17, "198.51.100.2", "198.51.100.130", 4000, 53, "198.51.100.130",
                 "198.51.100.129")
    icmp = ct_msg(AF_INET, 1, "198.51.100.3", "198.51.100.1", 0, 0, "198.51.100.1", "198.51.100.3")
    write(d, "crafted-dump", tcp + udp6 + nat + icmp + done)
    write(d, "crafted-destroy-event", ct_msg(AF_INET, 6, "198.51.100.2", "198.51.100.1", 40000, 80,
                                             "198.51.100.1", "198.51.100.2", msgtype=2, seq=0))
    write(d, "crafted-short-counters", tcp[:-40])
    write(d, "crafted-error-eopnotsupp", nlmsg(NLMSG_ERROR, struct.pack("=i", -95) + nlmsg(0x101, b"")))
    write(d, "crafted-proc-lines", open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "../unit/fixtures/conntrack/nf_conntrack"), "rb").read())


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("crafted", "live") or len(args) > (2 if args[0] == "crafted" else 3):
        sys.stderr.write(__doc__)
        sys.exit(2)
    root = args[1] if len(args) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    if args[0] == "crafted":
        crafted(root)
        crafted_conntrack(root)
    else:
        live(root, args[2] if len(args) > 2 else "ns")


if __name__ == "__main__":
    main()
