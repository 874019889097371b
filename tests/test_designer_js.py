"""The designer's JavaScript modules (model, preview, expression picker), run by Node's test runner (skipped where Node is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_designer_model_in_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed")
    r = subprocess.run([node, "--test", *sorted(str(p) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
