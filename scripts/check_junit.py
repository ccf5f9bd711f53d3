"""Checks a pytest JUnit report: every test passed, none skipped, and as many as expected.

usage: python scripts/check_junit.py REPORT.xml (--expect-passed N | --min-passed N)

Prints one line, "N passed, N failed, N skipped", and exits 1 when the report falls short. A
deselected test never reaches the report, so --expect-passed also catches tests that were
deselected or not collected.
"""

import argparse
import sys
import xml.etree.ElementTree as ElementTree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    wanted = parser.add_mutually_exclusive_group(required=True)
    wanted.add_argument("--expect-passed", type=int, help="exactly this many tests must pass")
    wanted.add_argument("--min-passed", type=int, help="at least this many tests must pass")
    arguments = parser.parse_args()

    try:
        root = ElementTree.parse(arguments.report).getroot()
    except (OSError, ElementTree.ParseError) as error:
        print(f"no usable JUnit report: {error}")
        return 1

    passed, failed, skipped = [], [], []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped.append(name)
        else:
            passed.append(name)

    print(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    problems = [f"failed: {name}" for name in failed] + [f"skipped: {name}" for name in skipped]
    if arguments.expect_passed is not None and len(passed) != arguments.expect_passed:
        problems.append(f"expected exactly {arguments.expect_passed} passed tests, got {len(passed)}")
    if arguments.min_passed is not None and len(passed) < arguments.min_passed:
        problems.append(f"expected at least {arguments.min_passed} passed tests, got {len(passed)}")
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
