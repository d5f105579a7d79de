from stackkit.kafka import TopicSpec

MESSAGES = TopicSpec("chat.messages")
TOPICS = [MESSAGES]
