from stackkit.kafka import TopicSpec

PAYMENT_EVENTS = TopicSpec("payments.events")
TOPICS = [PAYMENT_EVENTS]
