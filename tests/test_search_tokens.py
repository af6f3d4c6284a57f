"""The search tokenizer: what a text is indexed as and what a query asks for.
Pure functions; the engines are exercised by tests/test_search.py."""

from __future__ import annotations

import pytest

from tidings.store.search_terms import (
    MAX_TERM,
    SEP,
    QueryError,
    day_term,
    index_entry,
    match_spans,
    parse_query,
    text_terms,
)


def q(text: str) -> list[str]:
    return parse_query(text, max_length=256).index_terms


def test_cjk_runs_become_overlapping_bigrams() -> None:
    assert text_terms("我们今天开会") == ["我们", "们今", "今天", "天开", "开会"]


def test_words_are_lower_cased_and_cut_at_punctuation() -> None:
    assert text_terms("Don't PANIC, it's 42!") == ["don", "t", "panic", "it", "s", "42"]
    assert text_terms("Café naïve ÉCOLE") == ["café", "naïve", "école"]


def test_scripts_are_cut_apart_and_single_cjk_characters_are_not_indexed() -> None:
    assert text_terms("hello世界abc") == ["hello", "世界", "abc"]
    assert text_terms("好 ok 你") == ["ok"]
    assert text_terms("カタカナ와한글") == ["カタ", "タカ", "カナ", "ナ와", "와한", "한글"]


def test_underscore_and_symbols_separate_words() -> None:
    assert text_terms("snake_case a.b@c.com") == ["snake", "case", "a", "b", "c", "com"]


def test_ascii_fast_path_agrees_with_the_general_one() -> None:
    text = "The Quick-brown FOX_jumps 0ver 12 lazy dogs!"
    assert text_terms(text) == ["the", "quick", "brown", "fox", "jumps", "0ver", "12",
                                "lazy", "dogs"]
    assert text_terms(text + " é") == [*text_terms(text), "é"]


def test_overlong_words_are_not_indexed() -> None:
    long_word = "x" * (MAX_TERM + 1)
    assert text_terms(f"ok {long_word} fine") == ["ok", "fine"]
    assert text_terms(f"ok {long_word} finé") == ["ok", "finé"]


def test_index_entry_holds_the_terms_the_chat_and_the_days() -> None:
    assert index_entry(12, "Hi 你好") == f"hi 你好 {SEP}c12"
    day = 20717
    assert index_entry(12, "Hi", date=86400 * day + 5) == " ".join([
        "hi", f"{SEP}c12", *(f"{SEP}d{n}{SEP}{day // n}" for n in (1, 4, 16, 64, 256))])
    assert index_entry(12, "!! 好") == ""  # nothing to find it by: not indexed
    assert day_term(8, 3) == f"{SEP}d8{SEP}3"


def test_queries_need_two_characters_and_a_searchable_term() -> None:
    for short in ("", " ", "a", " 好 ", "\t x \n"):
        with pytest.raises(QueryError, match="at least 2"):
            parse_query(short, max_length=256)
    for unsearchable in ("!!", "好 你", "好!"):
        with pytest.raises(QueryError, match="needs a word"):
            parse_query(unsearchable, max_length=256)
    with pytest.raises(QueryError, match="at most 10"):
        parse_query("x" * 11, max_length=10)
    with pytest.raises(QueryError, match="longer than"):
        parse_query("y" * (MAX_TERM + 1), max_length=1000)


def test_query_terms_and_checks() -> None:
    parsed = parse_query("  Hello 我们今天 ok 好 hello ", max_length=256)
    assert parsed.words == ("hello", "ok")
    assert parsed.substrings == ("我们今天", "好")
    assert parsed.index_terms == sorted(["hello", "ok", "我们", "们今", "今天"])
    # a two-character run is proven by its bigram; others are checked on the text
    assert parsed.checks == ["我们今天", "好"]
    assert parse_query("我们", max_length=256).checks == []
    assert q("ab") == ["ab"]


def test_match_spans_are_code_point_offsets_merged_and_sorted() -> None:
    text = "😀 Hello 我们今天开会, hello again 今天!"
    spans = match_spans(text, parse_query("HELLO 今天", max_length=256))
    assert spans == [[2, 5], [10, 2], [16, 5], [28, 2]]
    assert [text[o:o + n] for o, n in spans] == ["Hello", "今天", "hello", "今天"]
    # repeats inside a run do not overlap; matches of different terms that do merge
    assert match_spans("哈哈哈哈", parse_query("哈哈", max_length=256)) == [[0, 2], [2, 2]]
    assert match_spans("abc我们今", parse_query("我们 们今", max_length=256)) == [[3, 3]]
    # words match whole words only
    assert match_spans("hello shell", parse_query("hell", max_length=256)) == []


@pytest.mark.parametrize("text", [
    "it's a \"quote\" and a back\\slash", "tab\there\u00a0nbsp\u3000ideographic space",
    "emoji 🎉 and 'single' ''doubled''", "中文'引号'和\\反斜杠", "a:1 & b|c !d (e)",
])
def test_index_entries_split_into_plain_lexemes_on_spaces(text: str) -> None:
    # PostgreSQL stores an entry as array_to_tsvector(string_to_array(entry, ' ')):
    # each term must be a lexeme as is, with nothing tsvector input would unquote.
    terms = index_entry(7, text, date=86400 * 20717).split(" ")
    assert all(t and not any(c.isspace() or c in "'\\" for c in t) for t in terms)
