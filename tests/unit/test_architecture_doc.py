"""docs/architecture.md stays true: every module it names exists, every module of core/,
gateway/ and api/ is placed in it, and nothing in the repository links outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
_PATH = re.compile(r"`((?:core|gateway|api|bench|tests|web|deploy)/[\w/.-]*)`")


def test_architecture_names_only_modules_that_exist() -> None:
    named = set(_PATH.findall(DOC.read_text()))
    assert named, "the module map names no module"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_module_is_placed_in_the_architecture() -> None:
    text = DOC.read_text()
    modules = [p.relative_to(ROOT).as_posix() for package in ("core", "gateway", "api")
               for p in (ROOT / package).rglob("*.py") if p.name != "__init__.py"]
    unplaced = sorted(m for m in modules
                      if f"`{m}`" not in text and f"`{Path(m).parent.as_posix()}/`" not in text)
    assert not unplaced, f"modules docs/architecture.md does not place: {unplaced}"


def test_the_picture_is_committed_beside_its_source() -> None:
    source = (ROOT / "docs" / "architecture.dot").read_text()
    picture = (ROOT / "docs" / "architecture.svg").read_text()
    assert "digraph" in source and picture.lstrip().startswith(("<?xml", "<svg"))
    assert "architecture.svg" in DOC.read_text()
    # Every box of the source is in the picture (the SVG was made from this source).
    labels = re.findall(r'^\s*(\w+) \[label="([^"\\]+)', source, re.MULTILINE)
    for _, label in labels:
        assert re.split(r"[ :]", label)[0] in picture, label


def test_no_link_leaves_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    # The names are split so that this file does not name them itself.
    outside = re.compile("|".join(re.escape(n) for n in (
        "../" + "shared/", "shared/" + "DESIGN", "shared/" + "STYLE")) + r"|\b(DESIGN|STYLE)\.md\b")
    leaks = [f for f in files if f.endswith((".py", ".md", ".js", ".html", ".toml", ".sh"))
             and (ROOT / f).is_file() and outside.search((ROOT / f).read_text(errors="replace"))]
    assert not leaks, f"these point outside the repository: {leaks}"
