from edge.domain.origins import OriginHealth, parse_origins

A, B, C = "http://a:1", "http://b:2", "http://c:3"


def test_rotates_over_healthy_origins() -> None:
    health = OriginHealth()
    firsts = [health.order((A, B, C))[0] for _ in range(6)]
    assert firsts == [A, B, C, A, B, C]
    assert sorted(health.order((A, B, C))) == [A, B, C]


def test_an_origin_marked_down_goes_last_and_comes_back_when_healthy() -> None:
    health = OriginHealth()
    assert health.mark(A, False, 1.0)
    assert not health.mark(A, False, 2.0)  # no change: the caller logs nothing
    assert [health.order((A, B))[0] for _ in range(4)] == [B, B, B, B]
    assert health.order((A, B))[-1] == A  # still tried, last
    assert health.mark(A, True, 3.0)
    assert {health.order((A, B))[0] for _ in range(4)} == {A, B}


def test_when_every_origin_is_down_all_are_still_tried() -> None:
    health = OriginHealth()
    health.mark(A, False, 0.0)
    health.mark(B, False, 0.0)
    assert sorted(health.order((A, B))) == [A, B]
    assert health.order((A,)) == [A]


def test_forgets_origins_no_route_lists() -> None:
    health = OriginHealth()
    health.mark(A, False, 0.0)
    health.mark(B, False, 0.0)
    health.forget_except({B})
    assert health.snapshot() == {B: False}


def test_parses_a_comma_separated_list() -> None:
    assert parse_origins(f" {A}, {B} ,,") == (A, B)
    assert parse_origins("") == ()
