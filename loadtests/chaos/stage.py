"""The chaos run's own stack: native, supervised, on free ports, with its control API."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.control import ControlClient, ControlError, serve_control
from devstack.servers import LocalServers
from devstack.stack import start_native_stack
from devstack.topology import ACQUIRERS, EDGE_POPS
from loadtests.chaos.monkey import Stage


@dataclass
class AnsweringControl:
    """The control API's client, with a refusal as the answer (the report shows it) rather than
    an exception: the monkey carries on with the rest of its schedule."""

    client: ControlClient

    def act(self, name: str, action: str) -> str:
        try:
            return self.client.act(name, action)
        except ControlError as exc:
            return f"refused: {exc}"


@contextmanager
def supervised_stage() -> Iterator[Stage]:
    print("chaos: starting a supervised native stack on free ports ...", flush=True)
    with LocalServers.create() as servers:
        stack = start_native_stack(servers, supervise=True)
        assert stack.supervisor is not None
        control = serve_control(stack.supervisor, port=0, state_dir=servers.root)
        print(f"chaos: stack ready; control API {control.url}; logs {stack.logs_dir()}", flush=True)
        try:
            yield Stage(
                edge_url=stack.edge_url,
                pop_urls={pop: stack.url(name) for name, (pop, _) in EDGE_POPS.items()},
                acquirer_urls={name: stack.url(name) for name in ACQUIRERS},
                payments_database_url=servers.postgres.url("payments"),
                dispatch_database_url=servers.postgres.url("dispatch"),
                admin_headers=stack.edge_admin_headers,
                flag_file=stack.flags_path,
                control=AnsweringControl(ControlClient(control.url)),
            )
        finally:
            control.close()
            stack.unsupervise()
            stack.stop()
