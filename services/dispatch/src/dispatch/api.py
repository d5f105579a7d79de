"""Location ingest and the nearby-drivers query."""

import json
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dispatch.demand import SurgeBoard
from dispatch.domain.geo import validate_point
from dispatch.domain.ownership import area_of
from dispatch.domain.search import MAX_RADIUS_M
from dispatch.domain.trips import DecisionOutcome, TripAction, decision_outcome
from dispatch.events import EVENTS, LOCATIONS, DriverPosition, DriverStatus
from dispatch.forwarding import FORWARDED, HANDLED_BY, TripForwarding
from dispatch.locations import LocationIndex, LocationUpdate, search_mode
from dispatch.membership import Membership
from dispatch.metrics import DispatchMetrics
from dispatch.trips import Trips
from stackkit import tracing
from stackkit.errors import Invalid
from stackkit.kafka import EventProducer
from stackkit.service import from_state

MAX_BATCH = 1000
DRIVER_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
SEARCHED_BY = "x-dispatch-search"
"""Response header of a nearby search: which ``dispatch.search`` mode answered it."""

router = APIRouter(prefix="/v1", tags=["locations"])


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float
    lng: float
    status: DriverStatus = "available"
    ts_ms: int | None = Field(default=None, ge=0, description="when the position was taken")


class DriverLocation(Location):
    driver_id: str = Field(pattern=DRIVER_ID)


class LocationBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    updates: list[DriverLocation] = Field(min_length=1)


class NearbyDriver(BaseModel):
    driver_id: str
    lat: float
    lng: float
    distance_m: float


class NearbyResponse(BaseModel):
    drivers: list[NearbyDriver]


Index = Annotated[LocationIndex, from_state("locations")]
Events = Annotated[EventProducer, from_state("events")]


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _ingest(
    index: LocationIndex, events: EventProducer, batch: list[DriverLocation], *, batched: bool
) -> int:
    if len(batch) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} updates per batch, got {len(batch)}", param="updates")
    now = _now_ms()
    updates = [
        LocationUpdate(
            u.driver_id,
            validate_point(u.lat, u.lng, param=f"updates[{i}]" if batched else ""),
            u.status,
            u.ts_ms or now,
        )
        for i, u in enumerate(batch)
    ]
    applied = await index.update(updates)
    positions = [
        DriverPosition(
            driver_id=u.driver_id, lat=u.point.lat, lng=u.point.lng, status=u.status, ts_ms=u.ts_ms
        )
        for u in updates
    ]
    await events.publish_many(LOCATIONS.name, [EVENTS.event(p) for p in positions])
    return applied


@router.post("/drivers/{driver_id}/location", summary="Report one driver's position")
async def report_location(
    # Validated here, as the batch's body field is: a model built in the handler would turn a
    # bad id into an uncaught ValidationError, a 500.
    driver_id: Annotated[str, Path(pattern=DRIVER_ID)],
    location: Location,
    index: Index,
    events: Events,
) -> dict[str, int]:
    update = DriverLocation(driver_id=driver_id, **location.model_dump())
    return {"applied": await _ingest(index, events, [update], batched=False)}


@router.post("/locations", summary="Report many drivers' positions at once (up to 1,000)")
async def report_locations(batch: LocationBatch, index: Index, events: Events) -> dict[str, int]:
    return {"applied": await _ingest(index, events, batch.updates, batched=True)}


@router.get("/drivers/nearby", summary="The nearest available drivers, nearest first")
async def nearby_drivers(
    index: Index,
    response: Response,
    lat: Annotated[float, Query()],
    lng: Annotated[float, Query()],
    radius_m: Annotated[float, Query(gt=0, le=MAX_RADIUS_M)] = 3000,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> NearbyResponse:
    origin = validate_point(lat, lng)
    mode = search_mode()
    found = await index.nearby(origin, radius_m, limit, _now_ms(), mode)
    response.headers[SEARCHED_BY] = mode.value
    return NearbyResponse(
        drivers=[
            NearbyDriver(
                driver_id=n.driver_id,
                lat=n.point.lat,
                lng=n.point.lng,
                distance_m=round(n.distance_m, 2),
            )
            for n in found
        ]
    )


# -- trips -------------------------------------------------------------------------------------

trips_router = APIRouter(prefix="/v1/trips", tags=["trips"])


class Place(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float
    lng: float


class TripRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rider_id: str = Field(min_length=1, max_length=64)
    pickup: Place
    dropoff: Place
    quote_id: str | None = Field(default=None, max_length=64, description="keep a quoted price")


class QuoteView(BaseModel):
    quote_id: str
    fare_amount: int
    surge: float
    distance_m: float
    duration_s: float


class DriverAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver_id: str = Field(min_length=1, max_length=64)


class RiderAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rider_id: str = Field(min_length=1, max_length=64)


class TripView(BaseModel):
    id: str
    rider_id: str
    status: str
    driver_id: str | None
    offered_driver: str | None
    surge: float
    fare_amount: int
    pickup: Place
    dropoff: Place

    @classmethod
    def of(cls, row: dict[str, object]) -> "TripView":
        return cls.model_validate(
            {
                **row,
                "pickup": {"lat": row["pickup_lat"], "lng": row["pickup_lng"]},
                "dropoff": {"lat": row["dropoff_lat"], "lng": row["dropoff_lng"]},
            }
        )


TripsDep = Annotated[Trips, from_state("trips")]
MembershipDep = Annotated[Membership, from_state("membership")]
Surge = Annotated[SurgeBoard, from_state("surge")]
Forwarding = Annotated[TripForwarding, from_state("forwarding")]
Metrics = Annotated[DispatchMetrics, from_state("dispatch_metrics")]


def _outcome_of_answer(answer: Response) -> DecisionOutcome:
    """The decision the owner's answer to a forwarded request tells."""
    if answer.status_code != 200:
        return DecisionOutcome.ERROR
    try:
        status = json.loads(bytes(answer.body)).get("status")
    except (ValueError, AttributeError):
        return DecisionOutcome.ERROR
    return decision_outcome(status if isinstance(status, str) else None)


@trips_router.post("", summary="Request a trip: quoted, then offered to the best driver")
async def request_trip(
    request: Request, body: TripRequest, trips: TripsDep, forwarding: Forwarding, metrics: Metrics
) -> Response:
    """The worker owning the pickup's area decides; any other worker forwards it there."""
    started = time.perf_counter()
    # On the request's server span: which worker it reached (first, or as the area's owner).
    tracing.set_attribute("dispatch.worker", forwarding.worker_id)
    pickup = validate_point(body.pickup.lat, body.pickup.lng, param="pickup")
    dropoff = validate_point(body.dropoff.lat, body.dropoff.lng, param="dropoff")
    # The first worker to see the request times its decision, the forwarding included; the
    # owner it was forwarded to does not count it again.
    first = FORWARDED not in request.headers
    outcome = DecisionOutcome.ERROR
    try:
        forwarded = await forwarding.forward(
            pickup, body.model_dump_json().encode(), request.headers
        )
        if forwarded is not None:
            outcome = _outcome_of_answer(forwarded)
            return forwarded
        trip = await trips.request(body.rider_id, pickup, dropoff, body.quote_id)
        outcome = decision_outcome(trip["status"])
        return Response(
            TripView.of(trip).model_dump_json(),
            media_type="application/json",
            headers={HANDLED_BY: forwarding.worker_id},
        )
    finally:
        if first:
            metrics.decided(outcome, time.perf_counter() - started)


@router.get("/areas/owner", tags=["trips"], summary="Which dispatch worker owns a point's area")
async def area_owner(membership: MembershipDep, lat: float, lng: float) -> dict[str, str]:
    area = area_of(validate_point(lat, lng))
    worker, _ = await membership.owner(area)
    return {"area": area, "worker": worker}


@router.get("/quotes", tags=["trips"], summary="A fare estimate, with the area's current surge")
async def get_quote(
    surge: Surge,
    pickup_lat: float,
    pickup_lng: float,
    dropoff_lat: float,
    dropoff_lng: float,
) -> QuoteView:
    pickup = validate_point(pickup_lat, pickup_lng, param="pickup")
    dropoff = validate_point(dropoff_lat, dropoff_lng, param="dropoff")
    quote_id, priced = await surge.quote(pickup, dropoff)
    return QuoteView(
        quote_id=quote_id,
        fare_amount=priced.amount,
        surge=priced.multiplier,
        distance_m=priced.distance_m,
        duration_s=priced.duration_s,
    )


@trips_router.get("/{trip_id}", summary="A trip")
async def get_trip(trip_id: str, trips: TripsDep) -> TripView:
    return TripView.of(await trips.get(trip_id))


@trips_router.post("/{trip_id}/accept", summary="The offered driver takes the trip")
async def accept_trip(trip_id: str, body: DriverAction, trips: TripsDep) -> TripView:
    return TripView.of(await trips.accept(trip_id, body.driver_id))


@trips_router.post("/{trip_id}/decline", summary="The offered driver passes; the next is offered")
async def decline_trip(trip_id: str, body: DriverAction, trips: TripsDep) -> TripView:
    return TripView.of(await trips.decline(trip_id, body.driver_id))


@trips_router.post("/{trip_id}/cancel", summary="The rider cancels")
async def cancel_trip(trip_id: str, body: RiderAction, trips: TripsDep) -> TripView:
    return TripView.of(await trips.cancel(trip_id, body.rider_id))


@trips_router.post("/{trip_id}/{step}", summary="The driver arrives, starts or completes the ride")
async def advance_trip(
    trip_id: str, step: Literal["arrive", "start", "complete"], body: DriverAction, trips: TripsDep
) -> TripView:
    return TripView.of(await trips.advance(trip_id, body.driver_id, TripAction(step)))
