"""Locust: merchants taking payments through the edge, the way the stripe SDK would.

    uv run locust -f loadtests/payments_locust.py --host http://127.0.0.1:8080

Every payment carries an Idempotency-Key; one in ten is sent twice, as a client retrying after
a network error would, and must replay the same response.
"""

import random
import uuid

from locust import HttpUser, between, task

PREFIX = "/payments"
CARDS = ["pm_card_visa"] * 8 + ["pm_card_mastercard", "pm_card_chargeDeclined"]


class PaymentsMerchant(HttpUser):
    host = "http://127.0.0.1:8080"
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        merchant = self.client.post(f"{PREFIX}/dev/merchants", json={"name": "locust"}).json()
        self.client.headers["authorization"] = f"Bearer {merchant['secret_key']}"
        self.paid: list[str] = []

    @task(6)
    def pay(self) -> None:
        key = str(uuid.uuid4())
        card = random.choice(CARDS)
        body = {
            "amount": str(random.randint(500, 20_000)),
            "currency": random.choice(["usd", "eur"]),
            "payment_method": card,
            "confirm": "true",
        }
        sends = 2 if random.random() < 0.1 else 1
        for _ in range(sends):
            with self.client.post(
                f"{PREFIX}/v1/payment_intents", data=body, headers={"idempotency-key": key},
                name="/v1/payment_intents (create+confirm)", catch_response=True,
            ) as response:  # fmt: skip
                declined = card == "pm_card_chargeDeclined" and response.status_code == 402
                if response.status_code == 200:
                    self.paid.append(response.json()["id"])
                    response.success()
                elif declined:
                    response.success()
                else:
                    response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(2)
    def retrieve(self) -> None:
        if self.paid:
            intent_id = random.choice(self.paid)
            self.client.get(
                f"{PREFIX}/v1/payment_intents/{intent_id}", name="/v1/payment_intents/[id]"
            )

    @task(1)
    def list_recent(self) -> None:
        self.client.get(f"{PREFIX}/v1/payment_intents?limit=10", name="/v1/payment_intents (list)")

    @task(1)
    def refund(self) -> None:
        if self.paid:
            intent_id = self.paid.pop(random.randrange(len(self.paid)))
            self.client.post(
                f"{PREFIX}/v1/refunds", data={"payment_intent": intent_id, "amount": "100"},
                headers={"idempotency-key": str(uuid.uuid4())}, name="/v1/refunds",
            )  # fmt: skip
