"""Fault injection at the stack's dependency call sites, driven by the ``fault.<site>`` flags.

A site with no fault in force pays one dict lookup (:data:`stackkit.flags.ARMED_FAULTS`).
An armed site awaits :func:`apply_fault`: a delay, then maybe a :class:`FaultInjected` error
its callers see as a real failure of that dependency (each site raises a subclass of what its
driver raises when the server is gone), or a hang that lasts until the flag changes.

The stackkit-level sites are wired here and in ``stackkit.kafka``: ``redis`` (every command and
pipeline of :class:`FaultableRedis`, what ``open_redis`` makes), ``postgres`` (every acquire of
the pools ``open_postgres`` makes, :func:`postgres_fault_on_acquire`), ``kafka.produce``
(``EventProducer``'s publishes). Other sites call :func:`inject` with their own error type.
"""

import asyncio
import random
from typing import Any

import redis.asyncio as aioredis
from aiokafka.errors import KafkaConnectionError
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from stackkit.fault_plan import FaultConfig, decide
from stackkit.flags import ARMED_FAULTS, FAULTS_INJECTED, wait_for_fault_change

_random = random.Random()


class FaultInjected(Exception):
    """A failure injected by a fault flag. Sites raise a subclass that is also what their
    driver raises for a real failure, so callers handle it exactly as they would that."""

    def __init__(self, site: str) -> None:
        super().__init__(f"fault injected at {site} (flag fault.{site})")
        self.site = site


class RedisFaultInjected(FaultInjected, RedisConnectionError):
    """Like a Redis connection lost mid-command (``redis.exceptions.ConnectionError``)."""


class PostgresFaultInjected(FaultInjected, ConnectionError):
    """Like a Postgres server refusing the connection (an ``OSError``, as asyncpg raises)."""


class KafkaProduceFaultInjected(FaultInjected, KafkaConnectionError):  # type: ignore[misc]
    """Like a broker that cannot be reached (``aiokafka.errors.KafkaConnectionError``)."""

    def __init__(self, site: str) -> None:
        # KafkaError's own __init__ takes free-form args; FaultInjected sets the message.
        FaultInjected.__init__(self, site)


async def inject(site: str, error: type[FaultInjected] = FaultInjected) -> None:
    """Apply the fault in force at ``site``, if any: the whole cost when there is none is one
    dict lookup (and this coroutine). ``error`` is what a failure raises."""
    config = ARMED_FAULTS.get(site)
    if config is not None:
        await apply_fault(site, config, error)


async def apply_fault(site: str, config: FaultConfig, error: type[FaultInjected]) -> None:
    """Delay, fail or hang one call at ``site`` under ``config`` (read from ARMED_FAULTS by the
    caller). A hang waits until the site's flag changes, then the new fault (or none) applies;
    it is cancellable, so a caller's timeout ends it as it would a hung peer."""
    while True:
        outcome = decide(config, _random)
        if outcome.hang:
            FAULTS_INJECTED.labels(site, "hang").inc()
            await wait_for_fault_change(site, config)
            next_config = ARMED_FAULTS.get(site)
            if next_config is None:
                return
            config = next_config
            continue
        if outcome.delay_s > 0:
            FAULTS_INJECTED.labels(site, "delay").inc()
            await asyncio.sleep(outcome.delay_s)
        if outcome.fail:
            FAULTS_INJECTED.labels(site, "error").inc()
            raise error(site)
        return


class FaultablePipeline(Pipeline):
    """A pipeline (or MULTI/EXEC transaction) that meets the ``redis`` fault once per round
    trip, when it is executed: the commands it queues are not calls of their own."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        fault = ARMED_FAULTS.get("redis")
        if fault is not None:
            await apply_fault("redis", fault, RedisFaultInjected)
        return await super().execute(raise_on_error)


class FaultableRedis(aioredis.Redis):
    """A Redis client whose every command and pipeline first meets the ``redis`` fault.

    Injected before the client's own retry, so a failure reaches the caller as one lost
    command, not as three attempts. Pub/sub connections are not covered: a subscriber's
    stream is one long call, not many."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        fault = ARMED_FAULTS.get("redis")
        if fault is not None:
            await apply_fault("redis", fault, RedisFaultInjected)
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return FaultablePipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


async def postgres_fault_on_acquire(connection: object) -> None:
    """asyncpg's pool ``setup`` hook: every acquire (each use case's unit of work, and each
    ``pool.fetch*`` shortcut) first meets the ``postgres`` fault. A failure here makes asyncpg
    close that connection, as a real broken one would be."""
    fault = ARMED_FAULTS.get("postgres")
    if fault is not None:
        await apply_fault("postgres", fault, PostgresFaultInjected)
