"""The README's picture: the top of the digits example's report, as Chromium draws it.

    python examples/make_screenshot.py        # after python examples/make_examples.py

Writes docs/images/report-top.png (1100 × 760 pixels). Needs Chromium (apt-get install chromium).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    out = HERE.parent / "docs" / "images" / "report-top.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page = (HERE / "reports" / "digits_predictions.html").as_uri()
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1100,760", f"--screenshot={out}", page], check=True, capture_output=True)
    print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
