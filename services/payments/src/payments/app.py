from contextlib import AsyncExitStack

from fastapi import FastAPI

from payments.api import router
from payments.events import TOPICS
from payments.settings import PaymentsSettings
from payments.wiring import open_payments
from stackkit.lifespan import backends
from stackkit.service import ReadinessCheck, create_service_app


async def open_payments_api(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The use cases over the database and the acquirers, and the API keys' cache."""
    settings: PaymentsSettings = app.state.settings
    app.state.payments = await open_payments(
        stack, settings, app.state.db, app.state.metrics.registry
    )
    app.state.merchant_by_key = {}
    return {}


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    return create_service_app(
        name="payments",
        settings=settings or PaymentsSettings(),
        lifespan_parts=(backends(TOPICS), open_payments_api),
        routers=(router,),
        description="Stripe: PaymentIntents with idempotency keys and a state machine.",
    )
