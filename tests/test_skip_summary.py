"""The skip reasons are printed in a summary line without `-rs` (tests/conftest.py's hook)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HOOK = Path(__file__).with_name("conftest.py").read_text(encoding="utf-8")


@pytest.mark.slow
def test_skip_reasons_are_summarised(tmp_path: Path) -> None:
    hook = HOOK[HOOK.index("def pytest_terminal_summary") :]
    (tmp_path / "conftest.py").write_text("import pytest\n\n\n" + hook, encoding="utf-8")
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_pg(n):\n    pytest.skip('PostgreSQL tests need MONITOR_TEST_DATABASE_URL')\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "2 skipped: PostgreSQL tests need MONITOR_TEST_DATABASE_URL" in result.stdout
