"""Prometheus metrics: what monitoring and the duty room need to see at a glance.

One registry per running service (not the process-global default), so tests that start
several services in one process each count their own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from channels.base import SendResult

# Seconds from a warning's `sent` to an answer: 叫醒 within 5 min is the local rule for red.
ANSWER_BUCKETS = (30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200)
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.warnings = Counter(
            "jiaoying_warnings_ingested_total",
            "Warnings taken in, by level and outcome (created, followed, duplicate, rejected).",
            ["level", "outcome", "source"],
            registry=r,
        )
        self.notices = Counter(
            "jiaoying_notices_total",
            "Sends by channel and provider outcome (sent, delivered, simulated, failed, rejected).",
            ["channel", "status"],
            registry=r,
        )
        self.provider_errors = Counter(
            "jiaoying_provider_errors_total",
            "Failed sends by channel and reason (rate_limited, timeout, invalid_address …).",
            ["channel", "reason"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "jiaoying_send_seconds",
            "Time to perform one send, retries included, by channel.",
            ["channel"],
            buckets=SEND_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "jiaoying_answers_total",
            "Chains closed by an answer, by how (sms, voice, link, operator, supervisor …).",
            ["via"],
            registry=r,
        )
        self.time_to_answer = Histogram(
            "jiaoying_time_to_answer_seconds",
            "Seconds from the warning's sent to the person's answer, by level.",
            ["level"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.escalations = Counter(
            "jiaoying_escalations_total",
            "Escalations up the supervisor chain, by the level reached.",
            ["level"],
            registry=r,
        )
        self.open_tasks = Gauge(
            "jiaoying_open_tasks", "Door-knock tasks not yet reported.", registry=r
        )
        self.consumer_lag = Gauge(
            "jiaoying_amqp_consumer_lag",
            "Warnings waiting in jiaoying.dispatch (not yet delivered to a consumer).",
            registry=r,
        )
        self.chains_waiting = Gauge(
            "jiaoying_chains_waiting",
            "Recipients whose chain has a step still to come.",
            registry=r,
        )

    def send_result(self, result: SendResult) -> None:
        self.notices.labels(result.channel, result.status).inc()
        self.send_seconds.labels(result.channel).observe(result.seconds)
        if result.reason:
            self.provider_errors.labels(result.channel, result.reason).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
