#!/usr/bin/python3
"""Where the GPU time goes, by kernel, from an Nsight Compute CSV: the output of
`ncu --csv --metrics gpu__time_duration.sum ...` (the details page, one row per kernel launch
and metric). Prints a Markdown table, heaviest kernel first: launches, total and mean
microseconds, and each kernel's share of the total.

    python3 benchmarks/ncu_summary.py profile.csv [--steps N] [--out profile.md]

--steps N divides the totals by the N training steps the profiled launches cover. Columns are
found by their header names, so the column order of ncu's version does not matter; lines ncu
writes before the header (==PROF== messages, the program's own output) are skipped.
"""

import argparse
import csv
import sys

METRIC = "gpu__time_duration.sum"
# Microseconds per unit, as ncu spells the units of a duration.
UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}


def kernel_times(lines):
    """{kernel: [microseconds of each launch]} from the lines of an ncu CSV."""
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        raise ValueError("no CSV header (a line starting with \"ID\") in the profile")
    reader = csv.DictReader(lines[start:])
    for column in ("Kernel Name", "Metric Name", "Metric Unit", "Metric Value"):
        if column not in reader.fieldnames:
            raise ValueError("the profile's header has no \"%s\" column: %s" % (column, reader.fieldnames))
    times = {}
    for row in reader:
        if row["Metric Name"] != METRIC:
            continue
        unit = row["Metric Unit"].strip()
        if unit not in UNITS:
            raise ValueError("unknown unit %r for %s of %s" % (unit, METRIC, row["Kernel Name"]))
        value = float(row["Metric Value"].replace(",", ""))
        times.setdefault(row["Kernel Name"], []).append(value * UNITS[unit])
    if not times:
        raise ValueError("no %s values in the profile" % METRIC)
    return times


def table(times, steps=1):
    """The Markdown table of kernel_times' result, heaviest first, per step when steps > 1."""
    total = sum(sum(v) for v in times.values())
    launches = sum(len(v) for v in times.values())
    per = " per step" if steps > 1 else ""
    out = ["| kernel | launches%s | total us%s | mean us | share |" % (per, per), "| --- | ---: | ---: | ---: | ---: |"]
    for name, values in sorted(times.items(), key=lambda kv: (-sum(kv[1]), kv[0])):
        out.append("| %s | %g | %.1f | %.2f | %.1f%% |" % (name, len(values) / steps, sum(values) / steps,
                                                         sum(values) / len(values), 100.0 * sum(values) / total))
    out.append("| all | %g | %.1f | %.2f | 100%% |" % (launches / steps, total / steps, total / launches))
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", help="ncu's CSV output")
    parser.add_argument("--steps", type=int, default=1, help="training steps the launches cover (default 1)")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1, got %d" % args.steps)
    try:
        with open(args.profile, newline="") as f:
            text = table(kernel_times(f.read().splitlines()), args.steps)
    except (OSError, ValueError) as e:
        print("ncu_summary: %s: %s" % (args.profile, e), file=sys.stderr)
        return 2
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
