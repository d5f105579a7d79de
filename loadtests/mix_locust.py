"""Locust: the whole stack at once, through the edge, with realistic weights.

    uv run locust -f loadtests/mix_locust.py --host http://127.0.0.1:8080
    make load        # headless, for LOAD_TIME, HTML report and CSVs in loadtests/results/
    make load-ui     # the web UI on http://127.0.0.1:8089

Most people browse and watch (catalog), many chat, a city's drivers ping and its riders book,
and a few merchants take payments.
"""

from loadtests import catalog_locust, chat_locust, dispatch_locust, payments_locust


class Viewer(catalog_locust.Viewer):
    weight = 40


class ChatUser(chat_locust.ChatUser):
    weight = 25


class DriverFleet(dispatch_locust.DriverFleet):
    weight = 15


class Rider(dispatch_locust.Rider):
    weight = 10


class Merchant(payments_locust.PaymentsMerchant):
    weight = 10
