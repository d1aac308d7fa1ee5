#!/usr/bin/env python3
"""Writes a deterministic JUnit report for the ingestion benchmark.

200,000 testcases by default (about 28 MB, ~140 bytes per case), in suites of
100; every tenth case fails with a short message (case i fails when i % 10 is
9 - SHIFT: SHIFT 1 moves every failure to the test before). Same arguments,
same bytes.

    python3 bench/gen_junit.py OUT.xml [CASES [SHIFT]]
"""
import sys


def main() -> None:
    out = sys.argv[1]
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    failing = 9 - (int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench">\n')
        for s in range(0, cases, 100):
            n = min(100, cases - s)
            suite = f"com.example.service.module{s // 10000:02d}.FeatureSuite{s // 100:05d}"
            f.write(f'<testsuite name="{suite}" tests="{n}" failures="{n // 10}" time="1.000">\n')
            for i in range(s, s + n):
                # Deterministic durations in 0.001 .. 0.997 s.
                t = (i * 7919) % 997 + 1
                head = f'  <testcase classname="{suite}" name="test_{i:06d}_handles_valid_input_correctly" time="0.{t:03d}"'
                if i % 10 == failing:
                    f.write(f'{head}><failure message="expected {i} but was {i + 1}"/></testcase>\n')
                else:
                    f.write(f"{head}/>\n")
            f.write("</testsuite>\n")
        f.write("</testsuites>\n")


if __name__ == "__main__":
    main()
