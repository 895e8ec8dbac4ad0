"""Message search over REST (``core.search``): Discord's shape, every filter, permission
filtering (a channel the searcher cannot read adds nothing to a page or to the count), bots,
the parameters' validation and the timeout's answer. The engines themselves are covered on
every backend by tests/integration/test_storage_contract.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.permissions import Permission
from core.platform import Platform
from core.store.searchquery import SearchQuery, StoreTimeout
from tests.api.conftest import Account, Api
from tests.api.helpers import UNKNOWN, assert_error, make_bot

P = Permission
VIEW, HISTORY = str(int(P.VIEW_CHANNEL)), str(int(P.READ_MESSAGE_HISTORY))


@dataclass
class World:
    owner: Account
    member: Account
    guild_id: str
    general: str

    @property
    def search(self) -> str:
        return f"/guilds/{self.guild_id}/messages/search"


@pytest.fixture
async def w(api: Api) -> World:
    owner, member = await api.register(), await api.register()
    guild = await api.guild(owner)
    await api.join(guild, owner, member)
    return World(owner, member, guild["id"], guild["channels"][0]["id"])


async def send(api: Api, channel: str, who: Account, content: str, **body: Any) -> str:
    r = await api.post(f"/channels/{channel}/messages", who.token,
                       json={"content": content, **body})
    assert r.status == 200, r.body
    return str(r.body["id"])


async def channel(api: Api, w: World, name: str, **body: Any) -> str:
    r = await api.post(f"/guilds/{w.guild_id}/channels", w.owner.token,
                       json={"name": name, **body})
    assert r.status == 201, r.body
    return str(r.body["id"])


async def hidden(api: Api, w: World, deny: str = VIEW) -> str:
    """A channel whose @everyone overwrite denies ``deny`` (the owner still reads it)."""
    return await channel(api, w, "staff", permission_overwrites=[
        {"id": w.guild_id, "type": 0, "allow": "0", "deny": deny}])


async def found(api: Api, path: str, who: Account, bot: bool = False,
                **params: Any) -> tuple[int, list[str]]:
    r = await api.get(path, who.token, bot=bot, params=params)
    assert r.status == 200, r.body
    return r.body["total_results"], [hit[0]["id"] for hit in r.body["messages"]]


async def test_the_answer_has_discords_shape(api: Api, w: World) -> None:
    first = await send(api, w.general, w.member, "Deploy the Rocket today")
    await send(api, w.general, w.member, "nothing to see")
    r = await api.get(w.search, w.member.token, params={"content": "rocket"})
    assert r.status == 200, r.body
    body = r.body
    assert body["total_results"] == 1 and body["doing_deep_historical_index"] is False
    assert isinstance(body["analytics_id"], str) and body["analytics_id"]
    assert body["threads"] == [] and body["members"] == []
    [[hit]] = body["messages"]  # each hit alone in an array
    assert hit["id"] == first and hit["hit"] is True
    assert hit["content"] == "Deploy the Rocket today" and hit["channel_id"] == w.general
    assert hit["author"]["id"] == w.member.id and "reactions" not in hit


async def test_every_word_must_be_there_in_any_case_and_order(api: Api, w: World) -> None:
    both = await send(api, w.general, w.member, "the QUICK brown fox")
    await send(api, w.general, w.member, "quick as ever")
    assert await found(api, w.search, w.member, content="fox quick") == (1, [both])
    assert (await found(api, w.search, w.member, content="quick"))[0] == 2
    assert await found(api, w.search, w.member, content="quickly") == (0, [])


async def test_newest_first_then_paged_by_offset_and_limit(api: Api, w: World) -> None:
    ids = [await send(api, w.general, w.member, f"note {i}") for i in range(5)]
    assert await found(api, w.search, w.member, content="note", limit=2) == (5, ids[:2:-1][:2])
    assert await found(api, w.search, w.member, content="note", limit=2, offset=2) \
        == (5, [ids[2], ids[1]])
    assert await found(api, w.search, w.member, content="note", offset=5) == (5, [])
    assert await found(api, w.search, w.member, content="note", sort_order="asc", limit=3) \
        == (5, ids[:3])


async def test_a_channel_the_searcher_cannot_view_is_never_searched(api: Api, w: World) -> None:
    secret = await hidden(api, w)
    public = await send(api, w.general, w.member, "launch codes are public")
    private = await send(api, secret, w.owner, "launch codes are 0000")
    # The member: the private message is neither shown nor counted, however asked.
    assert await found(api, w.search, w.member, content="launch codes") == (1, [public])
    assert await found(api, w.search, w.member, content="0000") == (0, [])
    assert await found(api, w.search, w.member, channel_id=secret) == (0, [])
    assert await found(api, w.search, w.member) == (1, [public])
    # Every page is full: the store never returned the hidden match to be dropped after.
    for offset in range(2):
        total, page = await found(api, w.search, w.member, content="codes", limit=1,
                                  offset=offset)
        assert total == 1 and page == ([public] if offset == 0 else [])
    # The owner reads both.
    assert await found(api, w.search, w.owner, content="launch codes") == (2, [private, public])
    r = await api.get(f"/channels/{secret}/messages/search", w.member.token)
    assert_error(r, 403, 50001)


async def test_read_message_history_is_needed_as_well(api: Api, w: World) -> None:
    no_history = await hidden(api, w, deny=HISTORY)
    await send(api, no_history, w.owner, "archived words")
    assert await found(api, w.search, w.member, content="archived") == (0, [])
    assert (await found(api, w.search, w.owner, content="archived"))[0] == 1
    r = await api.get(f"/channels/{no_history}/messages/search", w.member.token)
    assert_error(r, 403, 50013)


async def test_channel_id_restricts_the_guild_search(api: Api, w: World) -> None:
    other = await channel(api, w, "other")
    here = await send(api, w.general, w.member, "ping one")
    there = await send(api, other, w.member, "ping two")
    assert await found(api, w.search, w.member, content="ping", channel_id=other) == (1, [there])
    r = await api.get(w.search, w.member.token,
                      params=[("content", "ping"), ("channel_id", w.general),
                              ("channel_id", other)])
    assert r.body["total_results"] == 2
    # A channel of another guild, or none at all, matches nothing (no error, nothing said).
    assert await found(api, w.search, w.member, content="ping", channel_id=UNKNOWN) == (0, [])
    # The channel route searches its channel alone.
    path = f"/channels/{w.general}/messages/search"
    assert await found(api, path, w.member, content="ping") == (1, [here])


async def test_age_restricted_channels_only_when_asked(api: Api, w: World) -> None:
    nsfw = await channel(api, w, "late", nsfw=True)
    late = await send(api, nsfw, w.member, "midnight talk")
    assert await found(api, w.search, w.member, content="midnight") == (0, [])
    assert await found(api, w.search, w.member, content="midnight", include_nsfw="true") \
        == (1, [late])


async def test_authors_mentions_pins_and_bounds(api: Api, w: World) -> None:
    by_owner = await send(api, w.general, w.owner, f"hi <@{w.member.id}>")
    by_member = await send(api, w.general, w.member, "hi everyone")
    assert await found(api, w.search, w.member, author_id=w.owner.id) == (1, [by_owner])
    r = await api.get(w.search, w.member.token,
                      params=[("author_id", w.owner.id), ("author_id", w.member.id)])
    assert r.body["total_results"] == 2  # a repeated parameter: any of them
    assert await found(api, w.search, w.member, mentions=w.member.id) == (1, [by_owner])
    assert await found(api, w.search, w.member, min_id=by_owner) == (1, [by_member])
    assert await found(api, w.search, w.member, max_id=by_member) == (1, [by_owner])
    r = await api.put(f"/channels/{w.general}/messages/pins/{by_member}", w.owner.token)
    assert r.status == 204, r.body
    assert await found(api, w.search, w.member, content="hi", pinned="true") == (1, [by_member])
    assert await found(api, w.search, w.member, content="hi", pinned="false") == (1, [by_owner])


async def test_has_link_and_embed_and_what_nothing_here_has(api: Api, w: World) -> None:
    link = await send(api, w.general, w.member, "see https://example.com/x")
    embed = await send(api, w.general, w.member, "card", embeds=[{"title": "t"}])
    plain = await send(api, w.general, w.member, "plain words")
    assert await found(api, w.search, w.member, has="link") == (1, [link])
    assert await found(api, w.search, w.member, has="embed") == (1, [embed])
    r = await api.get(w.search, w.member.token, params=[("has", "link"), ("has", "embed")])
    assert r.body["total_results"] == 2
    assert await found(api, w.search, w.member, has="-link") == (2, [plain, embed])
    # Files, images, polls... are stored by nothing here: asked for, nothing; negated, all.
    assert await found(api, w.search, w.member, has="file") == (0, [])
    r = await api.get(w.search, w.member.token, params=[("has", "image"), ("has", "link")])
    assert r.body["total_results"] == 1
    assert (await found(api, w.search, w.member, has="-poll"))[0] == 3


async def test_relevance_puts_the_best_match_first(api: Api, w: World) -> None:
    best = await send(api, w.general, w.member, "rust rust rust")
    await send(api, w.general, w.member, "rust and a great many other words besides")
    total, page = await found(api, w.search, w.member, content="rust", sort_by="relevance")
    assert total == 2 and page[0] == best


async def test_punctuation_alone_is_no_condition(api: Api, w: World) -> None:
    one = await send(api, w.general, w.member, "anything")
    assert await found(api, w.search, w.member, content="?!") == (1, [one])


async def test_edits_and_deletes_are_searched_as_they_are(api: Api, w: World) -> None:
    message = await send(api, w.general, w.member, "old wording")
    path = f"/channels/{w.general}/messages/{message}"
    assert (await api.patch(path, w.member.token, json={"content": "new wording"})).status == 200
    assert await found(api, w.search, w.member, content="old") == (0, [])
    assert await found(api, w.search, w.member, content="new") == (1, [message])
    assert (await api.delete(path, w.member.token)).status == 204
    assert await found(api, w.search, w.member, content="wording") == (0, [])


async def test_a_dm_is_searched_by_its_recipients(api: Api, w: World) -> None:
    r = await api.post("/users/@me/channels", w.owner.token, json={"recipient_id": w.member.id})
    dm = r.body["id"]
    said = await send(api, dm, w.owner, "between us")
    path = f"/channels/{dm}/messages/search"
    assert await found(api, path, w.member, content="between") == (1, [said])
    stranger = await api.register()
    assert_error(await api.get(path, stranger.token), 403, 50001)


async def test_bots_search_a_guild_but_not_a_channel(api: Api, w: World) -> None:
    bot = await make_bot(api, w.owner)
    r = await api.put(f"/guilds/{w.guild_id}/members/{bot.id}", w.owner.token, json={})
    assert r.status == 201, r.body
    said = await send(api, w.general, w.member, "for the bot")
    assert await found(api, w.search, bot, bot=True, content="bot") == (1, [said])
    r = await api.get(f"/channels/{w.general}/messages/search", bot.token, bot=True)
    assert_error(r, 403, 20001)


async def test_strangers_and_unknown_guilds(api: Api, w: World) -> None:
    stranger = await api.register()
    assert_error(await api.get(w.search, stranger.token), 403, 50001)
    assert_error(await api.get(f"/guilds/{UNKNOWN}/messages/search", w.owner.token), 404, 10004)
    assert_error(await api.get(f"/channels/{UNKNOWN}/messages/search", w.owner.token), 404, 10003)
    assert (await api.get(w.search)).status == 401


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"),
    ({"limit": "26"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"offset": "9976"}, "offset"),
    ({"offset": "-1"}, "offset"),
    ({"content": "x" * 1025}, "content"),
    ({"content": "nul\x00here"}, "content"),
    ({"author_id": "abc"}, "author_id"),
    ({"mentions": "0"}, "mentions"),
    ({"channel_id": ""}, "channel_id"),
    ({"min_id": "x"}, "min_id"),
    ({"has": "gif"}, "has"),
    ({"has": "-gif"}, "has"),
    ({"pinned": "maybe"}, "pinned"),
    ({"sort_by": "date"}, "sort_by"),
    ({"sort_order": "up"}, "sort_order"),
    ([("author_id", "1")] * 101, "author_id"),
])
async def test_bad_parameters_are_50035(api: Api, w: World, params: Any, field: str) -> None:
    r = await api.get(w.search, w.member.token, params=params)
    assert_error(r, 400, 50035)
    assert field in r.body["errors"]


async def test_a_search_past_its_time_is_a_503(
    api: Api, w: World, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def too_slow(query: SearchQuery) -> Any:
        assert query.timeout_ms > 0
        raise StoreTimeout("cancelled")

    monkeypatch.setattr(platform.messages, "search", too_slow)
    r = await api.get(w.search, w.member.token, params={"content": "anything"})
    assert_error(r, 503, 0)
    assert "narrow" in r.body["message"]
