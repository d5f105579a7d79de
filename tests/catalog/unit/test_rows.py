"""Home rows: personal when possible, popular when the recommender is down."""

from catalog.rows import build_rows

GENRES = {"t1": {"drama"}, "t2": {"drama", "crime"}, "t3": {"comedy"}, "t4": {"crime"}}


async def genres_of(title: str) -> set[str]:
    return GENRES.get(title, set())


async def test_rows_are_personal_when_history_is_available() -> None:
    async def recent() -> list[str]:
        return ["t1", "t1", "t3"]

    personalized, rows = await build_rows("eu", ["t2", "t3", "t4", "t1"], recent, genres_of)
    assert personalized
    assert [(r.name, r.titles) for r in rows] == [
        ("Continue watching", ["t1", "t3"]),
        ("Because you watched t1", ["t2"]),
        ("Trending in eu", ["t2", "t3", "t4", "t1"]),
    ]


async def test_rows_fall_back_to_popular_when_the_recommender_fails() -> None:
    async def broken() -> list[str]:
        raise ConnectionError("cassandra is down")

    personalized, rows = await build_rows("us", ["t4", "t2"], broken, genres_of)
    assert not personalized
    assert [(r.name, r.titles) for r in rows] == [("Trending in us", ["t4", "t2"])]


async def test_a_new_profile_sees_trending_only() -> None:
    async def nothing() -> list[str]:
        return []

    personalized, rows = await build_rows("eu", ["t1"], nothing, genres_of)
    assert personalized and [r.name for r in rows] == ["Trending in eu"]
