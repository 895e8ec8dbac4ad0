"""Webhook events through the real gateway: WEBHOOKS_UPDATE needs GUILD_WEBHOOKS and a view of
the channel; a webhook's message arrives as MESSAGE_CREATE with ``webhook_id``, its author the
webhook.

A worker (``gateway.worker.serve``) on loopback, real websockets, changes made over REST.
"Never received" is shown by order, as in test_reaction_events.py: the bus delivers in
publish order, so a later event a session receives, with nothing of the earlier kind before
it, proves the earlier one never came.
"""

from __future__ import annotations

from core.permissions import Permission
from gateway.protocol import ALL_INTENTS, Intent
from tests.api.conftest import Api
from tests.integration.gateway_client import (
    Server,
    next_of,
)

VIEW = int(Permission.VIEW_CHANNEL)
NO_WEBHOOKS = ALL_INTENTS & ~int(Intent.GUILD_WEBHOOKS)


async def test_webhook_events_follow_the_intent_and_view_channel(server: Server) -> None:
    api = Api(server.http)
    owner, plain, hidden = await api.register(), await api.register(), await api.register()
    guild = await api.guild(owner)
    for who in (plain, hidden):
        await api.join(guild, owner, who)
    general = guild["channels"][0]["id"]
    r = await api.post(f"/guilds/{guild['id']}/channels", owner.token, json={"name": "secret"})
    secret = r.body["id"]
    r = await api.put(f"/channels/{secret}/permissions/{hidden.id}", owner.token,
                      json={"type": 1, "allow": "0", "deny": str(VIEW)})
    assert r.status == 204, r.body
    async with server.connect() as w_owner, server.connect() as w_plain, \
            server.connect() as w_hidden:
        await w_owner.identify(owner.token)
        await w_plain.identify(plain.token, NO_WEBHOOKS)  # no GUILD_WEBHOOKS
        await w_hidden.identify(hidden.token)  # every intent, but cannot view #secret
        r = await api.post(f"/channels/{secret}/webhooks", owner.token, json={"name": "Hidden"})
        assert r.status == 200, r.body
        r = await api.post(f"/channels/{general}/webhooks", owner.token, json={"name": "Deploys"})
        assert r.status == 200, r.body
        hook = r.body
        sent = await api.post(f"/webhooks/{hook['id']}/{hook['token']}",
                              json={"content": f"built <@{plain.id}>"}, params={"wait": "true"})
        assert sent.status == 200, sent.body

        got = await next_of(w_owner, ("WEBHOOKS_UPDATE",))
        assert got["d"] == {"guild_id": guild["id"], "channel_id": secret}
        got = await next_of(w_owner, ("WEBHOOKS_UPDATE",))
        assert got["d"] == {"guild_id": guild["id"], "channel_id": general}
        # Without the view of #secret: the first one is #general's.
        got = await next_of(w_hidden, ("WEBHOOKS_UPDATE",))
        assert got["d"]["channel_id"] == general
        # Without the intent: none before the webhook's message, which arrives as any message.
        got = await next_of(w_plain, ("WEBHOOKS_UPDATE", "MESSAGE_CREATE"))
        assert got["t"] == "MESSAGE_CREATE"
        message = got["d"]
        assert message == sent.body
        assert message["webhook_id"] == hook["id"] and message["author"]["id"] == hook["id"]
        assert message["author"]["username"] == "Deploys" and message["author"]["bot"] is True
        assert [u["id"] for u in message["mentions"]] == [plain.id] and "member" not in message

        # Deleting (by token) and editing are announced alike.
        r = await api.patch(f"/webhooks/{hook['id']}", owner.token, json={"name": "Builds"})
        assert r.status == 200, r.body
        assert (await api.delete(f"/webhooks/{hook['id']}/{hook['token']}")).status == 204
        for _ in range(2):
            got = await next_of(w_owner, ("WEBHOOKS_UPDATE",))
            assert got["d"]["channel_id"] == general
