"""Write the modelled demo dataset to a directory: ``python -m gridgis.demo OUT_DIR``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gridgis.demo.generate import generate_demo, write_demo


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, generate, write and print what was written."""
    parser = argparse.ArgumentParser(prog="python -m gridgis.demo", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=2080)
    parser.add_argument("--volunteers", type=int, default=30_000)
    args = parser.parse_args(argv)

    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        print(f"\r{time.perf_counter() - start:6.1f}s {stage} {done}/{total}   ", end="")

    data = generate_demo(seed=args.seed, volunteers=args.volunteers, progress=progress)
    paths = write_demo(data, args.out_dir)
    print(f"\ndone in {time.perf_counter() - start:.1f}s (modelled data, not official)")
    for path in paths:
        print(f"  {path} {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
