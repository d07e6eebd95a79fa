#!/bin/sh
# summary.sh COUNTS: add up the per-build counts; the last line is the suite's summary.
awk '{p += $1; f += $2; s += $3} END {
    if (s > 0) printf "%d passed, %d failed, %d skipped\n", p, f, s;
    else printf "%d passed, %d failed\n", p, f;
    exit (f > 0 || NR == 0) }' "$1"
