"""A real browser for the tests: Debian's headless Chromium, started as a command for each
page (`--screenshot`, `--dump-dom`), with its own empty profile and no background
networking. `.ci/run` installs it (the `chromium` package); a machine without it fails
these tests with a message saying how to install it rather than skipping them.
Screenshots are kept under `.test-artifacts/` (git-ignored) for a person to look at."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError(
            "these tests need Chromium: `apt-get install chromium` (Debian), as .ci/run does"
        )
    return found


def _run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="hpo-gen-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def screenshot(url: str, name: str, size: tuple[int, int] = (1280, 900), wait_ms: int = 0) -> Path:
    """A PNG of the page at `url`, kept as `.test-artifacts/<name>.png`."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    target.unlink(missing_ok=True)
    extra = [f"--virtual-time-budget={wait_ms}"] if wait_ms else []
    result = _run(*extra, f"--screenshot={target}", f"--window-size={size[0]},{size[1]}", url)
    assert target.is_file(), f"Chromium made no screenshot of {url}: {result.stderr[-2000:]}"
    return target


def page_text(url: str, wait_ms: int = 8000) -> str:
    """The page's DOM as Chromium has it once its scripts ran for `wait_ms` (virtual)."""
    result = _run(f"--virtual-time-budget={wait_ms}", "--dump-dom", url)
    assert result.returncode == 0, f"Chromium could not load {url}: {result.stderr[-2000:]}"
    return result.stdout
