"""The unit file passes `systemd-analyze verify` and scores "OK" in `systemd-analyze security`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parent.parent / "systemd" / "news-monitor.service"
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(
    ANALYZE is None and os.environ.get("CI", "").lower() not in {"1", "true", "yes"},
    reason="systemd-analyze is not installed (apt-get install systemd); CI installs it",
)


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's installed command, which exists here."""
    command = Path(sys.executable).parent / "news-monitor"
    assert command.exists(), "the package must be installed (pip install -e .)"
    text = UNIT.read_text().replace("/usr/local/bin/news-monitor", str(command))
    path = tmp_path / "news-monitor.service"
    path.write_text(text)
    return path


def test_unit_verifies(unit: Path) -> None:
    assert ANALYZE is not None, "CI must have systemd-analyze (.ci/run installs it)"
    done = subprocess.run(
        [ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_unit_security_exposure_is_ok(unit: Path) -> None:
    assert ANALYZE is not None, "CI must have systemd-analyze (.ci/run installs it)"
    done = subprocess.run(
        [ANALYZE, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0, done.stdout


def test_unit_declares_the_service_contract() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=78",
        "WatchdogSec=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "StateDirectory=news-monitor",
        "DynamicUser=yes",
    ):
        assert line in text
