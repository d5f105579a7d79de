"""A WebSocket gateway: holds persistent connections, separate from the stateless Web API.

    python -m chat.gateway --host 0.0.0.0 --port 8004

Built on the ``websockets`` library (one port: ``GET /ws`` upgrades; ``/healthz``, ``/readyz``,
``/metrics`` and ``/`` (a small chat page) are answered as plain HTTP). A fanout batch for a
channel is encoded once as a WebSocket frame and the same bytes are written to every recipient's
socket: server frames are never masked, so one encoding serves ten thousand connections.

Per connection a :class:`ConnectionDelivery` (a pure state machine) decides what is written:
every message of each channel once, in ``seq`` order, no gap. The client says what it has
(``?since=C1:41,C2:7``); the machine asks for the rest from storage, holds live messages while
it replays and fetches any gap it notices; :mod:`chat.gateway.delivery` only carries out its
actions.

The parts, one idea each: :mod:`~chat.gateway.server` (the port, the wiring, the subscription
to the fanout), :mod:`~chat.gateway.lifecycle` (a connection from upgrade to close),
:mod:`~chat.gateway.connection` (a client's socket writes and state),
:mod:`~chat.gateway.frames` and :mod:`~chat.gateway.posting` (what clients send),
:mod:`~chat.gateway.delivery`, :mod:`~chat.gateway.presence`; route announcements are
:class:`chat.routes.GatewayRoutes`.
"""

from chat.domain.since import parse_since
from chat.gateway.connection import Client, text_frame
from chat.gateway.server import Gateway, main, run

__all__ = ["Client", "Gateway", "main", "parse_since", "run", "text_frame"]
