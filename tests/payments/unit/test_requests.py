"""Parsing what the stripe SDK sends: bracketed form bodies and Stripe-style parameter errors."""

import pytest

from payments import params
from payments.domain.errors import InvalidRequest
from payments.forms import decode_body, decode_form


def test_bracketed_keys_become_nested_objects_and_lists() -> None:
    body = (b"amount=2000&currency=usd&metadata[order]=42&metadata[note]=&payment_method_types[0]=card"
            b"&payment_method_data[type]=card&payment_method_data[card][number]=4242424242424242"
            b"&expand[]=latest_charge")  # fmt: skip
    assert decode_form(body) == {
        "amount": "2000",
        "currency": "usd",
        "metadata": {"order": "42", "note": ""},
        "payment_method_types": ["card"],
        "payment_method_data": {"type": "card", "card": {"number": "4242424242424242"}},
        "expand": ["latest_charge"],
    }


@pytest.mark.parametrize(
    "body", [b"metadata[=x", b"a[b]c=1", b"a=1&a[b]=2", b"\xff=1", b"no-equals-sign"]
)
def test_malformed_form_bodies_are_400s(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        decode_form(body)


def test_json_bodies_must_be_objects() -> None:
    assert decode_body(b'{"amount": 5}', "application/json") == {"amount": 5}
    with pytest.raises(InvalidRequest):
        decode_body(b"[1]", "application/json")
    with pytest.raises(InvalidRequest):
        decode_body(b"{nope", "application/json")


@pytest.mark.parametrize(
    ("data", "param", "code"),
    [
        ({"currency": "usd"}, "amount", "parameter_missing"),
        ({"amount": "abc", "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": "1.5", "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": "100", "currency": "usd", "colour": "red"}, "colour", "parameter_unknown"),
        ({"amount": "100", "currency": "usd", "metadata": {"k": "v" * 501}}, "metadata", "parameter_invalid"),
        ({"amount": "100", "currency": "usd", "capture_method": "later"}, "capture_method", "parameter_invalid"),
        ({"amount": "100", "currency": "usd", "payment_method_data": {"type": "card", "card": {"number": "4242424242424242", "numbr": "1"}}},
         "payment_method_data[card][numbr]", "parameter_unknown"),
    ],
)  # fmt: skip
def test_parameter_errors_name_the_parameter(
    data: dict[str, object], param: str, code: str
) -> None:
    with pytest.raises(InvalidRequest) as error:
        params.parse(params.CreatePaymentIntent, data)
    assert (error.value.param, error.value.code) == (param, code)


def test_form_strings_become_typed_values() -> None:
    parsed = params.parse(
        params.CreatePaymentIntent, {"amount": "2000", "currency": "usd", "confirm": "true"}
    )
    assert parsed.amount == 2000 and parsed.confirm is True
