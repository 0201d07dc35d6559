"""A small PNG of a report's first screen, for the docs: python -m benchmarks.proof.screenshot INDEX OUT.

docs/report-1280.png and docs/report-390.png are ``--width 1280 --height 1100`` and ``--width 390
--height 1300`` of the four-model recipe's report (docs/report.md says how it was made).

Headless Chromium renders the page from disk, offline; the PNG is reduced to a 128-colour
palette so the committed image stays small.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM_FLAGS", "find_chromium", "screenshot"]

# No network, no profile state, no GPU: the same page on a laptop, in CI and in a container.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def screenshot(index: Path, out: Path, *, width: int = 1100, height: int = 860, colors: int = 128) -> Path:
    from PIL import Image

    binary = find_chromium()
    if binary is None:
        raise SystemExit("chromium is not installed; apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="onnxgate-chromium-") as profile:
        raw = Path(profile) / "shot.png"
        subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/user", f"--window-size={width},{height}",
                        f"--screenshot={raw}", index.resolve().as_uri()],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(raw).convert("RGB").quantize(colors=colors).save(out, optimize=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proof.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="a report's index.html")
    parser.add_argument("out", type=Path, help="PNG to write, e.g. docs/report-1280.png")
    parser.add_argument("--width", type=int, default=1100, help="CSS px: 1280 a laptop, 390 a phone")
    parser.add_argument("--height", type=int, default=860, help="CSS px of the page shown, from its top")
    args = parser.parse_args(argv)
    print(screenshot(args.index, args.out, width=args.width, height=args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
