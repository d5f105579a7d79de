"""One switch per service for development-only endpoints, off in production."""

from contextlib import AsyncExitStack
from typing import ClassVar, Literal

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from stackkit.service import ReadinessCheck, create_service_app, development_only
from stackkit.settings import ServiceSettings


class WidgetSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WIDGET_")


async def _no_resources(_: FastAPI, __: AsyncExitStack) -> dict[str, ReadinessCheck]:
    return {}


def _client(settings: WidgetSettings) -> TestClient:
    app = create_service_app(name="widget", settings=settings, lifespan_parts=(_no_resources,))
    router = APIRouter()

    @router.post("/dev/things", dependencies=[development_only])
    async def make_thing() -> dict[str, str]:
        return {"made": "thing"}

    app.include_router(router)
    return TestClient(app)


def test_development_serves_dev_endpoints_by_default() -> None:
    response = _client(WidgetSettings(environment="development")).post("/dev/things")
    assert response.status_code == 200


def test_production_hides_dev_endpoints_in_the_error_shape() -> None:
    response = _client(WidgetSettings(environment="production")).post("/dev/things")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_development_can_switch_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGET_DEV_ENDPOINTS", "false")
    assert _client(WidgetSettings()).post("/dev/things").status_code == 404


def test_production_refuses_to_turn_them_on() -> None:
    with pytest.raises(ValidationError, match="development endpoints"):
        WidgetSettings(environment="production", dev_endpoints=True)


class GadgetSettings(ServiceSettings):
    """A service with a development-only switch of its own, beside the endpoints'."""

    model_config = SettingsConfigDict(env_prefix="GADGET_")
    DEVELOPMENT_SWITCHES: ClassVar[dict[str, str]] = {
        **ServiceSettings.DEVELOPMENT_SWITCHES,
        "allow_shortcuts": "shortcuts cannot be allowed in production",
    }

    allow_shortcuts: bool | None = None


@pytest.mark.parametrize(
    ("environment", "value", "on"),
    [
        ("development", None, True),
        ("development", True, True),
        ("development", False, False),
        ("production", None, False),
        ("production", False, False),
    ],
)
def test_a_development_switch_is_on_in_development_unless_turned_off(
    environment: Literal["development", "production"], value: bool | None, on: bool
) -> None:
    settings = GadgetSettings(environment=environment, allow_shortcuts=value)
    assert settings.development_switch("allow_shortcuts") is on
    assert settings.dev_endpoints_enabled is (environment == "development")


def test_production_refuses_every_development_switch_with_its_own_reason() -> None:
    with pytest.raises(ValidationError, match="shortcuts cannot be allowed in production"):
        GadgetSettings(environment="production", allow_shortcuts=True)
    with pytest.raises(ValidationError, match="development endpoints"):
        GadgetSettings(environment="production", dev_endpoints=True)
