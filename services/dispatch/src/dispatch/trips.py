"""Trip use cases: request, offer to the best driver, accept/decline/timeout, and the ride.

Each step is one transaction that locks the trip row; the unique indexes in ``schema.sql`` make
"one trip per driver" and "one pending offer per driver" hold even when several dispatch
workers race (a losing insert is a unique violation, and the next driver is tried).
"""

import contextlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from dispatch import store
from dispatch.demand import SurgeBoard
from dispatch.domain.geo import Point
from dispatch.domain.matching import rank_drivers
from dispatch.domain.ownership import area_of
from dispatch.domain.search import Nearby
from dispatch.domain.surge import quote
from dispatch.domain.trips import HOLDS_DRIVER, TRIP_LIFECYCLE, TripAction, TripStatus
from dispatch.events import EVENTS, TRIPS, TripChange, TripChanged
from dispatch.locations import LocationIndex
from stackkit import tracing
from stackkit.errors import Conflict, NotFound
from stackkit.kafka import EventProducer
from stackkit.logs import get_logger
from stackkit.outbox import stage
from stackkit.transactions import Connection

log = get_logger(__name__)


class NotYourTrip(Conflict):
    code = "not_your_trip"


@dataclass
class Trips:
    pool: "asyncpg.Pool[asyncpg.Record]"
    index: LocationIndex
    events: EventProducer
    surge: SurgeBoard
    offer_timeout_s: float = 15.0
    search_radius_m: float = 5000.0
    candidates: int = 10

    async def get(self, trip_id: str) -> store.Row:
        async with self.pool.acquire() as conn:
            trip = await store.get_trip(conn, trip_id)
        if trip is None:
            raise NotFound(f"no trip {trip_id}", param="trip_id")
        return trip

    async def _move(
        self,
        conn: Connection,
        trip: store.Row,
        action: TripAction,
        actor: str | None = None,
        **fields: Any,
    ) -> None:
        """Validate and apply one lifecycle step; ``actor`` is the driver it concerns, if any."""
        before = TripStatus(trip["status"])
        after = TRIP_LIFECYCLE.next(before, action)
        await store.update_trip(conn, trip["id"], status=after.value, **fields)
        await store.record_transition(
            conn, trip["id"], before.value, after.value, action.value, actor
        )
        trip.update(fields, status=after.value)
        await self._stage(conn, trip, action)

    @staticmethod
    async def _stage(conn: Connection, trip: store.Row, change: TripChange) -> None:
        """The trip's event, committed with the change (the outbox relays it to Kafka)."""
        await stage(conn, TRIPS.name, EVENTS.event(TripChanged.of(trip, change)))

    async def request(
        self, rider_id: str, pickup: Point, dropoff: Point, quote_id: str | None = None
    ) -> store.Row:
        await self.surge.record_request(pickup)
        multiplier = await self.surge.quoted_multiplier(quote_id, pickup) if quote_id else None
        if multiplier is None:
            multiplier = await self.surge.multiplier(pickup)
        fare = quote(pickup, dropoff, multiplier)
        trip: store.Row = {
            "id": f"trip_{secrets.token_hex(10)}",
            "rider_id": rider_id,
            "status": TripStatus.REQUESTED.value,
            "pickup_lat": pickup.lat,
            "pickup_lng": pickup.lng,
            "dropoff_lat": dropoff.lat,
            "dropoff_lng": dropoff.lng,
            "area": area_of(pickup),
            "surge": fare.multiplier,
            "fare_amount": fare.amount,
        }
        async with self.pool.acquire() as conn, conn.transaction():
            await store.insert_trip(conn, trip)
            await store.record_transition(conn, trip["id"], None, trip["status"], "request", None)
            await self._stage(conn, trip, "requested")
            await self._move(conn, trip, TripAction.DISPATCH)
        return await self._offer_next(trip["id"])

    async def _offer_next(self, trip_id: str) -> store.Row:
        """Offer the trip to the best driver who has not passed on it; no one left: no_drivers."""
        trip = await self.get(trip_id)
        pickup = Point(trip["pickup_lat"], trip["pickup_lng"])
        declined = set(trip["declined"])
        nearby = await self.index.nearby(
            pickup, self.search_radius_m, self.candidates + len(declined), int(time.time() * 1000)
        )
        # The offer's event is staged inside this span: the outbox row keeps its context, so the
        # relay's publish, and whoever reads the offer off Kafka, join the request's trace.
        with tracing.span("dispatch.offer", attributes={"dispatch.trip.id": trip_id}):
            current = await self._offer_to_best(trip, pickup, nearby, declined)
            offered = current.get("offered_driver")
            tracing.set_attribute("dispatch.trip.status", str(current["status"]))
            if offered:
                tracing.set_attribute("dispatch.driver.id", str(offered))
            log.info("trip_offer", trip_id=trip_id, status=current["status"], driver=offered)
        return current

    async def _offer_to_best(
        self, trip: store.Row, pickup: Point, nearby: list[Nearby], declined: set[str]
    ) -> store.Row:
        """The first of the ranked drivers who is free gets the offer; none: no_drivers."""
        trip_id = trip["id"]
        for offer in rank_drivers(nearby, pickup, excluded=declined):
            async with self.pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        current = await store.get_trip(conn, trip_id, lock=True)
                        if current is None or current["status"] != TripStatus.DISPATCHING.value:
                            return current or trip
                        if await store.driver_is_busy(conn, offer.driver_id):
                            continue
                        await self._move(
                            conn,
                            current,
                            TripAction.OFFER_NEXT,
                            offer.driver_id,
                            offered_driver=offer.driver_id,
                            offer_expires_at=_in(self.offer_timeout_s),
                        )
                except asyncpg.UniqueViolationError:
                    continue  # the driver holds another offer right now; try the next one
            return current
        async with self.pool.acquire() as conn, conn.transaction():
            current = await store.get_trip(conn, trip_id, lock=True)
            if current is None or current["status"] != TripStatus.DISPATCHING.value:
                return current or trip
            await self._move(
                conn, current, TripAction.EXHAUST, offered_driver=None, offer_expires_at=None
            )
        return current

    async def accept(self, trip_id: str, driver_id: str) -> store.Row:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    trip = await self._locked(conn, trip_id)
                    if (
                        trip["offered_driver"] != driver_id
                        or trip["status"] != TripStatus.DISPATCHING.value
                    ):
                        raise NotYourTrip(f"trip {trip_id} is not on offer to {driver_id}")
                    if trip["offer_expires_at"] is not None and trip["offer_expires_at"] < _in(0):
                        raise NotYourTrip(f"the offer of {trip_id} to {driver_id} has expired")
                    await self._move(
                        conn,
                        trip,
                        TripAction.ACCEPT,
                        driver_id,
                        driver_id=driver_id,
                        offered_driver=None,
                        offer_expires_at=None,
                    )
            except asyncpg.UniqueViolationError as exc:
                raise Conflict(
                    f"driver {driver_id} is already on a trip", code="driver_busy"
                ) from exc
        await self.index.set_status(driver_id, "on_trip")
        return trip

    async def decline(self, trip_id: str, driver_id: str, *, timed_out: bool = False) -> store.Row:
        async with self.pool.acquire() as conn, conn.transaction():
            trip = await self._locked(conn, trip_id)
            if (
                trip["offered_driver"] != driver_id
                or trip["status"] != TripStatus.DISPATCHING.value
            ):
                raise NotYourTrip(f"trip {trip_id} is not on offer to {driver_id}")
            await store.update_trip(
                conn,
                trip_id,
                declined=[*trip["declined"], driver_id],
                offered_driver=None,
                offer_expires_at=None,
            )
            await store.record_transition(
                conn,
                trip_id,
                trip["status"],
                trip["status"],
                "timeout" if timed_out else "decline",
                driver_id,
            )
        return await self._offer_next(trip_id)

    async def expire_offers(self) -> int:
        """Offers nobody answered in time go to the next driver, and trips a dead worker left
        mid-dispatch are picked up (run periodically by every worker; the row locks make
        concurrent runs harmless)."""
        async with self.pool.acquire() as conn:
            due = await store.expired_offers(conn)
        for trip_id in due:
            trip = await self.get(trip_id)
            if trip["offered_driver"]:
                with contextlib.suppress(Conflict):  # answered or moved on meanwhile
                    await self.decline(trip_id, trip["offered_driver"], timed_out=True)
            else:
                await self._offer_next(trip_id)  # left mid-dispatch by a dead worker
        return len(due)

    async def advance(self, trip_id: str, driver_id: str, action: TripAction) -> store.Row:
        async with self.pool.acquire() as conn, conn.transaction():
            trip = await self._locked(conn, trip_id)
            if trip["driver_id"] != driver_id:
                raise NotYourTrip(f"trip {trip_id} is not driven by {driver_id}")
            await self._move(conn, trip, action, driver_id)
        if trip["status"] == TripStatus.COMPLETED.value:
            await self.index.set_status(driver_id, "available")
        return trip

    async def cancel(self, trip_id: str, rider_id: str) -> store.Row:
        async with self.pool.acquire() as conn, conn.transaction():
            trip = await self._locked(conn, trip_id)
            if trip["rider_id"] != rider_id:
                raise NotYourTrip(f"trip {trip_id} is not {rider_id}'s")
            held = TripStatus(trip["status"]) in HOLDS_DRIVER
            await self._move(
                conn, trip, TripAction.CANCEL, None, offered_driver=None, offer_expires_at=None
            )
        if held and trip["driver_id"]:
            await self.index.set_status(trip["driver_id"], "available")
        return trip

    async def _locked(self, conn: Connection, trip_id: str) -> store.Row:
        trip = await store.get_trip(conn, trip_id, lock=True)
        if trip is None:
            raise NotFound(f"no trip {trip_id}", param="trip_id")
        return trip


def _in(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
