"""Imports point down (DESIGN §2): transport → api → services → store/db/bus.
The client SDK speaks the wire protocol and imports only shared schemas."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tidings"

# package -> packages it must never import
FORBIDDEN = {
    "store": {"services", "api", "transport", "bus", "client", "jobs"},
    "db": {"store", "services", "api", "transport", "bus", "client", "jobs"},
    "bus": {"store", "services", "api", "transport", "client", "jobs"},
    "media": {"store", "db", "services", "api", "transport", "bus", "client", "jobs"},
    "services": {"api", "transport", "client", "jobs"},
    "api": {"transport", "client"},
    "jobs": {"api", "transport", "client"},
    "client": {"store", "db", "services", "api", "transport", "bus", "app", "media"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tidings" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    offenders = {}
    for path in (SRC / package).rglob("*.py"):
        bad = imported_packages(path) & FORBIDDEN[package]
        if bad:
            offenders[str(path.relative_to(SRC))] = sorted(bad)
    assert offenders == {}
