#!/usr/bin/env python3
"""report: turn the benchmark's raw measurements into hostflow's tables.

    report.py DIR

reads, in DIR (written by tests/bench/run.sh):
    raw.tsv      size sockets tool run wall_us cpu_us maxrss_kib status
                 (run <= 0: warm-up, not counted)
    tools.tsv    tool kind label note   (kind: once, per:K, tick:K;
                 note: why the tool was not run, "-" when it was)
    machine.txt  the machine description, one "key: value" per line
and writes:
    results.tsv  one line per tool and size: medians, peak RSS, ratios
    table.md     machine, the three tables (CPU, wall, peak RSS), targets
    plot.dat     CPU time against sockets, one gnuplot index per tool
    plot.gp      the gnuplot script that draws plot.png from plot.dat
and prints table.md on stdout. Exit status 1 when a measurement failed.

Times are medians over the runs; peak RSS is the largest over the runs.
Every figure is also given as a ratio to the floor measured in the same run:
a command run once against `floor` (one inet_diag dump), a figure per dump
or per tick against `floor compat 10` divided by 10. CPU time (user +
system, kernel work of the dump included) decides the targets: on a shared
machine wall time also measures the neighbours.
"""

import os
import statistics
import sys

FLOOR, FLOOR_PER = "floor", "floor10"
SMALL, LARGE = 10000, 200000


def read_tsv(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def fmt_ms(us):
    ms = us / 1000.0
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    return "%.2f" % ms


def fmt_ratio(r):
    return "%.2f×" % r if r is not None else "–"


def fmt_n(n):
    return "{:,}".format(n)


class Cell:
    """One tool at one size."""

    def __init__(self):
        self.wall, self.cpu, self.rss, self.bad = [], [], [], []
        self.by_run = {}  # run -> cpu, to pair runs of the same round

    def add(self, run, wall, cpu, rss, status, div):
        if status != "0":
            self.bad.append(status)
            return
        self.wall.append(wall / div)
        self.cpu.append(cpu / div)
        self.rss.append(rss)
        self.by_run[run] = cpu / div

    @property
    def ok(self):
        return self.cpu and not self.bad

    def med(self, what):
        return statistics.median(getattr(self, what)) if self.ok else None

    def peak(self):
        return max(self.rss) if self.ok else None


def main():
    d = sys.argv[1]
    tools = []  # (id, kind, label, note)
    for t in read_tsv(os.path.join(d, "tools.tsv")):
        tools.append(tuple(t))
    kind = {t[0]: t[1] for t in tools}
    label = {t[0]: t[2] for t in tools}
    machine = open(os.path.join(d, "machine.txt")).read().strip().splitlines()

    def divisor(tool):
        k = kind[tool]
        return int(k.split(":")[1]) if ":" in k else 1

    cells, sockets, warmups = {}, {}, set()
    for size, socks, tool, run, wall, cpu, rss, status in read_tsv(os.path.join(d, "raw.tsv")):
        size, run = int(size), int(run)
        sockets[size] = int(socks)
        if run <= 0:
            warmups.add(run)
            continue
        cells.setdefault((tool, size), Cell()).add(
            run, int(wall), int(cpu), int(rss), status, divisor(tool)
        )
    sizes = sorted(sockets)
    runs = max([len(c.cpu) + len(c.bad) for c in cells.values()] or [0])

    def ref(tool):
        return FLOOR_PER if kind[tool].startswith(("per", "tick")) else FLOOR

    def value(tool, size, what):
        c = cells.get((tool, size))
        if c is None or not c.ok:
            return None
        return c.peak() if what == "rss" else c.med(what)

    def ratio(tool, size, what):
        v = value(tool, size, what)
        r = value(FLOOR if what == "rss" else ref(tool), size, what)
        return v / r if v is not None and r else None

    def paired(a, b, size):
        """The median of the CPU ratios a/b of the rounds both were measured in."""
        ca, cb = cells.get((a, size)), cells.get((b, size))
        if not ca or not cb or not ca.ok or not cb.ok:
            return None
        rs = [ca.by_run[r] / cb.by_run[r] for r in ca.by_run if cb.by_run.get(r)]
        return statistics.median(rs) if rs else None

    failed = []
    # ---- results.tsv
    with open(os.path.join(d, "results.tsv"), "w") as f:
        f.write(
            "tool\tsize\tsockets\truns\tcpu_ms\tcpu_x_floor\twall_ms\twall_x_floor\t"
            "peak_rss_kib\trss_x_floor\tstatus\n"
        )
        for tool, k, lab, note in tools:
            for size in sizes:
                c = cells.get((tool, size))
                if note != "-":
                    status = "not run: " + note
                elif c is None:
                    status = "not run"
                elif c.bad:
                    status = "failed: " + ",".join(sorted(set(c.bad)))
                    failed.append("%s at %s sockets: %s" % (lab, fmt_n(sockets[size]), status))
                else:
                    status = "ok"
                vals = []
                for what in ("cpu", "wall", "rss"):
                    v, r = value(tool, size, what), ratio(tool, size, what)
                    if what == "wall" and k.startswith("tick"):
                        v = r = None  # a plugin waits between ticks
                    vals.append("" if v is None else ("%d" % v if what == "rss" else "%.3f" % (v / 1000)))
                    vals.append("" if r is None else "%.3f" % r)
                f.write(
                    "%s\t%d\t%d\t%d\t%s\t%s\n"
                    % (tool, size, sockets[size], len(c.cpu) if c else 0, "\t".join(vals), status)
                )

    # ---- table.md
    out = []
    out.append("# hostflow benchmark")
    out.append("")
    out.extend("- " + m for m in machine)
    out.append(
        "- Sockets held in a network namespace of their own: both ends of each "
        "connection (the server end waiting in an accept queue), 64 flows and 8 "
        "listeners whatever the number of sockets; IPv4 and IPv6."
    )
    out.append(
        "- %s, tools interleaved; peak RSS is the largest of the runs. × floor: against "
        "`floor` (one inet_diag dump, messages counted) for a command run once, against "
        "`floor compat 10` / 10 for a figure per dump or per tick. The targets also give "
        "the median of the ratios taken round by round, which drifts of the machine spare."
        % (
            ("Median of %d runs" % runs if runs > 1 else "One run")
            + (" after %d warm-up round%s" % (len(warmups), "s" if len(warmups) > 1 else "") if warmups else ", no warm-up")
        )
    )
    head = "| | " + " | ".join(fmt_n(sockets[s]) + " sockets" for s in sizes) + " |"
    rule = "|---|" + "---:|" * len(sizes)

    def table(title, what, cellfmt):
        out.append("")
        out.append("## " + title)
        out.append("")
        out.append(head)
        out.append(rule)
        for tool, k, lab, note in tools:
            row = []
            for size in sizes:
                c = cells.get((tool, size))
                if note != "-":
                    row.append("not run: " + note)
                elif c is None:
                    row.append("not run")
                elif c.bad:
                    row.append("failed (%s)" % ",".join(sorted(set(c.bad))))
                elif what == "wall" and k.startswith("tick"):
                    row.append("–")
                else:
                    row.append(cellfmt(value(tool, size, what), ratio(tool, size, what)))
            out.append("| %s | %s |" % (lab.replace("|", "\\|"), " | ".join(row)))

    table(
        "CPU time, ms (user + system; × floor)",
        "cpu",
        lambda v, r: "%s (%s)" % (fmt_ms(v), fmt_ratio(r)),
    )
    table(
        "Wall time, ms (× floor)",
        "wall",
        lambda v, r: "%s (%s)" % (fmt_ms(v), fmt_ratio(r)),
    )
    table(
        "Peak RSS, MiB (× floor)",
        "rss",
        lambda v, r: "%.2f (%s)" % (v / 1024.0, fmt_ratio(r)),
    )

    # ---- targets
    lines = []
    big = LARGE if LARGE in sizes else (sizes[-1] if sizes else None)
    small = SMALL if SMALL in sizes else (sizes[0] if sizes else None)

    def at(size):
        return "%s sockets" % fmt_n(sockets[size])

    def within(tool, limit, name):
        r = ratio(tool, big, "cpu")
        if r is None:
            lines.append("MISS %s: not measured" % name)
            return
        rw = ratio(tool, big, "wall") if not kind[tool].startswith("tick") else None
        rp = paired(tool, ref(tool), big)
        lines.append(
            "%s %s at %s: %.3f× floor (CPU)%s%s, target ≤ %.2f×%s"
            % (
                "PASS" if r <= limit else "MISS",
                name,
                at(big),
                r,
                "" if rw is None else ", %.3f× wall" % rw,
                "" if rp is None else ", %.3f× round by round" % rp,
                limit,
                "" if r <= limit else ", over by %.1f%%" % ((r / limit - 1) * 100),
            )
        )

    def per_size(a, b, name, extra=None):
        parts, ok = [], True
        for size in sizes:
            va, vb = value(a, size, "cpu"), value(b, size, "cpu")
            if va is None or vb is None:
                parts.append("%s: not measured" % fmt_n(sockets[size]))
                ok = False
                continue
            r = va / vb
            ok = ok and r <= 1.0
            s = "%s: %.3f×" % (fmt_n(sockets[size]), r)
            if extra:
                ve = value(extra, size, "cpu")
                s += " (%.2f× %s)" % (va / ve, label[extra]) if ve else ""
            parts.append(s)
        lines.append("%s %s (CPU, ≤ 1.00×): %s" % ("PASS" if ok else "MISS", name, "; ".join(parts)))

    if big is not None:
        within("hostflow", 1.05, "hostflow -n within 1.05× of the floor")
        within("plugin", 1.05, "hostflow.plugin per tick within 1.05× of the floor per dump")
        per_size("cd_hostflow", "cd_tcpconns", "collectd -T with hostflow against tcpconns")
        a, b = value("hostflow", small, "rss"), value("hostflow", big, "rss")
        if a is None or b is None or small == big:
            lines.append("MISS peak RSS of hostflow -n flat with sockets: not measured at two sizes")
        else:
            diff = b - a
            lines.append(
                "%s peak RSS of hostflow -n, %s against %s: %+d KiB (%.2f → %.2f MiB), target within 1024 KiB%s"
                % (
                    "PASS" if abs(diff) <= 1024 else "MISS",
                    at(big),
                    at(small),
                    diff,
                    a / 1024.0,
                    b / 1024.0,
                    "" if abs(diff) <= 1024 else ", over by %d KiB" % (abs(diff) - 1024),
                )
            )
        per_size("proc", "catawk", "hostflow --proc against cat /proc/net/tcp{,6} | awk", "cat")
    out.append("")
    out.append("## Targets")
    out.append("")
    out.extend("    " + l for l in lines)
    if failed:
        out.append("")
        out.append("## Failed measurements")
        out.append("")
        out.extend("- " + l for l in failed)
    text = "\n".join(out) + "\n"
    with open(os.path.join(d, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "targets.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # ---- plot
    plotted = []
    with open(os.path.join(d, "plot.dat"), "w") as f:
        for tool, k, lab, note in tools:
            pts = [(sockets[s], value(tool, s, "cpu")) for s in sizes]
            pts = [(x, y) for x, y in pts if y is not None]
            if not pts:
                continue
            f.write("# %s\n" % lab)
            for x, y in pts:
                f.write("%d %.4f\n" % (x, y / 1000.0))
            f.write("\n\n")
            plotted.append(lab)
    colors = ["#000000", "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628",
              "#f781bf", "#999999", "#66c2a5", "#b8860b"]
    xs = [sockets[s] for s in sizes]
    with open(os.path.join(d, "plot.gp"), "w") as f:
        if xs:
            f.write("set xrange [%d:%d]\n" % (min(xs) / 1.25, max(xs) * 1.25))
        f.write(
            "set terminal pngcairo size 1100,700 noenhanced font ',10'\n"
            "set output '%s'\n"
            "set title 'hostflow benchmark: CPU time per collection, median of %d run(s)'\n"
            "set xlabel 'TCP sockets'\nset ylabel 'CPU time, ms (user + system)'\n"
            "set logscale xy\nset grid\nset key left top\n"
            "set format x '%%.0s%%c'\n"
            % (os.path.join(d, "plot.png"), runs)
        )
        f.write(
            "plot "
            + ", \\\n     ".join(
                "'%s' index %d using 1:2 with linespoints lw %d dt %d lc rgb '%s' title '%s'"
                % (
                    os.path.join(d, "plot.dat"),
                    i,
                    3 if lab.startswith("hostflow") else 1,
                    1 if "hostflow" in lab or lab.startswith("floor") else 2,
                    colors[i % len(colors)],
                    lab.replace("'", "''"),
                )
                for i, lab in enumerate(plotted)
            )
            + "\n"
        )
    sys.stdout.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
