"""Locust: drivers pinging positions and riders requesting trips through the edge.

    uv run locust -f loadtests/dispatch_locust.py --host http://127.0.0.1:8080

Each driver user stands for a fleet of 50 drivers around the city (one batched ping per
task, as a driver gateway would send); each rider user requests a trip, and answers the offer
the way its driver would (accept, sometimes decline), then finishes the ride.
"""

import random
import uuid

from locust import HttpUser, between, task

PREFIX = "/dispatch"
CITY = (52.52, 13.405)
# Where drivers wait, city-shaped: dense downtown, the main station, the airport, and a thin
# spread over the rest (weight, centre, spread in degrees).
HOTSPOTS = [
    (0.45, (52.520, 13.405), 0.012),  # centre
    (0.15, (52.525, 13.369), 0.004),  # main station
    (0.10, (52.366, 13.503), 0.006),  # airport
    (0.30, (52.520, 13.405), 0.060),  # everywhere else
]


def somewhere() -> dict[str, float]:
    _, (lat, lng), spread = random.choices(HOTSPOTS, weights=[h[0] for h in HOTSPOTS])[0]
    # a degree of longitude is ~0.61 of a degree of latitude here: keep the spread round
    return {"lat": random.gauss(lat, spread), "lng": random.gauss(lng, spread / 0.61)}


class DriverFleet(HttpUser):
    host = "http://127.0.0.1:8080"
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        fleet = uuid.uuid4().hex[:6]
        self.drivers = {f"loc-{fleet}-{i}": somewhere() for i in range(50)}

    @task
    def ping(self) -> None:
        for position in self.drivers.values():
            position["lat"] += random.uniform(-0.0005, 0.0005)
            position["lng"] += random.uniform(-0.0005, 0.0005)
        updates = [{"driver_id": d, **p} for d, p in self.drivers.items()]
        self.client.post(
            f"{PREFIX}/v1/locations", json={"updates": updates}, name="/v1/locations (50)"
        )


class Rider(HttpUser):
    host = "http://127.0.0.1:8080"
    wait_time = between(0.5, 2.0)

    @task(3)
    def take_a_ride(self) -> None:
        pickup, dropoff = somewhere(), somewhere()
        response = self.client.post(
            f"{PREFIX}/v1/trips",
            json={"rider_id": "locust", "pickup": pickup, "dropoff": dropoff},
            name="/v1/trips",
        )
        trip = response.json() if response.status_code == 200 else {}
        if trip.get("status") != "dispatching":
            return
        driver = trip["offered_driver"]
        step = "decline" if random.random() < 0.2 else "accept"
        answer = self.client.post(
            f"{PREFIX}/v1/trips/{trip['id']}/{step}",
            json={"driver_id": driver},
            name=f"/v1/trips/[id]/{step}",
        )
        if step == "accept" and answer.status_code == 200:
            for step_name in ("arrive", "start", "complete"):
                self.client.post(
                    f"{PREFIX}/v1/trips/{trip['id']}/{step_name}",
                    json={"driver_id": driver},
                    name=f"/v1/trips/[id]/{step_name}",
                )

    @task(1)
    def look_around(self) -> None:
        here = somewhere()
        self.client.get(
            f"{PREFIX}/v1/drivers/nearby", params={**here, "limit": 5}, name="/v1/drivers/nearby"
        )
        self.client.get(
            f"{PREFIX}/v1/quotes",
            params={
                "pickup_lat": here["lat"],
                "pickup_lng": here["lng"],
                "dropoff_lat": here["lat"] + 0.02,
                "dropoff_lng": here["lng"],
            },
            name="/v1/quotes",
        )
