"""The bare-number check compiled into a table that the C candidate scan walks.

Most digit runs in ordinary traffic are timestamps, ids and counters written with nothing
else, and the detector first asks of each whether any policy country has a number of that
shape (`phone._bare_plausibility`). As a regex that costs about a microsecond a run, and the
Python around the call costs as much again; as a deterministic automaton over the ten digits
it is one table look-up per digit inside the scan, and the runs that fail never become Python
work.

A shape is a head (a trunk prefix that may be left off, a country code, or nothing) followed
by a national number that fits one number type's pattern and has one of its lengths. The
patterns are libphonenumber's, read with the stdlib's own regex parser. A pattern using
something this module does not model (look-arounds, back-references, possessive repeats) makes
the build raise `Unsupported`, and the caller keeps the regex.
"""

from __future__ import annotations

import re._constants as sre
import re._parser as sre_parse
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

# Digit strings longer than this are never asked about (the scan's runs have at most 32
# digits); it bounds national numbers whose type gives no lengths.
LONGEST = 40
_ALL_DIGITS = (1 << 10) - 1
_MAX_REPEAT = 64  # patterns with larger counts are not numbering plans


class Unsupported(ValueError):
    """A pattern this module cannot turn into an automaton."""


@dataclass(frozen=True)
class Shape:
    head: str  # a pattern for what may stand before the national number; "" for nothing
    national: str  # the national number's pattern
    lengths: frozenset[int] | None  # the national number's lengths; None: any


@dataclass(frozen=True)
class Automaton:
    """Digit strings some shape accepts. State 0 is the start; `transitions` holds, for each
    state and digit, the next state (int32, native byte order) or -1 where no accepted string
    continues that way; `accepting` holds 1 for each state where an accepted string may end."""

    transitions: bytes
    accepting: bytes
    exact: bool = True  # False: some shape was widened (see compile_shapes), so this accepts more

    def accepts(self, digits: str) -> bool:
        table = array("i")
        table.frombytes(self.transitions)
        state = 0
        for char in digits:
            if not "0" <= char <= "9":
                return False
            state = table[state * 10 + ord(char) - 48]
            if state < 0:
                return False
        return bool(self.accepting[state])


def compile_shapes(shapes: Sequence[Shape]) -> Automaton:
    """The automaton of the shapes' union. A head or national pattern it cannot model is taken
    as any digits of that pattern's lengths: the automaton then accepts more than the shapes
    (`exact` is False), so what it rejects is still rejected by them."""
    exact = True
    automata = []
    # Shapes that differ only in their national pattern are one shape with the alternation of
    # those patterns (the countries sharing +1 all follow "1" with ten digits of their own).
    merged: dict[tuple[str, frozenset[int] | None], list[str]] = {}
    for shape in shapes:
        merged.setdefault((shape.head, shape.lengths), []).append(shape.national)
    shapes = [Shape(head, "|".join(f"(?:{n})" for n in dict.fromkeys(nationals)), lengths)
              for (head, lengths), nationals in merged.items()]
    for shape in shapes:
        try:
            parts = _thompson(shape)
        except Unsupported:
            shape, exact = Shape(_widened(shape.head), _widened(shape.national), shape.lengths), False
            parts = _thompson(shape)
        # Each shape on its own first, then unions of pairs, each made minimal: determinising
        # all the shapes at once passes through ten times as many states as the result has.
        automata.append(_minimal(*_determinise(*parts)))
    while len(automata) > 1:
        automata = [_minimal(*_union(*automata[i:i + 2])) if i + 1 < len(automata) else automata[i]
                    for i in range(0, len(automata), 2)]
    transitions, accepting = automata[0] if automata else ([[-1] * 10], [False])
    return Automaton(array("i", [t for row in transitions for t in row]).tobytes(), bytes(accepting), exact)


def _widened(pattern: str) -> str:
    """The pattern itself where this module can model it, else any digits of its lengths."""
    nfa = _Nfa()
    try:
        nfa.add(pattern, nfa.state())
        return pattern
    except Unsupported:
        pass
    low, high = sre_parse.parse(pattern).getwidth()
    if high > _MAX_REPEAT:
        raise Unsupported(f"{pattern!r} has no bound on its length")
    return f"[0-9]{{{low},{high}}}"


def _thompson(shape: Shape) -> tuple[_Nfa, tuple]:
    nfa = _Nfa()
    head_start = nfa.state()
    head_end = nfa.add(shape.head, head_start)
    national_start = nfa.state()
    national_end = nfa.add(shape.national, national_start)
    lengths = shape.lengths if shape.lengths is not None else frozenset(range(LONGEST + 1))
    return nfa, (head_start, head_end, national_start, national_end, lengths, max(lengths, default=-1))


class _Nfa:
    """Thompson's construction over the digit alphabet: moves carry a bit mask of digits.
    Besides empty moves there are end moves, for a "$": past one, no digit may follow."""

    def __init__(self):
        self.moves: list[list[tuple[int, int]]] = []
        self.empty: list[list[int]] = []
        self.ends: list[list[int]] = []
        self._closures: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def state(self) -> int:
        self.moves.append([])
        self.empty.append([])
        self.ends.append([])
        return len(self.moves) - 1

    def add(self, pattern: str, start: int) -> int:
        try:
            parsed = sre_parse.parse(pattern)
        except re.error as e:
            raise Unsupported(f"{pattern!r}: {e}") from e
        return self._sequence(parsed, start)

    def closure(self, state: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The states reached without reading a digit: those that may still read digits, and
        those reached past a "$", where the string must end."""
        known = self._closures.get(state)
        if known is None:
            seen, todo = {(state, False)}, [(state, False)]
            while todo:
                source, ended = todo.pop()
                for target in [(t, ended) for t in self.empty[source]] + [(t, True) for t in self.ends[source]]:
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
            known = self._closures[state] = (tuple(sorted(s for s, ended in seen if not ended)),
                                             tuple(sorted(s for s, ended in seen if ended)))
        return known

    def _sequence(self, items, start: int) -> int:
        for op, argument in items:
            start = self._item(op, argument, start)
        return start

    def _item(self, op, argument, start: int) -> int:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            end = self.state()
            mask = _digits_of(op, argument)
            if mask:
                self.moves[start].append((mask, end))
            return end
        if op is sre.SUBPATTERN:
            return self._sequence(argument[3], start)
        if op is sre.AT and argument in (sre.AT_END, sre.AT_END_STRING):
            # A transform rule's `([457]\d{6})$|1`: that branch is the whole number.
            end = self.state()
            self.ends[start].append(end)
            return end
        if op is sre.BRANCH:
            end = self.state()
            for branch in argument[1]:
                entry = self.state()
                self.empty[start].append(entry)
                self.empty[self._sequence(branch, entry)].append(end)
            return end
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            # Greedy or lazy, a full match exists the same way; only the order of trying differs.
            low, high, body = argument
            unbounded = high is sre.MAXREPEAT
            if low > _MAX_REPEAT or (not unbounded and high > _MAX_REPEAT):
                raise Unsupported(f"a repeat of {low} to {high}")
            for _ in range(low):
                start = self._sequence(body, start)
            if unbounded:
                loop = self.state()
                self.empty[start].append(loop)
                self.empty[self._sequence(body, loop)].append(loop)
                return loop
            end = self.state()
            self.empty[start].append(end)
            for _ in range(high - low):
                start = self._sequence(body, start)
                self.empty[start].append(end)
            return end
        raise Unsupported(f"the construct {op}")


def _digits_of(op, argument) -> int:
    """The digits one character of the pattern matches, as a mask (bit d for digit d)."""
    if op is sre.ANY:
        return _ALL_DIGITS
    if op is sre.LITERAL:
        return _digit_bit(argument)
    if op is sre.NOT_LITERAL:
        return _ALL_DIGITS & ~_digit_bit(argument)
    mask, negate = 0, False
    for kind, value in argument:
        if kind is sre.NEGATE:
            negate = True
        elif kind is sre.LITERAL:
            mask |= _digit_bit(value)
        elif kind is sre.RANGE:
            low, high = value
            mask |= sum(1 << d for d in range(10) if low <= 48 + d <= high)
        elif kind is sre.CATEGORY:
            if value in (sre.CATEGORY_DIGIT, sre.CATEGORY_WORD, sre.CATEGORY_NOT_SPACE):
                mask = _ALL_DIGITS
            elif value not in (sre.CATEGORY_NOT_DIGIT, sre.CATEGORY_NOT_WORD, sre.CATEGORY_SPACE):
                raise Unsupported(f"the category {value}")
        else:
            raise Unsupported(f"the set member {kind}")
    return _ALL_DIGITS & ~mask if negate else mask


def _digit_bit(code: int) -> int:
    return 1 << (code - 48) if 48 <= code <= 57 else 0


_Dfa = tuple[list[list[int]], list[bool]]  # rows of next states by digit (-1: none), and acceptance


def _determinise(nfa: _Nfa, part: tuple) -> _Dfa:
    """The subset construction for one shape. A configuration is (NFA state, national digits
    read so far), the count being -1 while the head is read: a national number's length is
    checked where the string ends. Configurations past a "$" read no more digits: they only
    say whether the string may end where it is."""
    head_start, head_end, national_start, national_end, lengths, longest = part

    def settled(live: set, ended: set) -> tuple[frozenset, bool]:
        # Where a head may end, the national number may begin.
        for configurations, reading in ((live, True), (ended, False)):
            if (head_end, -1) in configurations:
                go_on, stop = nfa.closure(national_start)
                (live if reading else ended).update((s, 0) for s in go_on)
                ended.update((s, 0) for s in stop)
        accepting = any(state == national_end and count in lengths
                        for configurations in (live, ended) for state, count in configurations)
        # Only configurations with somewhere to go tell states apart.
        return frozenset(c for c in live if nfa.moves[c[0]]), accepting

    def step(key: tuple[frozenset, bool], digit: int) -> tuple[frozenset, bool] | None:
        bit = 1 << digit
        live, ended = set(), set()
        for state, count in key[0]:
            following = count + 1 if count >= 0 else -1
            if following > longest:
                continue
            for mask, target in nfa.moves[state]:
                if mask & bit:
                    go_on, stop = nfa.closure(target)
                    live.update((s, following) for s in go_on)
                    ended.update((s, following) for s in stop)
        reached = settled(live, ended)
        return reached if reached[0] or reached[1] else None

    go_on, stop = nfa.closure(head_start)
    return _explore(settled({(s, -1) for s in go_on}, {(s, -1) for s in stop}), step, lambda key: key[1])


def _explore(start, step, accepts) -> _Dfa:
    """The states reachable from `start`, numbered in the order found: `step(state, digit)`
    is the next state (any hashable key) or None, `accepts(state)` whether a string may end there."""
    index = {start: 0}
    order = [start]
    transitions: list[list[int]] = []
    accepting: list[bool] = []
    while len(transitions) < len(order):
        state = order[len(transitions)]
        accepting.append(accepts(state))
        row = []
        for digit in range(10):
            following = step(state, digit)
            if following is None:
                row.append(-1)
                continue
            if following not in index:
                index[following] = len(order)
                order.append(following)
            row.append(index[following])
        transitions.append(row)
    return transitions, accepting


def _union(first: _Dfa, second: _Dfa) -> _Dfa:
    """The product automaton: a state is a pair of states, -1 where that side is out."""

    def step(pair: tuple[int, int], digit: int) -> tuple[int, int] | None:
        p, q = pair
        following = (first[0][p][digit] if p >= 0 else -1, second[0][q][digit] if q >= 0 else -1)
        return None if following == (-1, -1) else following

    def accepts(pair: tuple[int, int]) -> bool:
        p, q = pair
        return (p >= 0 and first[1][p]) or (q >= 0 and second[1][q])

    return _explore((0, 0), step, accepts)


def _minimal(transitions: list[list[int]], accepting: list[bool]) -> _Dfa:
    """The same language with states that accept the same strings from there on made one."""
    order = _reverse_topological(transitions)
    classes = _classes_acyclic(transitions, accepting, order) if order is not None else \
        _classes_by_refinement(transitions, accepting)
    # Number the classes from the start state's, so that state 0 is the start.
    renumbered: dict[int, int] = {classes[0]: 0}
    for c in classes:
        renumbered.setdefault(c, len(renumbered))
    rows = [[-1] * 10 for _ in range(len(renumbered))]
    accepts = [False] * len(renumbered)
    for s, row in enumerate(transitions):
        new = renumbered[classes[s]]
        accepts[new] = accepting[s]
        rows[new] = [renumbered[classes[t]] if t >= 0 else -1 for t in row]
    return rows, accepts


def _reverse_topological(transitions: list[list[int]]) -> list[int] | None:
    """Every state after all the states it leads to; None if some path comes back on itself
    (a pattern with an unbounded repeat in its head)."""
    done = [0] * len(transitions)  # 0 unseen, 1 on the current path, 2 finished
    order: list[int] = []
    for root in range(len(transitions)):
        if done[root]:
            continue
        done[root] = 1
        stack = [(root, iter(transitions[root]))]
        while stack:
            state, successors = stack[-1]
            for t in successors:
                if t < 0 or done[t] == 2:
                    continue
                if done[t] == 1:
                    return None
                done[t] = 1
                stack.append((t, iter(transitions[t])))
                break
            else:
                stack.pop()
                done[state] = 2
                order.append(state)
    return order


def _classes_acyclic(transitions: list[list[int]], accepting: list[bool], order: list[int]) -> list[int]:
    # Successors first, so a state's signature is known to be final when it is taken.
    classes = [0] * len(transitions)
    signatures: dict[tuple, int] = {}
    for s in order:
        key = (accepting[s], *(classes[t] if t >= 0 else -1 for t in transitions[s]))
        classes[s] = signatures.setdefault(key, len(signatures))
    return classes


def _classes_by_refinement(transitions: list[list[int]], accepting: list[bool]) -> list[int]:
    """Moore's refinement, for automata with cycles."""
    classes = [int(a) for a in accepting]
    count = len(set(classes))
    while True:
        signatures: dict[tuple, int] = {}
        refined = [signatures.setdefault((classes[s], *(classes[t] if t >= 0 else -1 for t in row)),
                                         len(signatures))
                   for s, row in enumerate(transitions)]
        if len(signatures) == count:
            return classes
        classes, count = refined, len(signatures)
