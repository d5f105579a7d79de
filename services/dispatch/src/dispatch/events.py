from stackkit.kafka import TopicSpec

LOCATIONS = TopicSpec("dispatch.locations")
TRIPS = TopicSpec("dispatch.trips")
TOPICS = [LOCATIONS, TRIPS]
