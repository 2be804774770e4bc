"""How long `lifeboat` takes before it does anything: `--help`, `--version`, and a command's
own `--help` (which loads that command's module), each run N times as a fresh process,
side by side with the interpreter's own floor (`python -c pass`). Prints medians and the
ratio over the floor last. The agent pays this for every job it starts.

    python bench/bench_startup.py --runs 10
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "lifeboat --help": [sys.executable, "-m", "mongo_lifeboat", "--help"],
    "lifeboat --version": [sys.executable, "-m", "mongo_lifeboat", "--version"],
    "lifeboat backup --help": [sys.executable, "-m", "mongo_lifeboat", "backup", "--help"],
}


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved, so a busy moment hits every case alike
        for name, argv in CASES.items():
            samples[name].append(timed(argv))
    floor = statistics.median(samples["python -c pass (floor)"])
    print(f"{'case':<28} {'median':>8} {'min':>8} {'max':>8}  over the floor")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:8.3f} {min(values):8.3f} {max(values):8.3f}  {median / floor:5.1f}x")


if __name__ == "__main__":
    main()
