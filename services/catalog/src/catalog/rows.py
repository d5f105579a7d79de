"""The rows on a profile's home page, with Netflix's fallback habit: if anything personal
fails (the history store, the title lookups), the page still shows what is popular."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stackkit.logs import get_logger

log = get_logger(__name__)
ROW_LENGTH = 10


@dataclass
class Row:
    name: str
    titles: list[str]


async def build_rows(
    region: str,
    popular: list[str],
    recent_titles: Callable[[], Awaitable[list[str]]],
    genres_of: Callable[[str], Awaitable[set[str]]],
) -> tuple[bool, list[Row]]:
    """(personalized?, rows). ``popular`` is the region's trending list, most popular first."""
    trending = Row(f"Trending in {region}", popular[:ROW_LENGTH])
    try:
        recent = list(dict.fromkeys(await recent_titles()))  # distinct, newest first
        rows = [Row("Continue watching", recent[:ROW_LENGTH])] if recent else []
        if recent:
            last = recent[0]
            wanted = await genres_of(last)
            similar = [t for t in popular if t not in recent and wanted & await genres_of(t)]
            rows.append(Row(f"Because you watched {last}", similar[:ROW_LENGTH]))
        return True, [*rows, trending]
    except Exception as error:
        log.warning("recommendations_unavailable", error=repr(error))
        return False, [trending]
