"""The text folding of user search: NFKC (full-width letters and digits become
their ASCII forms) and case folding, and the terms stored for a user: the
username, the display name, its words, and every suffix of a word that starts
at a CJK character, so "明" finds "李明" with a prefix match."""

from __future__ import annotations

import unicodedata

MAX_TERM = 64


def fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _wide(c: str) -> bool:
    return unicodedata.east_asian_width(c) in ("W", "F") and c.isalnum()


def terms_of(username: str, display_name: str) -> list[str]:
    terms = {fold(username)}
    name = fold(display_name)
    if name:
        terms.add(name)
        for word in name.split(" "):
            terms.add(word)
            terms.update(word[i:] for i in range(1, len(word)) if _wide(word[i]))
    return sorted(t[:MAX_TERM] for t in terms if t)
