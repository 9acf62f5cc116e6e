"""Run one command; write its wall time and peak memory to a JSON file.

Usage: python -m bench.measure <result.json> <log file> -- <command> [args...]

Peak memory is the largest resident set (RSS) of any process the command ran, as the
kernel reports it for waited-for children (getrusage(RUSAGE_CHILDREN).ru_maxrss): for
`dvc repro`, the biggest stage. A fresh process per measurement, because that figure only
ever grows within one process. Exits with the command's exit code.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def measure(command: list[str], log_file: Path) -> dict:
    start = time.perf_counter()
    with log_file.open("w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"returncode": code, "seconds": seconds, "peak_rss_mb": peak_kib / 1024}  # MiB


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: python -m bench.measure <result.json> <log file> -- <command> [args...]")
    result = measure(sys.argv[4:], Path(sys.argv[2]))
    Path(sys.argv[1]).write_text(json.dumps(result) + "\n")
    sys.exit(result["returncode"])
