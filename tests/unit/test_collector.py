"""A full collection leaves nothing for the next one to walk again; what died in a cycle
after being frozen waits for the sweep, and the sweep reclaims it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from shared.runtime import collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def freezing() -> Iterator[None]:
    collector.freeze_survivors()
    try:
        yield
    finally:
        collector.stop_freezing()


def test_a_full_collection_freezes_what_it_leaves(freezing: None) -> None:
    kept = [Node() for _ in range(1000)]
    gc.collect()
    assert gc.get_objects(generation=2) == []  # walked once, not again
    assert gc.get_freeze_count() > len(kept)


def test_without_it_the_survivors_stay_to_be_walked_again() -> None:
    kept = [Node() for _ in range(1000)]
    gc.collect()
    survivors = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(n) in survivors for n in kept)


def test_a_cycle_that_died_frozen_waits_for_the_sweep(freezing: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect()  # alive: frozen
    del a, b
    gc.collect()
    assert gone() is not None  # not walked
    assert collector.sweep_once() >= 2
    assert gone() is None
    assert gc.get_objects(generation=2) == []  # the survivors frozen again


def test_objects_without_cycles_are_freed_frozen_or_not(freezing: None) -> None:
    a = Node()
    gone = weakref.ref(a)
    gc.collect()
    assert gc.get_freeze_count() > 0
    del a
    assert gone() is None
