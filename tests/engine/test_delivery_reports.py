"""Delivery reports at full load, on SQLite and PostgreSQL: the real jiaoying sending SMS and
calls through the Twilio SDK to the stand-in, and the stand-in's signed callbacks (its
status reports, call-progress events, machine verdicts) coming back many at once.

Reports that arrive together are recorded together, and keep the meaning each has on its
own: duplicates (Twilio retries) change nothing, `delivered` before `sent` stays delivered,
`undelivered` rejects the send, a machine's call is never delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event

from channels.base import Channel, SendResult
from channels.twilio_http import TwilioApi, callback_url
from channels.twilio_sms import TwilioSms
from channels.twilio_voice import GATHER_PATH, TwilioVoice
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import load_settings
from dispatcher.service import ENGINE, build_app
from tests.engine.conftest import EXAMPLES, TOKEN, Jiaoying, app_of, eventually, shift_to_now
from tests.fakes import RecordingChannel
from tests.pg import each_store
from tests.standins.base import free_socket
from tests.standins.twilio import Reply, TwilioCall, TwilioMessage, TwilioStandIn
from tests.standins.twilio_wire import call_params, message_params

__all__ = ["each_store"]  # the `db_url` fixture: SQLite and PostgreSQL

TWILIO_FROM = "+15005550006"
# Everyone by SMS and voice at once; nothing more within the test (the hour keeps the
# chains open, as a real red warning's are, without sending anything else).
POLICY = "".join(
    f"{level}:\n  answer_within: 1h\n  steps:\n"
    "    - {after: 0s, notify: [sms, voice]}\n"
    "    - {after: 1h, unless: answered, notify: [sms]}\n"
    for level in ("red", "orange", "yellow", "blue")
)


@dataclass
class Rig:
    jiaoying: Jiaoying
    standin: TwilioStandIn
    commits: list[int]  # one item per write transaction committed

    async def sends(self, channel: str) -> dict[str, Any]:
        """key → (status, provider_id, error_reason, recipient state) of the alerts."""
        rows = await self.jiaoying.rows(
            "select a.key, a.status, a.provider_id, a.error_reason, r.state, r.person_id"
            " from attempts a join recipients r on r.id = a.recipient_id"
            " where a.channel = :c and a.kind = 'alert'",
            c=channel,
        )
        return {row.key: row for row in rows}


def _key_of(url: str | None) -> str:
    """The send's key in a callback URL jiaoying gave Twilio."""
    assert url is not None
    (key,) = parse_qs(urlsplit(url).query)["key"]
    return key


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    sock = free_socket()
    public_url = "http://{}:{}".format(*sock.getsockname()[:2])
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY, encoding="utf-8")
    async with TwilioStandIn(callbacks=public_url) as standin:
        settings = load_settings(
            {
                "JIAOYING_DB_URL": db_url,
                "JIAOYING_API_TOKENS": f"ops:{TOKEN}",
                "JIAOYING_PUBLIC_URL": public_url,
                "JIAOYING_TWILIO_ACCOUNT_SID": standin.account_sid,
                "JIAOYING_TWILIO_AUTH_TOKEN": standin.auth_token,
                "JIAOYING_TWILIO_FROM": TWILIO_FROM,
                "JIAOYING_TWILIO_API_BASE": standin.url,
            }
        )
        api = TwilioApi(standin.account_sid, standin.auth_token, api_base=standin.url, timeout=5)
        recorders = {name: RecordingChannel(name) for name in ("wechat", "broadcast")}
        twilio: dict[str, Channel] = {
            "sms": TwilioSms(api, from_=TWILIO_FROM, public_url=public_url),
            "voice": TwilioVoice(api, from_=TWILIO_FROM, public_url=public_url),
        }
        roster = load_roster(EXAMPLES / "roster")
        app = build_app(
            settings, roster, load_policy(policy_file), channels=lambda: {**twilio, **recorders}
        )
        client = TestClient(TestServer(app, socket_factory=lambda *_: sock))
        await client.start_server()
        jiaoying = Jiaoying(client, recorders, roster, shift_to_now())
        commits: list[int] = []

        def committed(_connection: Any) -> None:
            commits.append(1)

        event.listen(jiaoying.db.writer.sync_engine, "commit", committed)
        try:
            yield Rig(jiaoying, standin, commits)
        finally:
            await client.close()
            await api.close()


async def _everyone_sent(rig: Rig) -> tuple[list[TwilioMessage], list[TwilioCall]]:
    await rig.jiaoying.post("red-rainstorm.xml")

    async def all_recorded() -> bool:
        sms, voice = await rig.sends("sms"), await rig.sends("voice")
        return (
            bool(sms)
            and len(rig.standin.messages) == len(sms)
            and len(rig.standin.calls) == len(voice)
            and all(row.status == "sent" for row in [*sms.values(), *voice.values()])
        )

    await eventually(all_recorded, within=15)
    return list(rig.standin.messages.values()), list(rig.standin.calls.values())


async def test_reports_arriving_together_keep_their_meaning_and_share_transactions(
    rig: Rig,
) -> None:
    messages, _ = await _everyone_sent(rig)
    assert len(messages) >= 6, "the example roster's red area has persons enough"
    undelivered, late_sent, *rest = messages
    # What Twilio posts for each message, all at the same moment: sent and delivered,
    # a retry of each, `delivered` overtaking `sent`, and one the carrier could not deliver.
    reports: list[tuple[str, str, int | None]] = [
        (late_sent.sid, "delivered", None),
        (late_sent.sid, "sent", None),
    ]
    reports += [(undelivered.sid, "sent", None), (undelivered.sid, "undelivered", 30006)]
    for message in rest:
        reports += [(message.sid, "sent", None), (message.sid, "delivered", None)] * 2
    rig.commits.clear()

    replies: list[Reply] = await asyncio.gather(
        *(rig.standin.deliver(sid, status, code) for sid, status, code in reports)
    )

    assert [reply.status for reply in replies] == [204] * len(reports)
    sends = await rig.sends("sms")
    for message in [late_sent, *rest]:
        row = sends[_key_of(message.status_callback)]
        assert (row.status, row.provider_id, row.state) == ("delivered", message.sid, "delivered")
    row = sends[_key_of(undelivered.status_callback)]
    assert (row.status, row.error_reason) == ("rejected", "unreachable")
    assert row.state != "delivered"
    assert len(rig.commits) <= len(reports) / 4, "reports that come together share a commit"

    # Twilio retries a report it got no answer to, minutes later: nothing moves back.
    again = await asyncio.gather(
        *(rig.standin.deliver(message.sid, "sent") for message in messages)
    )
    assert {reply.status for reply in again} == {204}
    assert {key: row.status for key, row in (await rig.sends("sms")).items()} == {
        key: row.status for key, row in sends.items()
    }


async def test_every_call_reports_at_once_a_person_is_reached_a_machine_is_not(
    rig: Rig,
) -> None:
    _, calls = await _everyone_sent(rig)
    machine, *people = calls
    assert people, "the example roster's red area has persons enough"
    pressing = {call.sid: "1" for call in people[::2]}  # half of them press 1

    results = await asyncio.gather(
        rig.standin.answer_call(machine.sid, "", answered_by="machine_end_beep"),
        *(rig.standin.answer_call(call.sid, pressing.get(call.sid, "")) for call in people),
    )

    for result in results:
        assert all(reply.status in (200, 204) for _, reply in result.replies), result.replies
    sends = await rig.sends("voice")
    row = sends[_key_of(machine.url)]
    assert (row.status, row.error_reason) == ("failed", "voicemail")
    for call in people:
        assert sends[_key_of(call.url)].status == "delivered"
    answered = await rig.jiaoying.answers_by_person()
    pressed = {sends[_key_of(call.url)].person_id for call in people if call.sid in pressing}
    assert {person for person, vias in answered.items() if ("voice", person) in vias} == pressed


async def test_a_report_is_taken_only_with_twilios_signature(rig: Rig) -> None:
    messages, _ = await _everyone_sent(rig)
    first, second, third = messages[:3]
    standin = rig.standin
    url = first.status_callback or ""
    params = message_params(standin.account_sid, first, "delivered", None)

    for signature in ("", "é" * 28, standin.sign(url + "&x=1", params)):
        assert (await standin.forge(url, params, signature=signature)).status == 403
    assert (await rig.sends("sms"))[_key_of(url)].status == "sent", "nothing moved"

    # Twilio may sign the URL without the port it requested: the SDK's check allows it.
    url = second.status_callback or ""
    params = message_params(standin.account_sid, second, "delivered", None)
    without_port = url.replace(f":{urlsplit(url).port}", "", 1)
    signature = standin.sign(without_port, params)
    assert (await standin.forge(url, params, signature=signature)).status == 204
    assert (await standin.deliver(third.sid, "delivered")).status == 204
    sends = await rig.sends("sms")
    assert sends[_key_of(second.status_callback)].status == "delivered"
    assert sends[_key_of(third.status_callback)].status == "delivered"


async def test_a_send_result_is_not_held_back_behind_a_burst_of_reports(rig: Rig) -> None:
    """The sender's window waits for each send's result to be committed: a result that
    comes during a burst of reports waits for one batch of them at most, not for every
    report taken before it (Twilio posts a hundred at a time)."""
    messages, _ = await _everyone_sent(rig)
    (voice,) = await rig.jiaoying.rows(
        "select id, recipient_id, provider_id from attempts where channel = 'voice' limit 1"
    )
    burst = [(message.sid, status) for message in messages for status in ("sent", "delivered")]
    burst *= max(1, 600 // len(burst))
    answered: list[int] = []
    commits_waited: list[int] = []

    async def report(sid: str, status: str) -> None:
        reply = await rig.standin.deliver(sid, status)
        answered.append(reply.status)

    async def result_amid_the_burst() -> None:
        await eventually(lambda: len(answered) >= 20, within=10, every=0.001)
        result = SendResult(voice.id, voice.recipient_id, "voice", "sent", voice.provider_id)
        before = len(rig.commits)
        await app_of(rig.jiaoying.client)[ENGINE].results.record(result)
        commits_waited.append(len(rig.commits) - before - 1)

    await asyncio.gather(result_amid_the_burst(), *(report(*item) for item in burst))

    assert answered == [204] * len(burst)
    assert len(answered) > 100, "reports kept coming after the result"
    assert commits_waited[0] <= 2, f"the result waited for {commits_waited[0]} commits of reports"


async def test_key_presses_arriving_together_answer_once_each_and_a_replay_is_refused(
    rig: Rig,
) -> None:
    _, calls = await _everyone_sent(rig)
    first, second, third = calls[:3]

    def press(call: TwilioCall) -> Coroutine[Any, Any, Reply]:
        key = _key_of(call.url)
        gather = callback_url(
            urlsplit(call.url)._replace(path="", query="").geturl(), GATHER_PATH, key
        )
        params = call_params(rig.standin.account_sid, call, "in-progress")
        return rig.standin.post_signed(gather, params | {"Digits": "1", "FinishedOnKey": ""})

    replies = await asyncio.gather(press(first), press(first), press(second), press(third))

    assert sorted(reply.status for reply in replies) == [200, 200, 200, 409]
    sends = await rig.sends("voice")
    answered = await rig.jiaoying.answers_by_person()
    for call in (first, second, third):
        person = sends[_key_of(call.url)].person_id
        assert answered[person] == [("voice", person)], "answered once, by their key"
    assert (await press(second)).status == 409, "Twilio's retry of a taken press"
