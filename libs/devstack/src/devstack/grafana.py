"""The stack's Grafana dashboards, written as the JSON files Grafana provisions.

A stack overview (RED per service, the edge as clients see it, flags and faults) and one
dashboard per service whose first row is its seed decision. Every panel is PromQL over metrics
the processes export today (tests/observability checks each name against the running native
stack) and links to the service's traces in Jaeger. ``python -m devstack.grafana`` rewrites
``infra/grafana/dashboards/``; ``--check`` says whether they are current.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[4]
DASHBOARDS_DIR = ROOT / "infra" / "grafana" / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
"""The datasource uid provisioned in infra/grafana/provisioning/datasources."""
JAEGER_UI = "http://localhost:16686"
"""Jaeger's UI as compose publishes it (a link opens in the user's browser)."""
TAG = "rwa"
API = 'route!~"/(healthz|readyz|metrics)"'
"""Requests of the API: probes and scrapes (several a second per process) left out."""
WINDOW = "$__rate_interval"
LE_ONE = 'le=~"1(\\\\.0)?"'
"""A histogram's bucket of at most 1: "1.0" as Prometheus 2 stores it, "1" as 3 normalises it."""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]
    """(PromQL, legend) per series."""
    description: str = ""
    unit: str = "short"
    traces: str = ""
    """The Jaeger service its link searches (a Grafana field label like
    ``${__field.labels.service}`` where the series say it); empty: no link."""
    threshold: float | None = None
    """The objective, drawn as a red line."""
    kind: Literal["timeseries", "stat"] = "timeseries"


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]

    @property
    def filename(self) -> str:
        return f"{self.uid.removeprefix(f'{TAG}-')}.json"


def rate(metric: str, selector: str = "", by: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum "
    series = f"{metric}{{{selector}}}" if selector else metric
    return f"{grouping}(rate({series}[{WINDOW}]))"


def ratio(metric: str, part: str, whole: str, by: str) -> str:
    return f"{rate(metric, part, by)}\n  / {rate(metric, whole, by)}"


def p99(histogram: str, selector: str = "", by: str = "") -> str:
    grouping = ", ".join(["le", *filter(None, [by])])
    return f"histogram_quantile(0.99, {rate(f'{histogram}_bucket', selector, grouping)})"


def mean(histogram: str, selector: str = "", by: str = "") -> str:
    """The mean observation (rings read, recipients): for small counts, clearer than a p99."""
    return (
        f"{rate(f'{histogram}_sum', selector, by)}\n  / {rate(f'{histogram}_count', selector, by)}"
    )


def _red(service: str, selector: str, by: str = "route") -> Row:
    """Rate, errors and duration of a service's API, per ``by``."""
    api = f"{selector}, {API}"
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return Row(f"{service}: requests, errors, duration", (
        Panel("Requests/s", ((rate("http_requests_total", api, by), legend),), unit="reqps",
              traces=service),
        Panel("5xx ratio", ((ratio("http_requests_total", f'{api}, status=~"5.."', api, by),
                             legend),), unit="percentunit", traces=service, threshold=0.05),
        Panel("p99 latency", ((p99("http_request_duration_seconds", api, by), legend),),
              unit="s", traces=service),
    ))  # fmt: skip


OVERVIEW = Dashboard(
    "rwa-overview", "Stack overview",
    "Every process and service at a glance: up, API rate, errors, p99; the edge as clients see"
    " it; run-time flags and injected faults (infra/flags).",
    (
        Row("Processes", (
            Panel("Up (1) or down (0), per process", (("min by (process) (up)", "{{process}}"),),
                  description="A killed, crashed or paused process reads 0 (alert ProcessDown).",
                  kind="stat"),
            Panel("Injected faults/s", ((rate("faults_injected_total", "", "site, outcome"),
                                         "{{site}} {{outcome}}"),),
                  description="fault.* flags at work: delay, error or hang per call site."),
            Panel("Flag file valid, per process", (("min by (process) (flags_file_valid)",
                                                    "{{process}}"),),
                  description="0: the flag file did not parse, the last good flags are in force.",
                  kind="stat"),
        )),
        Row("API requests per service (RED)", (
            Panel("Requests/s", ((rate("http_requests_total", API, "service"), "{{service}}"),),
                  unit="reqps", traces="${__field.labels.service}"),
            Panel("5xx ratio", ((ratio("http_requests_total", f'{API}, status=~"5.."', API,
                                       "service"), "{{service}}"),),
                  unit="percentunit", traces="${__field.labels.service}", threshold=0.05),
            Panel("p99 latency", ((p99("http_request_duration_seconds", API, "service"),
                                   "{{service}}"),),
                  unit="s", traces="${__field.labels.service}"),
        )),
        Row("The edge, as clients see it", (
            Panel("Requests/s per PoP", ((rate("edge_requests_total", API, "process"),
                                          "{{process}}"),), unit="reqps", traces="edge"),
            Panel("5xx ratio per PoP", ((ratio("edge_requests_total", f'{API}, status=~"5.."',
                                               API, "process"), "{{process}}"),),
                  unit="percentunit", traces="edge", threshold=0.05),
            Panel("Requests/s by cache status", ((rate("edge_requests_total", API,
                                                       "cache_status"), "{{cache_status}}"),),
                  unit="reqps", traces="edge"),
        )),
    ),
)  # fmt: skip

CATALOG = Dashboard(
    "rwa-catalog", "Catalog (Netflix)",
    "EVCache-style zoned cache in front of Cassandra; the Open Connect fill plan.",
    (
        Row("Seed decision: replicated cache zones in front of Cassandra", (
            Panel("Zone hit ratio", ((ratio("catalog_cache_reads_total", 'outcome="hit"', "",
                                            "zone"), "zone {{zone}}"),),
                  description="catalog.cacheZoneADown and catalog.cache=one_zone|off move it.",
                  unit="percentunit", traces="catalog"),
            Panel("Lookups/s by result", ((rate("cache_lookups_total", "", "result"),
                                           "{{result}}"),),
                  description="bypass: catalog.cache=off sends every read to Cassandra.",
                  unit="ops", traces="catalog"),
            Panel("Cassandra statements/s", ((rate("catalog_cassandra_statements_total", "",
                                                   "statement, outcome"),
                                              "{{statement}} {{outcome}}"),),
                  unit="ops", traces="catalog"),
            Panel("Zone fallbacks/s", ((rate("catalog_cache_fallbacks_total", "",
                                             "from_zone, to"), "{{from_zone}} -> {{to}}"),),
                  description="Reads the local zone could not serve, by who served them: the"
                              " other zone, or Cassandra (catalog.cacheZoneADown, one_zone).",
                  unit="ops", traces="catalog"),
            Panel("Zone repairs/s", ((rate("catalog_cache_repairs_total", "", "zone"),
                                      "zone {{zone}}"),),
                  description="Copies written back into a zone that missed while the other hit.",
                  unit="ops", traces="catalog"),
            Panel("Plays/s by first source's tier", ((rate("catalog_plays_total", "",
                                                           "tier, in_isp"),
                                                      "{{tier}} (in ISP: {{in_isp}})"),),
                  description="Steering's first choice per play: an appliance in the client's"
                              " ISP, a peering one (ixp), or the origin.", unit="ops",
                  traces="catalog"),
        )),
        Row("Open Connect fill", (
            Panel("In-ISP share of plays", (("max(catalog_fill_in_isp_share)", "in ISP"),),
                  unit="percentunit"),
            Panel("Files moved by the fill/s", ((rate("catalog_fill_files_moved_total", "",
                                                      "change"), "{{change}}"),), unit="ops"),
            Panel("Zone writes/s", ((rate("catalog_cache_writes_total", "", "zone, op"),
                                     "zone {{zone}} {{op}}"),), unit="ops", traces="catalog"),
        )),
        _red("catalog", 'service="catalog"'),
    ),
)  # fmt: skip

DISPATCH = Dashboard(
    "rwa-dispatch", "Dispatch (Uber)",
    "Drivers indexed by H3 cell; nearby search and the trip decision, per worker.",
    (
        Row("Seed decision: an H3 index for nearby drivers", (
            Panel("Nearby search p99 (objective 5 ms)",
                  ((p99("dispatch_nearby_seconds", "", "search"), "{{search}}"),),
                  description="Per dispatch.search mode: h3_rings (the seed), geosearch,"
                              " full_scan.", unit="s", traces="dispatch", threshold=0.005),
            Panel("Nearby searches/s", ((rate("dispatch_nearby_seconds_count", "", "search"),
                                         "{{search}}"),), unit="ops", traces="dispatch"),
            Panel("Trip decision p99: request to offer (objective 100 ms)",
                  ((p99("dispatch_decision_seconds", "", "outcome"), "{{outcome}}"),),
                  description="Timed once, at the first worker: forwarding to the area's owner"
                              " included (alert DispatchDecisionSlow).",
                  unit="s", traces="dispatch", threshold=0.1),
            Panel("H3 rings read per search (mean)",
                  ((mean("dispatch_nearby_rings", "", "search"), "{{search}}"),),
                  description="0 for geosearch and full_scan, which read no rings.",
                  traces="dispatch"),
            Panel("Drivers ranked per search (mean)",
                  ((mean("dispatch_nearby_candidates", "", "search"), "{{search}}"),),
                  description="full_scan ranks every driver; h3_rings only the rings' ones.",
                  traces="dispatch"),
            Panel("Area ownership changes/s", ((rate("dispatch_area_ownership_changes_total", "",
                                                     "process, reason"),
                                                "{{process}} {{reason}}"),),
                  description="A worker joining, leaving or expiring moves arcs of the ring.",
                  unit="ops", traces="${__field.labels.process}"),
        )),
        _red("dispatch", 'service="dispatch"'),
    ),
)  # fmt: skip

CHAT = Dashboard(
    "rwa-chat", "Chat (Slack)",
    "Messages fan out once per gateway, not once per member; gateways hold the sockets.",
    (
        Row("Seed decision: fan out per gateway, not per member", (
            Panel("Recipients handed to gateways/s", ((rate("chat_fanout_deliveries_total"),
                                                      "recipients"),),
                  unit="ops", traces="chat-fanout"),
            Panel("Fanout planning p99", ((p99("chat_fanout_plan_seconds"), "p99"),), unit="s",
                  traces="chat-fanout"),
            Panel("Frames written to clients/s", ((rate("chat_gateway_frames_total", "",
                                                        "process, kind"),
                                                   "{{process}} {{kind}}"),), unit="ops"),
            Panel("Delivery p99: message created to socket write (objective 200 ms)",
                  ((p99("chat_delivery_seconds", "", "process"), "{{process}}"),),
                  description="Per gateway, live deliveries (alert ChatDeliverySlow).",
                  unit="s", traces="${__field.labels.process}", threshold=0.2),
            Panel("Recipients per message (mean)",
                  ((mean("chat_fanout_recipients", "", "mode"), "{{mode}}"),),
                  traces="chat-fanout"),
            Panel("Gateway handoffs/s", ((rate("chat_fanout_handoffs_total", "", "mode"),
                                          "{{mode}}"),),
                  description="per_gateway: one batch per gateway and message; per_member"
                              " (chat.fanout): one per recipient.", unit="ops",
                  traces="chat-fanout"),
        )),
        Row("Gateways", (
            Panel("Open WebSockets", (("sum by (process) (chat_gateway_connections)",
                                       "{{process}}"),)),
            Panel("Client frames refused/s", ((rate("chat_gateway_rejected_total", "",
                                                    "reason"), "{{reason}}"),), unit="ops"),
        )),
        _red("chat", 'service="chat"', by="process, route"),
    ),
)  # fmt: skip

PAYMENTS = Dashboard(
    "rwa-payments", "Payments (Stripe)",
    "Idempotent payment intents routed across two acquirers; webhooks with retries.",
    (
        Row("Seed decision: idempotent intents across acquirers", (
            Panel("Intent requests/s by status",
                  ((rate("http_requests_total",
                         'process="payments", method="POST", route=~"/v1/payment_intents.*"',
                         "route, status"), "{{status}} {{route}}"),),
                  description="409: an idempotency conflict (same key, other body, or in"
                              " flight); 402: declined after every retry.", unit="reqps",
                  traces="payments"),
            Panel("Authorizations/s per acquirer",
                  ((rate("payments_authorizations_total", "", "acquirer, outcome"),
                    "{{acquirer}} {{outcome}}"),),
                  description="payments.routing=single_acquirer sends them all to one;"
                              " payments.acquirerTimeouts shows as timeout.",
                  unit="ops", traces="payments"),
            Panel("Confirm p99",
                  ((p99("http_request_duration_seconds",
                        'process="payments", route="/v1/payment_intents/{intent_id}/confirm"'),
                    "p99"),), unit="s", traces="payments"),
            Panel("Intents finished with more than one approval/s",
                  ((f"{rate('payments_intent_authorizations_count')}\n  - "
                    f"{rate('payments_intent_authorizations_bucket', LE_ONE)}",
                    "double charges"),),
                  description="Above 0: a double charge (alert DoubleAuthorization); only"
                              " payments.idempotency=ignored should allow one.",
                  unit="ops", traces="payments", threshold=0.0),
            Panel("Idempotency-Key decisions/s", ((rate("payments_idempotent_requests_total",
                                                        "", "outcome"), "{{outcome}}"),),
                  description="replayed: a retry answered from the stored response; conflict"
                              " and in_progress: refused with a 409.", unit="ops",
                  traces="payments"),
            Panel("Serialization retries/s", ((rate("payments_serialization_retries_total", "",
                                                    "operation"), "{{operation}}"),),
                  description="SERIALIZABLE transactions run again after a conflict.",
                  unit="ops", traces="payments"),
        )),
        Row("Webhooks", (
            Panel("Deliveries/s by outcome", ((rate("payments_webhook_deliveries_total", "",
                                                    "outcome"), "{{outcome}}"),),
                  unit="ops", traces="payments-worker"),
            Panel("Webhook request p99", ((p99("payments_webhook_request_seconds"), "p99"),),
                  unit="s", traces="payments-worker"),
        )),
        _red("payments", 'service="payments"', by="process, route"),
    ),
)  # fmt: skip

CACHEABLE = f'{API}, cache_status!="DYNAMIC"'

EDGE = Dashboard(
    "rwa-edge", "Edge (Cloudflare)",
    "PoPs with a tiered cache (lower tiers ask the upper one), WAF and rate limits, and a"
    " config plane pushed over Kafka.",
    (
        Row("Seed decision: a tiered cache in every PoP", (
            Panel("Hit ratio per PoP", ((ratio("edge_requests_total",
                                               f'{CACHEABLE}, cache_status="HIT"', CACHEABLE,
                                               "process"), "{{process}}"),),
                  description="Of the cacheable requests (DYNAMIC ones are never cached).",
                  unit="percentunit", traces="edge"),
            Panel("Upstream fetches/s", ((rate("edge_upstream_fetches_total", "",
                                               "process, tier, target"),
                                          "{{process}} ({{tier}}) -> {{target}}"),),
                  description="edge.tieredCache=off and edge.upperTierDown turn lower tiers'"
                              " fetches into origin fetches.", unit="ops", traces="edge"),
            Panel("Coalesced waiters/s", ((rate("edge_coalesced_requests_total", "",
                                                "process"), "{{process}}"),),
                  description="Misses that waited for another's fetch; none under"
                              " edge.coalescing=off.", unit="ops", traces="edge"),
            Panel("Request p99 by cache status",
                  ((p99("edge_request_duration_seconds", "", "cache_status"),
                    "{{cache_status}}"),),
                  description="A HIT costs a lookup, a MISS the upstream fetch too.", unit="s",
                  traces="edge-pop-1"),
        )),
        Row("Tiers", (
            Panel("Upper tier skipped (breaker open)", (("max by (process) (edge_upper_tier_open)",
                                                         "{{process}}"),)),
            Panel("Tier bypasses/s", ((rate("edge_tier_bypasses_total", "", "process, reason"),
                                       "{{process}} {{reason}}"),), unit="ops", traces="edge"),
            Panel("Cache size", (("sum by (process) (edge_cache_bytes)", "{{process}}"),),
                  unit="bytes"),
        )),
        Row("Config plane", (
            Panel("Config version per PoP", (("max by (process) (edge_config_version)",
                                              "{{process}}"),)),
            Panel("Propagation p99 (objective 5 s)",
                  ((p99("edge_config_propagation_seconds", "", "path"), "{{path}}"),),
                  description="push: a Kafka event; poll: the catch-up from the log (the only"
                              " path under edge.configPush=log_polling).", unit="s",
                  traces="edge", threshold=5.0),
        )),
        Row("Requests through the PoPs", (
            Panel("Requests/s per PoP and route", ((rate("edge_requests_total", API,
                                                         "process, route"),
                                                    "{{process}} {{route}}"),),
                  unit="reqps", traces="edge"),
            Panel("5xx ratio per PoP", ((ratio("edge_requests_total", f'{API}, status=~"5.."',
                                               API, "process"), "{{process}}"),),
                  unit="percentunit", traces="edge", threshold=0.05),
        )),
        Row("Protection", (
            Panel("WAF blocks/s by rule", ((rate("edge_waf_blocked_total", "", "rule"),
                                            "{{rule}}"),), unit="reqps", traces="edge"),
            Panel("Rate-limited/s by rule", ((rate("edge_rate_limited_total", "", "rule"),
                                              "{{rule}}"),), unit="reqps", traces="edge"),
        )),
    ),
)  # fmt: skip

DASHBOARDS = (OVERVIEW, CATALOG, DISPATCH, CHAT, PAYMENTS, EDGE)


def traces_link(service: str) -> dict[str, Any]:
    """Jaeger's search for the service over the panel's time range (Jaeger counts in µs)."""
    return {
        "title": f"Traces of {service} in Jaeger",
        "url": f"{JAEGER_UI}/search?service={service}&start=${{__from}}000&end=${{__to}}000"
        "&limit=20",
        "targetBlank": True,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int, width: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "links": []}
    if panel.traces:
        defaults["links"] = [traces_link(panel.traces)]
    if panel.threshold is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [
                {"color": "green", "value": None},
                {"color": "red", "value": panel.threshold},
            ],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}  # fmt: skip
    histogram = "_bucket" in "".join(expr for expr, _ in panel.queries)
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": PROMETHEUS,
        "gridPos": {"h": 8, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [
            {"datasource": PROMETHEUS, "expr": expr, "legendFormat": legend,
             "refId": chr(ord("A") + index), "range": True, "exemplar": histogram}
            for index, (expr, legend) in enumerate(panel.queries)
        ],
    }  # fmt: skip


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's dashboard model: a row header, then its panels three to a line."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in dashboard.rows:
        panels.append({"id": len(panels) + 1, "type": "row", "title": row.title,
                       "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                       "panels": []})  # fmt: skip
        y += 1
        width = 24 // max(1, min(3, len(row.panels)))
        for index, panel in enumerate(row.panels):
            x = (index % 3) * width
            panels.append(_panel(panel, len(panels) + 1, x, y + (index // 3) * 8, width))
        y += 8 * ((len(row.panels) + 2) // 3)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": [TAG],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "time": {"from": "now-15m", "to": "now"},
        "timezone": "browser",
        "version": 1,
        "links": [
            {"type": "dashboards", "tags": [TAG], "asDropdown": True, "title": "Dashboards",
             "includeVars": False, "keepTime": True},
            {"type": "link", "title": "Jaeger", "url": JAEGER_UI, "targetBlank": True,
             "icon": "external link"},
        ],
        "annotations": {"list": []},
        "templating": {"list": []},
        "panels": panels,
    }  # fmt: skip


def render(dashboard: Dashboard) -> str:
    return json.dumps(to_json(dashboard), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.grafana", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for dashboard in DASHBOARDS:
        path = DASHBOARDS_DIR / dashboard.filename
        wanted = render(dashboard)
        if (path.read_text() if path.exists() else "") == wanted:
            continue
        stale.append(path)
        if not args.check:
            DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted)
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print("stale: " + ", ".join(str(p.relative_to(ROOT)) for p in stale)
              + "; run `uv run python -m devstack.grafana`")  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
