#!/usr/bin/env python3
"""The Python baseline for bench/ingest.sh: junitparser (with lxml) parses
the report and walks every test case, reading its result and time.

    python bench/junitparser_walk.py REPORT.xml [RUNS]

Prints the best of RUNS (default 3) and `RESULT junitparser <seconds> <testcases>`.
"""
import sys
import time

from junitparser import JUnitXml, TestSuite
from lxml import etree


def parse(path):
    # lxml, explicitly; huge_tree so a big report is not refused.
    return etree.parse(path, etree.XMLParser(huge_tree=True))


def walk(path):
    xml = JUnitXml.fromfile(path, parse_func=parse)
    cases = failed = 0
    total = 0.0
    suites = [xml] if isinstance(xml, TestSuite) else xml
    for suite in suites:
        for case in suite:
            cases += 1
            if case.result:
                failed += 1
            total += case.time or 0.0
    return cases, failed, total


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        cases, failed, total = walk(path)
        best = min(best, time.perf_counter() - started)
    print(f"junitparser: {cases} testcases ({failed} not passed, {total:.1f} s of tests), "
          f"best of {runs}: {best * 1000:.1f} ms, {cases / best:.0f} testcases/s")
    print(f"RESULT junitparser {best:.6f} {cases}")


if __name__ == "__main__":
    main()
