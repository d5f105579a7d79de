"""What the dashboards and alerts query is what the running stack exports: every metric name in
every Grafana panel and alert rule is on some process's /metrics of the native stack; and a
real Prometheus (Debian's), given the native rendering of the scrape configuration, scrapes
every process as an ``up`` target and loads every rule."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack import grafana, observing, prometheus
from devstack.stack import NativeStack
from devstack.topology import PROCESSES
from tests.observability.promql import SYNTHETIC, exported_names, metric_names
from tests.observability.promtool import prometheus_tools
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
RULE_FILES = sorted(prometheus.RULES_DIR.glob("*.yml"))


@pytest.fixture(scope="module")
def exported(native_stack: NativeStack) -> dict[str, set[str]]:
    """Process -> the series names its /metrics offers (the anycast entry's is a PoP's)."""
    pages = {}
    for spec in PROCESSES:
        response = httpx.get(f"{native_stack.url(spec.name)}/metrics", timeout=10)
        assert response.status_code == 200, spec.name
        pages[spec.name] = exported_names(response.text)
    return pages


def _queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every dashboard panel and alert rule."""
    for dashboard in grafana.DASHBOARDS:
        for panel in grafana.to_json(dashboard)["panels"]:
            for target in panel.get("targets", []):
                yield f"{dashboard.uid}: {panel['title']}", target["expr"]
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield f"{path.name}: {rule['alert']}", rule["expr"]


def test_every_process_exports_metrics(exported: dict[str, set[str]]) -> None:
    assert [name for name, names in exported.items() if not names] == []
    # The stack's own HTTP metrics, from every FastAPI process (not the gateways' websockets).
    http = {name for name, names in exported.items() if "http_requests_total" in names}
    assert http == {spec.name for spec in PROCESSES if not spec.app.startswith("chat.gateway")}


def test_every_dashboard_and_alert_names_only_exported_metrics(
    exported: dict[str, set[str]],
) -> None:
    everything = set().union(*exported.values()) | SYNTHETIC
    queries = list(_queries())
    assert len(queries) > 40
    missing = [(where, name) for where, expr in queries
               for name in sorted(metric_names(expr) - everything)]  # fmt: skip
    assert missing == [], "queried but exported by no process"


@pytest.fixture(scope="module")
def native_prometheus(native_stack: NativeStack) -> Iterator[str]:
    """Debian's Prometheus scraping the native stack, started as ``make run`` starts it (on a
    free port, as ``--free-ports`` does): its base URL."""
    prometheus_tools()  # installed if need be, else skipped (failed under CI)
    server = observing.start_for_run(native_stack, default_port=False)
    assert isinstance(server, observing.PrometheusServer), server
    try:
        yield server.url
    finally:
        server.stop()


async def _get(url: str) -> Any:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            response = await client.get(url)
        except httpx.TransportError:
            return None
        return response.json()["data"] if response.status_code == 200 else None


async def test_prometheus_scrapes_every_process_as_an_up_target(native_prometheus: str) -> None:
    wanted = {spec.name for spec in PROCESSES}
    seen: dict[str, str] = {}

    async def all_up() -> bool:
        data = await _get(f"{native_prometheus}/api/v1/targets?state=active")
        if data is None:
            return False
        seen.clear()
        seen.update({t["labels"]["process"]: t["health"] for t in data["activeTargets"]})
        return set(seen) == wanted and set(seen.values()) == {"up"}

    await eventually(all_up, timeout_s=60, what=lambda: f"every target up: {seen}")

    # The samples carry the labels the dashboards group by; the anycast entry's are dropped.
    async def http_series() -> bool:
        data = await _get(f"{native_prometheus}/api/v1/query?query=count by (service, process) "
                          "(http_requests_total)")  # fmt: skip
        return data is not None and len(data["result"]) > 0

    await eventually(http_series, timeout_s=30, what="http_requests_total scraped")
    data = await _get(f"{native_prometheus}/api/v1/query?query=count by (service, process) "
                      "(http_requests_total)")  # fmt: skip
    processes = {r["metric"]["process"] for r in data["result"]}
    assert "edge" not in processes and "catalog" in processes
    assert all(r["metric"]["service"] for r in data["result"])


async def test_prometheus_loads_every_rule_and_nothing_pages(native_prometheus: str) -> None:
    wanted = {rule["alert"] for path in RULE_FILES
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}  # fmt: skip
    loaded: set[str] = set()

    async def rules_loaded() -> bool:
        data = await _get(f"{native_prometheus}/api/v1/rules")
        if data is None:
            return False
        loaded.clear()
        loaded.update(rule["name"] for group in data["groups"] for rule in group["rules"])
        return loaded == wanted

    await eventually(rules_loaded, timeout_s=60, what=lambda: f"rules {wanted}, got {loaded}")
    data = await _get(f"{native_prometheus}/api/v1/rules")
    health = {rule["name"]: rule["health"] for group in data["groups"] for rule in group["rules"]}
    assert set(health.values()) <= {"ok", "unknown"}, health
    firing = await _get(f"{native_prometheus}/api/v1/alerts")
    assert [a["labels"]["alertname"] for a in firing["alerts"] if a["state"] == "firing"
            and a["labels"].get("severity") == "page"] == []  # fmt: skip


def test_the_native_config_is_written_where_asked(
    native_stack: NativeStack, tmp_path: Path
) -> None:
    path = prometheus.write_native_config(native_stack, tmp_path / "nested" / "prometheus.yml")
    assert yaml.safe_load(path.read_text()) == prometheus.native_config(native_stack)


async def test_prometheus_stores_exemplars_as_compose_s_does(native_prometheus: str) -> None:
    flags = await _get(f"{native_prometheus}/api/v1/status/flags")
    assert "exemplar-storage" in flags["enable-feature"].split(",")
