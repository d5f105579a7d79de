from contextlib import AsyncExitStack

from fastapi import FastAPI

from payments.api import router
from payments.events import TOPICS
from payments.settings import PaymentsSettings
from payments.wiring import open_payments
from stackkit.connections import open_backends
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        checks = await open_backends(app, stack, settings, topics=TOPICS)
        app.state.payments = await open_payments(stack, settings, app.state.db)
        app.state.merchant_by_key = {}
        return checks

    app = create_service_app(
        name="payments",
        settings=settings,
        open_resources=open_resources,
        description="Stripe: PaymentIntents with idempotency keys and a state machine.",
    )
    app.include_router(router)
    return app
