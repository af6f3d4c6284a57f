"""The in-memory read index against a brute-force model: counts, readers
(paged, newest first) and has_read stay exact through any sequence of marks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.services.read_index import ChatReads, Reader

Row = tuple[int, int, int, int]


@st.composite
def chats(draw: st.DrawFn) -> tuple[list[Row], list[tuple[int, int, int]]]:
    n = draw(st.integers(1, 30))
    users = draw(st.lists(st.integers(1, 2**33 if draw(st.booleans()) else 500),
                          min_size=n, max_size=n, unique=True))
    full = draw(st.booleans())
    rows: list[Row] = []
    for user in users:
        joined = 1 if full else draw(st.integers(1, 40))
        rows.append((user, joined, draw(st.integers(joined - 1, 50)),
                     draw(st.integers(0, 100))))
    marks = draw(st.lists(st.tuples(st.sampled_from(users), st.integers(0, 60),
                                    st.integers(0, 200)), max_size=20))
    return rows, marks


def model_readers(state: dict[int, list[int]], msg_id: int) -> list[Reader]:
    found = [(at, user) for user, (joined, cursor, at) in state.items()
             if joined <= msg_id <= cursor]
    return [Reader(user, at) for at, user in sorted(found, reverse=True)]


@settings(max_examples=300, deadline=None)
@given(chats())
def test_index_equals_brute_force(case: tuple[list[Row], list[tuple[int, int, int]]]) -> None:
    rows, marks = case
    reads = ChatReads(rows)
    state = {user: [joined, cursor, at] for user, joined, cursor, at in rows}
    for user, cursor, at in marks:
        assert reads.apply(user, cursor, at)
        if cursor > state[user][1]:
            state[user][1:] = [cursor, at]
    for msg_id in range(1, 52):  # message ids start at 1
        expected = model_readers(state, msg_id)
        assert reads.count(msg_id) == len(expected)
        for user in state:
            assert reads.has_read(user, msg_id) == any(r.user_id == user for r in expected)
        # Paged three at a time through the cursor of the last one seen.
        paged: list[Reader] = []
        before: tuple[int, int] | None = None
        while True:
            page = reads.readers(msg_id, 3, before)
            paged += page
            if len(page) < 3:
                break
            before = (page[-1].read_at, page[-1].user_id)
        assert paged == expected


def test_memory_of_a_large_chat() -> None:
    full = ChatReads([(u, 1, u * 10, 1_800_000_000 + u) for u in range(1, 10_001)])
    assert full.nbytes() <= 200_000
    assert full.count(50_000) == 10_000 - 4_999
    joined = ChatReads([(u, u, u * 10, 1_800_000_000 + u) for u in range(1, 10_001)])
    assert joined.nbytes() <= 280_000
