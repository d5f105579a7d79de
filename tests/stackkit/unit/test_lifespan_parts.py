"""create_service_app's lifespan parts and routers: opened in order, closed in reverse, checked
in order, and served after the ops routes."""

from contextlib import AsyncExitStack

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from stackkit.lifespan import backends
from stackkit.service import LifespanPart, ReadinessCheck, create_service_app, from_state
from stackkit.settings import ServiceSettings


def _part(name: str, journal: list[str], *, check_fails: bool = False) -> LifespanPart:
    async def open_part(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        seen = [key for key in ("settings", "metrics", "first") if hasattr(app.state, key)]
        journal.append(f"open {name}, seeing {seen}")
        setattr(app.state, name, f"{name}-adapter")
        stack.callback(journal.append, f"close {name}")

        async def check() -> None:
            if check_fails:
                raise ConnectionError(f"{name} refused")

        return {f"{name}-check": check}

    return open_part


def test_parts_open_in_order_close_in_reverse_and_their_checks_keep_the_order() -> None:
    journal: list[str] = []
    app = create_service_app(
        name="widgets",
        settings=ServiceSettings(),
        lifespan_parts=(_part("first", journal), _part("second", journal, check_fails=True)),
    )
    with TestClient(app) as client:
        assert journal == [
            "open first, seeing ['settings', 'metrics']",
            "open second, seeing ['settings', 'metrics', 'first']",
        ]
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert list(ready.json()["checks"]) == ["first-check", "second-check"]
        assert ready.json()["checks"]["first-check"] == "ok"
    assert journal[2:] == ["close second", "close first"]


def test_no_parts_is_ready_with_no_checks() -> None:
    with TestClient(create_service_app(name="widgets", settings=ServiceSettings())) as client:
        assert client.get("/readyz").json() == {
            "status": "ready", "service": "widgets", "checks": {},
        }  # fmt: skip


def test_routers_are_served_in_order_after_the_ops_routes_and_reach_the_parts_state() -> None:
    journal: list[str] = []
    first, second = APIRouter(), APIRouter()

    @first.get("/things/special")
    async def special() -> dict[str, str]:
        return {"route": "special"}

    @second.get("/things/{name}")
    async def thing(name: str, adapter: str = from_state("first")) -> dict[str, str]:
        return {"route": "thing", "name": name, "adapter": adapter}

    @second.get("/healthz")
    async def shadowed() -> dict[str, str]:
        return {"route": "shadowed"}

    app = create_service_app(
        name="widgets",
        settings=ServiceSettings(),
        lifespan_parts=(_part("first", journal),),
        routers=(first, second),
    )
    with TestClient(app) as client:
        assert client.get("/things/special").json() == {"route": "special"}
        assert client.get("/things/other").json() == {
            "route": "thing", "name": "other", "adapter": "first-adapter",
        }  # fmt: skip
        assert client.get("/healthz").json() == {"status": "ok", "service": "widgets"}


async def test_backends_of_settings_without_backends_open_nothing() -> None:
    app = FastAPI()
    app.state.settings = ServiceSettings()
    async with AsyncExitStack() as stack:
        assert await backends()(app, stack) == {}
    assert not hasattr(app.state, "db") and not hasattr(app.state, "events")
