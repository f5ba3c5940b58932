"""`/metrics` counts what happened, as monitoring scrapes it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from dispatcher.http.keys import REPLIES
from tests.engine.conftest import TOKEN, Jiaoying, app_of, eventually


async def scrape(jiaoying: Jiaoying) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await jiaoying.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_follow_a_warning_from_ingest_to_escalation(jiaoying: Jiaoying) -> None:
    assert (await jiaoying.client.get("/metrics")).status == 401
    await jiaoying.post("red-rainstorm.xml")
    await jiaoying.post("red-rainstorm.xml", expect=200)
    sms = await eventually(lambda: jiaoying.sent("sms", "alert"))
    await app_of(jiaoying.client)[REPLIES].text_from(sms[0].address, "1")
    await eventually(lambda: jiaoying.sent("voice", "escalation"), within=8)

    async def escalated() -> bool:
        return any(name == "jiaoying_escalations_total" for name, _ in await scrape(jiaoying))

    await eventually(escalated)
    samples = await scrape(jiaoying)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    created = value(
        "jiaoying_warnings_ingested_total", level="red", outcome="created", source="http"
    )
    duplicate = value(
        "jiaoying_warnings_ingested_total", level="red", outcome="duplicate", source="http"
    )
    assert (created, duplicate) == (1.0, 1.0)
    assert value("jiaoying_notices_total", channel="sms", status="sent") >= len(
        {n.address for n in jiaoying.sent("sms", "alert")}
    )
    assert value("jiaoying_answers_total", via="sms") == 1.0
    assert value("jiaoying_time_to_answer_seconds_count", level="red") == 1.0
    assert value("jiaoying_escalations_total", level="1") >= 1.0
