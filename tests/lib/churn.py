# The connection churn of hostflow's churn tests (tests/e2e/72-churn.sh,
# 74-collectd-churn.sh), run with $HF_PYTHON inside a test namespace:
#   churn.py serve ADDR PORT READY
#       IPv6 listener on [ADDR]:PORT (backlog 4096) that accepts every
#       connection and closes it on EOF; creates the file READY once
#       listening. Runs until killed.
#   churn.py churn TO PORT PREFIX PEERS SECONDS RATE HOLD RESULT
#       for SECONDS, opens RATE connections a second to [TO]:PORT, the
#       n-th bound to PREFIX's address 1 + n % PEERS (PREFIX must be local,
#       e.g. an AnyIP route), holds each HOLD seconds, then closes it (the
#       client keeps the TIME_WAIT); then closes what is left and writes
#       "MADE PEERS_SEEN ELAPSED" to RESULT. A connect that fails is not
#       counted (reported on stderr).
import ipaddress, resource, selectors, socket, sys, time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def serve(addr, port, ready):
    l = socket.socket(socket.AF_INET6)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(4096)
    l.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(l, selectors.EVENT_READ)
    open(ready, "w").close()
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is l:
                while True:
                    try:
                        c, _ = l.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
            else:
                try:
                    data = s.recv(4096)
                except ConnectionError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()

def churn(to, port, prefix, peers, seconds, rate, hold, result):
    base = ipaddress.IPv6Network(prefix).network_address
    pending, made, seen = [], 0, set()
    start = time.monotonic()
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        while pending and pending[0][0] <= now:
            pending.pop(0)[1].close()
        if made >= (now - start) * rate:
            time.sleep(0.0005)
            continue
        peer = str(base + 1 + made % peers)
        s = socket.socket(socket.AF_INET6)
        try:
            s.bind((peer, 0))
            s.settimeout(2)
            s.connect((to, port))
        except OSError as e:
            s.close()
            print("churn: %s: %s" % (peer, e), file=sys.stderr)
            continue
        pending.append((now + hold, s))
        made += 1
        seen.add(peer)
    for _, s in pending:
        s.close()
    with open(result, "w") as f:
        f.write("%d %d %.1f\n" % (made, len(seen), time.monotonic() - start))

if sys.argv[1] == "serve":
    serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
else:
    churn(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6]),
          float(sys.argv[7]), float(sys.argv[8]), sys.argv[9])
