"""A finite state machine as a transition table: the one way services validate lifecycles."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from stackkit.errors import DomainError

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)


@dataclass(frozen=True)
class StateMachine(Generic[S, A]):
    """``transitions`` maps (status, action) to the next status; anything else is refused."""

    transitions: Mapping[tuple[S, A], S]
    refuse: Callable[[S, A, list[str]], DomainError]
    """Builds the error for an illegal move, given the statuses from which the action is allowed."""

    def next(self, status: S, action: A) -> S:
        target = self.transitions.get((status, action))
        if target is None:
            allowed = sorted({s.value for (s, a) in self.transitions if a == action})
            raise self.refuse(status, action, allowed)
        return target

    def can(self, status: S, action: A) -> bool:
        return (status, action) in self.transitions

    def terminal(self, status: S) -> bool:
        return not any(s == status for (s, _) in self.transitions)
