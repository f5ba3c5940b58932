"""RabbitMQ: the warning consumer, the topology and the event publisher."""
