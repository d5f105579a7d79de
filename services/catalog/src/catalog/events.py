from stackkit.kafka import TopicSpec

PLAYS = TopicSpec("catalog.plays")
TOPICS = [PLAYS]
