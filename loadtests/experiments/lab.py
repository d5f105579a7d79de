"""The stack an experiment runs against, and the changes it makes to it, undone afterwards.

An experiment flips flags and kills, pauses or stops processes only through its :class:`Lab`,
which remembers each change so that :meth:`Lab.restore` puts everything back (the flag file as
it was, paused processes resumed, stopped ones started, all of them ready) whatever happened.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families

from devstack.control import ControlClient, serve_control
from devstack.servers import LocalServers
from devstack.stack import NativeStack, start_native_stack
from devstack.topology import ACQUIRERS, EDGE_POPS, PROCESSES
from stackkit.flag_catalog import SPECS_BY_KEY, render
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file


class StepTimeout(Exception):
    """A step of the experiment did not happen in time: the experiment ends in ERROR."""


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, timeout_s: float, what: str, every_s: float = 0.05
) -> float:
    """Seconds until ``condition`` held; :class:`StepTimeout` after ``timeout_s``."""
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > timeout_s:
            raise StepTimeout(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(every_s)
    return time.monotonic() - start


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""A scrape: (sample name, sorted labels) -> value."""


def parse_scrape(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def histogram(samples: Samples, name: str, **labels: str) -> list[tuple[float, float]]:
    """``name``'s buckets (upper bound, cumulative count) summed over the other labels."""
    wanted = set(labels.items())
    summed: dict[float, float] = {}
    for (sample, ls), value in samples.items():
        if sample == f"{name}_bucket" and wanted <= set(ls):
            le = float(dict(ls)["le"])
            summed[le] = summed.get(le, 0.0) + value
    return sorted(summed.items())


@dataclass
class Lab:
    edge_url: str
    urls: dict[str, str]
    """Every process of the topology, by name, reached directly."""
    flag_file: Path
    control: ControlClient
    admin_headers: dict[str, str]
    database_urls: dict[str, str]
    stack: NativeStack | None = None
    _original_flags: dict[str, Any] | None = None
    _flipped: dict[str, set[str]] = field(default_factory=dict)
    _paused: set[str] = field(default_factory=set)
    _stopped: set[str] = field(default_factory=set)
    _touched: set[str] = field(default_factory=set)
    _undo: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def pop_urls(self) -> dict[str, str]:
        return {pop: self.urls[name] for name, (pop, _) in EDGE_POPS.items()}

    @property
    def acquirer_urls(self) -> dict[str, str]:
        return {name: self.urls[name] for name in ACQUIRERS}

    # -- flags ------------------------------------------------------------------------------

    async def flip(self, key: str, variant: str, *, readers: Sequence[str]) -> None:
        """Set ``key`` to ``variant`` in the flag file and wait until every one of ``readers``
        (process names) shows it in force on its ``/flags``."""
        if self._original_flags is None:
            self._original_flags = read_flag_file(self.flag_file)
        set_flag(self.flag_file, key, variant)
        self._flipped[key] = set(readers) | self._flipped.get(key, set())
        await self._in_force(key, shown(read_flag_file(self.flag_file), key), readers)

    async def _in_force(self, key: str, wanted: str, readers: Iterable[str]) -> None:
        for reader in readers:

            async def applied(reader: str = reader) -> bool:
                return await self.flag_in_force(reader, key) == wanted

            await wait_until(applied, timeout_s=10, what=f"{reader} showing {key}={wanted}")

    async def flag_in_force(self, name: str, key: str) -> str | None:
        """What ``name``'s ``/flags`` says is in force for ``key`` (None: no answer)."""
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                response = await http.get(f"{self.urls[name]}/flags")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        found = response.json()["values"].get(key)
        return str(found) if found is not None else None

    # -- processes --------------------------------------------------------------------------

    def act(self, name: str, action: str) -> str:
        """Kill, pause, resume, stop, start or restart ``name`` through the runner."""
        answer = self.control.act(name, action)
        self._touched.add(name)
        if action == "pause":
            self._paused.add(name)
        elif action == "resume":
            self._paused.discard(name)
        elif action == "stop":
            self._stopped.add(name)
        elif action in ("start", "restart"):
            self._stopped.discard(name)
        return answer

    async def ready(self, name: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{self.urls[name]}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_ready(self, name: str, timeout_s: float = 60) -> float:
        return await wait_until(
            lambda: self.ready(name), timeout_s=timeout_s, what=f"{name} ready", every_s=0.02
        )

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU seconds ``name``'s process has used so far."""
        pid: int | None = None
        if self.stack is not None and name in self.stack.processes:
            popen = self.stack.processes[name].popen
            pid = popen.pid if popen is not None and popen.poll() is None else None
        if pid is None:
            pid = self.control.status(name)[0].pid
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)

    async def scrape(self, name: str) -> Samples:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(f"{self.urls[name]}/metrics")
        response.raise_for_status()
        return parse_scrape(response.text)

    # -- the edge's config plane ------------------------------------------------------------

    async def write_edge_config(self, body: dict[str, Any]) -> int:
        """Write through pop-2 (any PoP takes writes) and wait until every PoP applied it."""
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.put(
                f"{self.pop_urls['pop-2']}/_edge/config", json=body, headers=self.admin_headers
            )
        if response.status_code != 200:
            raise RuntimeError(f"edge config write refused: {response.text}")
        version: int = response.json()["version"]
        await wait_until(
            lambda: self._everywhere(version), timeout_s=10, what=f"config {version} on every PoP"
        )
        return version

    async def _everywhere(self, version: int) -> bool:
        return min((await self.edge_versions()).values()) >= version

    async def edge_versions(self) -> dict[str, int]:
        """Each PoP's applied config version."""
        versions = {}
        async with httpx.AsyncClient(timeout=5) as http:
            for pop, url in self.pop_urls.items():
                versions[pop] = (await http.get(f"{url}/_edge/config")).json()["version"]
        return versions

    async def edge_route(self, prefix: str, origins: Sequence[str]) -> str:
        """A route ``/<prefix>`` to ``origins`` on every PoP, deleted at restore."""
        await self.write_edge_config({"set": {f"route:{prefix}": {"origins": list(origins)}}})

        async def delete() -> None:
            await self.write_edge_config({"delete": [f"route:{prefix}"]})

        self.on_restore(delete)
        return f"/{prefix}"

    # -- undoing ----------------------------------------------------------------------------

    def disturb_everything(self) -> None:
        """Something outside the lab (the chaos monkey) acts on any process: at restore, wait
        for every one of them to be ready again."""
        self._touched |= set(self.urls)

    def on_restore(self, undo: Callable[[], Awaitable[None]]) -> None:
        """``undo`` runs at restore (the last registered first), whatever happened."""
        self._undo.append(undo)

    async def restore(self) -> list[str]:
        """Undo every change; what could not be undone, as sentences (empty: all of it)."""
        problems: list[str] = []
        for undo in reversed(self._undo):
            try:
                await undo()
            except Exception as exc:  # every undo is attempted, each failure reported
                problems.append(f"{type(exc).__name__}: {exc}")
        self._undo.clear()
        if self._original_flags is not None:
            original = self._original_flags
            write_flag_file(self.flag_file, original)
            self._original_flags = None
            for key, readers in sorted(self._flipped.items()):
                try:
                    await self._in_force(key, shown(original, key), sorted(readers))
                except StepTimeout as exc:
                    problems.append(str(exc))
            self._flipped.clear()
        for name in sorted(self._paused):
            problems += _attempt(lambda name=name: self.control.act(name, "resume"))  # type: ignore[misc]
        for name in sorted(self._stopped):
            problems += _attempt(lambda name=name: self.control.act(name, "start"))  # type: ignore[misc]
        self._paused.clear()
        self._stopped.clear()
        for name in sorted(self._touched):
            if name in self.urls:
                try:
                    await self.wait_ready(name, timeout_s=60)
                except StepTimeout as exc:
                    problems.append(str(exc))
        self._touched.clear()
        return problems


def shown(document: dict[str, Any], key: str) -> str:
    """How ``/flags`` renders ``key`` as the flag file ``document`` sets it."""
    flag = document["flags"][key]
    return render(SPECS_BY_KEY[key].check(flag["variants"][flag["defaultVariant"]]))


def _attempt(action: Callable[[], object]) -> list[str]:
    try:
        action()
    except Exception as exc:  # every undo is attempted, each failure reported
        return [f"{type(exc).__name__}: {exc}"]
    return []


def lab_for(stack: NativeStack, control_url: str) -> Lab:
    servers = stack.servers
    return Lab(
        edge_url=stack.edge_url,
        urls={spec.name: stack.url(spec.name) for spec in PROCESSES},
        flag_file=stack.flags_path,
        control=ControlClient(control_url),
        admin_headers=stack.edge_admin_headers,
        database_urls={db: servers.postgres.url(db) for db in ("payments", "dispatch", "chat")},
        stack=stack,
    )


STACK_OVERRIDES = {
    worker: {"DISPATCH_STALE_AFTER_S": "120"} for worker in ("dispatch", "dispatch-2")
}
"""An experiment's drivers report once, not every 4 s: reporting 100,000 of them takes longer
than the default 12 s of freshness."""


@contextmanager
def own_lab() -> Iterator[Lab]:
    """A supervised native stack of the experiments' own, on free ports and fresh servers."""
    with LocalServers.create() as servers:
        stack = start_native_stack(servers, supervise=True, overrides=STACK_OVERRIDES)
        assert stack.supervisor is not None
        control = serve_control(stack.supervisor, port=0, state_dir=servers.root)
        try:
            yield lab_for(stack, control.url)
        finally:
            control.close()
            stack.unsupervise()
            stack.stop()
