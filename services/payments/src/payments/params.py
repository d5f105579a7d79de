"""Request parameters, validated like Stripe: unknown fields, missing fields and wrong types
are 400s that name the parameter."""

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from payments.domain.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=5000)

    expand: list[str] | None = None


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > 50:
        raise ValueError("metadata can have at most 50 keys")
    for key, item in value.items():
        if len(key) > 40 or len(item) > 500:
            raise ValueError("metadata keys are at most 40 characters and values at most 500")
    return value


class CardData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=30)
    exp_month: int | None = Field(default=None, ge=1, le=12)
    exp_year: int | None = Field(default=None, ge=2000, le=2100)
    cvc: str | None = Field(default=None, max_length=4)


class PaymentMethodData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["card"]
    card: CardData


class CreatePaymentIntent(Params):
    amount: int
    currency: str = Field(min_length=3, max_length=3)
    payment_method: str | None = Field(default=None, max_length=100)
    payment_method_data: PaymentMethodData | None = None
    payment_method_types: list[Literal["card"]] | None = None
    automatic_payment_methods: dict[str, Any] | None = None
    confirm: bool = False
    capture_method: Literal["automatic", "automatic_async", "manual"] = "automatic"
    description: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, str] | None = None
    return_url: str | None = None

    _metadata = field_validator("metadata")(_check_metadata)


class UpdatePaymentIntent(Params):
    amount: int | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    payment_method: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    metadata: dict[str, str] | None = None

    _metadata = field_validator("metadata")(_check_metadata)


class ConfirmPaymentIntent(Params):
    payment_method: str | None = Field(default=None, max_length=100)
    payment_method_data: PaymentMethodData | None = None
    return_url: str | None = None


class CapturePaymentIntent(Params):
    amount_to_capture: int | None = None


class CancelPaymentIntent(Params):
    cancellation_reason: (
        Literal["duplicate", "fraudulent", "requested_by_customer", "abandoned"] | None
    ) = None


class CreateRefund(Params):
    payment_intent: str = Field(min_length=1, max_length=100)
    amount: int | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None
    metadata: dict[str, str] | None = None

    _metadata = field_validator("metadata")(_check_metadata)


class CreateWebhookEndpoint(Params):
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    enabled_events: list[str] = Field(min_length=1)
    description: str | None = None


class ListParams(Params):
    limit: int = Field(default=10, ge=1, le=100)
    starting_after: str | None = Field(default=None, max_length=100)
    ending_before: str | None = Field(default=None, max_length=100)
    payment_intent: str | None = Field(default=None, max_length=100)
    type: str | None = Field(default=None, max_length=100)


def _param_name(location: tuple[int | str, ...]) -> str:
    head, *rest = [str(part) for part in location] or ["body"]
    return head + "".join(f"[{part}]" for part in rest)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data``; the first problem becomes a Stripe-style 400 naming its parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = _param_name(
            tuple(
                p for p in error["loc"] if not isinstance(p, str) or not p.startswith("function-")
            )
        )
        kind = error["type"]
        if kind == "missing":
            raise InvalidRequest(
                f"Missing required param: {param}.", param=param, code="parameter_missing"
            ) from None
        if kind == "extra_forbidden":
            raise InvalidRequest(
                f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
            ) from None
        if kind.startswith("int_"):
            raise InvalidRequest(
                f"Invalid integer: {error.get('input')}",
                param=param,
                code="parameter_invalid_integer",
            ) from None
        raise InvalidRequest(
            f"Invalid {param}: {error['msg']}", param=param, code="parameter_invalid"
        ) from None
