from edge.domain.config import (
    PURGE,
    Arrival,
    ChangeSet,
    Route,
    arrival,
    compile_config,
    merged,
)

DEFAULTS = {"catalog": Route("catalog", ("http://catalog:8000",))}


def test_changes_apply_in_version_order_only() -> None:
    assert arrival(4, 5) is Arrival.APPLY
    assert arrival(4, 4) is Arrival.ALREADY_APPLIED
    assert arrival(4, 2) is Arrival.ALREADY_APPLIED
    assert arrival(4, 7) is Arrival.GAP


def test_merge_sets_deletes_and_never_stores_purges() -> None:
    state = {"route:a": {"origins": ["http://a"]}, "cache:rules": []}
    change = ChangeSet(
        2, 0.0, {"route:a": None, "route:b": {"origins": ["http://b"]}, PURGE: {"urls": ["/x"]}}
    )
    assert merged(state, change) == {"cache:rules": [], "route:b": {"origins": ["http://b"]}}
    assert state == {"route:a": {"origins": ["http://a"]}, "cache:rules": []}  # not mutated


def test_compiled_view() -> None:
    config = compile_config(
        7,
        {
            "route:catalog": {"origins": ["http://elsewhere:1"]},
            "route:static": {"origins": ["http://s:1", "http://s:2"], "websocket": False},
            "cache:rules": [
                {"path_prefix": "/catalog/", "edge_ttl_s": 5},
                {"path_prefix": "/catalog/v1/private/", "bypass": True},
            ],
            "waf:policy": {
                "threshold": 10,
                "disabled": ["942440"],
                "custom": [{"id": "1001", "pattern": "badbot", "score": 5}],
            },
            "ratelimit:rules": [
                {
                    "id": "w",
                    "path_prefix": "/payments/",
                    "limit": 3,
                    "period_s": 1,
                    "methods": ["post"],
                }
            ],
        },
        DEFAULTS,
    )
    assert config.version == 7
    assert config.routes["catalog"].origins == ("http://elsewhere:1",)
    assert config.routes["static"].origins == ("http://s:1", "http://s:2")
    assert config.cache_rule("/catalog/v1/private/x").bypass  # type: ignore[union-attr]
    assert config.cache_rule("/catalog/v1/titles/1").edge_ttl_s == 5  # type: ignore[union-attr]
    assert config.cache_rule("/dispatch/") is None
    assert config.waf.threshold == 10
    assert config.waf.disabled == frozenset({"942440"})
    assert config.waf.custom[0].pattern.search("BADBOT")
    assert config.rate_limits[0].methods == frozenset({"POST"})


def test_defaults_stand_when_the_log_is_empty() -> None:
    config = compile_config(0, {}, DEFAULTS)
    assert config.routes == DEFAULTS
    assert config.rate_limits == ()
    assert config.waf.threshold == 5
