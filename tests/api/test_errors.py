"""An unexpected failure in a handler answers Discord's JSON 500 and logs it once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from core.platform import Platform
from tests.api.conftest import Api


async def test_unexpected_exception_is_a_json_500_logged_once(
    api: Api, platform: Platform, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    owner = await api.register()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret detail of the bug")

    monkeypatch.setattr(platform.meta, "get_user", broken)
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    r = await api.get(f"/users/{owner.id}", owner.token)  # Api.call checks the Content-Type
    assert r.status == 500
    assert r.body == {"message": "500: Internal Server Error", "code": 0}
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1, [rec.getMessage() for rec in errors]
    assert errors[0].exc_info is not None  # the traceback is for the operator, in the log
    assert "/api/v10/users/{user_id}" in errors[0].getMessage()
    assert owner.id not in errors[0].getMessage()  # the template, never the raw path
