#!/usr/bin/env python3
"""flows: turn host flows into sorted canonical lines, for hostflow's tests.

A canonical line is one flow:
    passive 198.51.100.1:80 <- 198.51.100.11:many 5 CLOSE_WAIT=3 ESTABLISHED=2
    active [2001:db8::1]:many -> [2001:db8::11]:8080 2 ESTABLISHED=2
direction, local end, arrow (passive "<-", active "->"), peer end, number of
connections, then the non-zero per-state counts in the kernel's order
(ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT
LAST_ACK CLOSING). IPv6 addresses are bracketed. A flow that carries a process
ends with " process=NAME/PGID", one of a namespace other than the default
(hostflow --netns) with " netns=NAME". Lines are sorted, so two lists compare as
multisets with diff(1).

Subcommands (input on stdin, lines on stdout; exit 0 unless said otherwise,
2 on bad usage):
  json      `hostflow -n --json` output -> canonical lines. Addresses are taken
            as printed (never re-normalized, so a wrong spelling shows up in a
            diff). Anything off the schema becomes an extra line starting with
            "SCHEMA:" (name != addr under -n, a non-string port, states not
            adding up to connections, a zero or unknown state, ...).
  canon     hand-written expected lines -> canonical lines (blank lines and
            lines starting with '#' dropped, blanks collapsed, states sorted).
  kernel EXPECTED_FILE
            `ss -tanH` output (run in the same namespace) -> what the kernel
            holds, grouped by the flows of EXPECTED_FILE: each non-LISTEN
            socket goes to the expected flow whose ends it matches (address
            equal, port equal or "many"); the flows are printed with the
            kernel's counts. A socket matching no flow becomes an
            "UNEXPECTED ..." line, one matching several an "AMBIGUOUS ..."
            line. So the output equals `canon` of EXPECTED_FILE exactly when
            the kernel holds the sockets the test means to have made.
            Directions are not checked here (that is hostflow's job).
  check json|kernel EXPECTED_FILE [--drop REGEX]
            compare `json` or `kernel` of stdin with `canon` of EXPECTED_FILE,
            both as sorted lines; lines matching REGEX are dropped from both
            sides first. Silent with exit 0 when equal; otherwise a unified
            diff (expected -> actual) and exit 1. One process per check:
            python's start-up is the slowest part of a test.
  get KEY...
            a JSON object (e.g. `hostflow --summary --json`) -> "KEY=VALUE"
            per key, VALUE as compact JSON, "KEY=<missing>" when absent.
  dig PATH...
            as get, for nested keys: PATH is KEY/KEY/... (e.g.
            counters/ListenOverflows; "/" because keys hold dots).
  listener ADDR PORT
            `hostflow --listen --json` -> the listener objects whose addr is
            ADDR and port PORT, one per line, as compact JSON with sorted
            keys; the members of "per_socket" sorted by (backlog,
            accept_queue), as their order is the kernel's dump order.
            "<missing>" when there is none, "SCHEMA: ..." when the input is
            not an array of objects.
  table     `hostflow -n` text table (with or without --states, -p) ->
            "columns: NAME|NAME|..." (the header's column names), then the
            rows as canonical lines. Cells are cut at the columns where the
            header's names start, so a figure under the wrong header shows
            up; zero state counts are dropped, as in canonical lines.
"""

import difflib
import ipaddress
import json
import re
import sys

STATES = [
    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "CLOSING",
]

SS_STATES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV",
    "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2",
    "TIME-WAIT": "TIME_WAIT", "UNCONN": "CLOSE", "CLOSE": "CLOSE",
    "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING",
}


def end(addr, port):
    if ":" in addr:
        return "[%s]:%s" % (addr, port)
    return "%s:%s" % (addr, port)


def split_end(text):
    """'[2001:db8::1]:80' or '198.51.100.1:many' -> (addr, port)."""
    addr, _, port = text.rpartition(":")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    return addr, port


def states_text(states):
    return " ".join("%s=%d" % (s, states[s]) for s in STATES if states.get(s))


def line(direction, local, peer, count, states, extra=""):
    arrow = "<-" if direction == "passive" else "->"
    out = "%s %s %s %s %d" % (direction, local, arrow, peer, count)
    st = states_text(states)
    if st:
        out += " " + st
    return out + extra


def from_json(text):
    """hostflow's JSON -> sorted canonical lines, then SCHEMA: lines."""
    out, bad = [], []
    try:
        doc = json.loads(text)
    except ValueError as e:
        return ["SCHEMA: not JSON: %s" % e]
    if not isinstance(doc, list):
        return ["SCHEMA: top level is %s, not an array" % type(doc).__name__]
    for i, f in enumerate(doc):
        where = "flow %d" % i
        if not isinstance(f, dict):
            bad.append("%s is not an object" % where)
            continue
        d = f.get("direction")
        if d not in ("active", "passive"):
            bad.append("%s: direction %r" % (where, d))
        ends = []
        for side in ("local", "peer"):
            e = f.get(side)
            if not isinstance(e, dict):
                bad.append("%s: %s missing" % (where, side))
                ends.append("?")
                continue
            addr, port, name = e.get("addr"), e.get("port"), e.get("name")
            if not isinstance(port, str) or not (port == "many" or port.isdigit()):
                bad.append("%s: %s port %r is not a string of digits or \"many\"" % (where, side, port))
            if name != addr:
                bad.append("%s: %s name %r != addr %r under -n" % (where, side, name, addr))
            ends.append(end(str(addr), str(port)))
        local_many, peer_many = ends[0].endswith(":many"), ends[1].endswith(":many")
        if d == "passive" and (local_many or not peer_many):
            bad.append("%s: passive flow needs a local port and peer port \"many\"" % where)
        if d == "active" and (peer_many or not local_many):
            bad.append("%s: active flow needs local port \"many\" and a peer port" % where)
        n = f.get("connections")
        if not isinstance(n, int) or isinstance(n, bool):
            bad.append("%s: connections %r" % (where, n))
            n = -1
        st = f.get("states")
        if not isinstance(st, dict):
            bad.append("%s: states missing" % where)
            st = {}
        for k, v in st.items():
            if k not in STATES:
                bad.append("%s: unknown state %r" % (where, k))
            elif not isinstance(v, int) or v <= 0:
                bad.append("%s: state %s count %r (zero counts are omitted)" % (where, k, v))
        if sum(v for v in st.values() if isinstance(v, int)) != n:
            bad.append("%s: states add up to %d, connections is %d"
                       % (where, sum(v for v in st.values() if isinstance(v, int)), n))
        extra = ""
        if "process" in f:
            p = f["process"]
            if isinstance(p, dict):
                extra = " process=%s/%s" % (p.get("name"), p.get("pgid"))
            else:
                bad.append("%s: process %r" % (where, p))
        if "netns" in f:
            ns = f["netns"]
            if isinstance(ns, dict) and isinstance(ns.get("name"), str) \
                    and isinstance(ns.get("inode"), int):
                extra += " netns=%s" % ns["name"]
            else:
                bad.append("%s: netns %r" % (where, ns))
        unknown_states = {k: v for k, v in st.items() if k not in STATES}
        text = line(d, ends[0], ends[1], n, st, extra)
        for k, v in unknown_states.items():
            text += " %s=%s" % (k, v)
        out.append(text)
    return sorted(out) + ["SCHEMA: " + b for b in bad]


def parse_line(text):
    """A canonical or hand-written line -> dict, or None for blank/comment."""
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    w = text.split()
    if len(w) < 5 or w[0] not in ("active", "passive") or w[2] not in ("<-", "->"):
        raise ValueError("bad flow line: " + text)
    states, extra = {}, ""
    for tok in w[5:]:
        if tok.startswith("process="):
            extra = " " + tok + extra
            continue
        if tok.startswith("netns="):
            extra += " " + tok
            continue
        k, _, v = tok.partition("=")
        states[k] = states.get(k, 0) + int(v)
    return {
        "dir": w[0], "local": split_end(w[1]), "peer": split_end(w[3]),
        "count": int(w[4]), "states": states, "extra": extra,
    }


def show(f):
    return line(f["dir"], end(*f["local"]), end(*f["peer"]), f["count"],
                f["states"], f["extra"])


def canon(lines):
    """Hand-written flow lines -> sorted canonical lines."""
    return sorted(show(f) for f in map(parse_line, lines) if f)


def plain(addr):
    """Kernel spelling -> the spelling hostflow must print."""
    ip = ipaddress.ip_address(addr.split("%")[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def matches(pat, addr, port):
    return pat[0] == addr and (pat[1] == "many" or pat[1] == port)


def from_kernel(ss_lines, expected):
    """`ss -tanH` lines -> the kernel's sockets grouped by the expected flows."""
    flows = [f for f in map(parse_line, expected) if f]
    got = [{"count": 0, "states": {}} for _ in flows]
    odd = []
    for text in ss_lines:
        w = text.split()
        if len(w) < 5 or w[0] == "LISTEN":
            continue
        state = SS_STATES.get(w[0], w[0])
        la, lp = split_end(w[3])
        pa, pp = split_end(w[4])
        la, pa = plain(la), plain(pa)
        hits = [i for i, f in enumerate(flows)
                if matches(f["local"], la, lp) and matches(f["peer"], pa, pp)]
        desc = "%s %s %s" % (state, end(la, lp), end(pa, pp))
        if not hits:
            odd.append("UNEXPECTED " + desc)
            continue
        if len(hits) > 1:
            odd.append("AMBIGUOUS " + desc)
        g = got[hits[0]]
        g["count"] += 1
        g["states"][state] = g["states"].get(state, 0) + 1
    out = []
    for f, g in zip(flows, got):
        if g["count"]:
            out.append(line(f["dir"], end(*f["local"]), end(*f["peer"]),
                            g["count"], g["states"], f["extra"]))
    return sorted(out) + sorted(odd)


def cmd_get(keys):
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print("not JSON: %s" % e)
        return
    for k in keys:
        if isinstance(doc, dict) and k in doc:
            print("%s=%s" % (k, json.dumps(doc[k], separators=(",", ":"), sort_keys=True)))
        else:
            print("%s=<missing>" % k)


def cmd_check(kind, path, drop):
    with open(path) as fh:
        expected = fh.read().splitlines()
    if kind == "json":
        actual = from_json(sys.stdin.read())
    else:
        actual = from_kernel(sys.stdin, expected)
    expected = canon(expected)
    if drop:
        rx = re.compile(drop)
        expected = [t for t in expected if not rx.search(t)]
        actual = [t for t in actual if not rx.search(t)]
    if expected == actual:
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        [t + "\n" for t in expected], [t + "\n" for t in actual],
        "expected", "actual", n=len(expected) + len(actual)))
    return 1


def usage():
    print(__doc__, file=sys.stderr)
    sys.exit(2)


def main():
    args = sys.argv[1:]
    cmd = args.pop(0) if args else ""
    if cmd == "json" and not args:
        print_lines(from_json(sys.stdin.read()))
    elif cmd == "canon" and not args:
        print_lines(canon(sys.stdin))
    elif cmd == "kernel" and len(args) == 1:
        with open(args[0]) as fh:
            print_lines(from_kernel(sys.stdin, fh.read().splitlines()))
    elif cmd == "check" and len(args) in (2, 4) and args[0] in ("json", "kernel"):
        drop = None
        if len(args) == 4:
            if args[2] != "--drop":
                usage()
            drop = args[3]
        sys.exit(cmd_check(args[0], args[1], drop))
    elif cmd == "get" and args:
        cmd_get(args)
    elif cmd == "dig" and args:
        cmd_dig(args)
    elif cmd == "listener" and len(args) == 2:
        cmd_listener(args[0], args[1])
    elif cmd == "table" and not args:
        print_lines(from_table(sys.stdin.read()))
    else:
        usage()


def print_lines(lines):
    for t in lines:
        print(t)


def cmd_dig(paths):
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print("not JSON: %s" % e)
        return
    missing = object()
    for path in paths:
        v = doc
        for k in path.split("/"):
            v = v.get(k, missing) if isinstance(v, dict) else missing
            if v is missing:
                break
        if v is missing:
            print("%s=<missing>" % path)
        else:
            print("%s=%s" % (path, json.dumps(v, separators=(",", ":"), sort_keys=True)))


def cmd_listener(addr, port):
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        print("SCHEMA: not JSON: %s" % e)
        return
    if not isinstance(doc, list) or not all(isinstance(x, dict) for x in doc):
        print("SCHEMA: not an array of objects")
        return
    found = [x for x in doc if x.get("addr") == addr and str(x.get("port")) == port]
    for x in found:
        per = x.get("per_socket")
        if isinstance(per, list):
            x["per_socket"] = sorted(per, key=lambda m: json.dumps(
                [m.get("backlog") if isinstance(m, dict) else None,
                 m.get("accept_queue") if isinstance(m, dict) else None]))
        print(json.dumps(x, separators=(",", ":"), sort_keys=True))
    if not found:
        print("<missing>")


def from_table(text):
    """`hostflow -n` text table -> "columns: ..." and canonical lines."""
    rows = [r for r in text.splitlines() if r.strip()]
    if not rows:
        return ["SCHEMA: no header"]
    head = rows[0]
    names = re.split(r" {2,}", head.strip())
    starts, pos = [], 0
    for n in names:
        pos = head.index(n, pos)
        starts.append(pos)
        pos += len(n)
    out = ["columns: " + "|".join(names)]
    lines = []
    for r in rows[1:]:
        cells = [r[s:e].strip() for s, e in zip(starts, starts[1:] + [len(r)])]
        cell = dict(zip(names, cells))
        arrow = cell.get("<-->")
        d = {"<--": "passive", "-->": "active"}.get(arrow)
        if d is None:
            lines.append("SCHEMA: arrow %r in row %r" % (arrow, r))
            continue
        states, extra = {}, ""
        for n in names:
            if n in STATES:
                if not cell[n].isdigit():
                    lines.append("SCHEMA: %s cell %r in row %r" % (n, cell[n], r))
                    continue
                states[n] = int(cell[n])
            elif n not in ("Local Address:Port", "<-->", "Peer Address:Port",
                           "Connections", "Process"):
                lines.append("SCHEMA: unknown column %r" % n)
        if cell.get("Process", "-") != "-":
            m = re.fullmatch(r"(.*)\(pgid=(-?\d+)\)", cell["Process"])
            extra = " process=%s/%s" % (m.group(1), m.group(2)) if m else \
                " process=%s" % cell["Process"]
        conns = cell.get("Connections", "")
        if not conns.isdigit():
            lines.append("SCHEMA: connections %r in row %r" % (conns, r))
            continue
        lines.append(line(d, cell["Local Address:Port"], cell["Peer Address:Port"],
                          int(conns), states, extra))
    return out + sorted(t for t in lines if not t.startswith("SCHEMA:")) + \
        [t for t in lines if t.startswith("SCHEMA:")]


if __name__ == "__main__":
    main()
