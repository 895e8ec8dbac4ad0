"""A bot's username never clashes, so creating an application never fails on a name its
owner did not choose (it was 409 "retry" when two application ids ended alike)."""

from __future__ import annotations

import itertools
import re
from types import SimpleNamespace

import pytest

from core.accounts import bot_username
from core.platform import Platform
from tests.api.conftest import Api


async def test_applications_whose_ids_end_alike_get_distinct_bot_names(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await api.register()
    # Ids that share their last five digits (the old scheme's suffix).
    ids = itertools.count(1_300_000_000_000_000_001, 100_000)
    monkeypatch.setattr(platform, "ids", SimpleNamespace(next=lambda: next(ids)))
    names = set()
    for _ in range(3):
        r = await api.post("/applications", owner.token, json={"name": "Weather Bot"})
        assert r.status == 201, r.body
        names.add(r.body["bot"]["username"])
    assert len(names) == 3


async def test_no_user_can_take_a_bot_name_first(api: Api) -> None:
    taken = bot_username("Weather Bot", 1_300_000_000_000_000_001)
    r = await api.post("/auth/register", json={"username": taken, "password": "correct horse"})
    assert r.status == 400 and r.body["code"] == 50035, r.body
    user = await api.register()
    r = await api.patch("/users/@me", user.token, json={"username": taken})
    assert r.status == 400 and r.body["code"] == 50035, r.body


def test_a_bot_name_is_the_name_then_the_id_within_32_characters() -> None:
    assert bot_username("Weather Bot!", 42) == "weatherbot-42"
    assert bot_username("???", 42) == "bot-42"
    longest = bot_username("x" * 40, (1 << 63) - 1)
    assert len(longest) == 32 and re.fullmatch(r"x{12}-\d{19}", longest)
