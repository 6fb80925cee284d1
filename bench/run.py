"""`make bench`: every benchmark, one after the other, each printing its table.

    python bench/run.py            # the default sizes (a few minutes each on 2 cores)
    python bench/run.py --large    # adds the 1M-article search benchmark and the 100k web benchmark
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["crawl_bench.py", "search_bench.py", "cli_bench.py", "enrich_bench.py", "web_bench.py",
           "digest_bench.py"]


def main() -> int:
    large = "--large" in sys.argv[1:]
    failed = 0
    for name in BENCHES:
        script = HERE / name
        if not script.exists():
            continue
        print(f"\n## {name}\n", flush=True)
        args = [sys.executable, str(script)] + (["--large"] if large and name in (
            "search_bench.py", "web_bench.py") else [])
        failed += subprocess.run(args).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
