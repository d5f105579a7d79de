"""Locust: viewers browsing and watching through the edge.

    uv run locust -f loadtests/catalog_locust.py --host http://127.0.0.1:8080

Each viewer is a profile on one ISP. Titles are drawn Zipf(1) over the seeded catalogue
(``CATALOG_SEED_TITLES``, 5,000), so a few titles take most reads as on a real service. A viewer
opens the home rows, looks at titles, presses play (the manifest and steered sources), and
reports the playback start and then progress in batches, as players send their telemetry.
"""

import bisect
import itertools
import random
import uuid
from datetime import UTC, datetime

from locust import HttpUser, between, task

PREFIX = "/catalog"
SEEDED_TITLES = 5000
ISPS = [("telco-eu-1", "eu"), ("telco-eu-2", "eu"), ("cable-us-1", "us"),
        ("cable-us-2", "us"), ("mobile-apac-1", "apac"), ("fibre-apac-2", "apac")]  # fmt: skip
DEVICES = [
    {"codecs": "h264", "max_height": 720},  # an old smart TV
    {"codecs": "h264,hevc", "max_height": 1080},  # a phone
    {"codecs": "av1,hevc,h264", "max_height": 2160},  # a new TV
]
_CUMULATIVE = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(SEEDED_TITLES)))


def popular_title() -> str:
    return f"t{bisect.bisect_left(_CUMULATIVE, random.random() * _CUMULATIVE[-1])}"


def now() -> str:
    return datetime.now(UTC).isoformat()


class Viewer(HttpUser):
    host = "http://127.0.0.1:8080"
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.profile = f"viewer-{uuid.uuid4().hex[:10]}"
        self.isp, self.region = random.choice(ISPS)
        self.device = random.choice(DEVICES)

    def play_event(self, title: str, kind: str, position_s: int) -> dict[str, object]:
        where = {"region": self.region, "isp": self.isp}
        return {"profile_id": self.profile, "title_id": title, "kind": kind,
                "position_s": position_s, "at": now(), **where}  # fmt: skip

    @task(3)
    def home(self) -> None:
        self.client.get(
            f"{PREFIX}/v1/profiles/{self.profile}/rows",
            params={"region": self.region},
            name="/v1/profiles/[id]/rows",
        )

    @task(6)
    def browse(self) -> None:
        self.client.get(f"{PREFIX}/v1/titles/{popular_title()}", name="/v1/titles/[id]")

    @task(2)
    def watch(self) -> None:
        title = popular_title()
        bandwidth = random.choice([1500, 4000, 8000, 30000])
        params = {
            "isp": self.isp,
            "region": self.region,
            "bandwidth_kbps": bandwidth,
            **self.device,
        }
        self.client.get(
            f"{PREFIX}/v1/titles/{title}/play", params=params, name="/v1/titles/[id]/play"
        )
        self.client.post(f"{PREFIX}/v1/plays", json=self.play_event(title, "start", 0))
        progress = [self.play_event(title, "progress", 60 * (n + 1)) for n in range(5)]
        self.client.post(f"{PREFIX}/v1/plays/batch", json={"plays": progress})

    @task(1)
    def history(self) -> None:
        self.client.get(
            f"{PREFIX}/v1/profiles/{self.profile}/history", name="/v1/profiles/[id]/history"
        )
