"""The index answers exactly what a plain filter over the JSONL answers.

Random stores (several sessions and agents, many equal timestamps, damaged
lines, unknown types, values SQLite cannot hold, times at both ends of the
range) and thousands of random filter combinations: events(), count_events()
and files() are compared with a straightforward Python filter over every
line read back from the files, and again after index.db is deleted."""

import os
import random

import pytest

from treeship_store import Store

from support.oracle import build_store, check_answers, event_time, jsonl_events


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_answers_equal_a_plain_filter_over_the_jsonl(root, seed):
    rng = random.Random(seed)
    build_store(root, rng)
    events = jsonl_events(root)
    assert len({event_time(e) for e in events}) < 10  # ties everywhere
    for round_ in ("incremental index", "index.db deleted"):
        with Store(root) as store:
            check_answers(store, events, rng, 700, round_)
        os.unlink(root / "index.db")
