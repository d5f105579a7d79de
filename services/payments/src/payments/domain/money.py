"""Amounts and currencies, validated the way Stripe does."""

from payments.domain.errors import InvalidRequest

# Zero-decimal currencies charge in whole units; the rest in minor units (cents).
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "ugx"})
CURRENCIES = (
    frozenset(
        {
            "usd",
            "eur",
            "gbp",
            "cad",
            "aud",
            "chf",
            "sek",
            "nok",
            "dkk",
            "pln",
            "czk",
            "brl",
            "mxn",
            "inr",
            "sgd",
            "hkd",
            "nzd",
        }
    )
    | ZERO_DECIMAL
)
MINIMUM = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50}
DEFAULT_MINIMUM = 50
MAXIMUM = 99_999_999


def validate_currency(currency: object, param: str = "currency") -> str:
    if not isinstance(currency, str) or not currency:
        raise InvalidRequest(
            "Missing required param: currency.", param=param, code="parameter_missing"
        )
    normalized = currency.lower()
    if normalized not in CURRENCIES:
        raise InvalidRequest(
            f"Invalid currency: {currency}. Stripe currently supports these currencies: "
            f"{', '.join(sorted(CURRENCIES))}",
            param=param,
            code="parameter_invalid",
        )
    return normalized


def validate_amount(amount: int, currency: str, param: str = "amount") -> int:
    minimum = MINIMUM.get(currency, DEFAULT_MINIMUM)
    if amount < minimum:
        raise InvalidRequest(
            f"Amount must be at least {minimum} {currency} minor units.",
            param=param,
            code="amount_too_small",
        )
    if amount > MAXIMUM:
        raise InvalidRequest(
            f"Amount must be no more than {MAXIMUM} {currency} minor units.",
            param=param,
            code="amount_too_large",
        )
    return amount
