"""Ancestor queries over a DAG given as ``node -> its direct parents``.

One home for "which nodes does this one depend on": :func:`ancestors_of` walks the parents
of one node (or several) on demand; :func:`ancestors` computes every node's ancestors at
once, one bitmask per node, for callers that ask about many pairs (the pipeline builder,
the DAG width of a suggestion). Pure; knows nothing of notebooks or steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TypeVar

_T = TypeVar("_T")


def ancestors_of(
    parents: Mapping[str, Iterable[str]], nodes: str | Iterable[str]
) -> frozenset[str]:
    """Every node that ``nodes`` (one node, or several: the union) depend on, directly or not.

    ``parents`` maps a node to its direct parents; a node it does not list has none. The
    given nodes are in the result only when one is upstream of another (or of itself,
    round a cycle: the walk stops at nodes already seen, so cycles are harmless)."""
    start = [nodes] if isinstance(nodes, str) else nodes
    seen: set[str] = set()
    todo = [p for n in start for p in parents.get(n, ())]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(parents.get(n, ()))
    return frozenset(seen)


class AncestorSet(AbstractSet[str]):
    """The transitive predecessors of one step: a read-only view of a bitmask.

    Membership is one bit test, so asking about every pair of steps stays cheap where
    materialised sets would hold a quadratic number of names (a chain of n steps).
    Iteration yields the names in rank order (``Ancestors``' ``rank``)."""

    __slots__ = ("_mask", "_names", "_bit")

    def __init__(self, mask: int, names: Sequence[str], bit: Mapping[str, int]) -> None:
        self._mask, self._names, self._bit = mask, names, bit

    def __contains__(self, name: object) -> bool:
        b = self._bit.get(name) if isinstance(name, str) else None
        return b is not None and bool(self._mask >> b & 1)

    def __iter__(self) -> Iterator[str]:
        m = self._mask
        while m:
            low = m & -m
            yield self._names[low.bit_length() - 1]
            m ^= low

    def __len__(self) -> int:
        return self._mask.bit_count()

    def __repr__(self) -> str:
        return f"AncestorSet({set(self)!r})"

    @classmethod
    def _from_iterable(cls, it: Iterable[_T]) -> AbstractSet[_T]:
        return set(it)  # `a | b`, `a & b`... give plain sets


class Ancestors(Mapping[str, AncestorSet]):
    """Transitive predecessors of every step, one bitmask per step (see ``ancestors``)."""

    def __init__(
        self,
        order: Sequence[str],
        preds: Mapping[str, Iterable[str]],
        rank: Sequence[str] | None = None,
    ) -> None:
        self._names = list(rank if rank is not None else order)
        self._bit = {n: i for i, n in enumerate(self._names)}
        bit = {n: 1 << i for n, i in self._bit.items()}
        self._masks: dict[str, int] = {}
        for n in order:
            m = 0
            for p in preds.get(n, ()):
                m |= self._masks[p] | bit[p]
            self._masks[n] = m

    def __getitem__(self, step: str) -> AncestorSet:
        return AncestorSet(self._masks[step], self._names, self._bit)

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def bits(self, step: str) -> int:
        """The ancestors of ``step`` as a mask (bit ``i``: the ``i``-th name of ``rank``)."""
        return self._masks[step]

    def members(self, mask: int) -> list[str]:
        """The names of the bits of ``mask``, in rank order."""
        return list(AncestorSet(mask, self._names, self._bit))

    def mask(self, names: Iterable[str]) -> int:
        """The bits of ``names`` (for :meth:`latest`, or to combine with :meth:`bits`)."""
        m = 0
        for n in names:
            m |= 1 << self._bit[n]
        return m

    def latest(self, step: str, among: int) -> str | None:
        """The ancestor of ``step`` in ``among`` (a :meth:`mask`) ranked last, if any."""
        hit = self._masks[step] & among
        return self._names[hit.bit_length() - 1] if hit else None


def ancestors(
    order: Sequence[str], preds: Mapping[str, Iterable[str]], rank: Sequence[str] | None = None
) -> Ancestors:
    """Transitive predecessors of every step (``order`` must be topological).

    ``rank`` (default ``order``) orders each step's ancestors when iterated and decides
    which one :meth:`Ancestors.latest` picks; pass the notebook order for "the last above".
    The memoised form of :func:`ancestors_of`: each step's set is built from its parents'.
    """
    return Ancestors(order, preds, rank)
