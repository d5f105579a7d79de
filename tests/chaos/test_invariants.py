"""The chaos monkey's invariants, as pure checks: each finds what breaks it, and only that."""

from loadtests.chaos.invariants import (
    Verdict,
    active_trips,
    chat_sequences,
    config_versions,
    error_ratio_outside,
    payments,
)


def test_chat_every_client_every_message_once_in_order() -> None:
    posted = [1, 2, 3, 4]
    assert chat_sequences({"a": [1, 2, 3, 4], "b": [1, 2, 3, 4]}, posted) == []
    wrong = chat_sequences(
        {"gap": [1, 2, 4], "twice": [1, 2, 2, 3, 4], "order": [1, 3, 2, 4], "ok": [1, 2, 3, 4]},
        posted,
    )
    assert wrong == ["gap: missed seq 3", "order: out of order", "twice: got twice seq 2"]


def test_chat_many_missing_are_summarised() -> None:
    (line,) = chat_sequences({"late": [1]}, list(range(1, 12)))
    assert line == "late: missed seq 2, 3, 4, 5, 6 and 5 more"


def test_payments_no_double_authorization_and_none_lost() -> None:
    assert payments({"pi_1": 1}, {"pi_1": "succeeded"}, {"pi_1": "succeeded"}) == []
    # A decline the client saw, never authorized, is fine; so is one still processing.
    assert (
        payments({}, {"pi_2": "requires_payment_method"}, {"pi_2": "requires_payment_method"}) == []
    )
    wrong = payments(
        {"pi_twice": 2, "pi_lost": 1},
        {"pi_twice": "succeeded", "pi_lost": "succeeded", "pi_gone": "requires_confirmation",
         "pi_free": "succeeded"},
        {"pi_twice": "succeeded", "pi_lost": "processing", "pi_free": "succeeded"},
    )  # fmt: skip
    assert wrong == [
        "pi_twice authorized 2 times",
        "pi_free succeeded with no authorization at any acquirer",
        "pi_gone was created (requires_confirmation) and is gone",
        "pi_lost succeeded for the client and is processing on the server",
    ]


def test_no_driver_with_two_active_trips() -> None:
    assert active_trips({"d1": 1, "d2": 0}) == []
    assert active_trips({"d1": 2, "d2": 1}) == ["driver d1 holds 2 active trips"]


def test_config_versions_never_go_back() -> None:
    assert config_versions({"pop-1": [1, 1, 2, 5], "pop-2": []}) == []
    assert config_versions({"pop-3": [1, 3, 2, 1]}) == [
        "pop-3 went from config version 3 back to 2"
    ]


def test_error_ratio_counts_only_outside_failover_windows() -> None:
    samples = [(1.0, False), (11.0, True), (12.0, True), (30.0, True), (31.0, False)]
    ratio = error_ratio_outside(samples, [(10.0, 20.0)])
    assert (ratio.errors, ratio.total) == (1, 3)
    assert round(ratio.value, 3) == 0.333
    assert error_ratio_outside([], []).value == 0.0


def test_a_verdict_with_nothing_checked_does_not_hold() -> None:
    assert not Verdict("chat", "no message lost", checked=0).held
    assert Verdict("chat", "no message lost", checked=10).held
    assert not Verdict("chat", "no message lost", checked=10, violations=["a"]).held
