"""Hostile definitions (issue 8, items 6 and 7): `jig check` ends quickly with located errors.

Each case in tests/hostile/*.yaml starts with comment lines naming what must be
reported: ``# expect: <part of the message>``, optionally ``# at: line:col``
and ``# hint: <part of the hint>``. Large cases (a 50 MB file, a billion
laughs, 5000-deep nesting, 10,000 entities, ...) are generated into tmp_path
here instead of being committed. Every case runs ``jig check`` in its own
process under a generous safety timeout (not a timing assertion) and must exit
2 with every error at ``file:line:col``, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND

# Checking definitions touches no database: run once, in the SQLite pass of scripts/test.sh.
pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="jig check touches no database; runs in the SQLite pass")

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).resolve().parent / "hostile"
SAFETY_TIMEOUT = 20  # seconds; a hang fails the test instead of blocking the suite

BASE = """\
app: hostile
roles: [clerk]
entities:
  order:
    fields:
      qty: {type: integer}
      note: {type: text}
    permissions:
      clerk: {read: true, create: true}
"""


def _jig(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JIG_SECRET_KEY", "JIG_VAR")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "jig.cli", "check", *args], capture_output=True, text=True,
                          timeout=SAFETY_TIMEOUT, env=env, cwd=cwd or ROOT)


def _expectations(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            m = re.match(r"# (expect|at|hint): (.*)", line)
            if not m:
                break
            found[m.group(1)] = m.group(2).strip()
    return found


def _check_refused(path: Path, expect: str, at: str | None = None, hint: str | None = None) -> str:
    r = _jig(str(path))
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-2000:]
    assert "Traceback" not in out, out[-2000:]
    assert expect in out, out[-2000:]
    error_lines = [ln for ln in out.splitlines() if ln and not ln.startswith(("    hint:", "1 error", "2 errors"))
                   and not re.match(r"\d+ errors in definitions:", ln)]
    assert error_lines
    for ln in error_lines:  # every error is located
        assert re.match(re.escape(str(path)) + r":\d+:\d+: ", ln), ln
    if at is not None:
        assert f"{path}:{at}: " in out, out[-2000:]
    if hint is not None:
        hints = [ln for ln in out.splitlines() if ln.startswith("    hint:") and hint in ln]
        assert hints, out[-2000:]
    return out


CASES = sorted(HOSTILE.glob("*.yaml"))


def test_the_corpus_has_the_issue_cases_and_more() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_committed_hostile_case(path: Path) -> None:
    exp = _expectations(path)
    assert "expect" in exp, f"{path.name} needs a '# expect:' line"
    _check_refused(path, exp["expect"], exp.get("at"), exp.get("hint"))


def _billion_laughs() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    prev = "a"
    for name in "bcdefghij":
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        prev = name
    return text


def _merge_bomb() -> str:
    text = "m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(9)) + "}\n"
    for level in range(1, 10):
        text += f"m{level}: &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * 9)}]}}\n"
    return text


def _entities(n: int) -> str:
    return "app: hostile\nroles: [clerk]\nentities:\n" + "".join(
        f"  e{i}:\n    fields:\n      qty: {{type: integer}}\n" for i in range(n))


GENERATED = {
    # name: (text, expected message part)
    "billion_laughs": (lambda: _billion_laughs() + BASE, "once aliases (*name) are expanded"),
    "billion_laughs_inside_the_app": (lambda: BASE + "x:\n" + "".join("  " + ln + "\n" for ln in _billion_laughs().splitlines()),
                                      "once aliases (*name) are expanded"),
    "merge_bomb": (lambda: BASE + _merge_bomb(), ""),
    "nesting_5000_deep_flow": (lambda: BASE + "x: " + "[" * 5000 + "]" * 5000 + "\n", "nesting"),
    "nesting_100_deep_flow": (lambda: BASE + "x: " + "[" * 100 + "]" * 100 + "\n", "nesting is deeper than 64 levels"),
    "nesting_5000_deep_block": (lambda: BASE + "x:\n" + "".join("  " * (i + 1) + f"- k{i}:\n" for i in range(300)),
                                "nesting is deeper than 64 levels"),
    "integer_of_5000_digits": (lambda: BASE.replace("qty: {type: integer}", "qty: {type: integer, min: " + "9" * 5000 + "}"),
                               "this number is too large"),
    "file_of_50_mb": (lambda: BASE + "# " + "x" * (50 * 1024 * 1024) + "\n", "the file is too large"),
    "string_of_200k_characters": (lambda: BASE.replace("note: {type: text}", "note: {type: text, label: '" + "长" * 200_000
                                                       + "'}"), "longer than 100000 characters"),
    "expression_of_100k_characters": (lambda: BASE.replace("qty: {type: integer}", "qty: {type: integer, check: \""
                                                           + "qty + " * 16_000 + "qty > 0\"}"),
                                      "too long"),
    "unary_chain_of_1900": (lambda: BASE.replace("qty: {type: integer}", "qty: {type: integer, check: \""
                                                 + "-" * 1900 + "qty > 0\"}"), "expression nests too deeply"),
    "enum_of_50000_options": (lambda: BASE.replace("note: {type: text}", "note: {type: select, options: ["
                                                   + ", ".join(f"o{i}" for i in range(50_000)) + "]}"),
                              "too many items: 50000, at most 1000"),
    "entities_10000": (lambda: _entities(10_000), "too many entries: 10000, at most 200"),
    "fields_5000": (lambda: BASE.replace("      note: {type: text}\n", "".join(
        f"      f{i}: {{type: text}}\n" for i in range(5000))), "too many entries: 5001, at most 300"),
    "anchor_used_2000_times": (lambda: BASE + "x: &x {a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n" + "".join(
        f"y{i}: [{', '.join(['*x'] * 20)}]\n" for i in range(1000)), "once aliases (*name) are expanded"),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_hostile_case(name: str, tmp_path: Path) -> None:
    make, expect = GENERATED[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(make(), encoding="utf-8")
    _check_refused(path, expect)


def test_check_writes_nothing_and_prints_json_on_success(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BASE, encoding="utf-8")
    r = _jig("--json", str(good), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    body = json.loads(r.stdout)
    assert body == {"ok": True, "errors": [], "apps": ["hostile"], "entities": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "x: &r [*r]\n", encoding="utf-8")
    r = _jig("--json", str(bad), cwd=tmp_path)
    assert r.returncode == 2
    body = json.loads(r.stdout)
    assert body["ok"] is False and body["errors"][0]["line"] == 10
    assert "alias" in body["errors"][0]["message"]
    assert not (tmp_path / "var").exists()  # no var/secret_key from a check


@pytest.mark.parametrize("name", ["billion_laughs", "integer_of_5000_digits"])
def test_serve_refuses_hostile_definitions_too(name: str, tmp_path: Path) -> None:
    make, expect = GENERATED[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(make(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("JIG_SECRET_KEY", "JIG_VAR", "JIG_APPS")}
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "-m", "jig.cli", "--apps", str(path), "--database",
                        f"sqlite:///{tmp_path / 'jig.db'}", "serve", "--port", "0"],
                       capture_output=True, text=True, timeout=SAFETY_TIMEOUT, env=env, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-2000:]
    assert "Traceback" not in out and expect in out and f"{path}:" in out
    assert not (tmp_path / "jig.db").exists() and not (tmp_path / "var").exists()  # nothing created
