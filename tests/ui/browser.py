"""A real Chromium for the UI tests, from the operating system's packages.

Playwright's own browser download (``playwright install``) cannot reach its CDN on our build
machines, so the tests drive an installed Chromium-family browser through Playwright's
``executable_path``: ``$LIFTOFF_CHROMIUM`` if set, else the first of :data:`CANDIDATES` on
``PATH`` (Debian's ``chromium``; GitHub's Ubuntu runners ship ``google-chrome``). As root on
Debian, ``python -m tests.ui.browser`` installs the ``chromium`` package with apt-get, as
``make`` provisions WordNet; elsewhere it names the command to run.

    $ python -m tests.ui.browser
    Chromium ready: /usr/bin/chromium
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ENV = "LIFTOFF_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN_PACKAGE = "chromium"
APT_INSTALL = f"apt-get install -y --no-install-recommends {DEBIAN_PACKAGE}"

# No sandbox (the tests run as root in a container without user namespaces), and nothing
# that phones home: on a closed network Chromium otherwise waits on each of these.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


class BrowserUnavailable(RuntimeError):
    """No Chromium-family browser is installed, and none could be."""


def find_chromium() -> str | None:
    """The browser's path: ``$LIFTOFF_CHROMIUM``, else the first candidate on PATH."""
    configured = os.environ.get(ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium(*, install: bool | None = None) -> str:
    """Return a Chromium path, installing Debian's package first when allowed (root)."""
    found = find_chromium()
    if found is not None:
        return found
    if os.environ.get(ENV):
        raise BrowserUnavailable(f"{ENV}={os.environ[ENV]} is not an executable file")
    allowed = install if install is not None else _is_root()
    apt = shutil.which("apt-get")
    if allowed and apt is not None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = [apt, "install", "-y", "--no-install-recommends", DEBIAN_PACKAGE]
        print(f"installing {DEBIAN_PACKAGE} with apt-get", file=sys.stderr)
        if subprocess.run(command, env=env, check=False).returncode != 0:
            subprocess.run([apt, "update"], env=env, check=False)
            subprocess.run(command, env=env, check=False)
        found = find_chromium()
        if found is not None:
            return found
    raise BrowserUnavailable(
        f"no Chromium found (looked for {', '.join(CANDIDATES)} on PATH): install it with "
        f"`sudo {APT_INSTALL}` (Debian) or point {ENV} at a Chromium or Chrome binary. "
        "`playwright install` is not needed."
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def main() -> int:
    try:
        path = ensure_chromium()
    except BrowserUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Chromium ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
