"""Run the provider stand-ins together, for a local demo (docker-compose) or by hand.

    python -m tests.standins.run --callbacks http://127.0.0.1:8080

Twilio on :9001, WeChat on :9002, the broadcast platform on :9003, Alibaba Cloud on :9004,
Tencent Cloud on :9005, each with the default credentials of its module (docker-compose.yml
configures jiaoying with Twilio's). With `--auto-answer`, every Twilio SMS is reported
delivered and every Twilio call answered with key 1 after that many seconds, so a demo
shows answers coming in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from tests.standins.aliyun import AliyunStandIn
from tests.standins.broadcast import BroadcastStandIn
from tests.standins.tencent import TencentStandIn
from tests.standins.twilio import TwilioStandIn
from tests.standins.wechat import WeChatStandIn


async def _serve(args: argparse.Namespace) -> None:
    twilio = TwilioStandIn(callbacks=args.callbacks, auto_deliver=args.auto_answer)
    wechat = WeChatStandIn()
    broadcast = BroadcastStandIn()
    await twilio.start(9001, args.host)
    await wechat.start(9002, args.host)
    await broadcast.start(9003, args.host)
    aliyun = await AliyunStandIn().start(9004, args.host)
    tencent = await TencentStandIn().start(9005, args.host)
    print(
        f"stand-ins: twilio {twilio.url}, wechat {wechat.url}, broadcast {broadcast.url}, "
        f"aliyun {aliyun.url}, tencent {tencent.url}"
    )
    try:
        await asyncio.Event().wait()
    finally:
        for standin in (twilio, wechat, broadcast, aliyun, tencent):
            await standin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Twilio, WeChat and broadcast stand-ins.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--callbacks", help="jiaoying's public URL (inbound SMS)")
    parser.add_argument("--auto-answer", type=float, default=None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
