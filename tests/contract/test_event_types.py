"""Events as code: an event type is spelled in one place, its service's ``events.py``.

Every service declares the kinds of event it publishes as ``EVENTS = EventTypes("<service>",
...)`` in its ``events.py``; producers build envelopes through it and consumers dispatch on the
model it parses. So no other source under ``services/*/src`` may hold a declared type as a
string: neither the whole type (``"edge.config.changed"``) nor the head of an f-string that
builds one (``f"dispatch.trip.{action}"``), nor a dotted head a type is matched against
(``"payments."``). Sources are read with :mod:`ast`; only the ``events`` modules are imported,
to ask their ``EVENTS`` what they declare.
"""

import ast
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackkit.events import EventTypes

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("catalog", "chat", "dispatch", "edge", "payments")


@dataclass(frozen=True)
class Spelling:
    """A string in a source that spells (part of) a declared event type."""

    path: Path
    line: int
    text: str
    event_type: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.text!r} ({self.event_type})"


def declared_types(service: str) -> frozenset[str]:
    events = importlib.import_module(f"{service}.events")
    declared = getattr(events, "EVENTS", None)
    assert isinstance(declared, EventTypes), f"{service}.events declares no EVENTS"
    assert declared.source == service, f"{service}'s EVENTS publish as {declared.source!r}"
    return declared.names


def spells(text: str, event_type: str, *, head: bool) -> bool:
    """Whether ``text`` is ``event_type``, or (``head``: it starts an f-string, or is a
    constant ending in a dot) a dotted beginning of it: ``"catalog.play."`` of
    ``"catalog.play.start"``. A head must hold a dot: ``f"c{x}"`` builds no type."""
    if text == event_type:
        return True
    return head and "." in text and event_type.startswith(text)


def string_spellings(source: str) -> Iterator[tuple[int, str, bool]]:
    """(line, text, is_head) of every string in ``source`` that could spell a type: each
    constant (a head when it ends in a dot), and the leading text of each f-string."""
    tree = ast.parse(source)
    in_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstrings.update(id(part) for part in node.values)
            first = node.values[0] if node.values else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value, True
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in in_fstrings
        ):
            yield node.lineno, node.value, node.value.endswith(".")


def find_spellings(path: Path, event_types: Iterable[str]) -> list[Spelling]:
    types = sorted(event_types)
    return [
        Spelling(path, line, text, event_type)
        for line, text, head in string_spellings(path.read_text())
        for event_type in types
        if spells(text, event_type, head=head)
    ]


def service_sources() -> list[Path]:
    return sorted(REPO.glob("services/*/src/*/**/*.py"))


DECLARED = {service: declared_types(service) for service in SERVICES}


def test_every_service_declares_its_events_and_they_do_not_overlap() -> None:
    packages = {path.parent.name for path in REPO.glob("services/*/src/*/events.py")}
    assert packages == set(SERVICES)
    for service, names in DECLARED.items():
        assert names, f"{service} declares no event types"
        assert all(name.startswith(f"{service}.") for name in names), (service, sorted(names))
    every = [name for names in DECLARED.values() for name in names]
    assert len(every) == len(set(every))


@pytest.mark.parametrize(
    "path", service_sources(), ids=lambda path: str(path.relative_to(REPO / "services"))
)
def test_no_event_type_is_spelled_outside_its_services_events_py(path: Path) -> None:
    service = path.relative_to(REPO / "services").parts[0]
    own_events = REPO / "services" / service / "src" / service / "events.py"
    forbidden = {
        name
        for owner, names in DECLARED.items()
        for name in names
        if not (owner == service and path == own_events)
    }
    spellings = find_spellings(path, forbidden)
    assert not spellings, "build events through EVENTS in events.py:\n" + "\n".join(
        map(str, spellings)
    )


# -- the scan itself ---------------------------------------------------------------------------

TYPES = {"shop.order.placed", "shop.order.shipped", "shop.refund"}


def scan(tmp_path: Path, source: str) -> list[tuple[int, str, str]]:
    path = tmp_path / "module.py"
    path.write_text(source)
    return [(s.line, s.text, s.event_type) for s in find_spellings(path, TYPES)]


def test_a_whole_type_is_found_wherever_it_is_written(tmp_path: Path) -> None:
    source = (
        'TYPE = "shop.order.placed"\n'
        'def f(event):\n    return event.type == "shop.refund"\n'
        'CALL = publish(type="shop.order.shipped")\n'
    )
    assert scan(tmp_path, source) == [
        (1, "shop.order.placed", "shop.order.placed"),
        (3, "shop.refund", "shop.refund"),
        (4, "shop.order.shipped", "shop.order.shipped"),
    ]


def test_an_f_string_building_a_type_is_found_by_its_head(tmp_path: Path) -> None:
    found = scan(tmp_path, 'name = f"shop.order.{what}"\nother = f"shop.{kind}.x"\n')
    assert found == [
        (1, "shop.order.", "shop.order.placed"),
        (1, "shop.order.", "shop.order.shipped"),
        (2, "shop.", "shop.order.placed"),
        (2, "shop.", "shop.order.shipped"),
        (2, "shop.", "shop.refund"),
    ]


def test_a_dotted_head_matched_against_types_is_found(tmp_path: Path) -> None:
    found = scan(tmp_path, 'if event.type.startswith("shop.order."):\n    pass\n')
    assert found == [
        (1, "shop.order.", "shop.order.placed"),
        (1, "shop.order.", "shop.order.shipped"),
    ]


def test_strings_that_only_look_alike_are_not_types(tmp_path: Path) -> None:
    source = (
        '"""Docs may talk about shop.order.placed events."""\n'
        'TOPIC = "shop.orders"\n'  # a topic, not a type
        'KEY = f"shop:order:{order_id}"\n'  # a Redis key
        'LABEL = f"s{n}"\n'  # no dot: no type is built from this
        'METRIC = f"{prefix}shop.order.placed"\n'  # a tail, not a head
        'PART = "shop.order"\n'  # neither a whole type nor a dotted head
        'BYTES = b"shop.refund"\n'
    )
    assert scan(tmp_path, source) == []


def test_the_parts_of_an_f_string_are_not_read_again_as_constants(tmp_path: Path) -> None:
    assert scan(tmp_path, 'x = f"{a}shop.refund"\n') == []
