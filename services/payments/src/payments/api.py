"""Stripe's v1 API, as much of it as the stack implements: thin routes over the use cases."""

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from payments import params
from payments.domain.errors import InvalidRequest
from payments.forms import decode_body, decode_form
from payments.openapi_docs import query_parameters, request_body
from payments.store import create_merchant, merchant_for_key
from payments.usecases import Payments
from payments.usecases import Request as PaymentsRequest
from stackkit.authorization import bearer_token
from stackkit.errors import Unauthorized
from stackkit.service import development_only, from_state

MAX_BODY_BYTES = 64 * 1024

router = APIRouter()


PaymentsDep = Annotated[Payments, from_state("payments")]
MerchantByKey = Annotated[dict[str, str], from_state("merchant_by_key")]
"""Secret key -> merchant id, for the keys this process has already looked up."""


def _secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    token = bearer_token(header)
    if token is not None:
        return token
    # Stripe also takes the key as a Basic username (``curl -u sk_test_...:``).
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            return base64.b64decode(value).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            pass
    raise Unauthorized(
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
    )


async def _merchant(request: Request, payments: PaymentsDep, cache: MerchantByKey) -> str:
    secret = _secret(request)
    merchant = cache.get(secret)
    if merchant is None:
        async with payments.pool.acquire() as conn:
            merchant = await merchant_for_key(conn, secret)
        if merchant is None:
            raise Unauthorized(f"Invalid API Key provided: {secret[:8]}{'*' * 4}")
        cache[secret] = merchant
    return merchant


Merchant = Annotated[str, Depends(_merchant)]


async def _body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise InvalidRequest(
            f"Request bodies are limited to {MAX_BODY_BYTES} bytes.", code="request_too_large"
        )
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequest(
            f"Request bodies are limited to {MAX_BODY_BYTES} bytes.", code="request_too_large"
        )
    return decode_body(
        raw, request.headers.get("content-type", "application/x-www-form-urlencoded")
    )


Body = Annotated[dict[str, Any], Depends(_body)]


def _query(request: Request) -> params.ListParams:
    return params.parse(params.ListParams, decode_form(request.url.query.encode()))


Query = Annotated[params.ListParams, Depends(_query)]
# The path names the intent; the use case reads it from the path it is given (one parser for
# live requests and replayed idempotent ones), so this parameter is here for the document.
IntentId = Annotated[str, Path(description="The PaymentIntent's id (pi_...)")]
_PAGE = ("limit", "starting_after", "ending_before")


def _json(status: int, body: bytes) -> Response:
    return Response(content=body, status_code=status, media_type="application/json")


async def _mutate(
    request: Request, payments: Payments, merchant: str, body: dict[str, Any]
) -> Response:
    # The path inside the service, whatever prefix the edge served it under.
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    key = request.headers.get("idempotency-key")
    status, content = await payments.idempotent(merchant, key, PaymentsRequest("POST", path, body))
    return _json(status, content)


@router.post(
    "/v1/payment_intents",
    tags=["payment_intents"],
    summary="Create a PaymentIntent",
    openapi_extra=request_body(params.CreatePaymentIntent),
)
async def create_payment_intent(
    request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.get(
    "/v1/payment_intents",
    tags=["payment_intents"],
    summary="List PaymentIntents",
    openapi_extra=query_parameters(params.ListParams, _PAGE),
)
async def list_payment_intents(
    payments: PaymentsDep, merchant: Merchant, query: Query
) -> dict[str, Any]:
    return await payments.list_intents(merchant, query)


@router.get(
    "/v1/payment_intents/{intent_id}", tags=["payment_intents"], summary="Retrieve a PaymentIntent"
)
async def retrieve_payment_intent(
    intent_id: str, payments: PaymentsDep, merchant: Merchant
) -> dict[str, Any]:
    return await payments.retrieve_intent(merchant, intent_id)


@router.post(
    "/v1/payment_intents/{intent_id}",
    tags=["payment_intents"],
    summary="Update a PaymentIntent",
    openapi_extra=request_body(params.UpdatePaymentIntent),
)
async def update_payment_intent(
    intent_id: IntentId, request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.post(
    "/v1/payment_intents/{intent_id}/confirm",
    tags=["payment_intents"],
    summary="Confirm a PaymentIntent",
    openapi_extra=request_body(params.ConfirmPaymentIntent),
)
async def confirm_payment_intent(
    intent_id: IntentId, request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.post(
    "/v1/payment_intents/{intent_id}/capture",
    tags=["payment_intents"],
    summary="Capture a PaymentIntent",
    openapi_extra=request_body(params.CapturePaymentIntent),
)
async def capture_payment_intent(
    intent_id: IntentId, request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.post(
    "/v1/payment_intents/{intent_id}/cancel",
    tags=["payment_intents"],
    summary="Cancel a PaymentIntent",
    openapi_extra=request_body(params.CancelPaymentIntent),
)
async def cancel_payment_intent(
    intent_id: IntentId, request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.post(
    "/v1/refunds",
    tags=["refunds"],
    summary="Create a refund",
    openapi_extra=request_body(params.CreateRefund),
)
async def create_refund(
    request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.get(
    "/v1/refunds",
    tags=["refunds"],
    summary="List refunds",
    openapi_extra=query_parameters(params.ListParams, (*_PAGE, "payment_intent")),
)
async def list_refunds(payments: PaymentsDep, merchant: Merchant, query: Query) -> dict[str, Any]:
    return await payments.list_refunds(merchant, query)


@router.get("/v1/refunds/{refund_id}", tags=["refunds"], summary="Retrieve a refund")
async def retrieve_refund(
    refund_id: str, payments: PaymentsDep, merchant: Merchant
) -> dict[str, Any]:
    return await payments.retrieve_refund(merchant, refund_id)


@router.get(
    "/v1/events",
    tags=["events"],
    summary="List events",
    openapi_extra=query_parameters(params.ListParams, (*_PAGE, "type")),
)
async def list_events(payments: PaymentsDep, merchant: Merchant, query: Query) -> dict[str, Any]:
    return await payments.list_events(merchant, query)


@router.get("/v1/events/{event_id}", tags=["events"], summary="Retrieve an event")
async def retrieve_event(
    event_id: str, payments: PaymentsDep, merchant: Merchant
) -> dict[str, Any]:
    return await payments.retrieve_event(merchant, event_id)


@router.post(
    "/v1/webhook_endpoints",
    tags=["webhooks"],
    summary="Register a webhook endpoint",
    openapi_extra=request_body(params.CreateWebhookEndpoint),
)
async def create_webhook_endpoint(
    request: Request, payments: PaymentsDep, merchant: Merchant, body: Body
) -> Response:
    return await _mutate(request, payments, merchant, body)


@router.post(
    "/dev/merchants",
    tags=["development"],
    summary="Create a merchant and its test key",
    dependencies=[development_only],
)
async def create_dev_merchant(
    request: Request, payments: PaymentsDep, body: Body
) -> dict[str, str]:
    """A merchant and its secret key.

    Development only (``PAYMENTS_DEV_ENDPOINTS``): off in production."""
    name = str(body.get("name") or "Test merchant")[:200]
    async with payments.pool.acquire() as conn:
        merchant_id, secret = await create_merchant(conn, name)
    return {"id": merchant_id, "object": "account", "name": name, "secret_key": secret}
