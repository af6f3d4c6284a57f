"""What the message search index holds, and how a query maps onto it: pure
functions, no I/O, the same on both engines.

A text is cut into

- **CJK runs** (Han, kana, Hangul, ...: scripts written without spaces). A run
  is indexed as its overlapping bigrams (``我们的`` → ``我们``, ``们的``), so any
  substring of two or more characters can be found: its bigrams are all there,
  and the query checks that the substring itself is in the text.
- **words**: maximal runs of other letters and digits, lower-cased (``Don't``
  → ``don``, ``t``). A word is found as a whole word, case-insensitively.

A message's entry holds its terms, a term naming its chat (``·c12``: the
middle dot never occurs in a word, so no text can forge it) and, for an index
that cannot return matches in order (GIN), terms naming its day at five
granularities (``·d1·20717``: day 20717; ``·d4·5179``: its block of 4 days;
``·d16·``, ``·d64·``, ``·d256·``), so a search can read any range of days
through a few terms, newest first. Terms carry
no positions: the index answers "holds every term", and a CJK query longer
than two characters is confirmed against the text in the same statement.

A query is cut the same way into words and CJK runs, all of which must match
(AND). A CJK run of one character (``好`` in ``好 ok``) has no bigram: it is
only checked against the text of what the other terms found, so a query needs
at least one word or one run of two CJK characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Scripts written without spaces between words, searched by substring.
_CJK = (
    "\u2e80-\u2fdf"  # CJK and Kangxi radicals
    "\u3005-\u3007"  # iteration and closing marks, ideographic zero
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f\u3130-\u318f\u31a0-\u31bf\u31f0-\u31ff"  # bopomofo, jamo, kana ext.
    "\u3400-\u4dbf\u4e00-\u9fff"  # CJK unified ideographs (+ extension A)
    "\ua960-\ua97f\uac00-\ud7af"  # Hangul
    "\uf900-\ufaff"  # compatibility ideographs
    "\uff66-\uff9f"  # half-width katakana
    "\U00020000-\U0003134f"  # extensions B to G
)
_TOKENS = re.compile(f"([{_CJK}]+)|([^\\W_{_CJK}]+)")
_ASCII_WORDS = re.compile("[a-z0-9]+")

MAX_TERM = 100  # longer words are not indexed (PostgreSQL caps a lexeme at 2 KB)
SEP = "\u00b7"  # starts the terms that are not words: not a letter, so never in one
DAY = 86400
DAY_LEVELS = (1, 4, 16, 64, 256)  # days per bucket of the day terms


def _bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def text_terms(text: str) -> list[str]:
    """The index terms of a text, in text order, repeats included."""
    if text.isascii():  # the common case, about four times faster
        words = _ASCII_WORDS.findall(text.lower())
        if len(text) <= MAX_TERM:
            return words
        return [w for w in words if len(w) <= MAX_TERM]
    terms: list[str] = []
    for run, word in _TOKENS.findall(text):
        if run:
            terms += _bigrams(run)
        elif len(word) <= MAX_TERM:
            terms.append(word.lower())
    return terms


def chat_term(chat_id: int) -> str:
    return f"{SEP}c{chat_id}"


def day_term(level: int, bucket: int) -> str:
    """The term of bucket ``bucket`` of ``level`` days (day // level)."""
    return f"{SEP}d{level}{SEP}{bucket}"


def index_entry(chat_id: int, text: str, date: int | None = None) -> str:
    """What the index stores for one message, space-separated: its terms (none:
    an empty string), its chat's term, and its day's terms when ``date`` is
    given."""
    return entry_of(text_entry(text), chat_id, date)


def text_entry(text: str) -> str:
    """The text's part of its index entry (a send computes it before it queues
    for its chat's transaction, where the rest is added)."""
    return " ".join(text_terms(text))


def entry_of(text_part: str, chat_id: int, date: int | None = None) -> str:
    """``index_entry`` from the text's part."""
    if not text_part:
        return ""
    if date is None:
        return f"{text_part} {chat_term(chat_id)}"
    return f"{text_part} {chat_term(chat_id)} {_day_terms(date // DAY)}"


@lru_cache(maxsize=64)
def _day_terms(day: int) -> str:
    """A day's terms at every level, joined (a batch of sends shares its day:
    formatting them per message was a third of the entry's cost)."""
    return " ".join(day_term(level, day // level) for level in DAY_LEVELS)


class QueryError(ValueError):
    """A query that cannot be searched (the message says why)."""


@dataclass(frozen=True)
class Query:
    """A parsed query: every ``words`` entry must be a word of the text, every
    ``substrings`` entry (CJK) a substring of it."""

    words: tuple[str, ...]
    substrings: tuple[str, ...]

    @property
    def index_terms(self) -> list[str]:
        """Terms the index must hold, all of them (sorted, unique)."""
        terms = set(self.words)
        for s in self.substrings:
            terms.update(_bigrams(s))
        return sorted(terms)

    @property
    def checks(self) -> list[str]:
        """Substrings the index terms do not prove: the text must contain them."""
        return [s for s in self.substrings if len(s) != 2]


def parse_query(query: str, *, max_length: int) -> Query:
    text = query.strip()
    if len(text) < 2:
        raise QueryError("query must hold at least 2 characters")
    if len(text) > max_length:
        raise QueryError(f"query must hold at most {max_length} characters")
    words: dict[str, None] = {}
    substrings: dict[str, None] = {}
    for run, word in _TOKENS.findall(text):
        if run:
            substrings[run] = None
        elif len(word) > MAX_TERM:
            raise QueryError(f"words longer than {MAX_TERM} characters are not searchable")
        else:
            words[word.lower()] = None
    parsed = Query(tuple(words), tuple(substrings))
    if not parsed.index_terms:
        raise QueryError("query needs a word, or two CJK characters in a row")
    return parsed


def match_spans(text: str, query: Query) -> list[list[int]]:
    """Where ``query`` matches ``text``: ``[offset, length]`` pairs in code points,
    ascending, overlapping matches merged (for highlighting)."""
    spans: list[tuple[int, int]] = []
    if query.words:
        wanted = set(query.words)
        for m in _TOKENS.finditer(text):
            if m.group(2) and m.group(2).lower() in wanted:
                spans.append((m.start(), m.end()))
    for sub in query.substrings:
        at = text.find(sub)
        while at >= 0:
            spans.append((at, at + len(sub)))
            at = text.find(sub, at + len(sub))
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][0] + merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end - last[0])
        else:
            merged.append([start, end - start])
    return merged
