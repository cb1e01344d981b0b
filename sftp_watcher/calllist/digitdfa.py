"""phonenumbers' digit patterns as one table-driven automaton, run on a whole column with numpy.

phonenumbers' metadata patterns use a tiny regex dialect: digits, ``\\d``, ``[...]``,
``(?:...)``, ``|``, ``?`` and ``{n,m}``. Over that dialect "fullmatch" is plain set
membership, so the patterns compile to a deterministic automaton over the digits 0-9.
Stepping 70,000 numbers through a table lookup per digit is a dozen numpy gathers,
where a backtracking regex costs about a microsecond per number. Anything outside the
dialect raises ``Unsupported``, and the caller keeps to the slower paths.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAX_DEPTH = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN: no national number is longer
_ALL = (1 << 10) - 1  # the digit set of \d, one bit per digit


@dataclass(frozen=True, slots=True)
class _Digits:
    mask: int  # bit d set: digit d matches


@dataclass(frozen=True, slots=True)
class _Sequence:
    parts: list[_Node]


@dataclass(frozen=True, slots=True)
class _Either:
    parts: list[_Node]


@dataclass(frozen=True, slots=True)
class _Repeat:
    part: _Node
    low: int
    high: int


_Node = _Digits | _Sequence | _Either | _Repeat  # a parsed pattern


class Unsupported(ValueError):
    """The pattern uses regex syntax beyond phonenumbers' usual digit dialect."""


@dataclass(frozen=True, slots=True)
class Component:
    """One pattern of an automaton, and the national-number lengths it may accept."""

    pattern: str
    lengths: frozenset[int] = frozenset()  # empty: any length


@dataclass(frozen=True, eq=False)
class DigitAutomaton:
    """``step[state, digit]`` is the next state; ``accepts[state]`` says the digits so far pass.

    State 0 is the dead state. A string of digits passes when the general pattern
    matches it whole, at least one of the type patterns does, and no prefix of it
    matches the forbidden pattern.
    """

    step: npt.NDArray[np.intp]
    accepts: npt.NDArray[np.bool_]

    def passes(self, digits: str) -> bool:
        """One number of ASCII digits, stepped in Python: cheaper than numpy for a few."""
        table, state = self._table, 1
        for char in digits[: MAX_DEPTH + 1]:
            state = table[state][ord(char) - 48] if state else 0
        return len(digits) <= MAX_DEPTH and bool(self.accepts[state])

    @functools.cached_property
    def _table(self) -> list[list[int]]:
        table: list[list[int]] = self.step.tolist()
        return table

    def run_all(self, digits: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """Which numbers pass: ``digits[i, k]`` is digit i of number k, all of one length."""
        flat = self.step.ravel()
        state = np.ones(digits.shape[1], dtype=np.intp)
        for row in digits[:MAX_DEPTH]:
            state = flat.take(state * 10 + row)
        passed: npt.NDArray[np.bool_] = self.accepts.take(state) & (len(digits) <= MAX_DEPTH)
        return passed


def build(
    general: Component, types: Sequence[Component], forbidden_prefix: str | None
) -> DigitAutomaton:
    """The automaton of ``general and any(types) and not forbidden_prefix.match``."""
    nfa = _Nfa()
    general_end = nfa.add(_parse(general.pattern))
    type_ends = [(nfa.add(_parse(t.pattern)), t.lengths) for t in types]
    forbidden_end = nfa.add(_parse(forbidden_prefix)) if forbidden_prefix else None
    return _determinise(nfa, (general_end, general.lengths), type_ends, forbidden_end)


class _Nfa:
    """Thompson automaton: digit-set edges and empty edges; every component starts at 0."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[int, int]]] = [[]]
        self.empty: list[list[int]] = [[]]
        self._closures: dict[frozenset[int], frozenset[int]] = {}

    def add(self, node: _Node) -> int:
        """Hang a pattern off the start state; returns its accepting state."""
        start, end = self._fragment(node)
        self.empty[0].append(start)
        return end

    def closure(self, states: frozenset[int]) -> frozenset[int]:
        """The states reachable through empty edges (memoised: subsets repeat a lot)."""
        known = self._closures.get(states)
        if known is None:
            seen = set(states)
            stack = list(states)
            while stack:
                for target in self.empty[stack.pop()]:
                    if target not in seen:
                        seen.add(target)
                        stack.append(target)
            known = self._closures[states] = frozenset(seen)
        return known

    def move(self, states: frozenset[int], digit: int) -> frozenset[int]:
        """The closure of the states one ``digit`` leads to."""
        bit = 1 << digit
        targets = {t for s in states for mask, t in self.edges[s] if mask & bit}
        return self.closure(frozenset(targets)) if targets else frozenset()

    def _state(self) -> int:
        self.edges.append([])
        self.empty.append([])
        return len(self.edges) - 1

    def _fragment(self, node: _Node) -> tuple[int, int]:
        start = self._state()
        end = start
        if isinstance(node, _Digits):
            end = self._state()
            self.edges[start].append((node.mask, end))
        elif isinstance(node, _Sequence):
            for part in node.parts:
                part_start, part_end = self._fragment(part)
                self.empty[end].append(part_start)
                end = part_end
        elif isinstance(node, _Either):
            end = self._state()
            for part in node.parts:
                part_start, part_end = self._fragment(part)
                self.empty[start].append(part_start)
                self.empty[part_end].append(end)
        else:  # low copies, then high - low optional ones
            optional: list[int] = []
            for count in range(node.high):
                if count >= node.low:
                    optional.append(end)
                part_start, part_end = self._fragment(node.part)
                self.empty[end].append(part_start)
                end = part_end
            for skip_from in optional:
                self.empty[skip_from].append(end)
        return start, end


def _determinise(
    nfa: _Nfa,
    general: tuple[int, frozenset[int]],
    types: list[tuple[int, frozenset[int]]],
    forbidden_end: int | None,
) -> DigitAutomaton:
    """Subset construction; a state is (depth, NFA states) so length rules can be decided."""

    def matched(depth: int, states: frozenset[int], end: int, lengths: frozenset[int]) -> bool:
        return end in states and (not lengths or depth in lengths)

    start = nfa.closure(frozenset({0}))
    if forbidden_end is not None and forbidden_end in start:
        return DigitAutomaton(np.zeros((2, 10), np.intp), np.zeros(2, np.bool_))
    index: dict[tuple[int, frozenset[int]], int] = {(0, start): 1}
    order = [(0, start)]
    step: list[list[int]] = [[0] * 10]  # state 0: dead
    accepts = [False]
    while len(step) < len(order) + 1:
        depth, states = order[len(step) - 1]
        row = [0] * 10
        for digit in range(10) if depth < MAX_DEPTH else ():
            targets = nfa.move(states, digit)
            if not targets or (forbidden_end is not None and forbidden_end in targets):
                continue  # nothing matches, or a forbidden prefix did: dead whatever follows
            key = (depth + 1, targets)
            if key not in index:
                index[key] = len(order) + 1
                order.append(key)
            row[digit] = index[key]
        step.append(row)
        accepts.append(
            matched(depth, states, *general) and any(matched(depth, states, *t) for t in types)
        )
    return DigitAutomaton(np.array(step, dtype=np.intp), np.array(accepts, dtype=np.bool_))


def _parse(pattern: str) -> _Node:
    parser = _Parser(pattern)
    node = parser.alternation()
    if parser.at < len(pattern):
        raise Unsupported(f"unexpected {pattern[parser.at]!r} at {parser.at} in {pattern!r}")
    return node


class _Parser:
    """Recursive descent over the digit dialect; raises ``Unsupported`` for anything else."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0

    def _peek(self) -> str:
        return self.pattern[self.at] if self.at < len(self.pattern) else ""

    def _take(self, text: str) -> bool:
        if self.pattern.startswith(text, self.at):
            self.at += len(text)
            return True
        return False

    def alternation(self) -> _Node:
        parts = [self._sequence()]
        while self._take("|"):
            parts.append(self._sequence())
        return parts[0] if len(parts) == 1 else _Either(parts)

    def _sequence(self) -> _Node:
        parts: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            parts.append(self._quantified(self._atom()))
        return _Sequence(parts)

    def _atom(self) -> _Node:
        char = self._peek()
        if char.isdigit() and char.isascii():
            self.at += 1
            return _Digits(1 << int(char))
        if self._take("\\d"):
            return _Digits(_ALL)
        if self._take("["):
            return _Digits(self._digit_class())
        if self._take("(?:") or self._take("("):
            node = self.alternation()
            if not self._take(")"):
                raise Unsupported(f"unclosed group in {self.pattern!r}")
            return node
        raise Unsupported(f"unexpected {char!r} at {self.at} in {self.pattern!r}")

    def _digit_class(self) -> int:
        mask = 0
        while not self._take("]"):
            first = self._peek()
            if not (first.isdigit() and first.isascii()):
                raise Unsupported(f"class member {first!r} in {self.pattern!r}")
            self.at += 1
            last = first
            if self._peek() == "-" and self.pattern[self.at + 1 : self.at + 2] != "]":
                self.at += 1
                last = self._peek()
                if not (last.isdigit() and last.isascii()):
                    raise Unsupported(f"class range to {last!r} in {self.pattern!r}")
                self.at += 1
            for digit in range(int(first), int(last) + 1):
                mask |= 1 << digit
        return mask

    def _quantified(self, node: _Node) -> _Node:
        if self._take("?"):
            return _Repeat(node, 0, 1)
        if not self._take("{"):
            return node
        end = self.pattern.find("}", self.at)
        low, comma, high = self.pattern[self.at : end].partition(",")
        if end < 0 or not low.isdigit() or not (high.isdigit() or not high):
            raise Unsupported(f"quantifier at {self.at} in {self.pattern!r}")
        self.at = end + 1
        # {n,} is unbounded, but no national number is longer than MAX_DEPTH digits.
        top = int(high) if high else MAX_DEPTH if comma else int(low)
        return _Repeat(node, int(low), min(top, MAX_DEPTH))
