"""The CDN, on the HTTP port at the origin's root: Discord's ``cdn.discordapp.com`` paths.

discord.py builds asset URLs as ``{Asset.BASE}/avatars/{user_id}/{hash}.png?size=N`` and
fetches attachments from their ``url``; the README tells bots to set ``Asset.BASE`` to this
server's ``public_http_url`` (attachment URLs are built from it too, ``core.attachments``), so
both reach these routes:

- ``/attachments/{channel_id}/{attachment_id}/{filename}``: a message's file. Only types that
  cannot run in this origin are served inline (images, audio, video, plain text); anything
  else is ``application/octet-stream`` with ``Content-Disposition: attachment``, and every
  answer carries ``nosniff`` and a sandboxing CSP: an uploaded HTML page must never run as
  the web client's origin.
- ``/avatars/{user_id}/{hash}.{png,jpg,jpeg,webp,gif}``, ``/icons/{guild_id}/{hash}.{...}``: the
  image as uploaded whatever extension is asked, with its own type (``?size=`` is accepted
  and ignored: nothing is resized).

Public, as Discord's CDN (whoever has the URL may fetch it), and outside the API's token and
rate-limit middleware. Everything is content-addressed or named by a snowflake, so answers are
``Cache-Control: public, max-age=31536000, immutable``; aiohttp's ``FileResponse`` gives the
``ETag``/``Last-Modified`` (304 on a match) and ``Range`` (206) answers.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path

from aiohttp import web

from api.http import public
from api.keys import PLATFORM
from core.blobs import blob_key
from core.images import sniff

__all__ = ["routes"]

routes = web.RouteTableDef()
_ID = r"{%s:[0-9]{1,20}}"
_IMAGE_FILE = re.compile(r"^([A-Za-z0-9_]{1,64})\.(png|jpe?g|webp|gif)$")
_IMMUTABLE = "public, max-age=31536000, immutable"
_COMMON = {
    "Cache-Control": _IMMUTABLE,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
# Types shown inline: none of them runs script in a browser (SVG, HTML, XML, PDF are not).
_INLINE = re.compile(r"^(image/(png|jpeg|gif|webp|avif)|audio/[a-z0-9.+-]+|video/[a-z0-9.+-]+"
                     r"|text/plain)$")


@routes.get("/attachments/" + _ID % "channel_id" + "/" + _ID % "attachment_id" + "/{filename}")
@public
async def attachment(request: web.Request) -> web.StreamResponse:
    info = request.match_info
    key = blob_key("attachments", int(info["channel_id"]), int(info["attachment_id"]))
    path = await request.app[PLATFORM].blobs.path(key)
    if path is None:
        raise web.HTTPNotFound
    guessed = mimetypes.guess_type(info["filename"], strict=False)[0] or ""
    headers = dict(_COMMON)
    if _INLINE.match(guessed):
        headers["Content-Type"] = guessed + ("; charset=utf-8" if guessed == "text/plain" else "")
    else:
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Disposition"] = "attachment"
    return web.FileResponse(path, headers=headers)


@routes.get("/avatars/" + _ID % "user_id" + "/{file}")
@public
async def avatar(request: web.Request) -> web.StreamResponse:
    return await _image(request, "avatars", int(request.match_info["user_id"]))


@routes.get("/icons/" + _ID % "guild_id" + "/{file}")
@public
async def icon(request: web.Request) -> web.StreamResponse:
    return await _image(request, "icons", int(request.match_info["guild_id"]))


async def _image(request: web.Request, kind: str, owner_id: int) -> web.StreamResponse:
    match = _IMAGE_FILE.match(request.match_info["file"])
    if match is None:
        raise web.HTTPNotFound
    path = await request.app[PLATFORM].blobs.path(blob_key(kind, owner_id, match.group(1)))
    if path is None:
        raise web.HTTPNotFound
    found = sniff(await asyncio.to_thread(_head, path))
    headers = {**_COMMON, "Content-Type": found.content_type if found else "image/png"}
    return web.FileResponse(path, headers=headers)


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(64)
