"""One-way layers: the runtime never imports the layers built on top of it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPPER = {"rules", "connectors", "builder", "ui", "jig"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_runtime_imports_no_upper_layer() -> None:
    offenders = {}
    for path in sorted((ROOT / "runtime").rglob("*.py")):
        bad = _imports(path) & UPPER
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_loading_definitions_needs_no_web_framework() -> None:
    code = ("import sys, runtime.loader, runtime.compiler, runtime.expressions, runtime.evaluate;"
            "bad = [m for m in ('flask', 'werkzeug', 'rules', 'connectors', 'builder', 'ui') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_runtime_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "runtime").rglob("*.py")}
    assert max(sizes.values()) < 700, sizes
