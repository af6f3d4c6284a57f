"""docs/protocol.md against the server: every example frame is one valid JSON
value, requests name real methods, errors carry real codes, and every method
and error code is documented.

Conventions of the examples (stated at the top of the doc): inside a ```text
block, ``-> `` is a frame the client sends and ``<- `` one the server sends,
each followed by exactly one JSON value; a remark may follow the frame after
three spaces and a parenthesis, ``   (like this)``; ``->! `` is a frame that is
deliberately not a valid request, sent as shown, and is not checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from tidings.api.methods import all_methods
from tidings.errors import ErrorCode

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
PREFIXES = ("-> ", "<- ", "->! ")
REMARK = "   ("


def example_lines() -> list[tuple[int, str]]:
    """(line number, line) of every line inside a ```text block."""
    found: list[tuple[int, str]] = []
    inside = False
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            inside = line == "```text"
        elif inside:
            found.append((number, line))
    return found


def frames(prefix: str) -> list[tuple[int, str]]:
    """(line number, JSON text) of every example line with this prefix, remark removed."""
    return [(number, line[len(prefix):].split(REMARK, 1)[0])
            for number, line in example_lines() if line.startswith(prefix)]


def decoded(prefix: str) -> list[tuple[int, Any]]:
    return [(number, msgspec.json.decode(text)) for number, text in frames(prefix)]


def test_frame_lines_use_a_known_prefix() -> None:
    bad = [number for number, line in example_lines()
           if line.startswith(("->", "<-")) and not line.startswith(PREFIXES)]
    assert not bad, f"docs/protocol.md lines {bad}: use '-> ', '<- ' or '->! '"


def test_frames_are_json() -> None:
    bad = []
    for prefix in ("-> ", "<- "):
        for number, text in frames(prefix):
            try:
                msgspec.json.decode(text)
            except msgspec.DecodeError as exc:
                bad.append(f"line {number}: {exc}")
    assert not bad, "\n".join(bad)
    assert len(frames("-> ")) > 50 and len(frames("<- ")) > 50


def test_requests_name_registered_methods() -> None:
    names = {m.name for m in all_methods()}
    bad = [number for number, frame in decoded("-> ")
           if not isinstance(frame, dict) or frame.get("method") not in names]
    assert not bad, f"docs/protocol.md lines {bad}: not a request for a registered method"


def test_error_frames_carry_error_codes() -> None:
    codes = set(ErrorCode)
    shown = [(number, frame["error"]["code"]) for number, frame in decoded("<- ")
             if isinstance(frame, dict) and "error" in frame]
    assert shown
    bad = [(number, code) for number, code in shown if code not in codes]
    assert not bad, f"unknown error codes (line, code): {bad}"


def test_every_method_has_a_section() -> None:
    headings = set(re.findall(r"^### (\S+)$", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    missing = [m.name for m in all_methods() if m.name not in headings]
    assert not missing, f"no '### <method>' section for {missing}"


def test_errors_table_lists_every_error_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## 8. Errors"):text.index("## 9. ")]
    in_table = set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE))
    assert in_table == {code.value for code in ErrorCode}
