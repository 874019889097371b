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


def test_extensions_never_import_the_composition_root() -> None:
    """rules/, connectors/, ui/ and builder/ receive what they need (a runtime, a CLI context); never jig/."""
    offenders = {}
    for layer in ("rules", "connectors", "ui", "builder"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            if "jig" in _imports(path):
                offenders[str(path.relative_to(ROOT))] = "imports jig"
    assert offenders == {}


MUTABLE_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter", "local", "Lock", "RLock",
                 "WeakValueDictionary", "WeakKeyDictionary"}
# What remains, each for a reason; the list may only shrink.
ALLOWED_STATE = {
    "runtime/clock.py: _frozen": "the test seam (below)",
    "runtime/clock.py: global _frozen": "the test seam: tests freeze the clock; production code never calls frozen()",
    "runtime/evaluate.py: _local": "per-thread scratch evaluator; holds nothing from one evaluation to the next",
}


def _module_state(path: Path) -> list[str]:
    rel = str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{rel}: global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name) and not t.id.startswith("__")]
        empty_container = isinstance(value, (ast.Dict, ast.List, ast.Set)) and not (
            getattr(value, "keys", None) or getattr(value, "elts", None))
        call = value.func if isinstance(value, ast.Call) else None
        called = call.attr if isinstance(call, ast.Attribute) else call.id if isinstance(call, ast.Name) else ""
        lower = [n for n in names if not n.lstrip("_").isupper()]
        placeholder = lower and isinstance(value, ast.Constant) and value.value is None  # set from outside later
        if names and (placeholder or empty_container or called in MUTABLE_CALLS or (lower and isinstance(
                value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)))):
            found.append(f"{rel}: {', '.join(names)}")
    return found


def test_no_layer_holds_module_level_mutable_state() -> None:
    """Link targets, compiled statements, caches, the jobs' runtime and import progress belong to a runtime, a
    worker or a web app (or to the database), not to a module: two runtimes in one process must never see each
    other's state."""
    found = [s for layer in ("runtime", "rules", "connectors", "ui", "builder")
             for p in sorted((ROOT / layer).rglob("*.py")) for s in _module_state(p)]
    assert sorted(set(found) - set(ALLOWED_STATE)) == []
    assert set(ALLOWED_STATE) <= set(found), "an allowed item is gone: remove it from ALLOWED_STATE"


# The demo generator writes a month of history through the product's paths, back-dated: it freezes the
# clock at each moment, before anything serves (`jig demo` prepares, then starts the server and jobs).
FREEZES_THE_CLOCK = {ROOT / "jig" / "demo" / "base.py"}


def test_only_tests_freeze_the_clock() -> None:
    for layer in ("runtime", "rules", "connectors", "ui", "builder", "jig"):
        for path in set((ROOT / layer).rglob("*.py")) - FREEZES_THE_CLOCK:
            text = path.read_text(encoding="utf-8")
            assert "clock.frozen(" not in text, path
