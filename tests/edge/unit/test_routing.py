from edge.routing import forwardable_headers, route_for

ORIGINS = {"payments": "http://payments:8000/", "chat": "http://chat:8000"}


def test_a_known_prefix_routes_to_its_origin() -> None:
    route = route_for("payments", ORIGINS)
    assert route is not None
    assert route.upstream_url("v1/payment_intents", "limit=3") == (
        "http://payments:8000/v1/payment_intents?limit=3"
    )
    assert route.upstream_url("/readyz", "") == "http://payments:8000/readyz"


def test_an_unknown_prefix_has_no_route() -> None:
    assert route_for("nope", ORIGINS) is None


def test_hop_by_hop_headers_do_not_cross_the_proxy() -> None:
    headers = [
        ("Host", "edge"),
        ("Connection", "keep-alive, X-Private"),
        ("X-Private", "secret"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "10"),
        ("Authorization", "Bearer sk_test"),
        ("Idempotency-Key", "k1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    assert forwardable_headers(headers) == [
        ("Authorization", "Bearer sk_test"),
        ("Idempotency-Key", "k1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
