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
- ``/avatars/{user_id}/{hash}.{png,jpg,jpeg,webp,gif}``, ``/icons/{guild_id}/{hash}.{...}``,
  ``/channel-icons/{channel_id}/{hash}.{...}`` (a group DM's icon, ``core.group_dms``): the
  image as uploaded whatever extension is asked, with its own type (``?size=`` is accepted
  and ignored: nothing is resized).

Public, as Discord's CDN (whoever has the URL may fetch it), and outside the API's token and
rate-limit middleware. Everything is content-addressed or named by a snowflake, so answers are
``Cache-Control: public, max-age=31536000, immutable``. A blob in a local file is served by
aiohttp's ``FileResponse`` (``sendfile``; its ``ETag``/``Last-Modified``, 304 on a match, and
``Range``, 206); one in an S3 bucket is streamed from it (:func:`_stream`): the same
validators and ``Range`` answers, the range passed through to S3 so only the bytes asked for
cross, one chunk in memory at a time.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
from email.utils import formatdate

from aiohttp import web

from api.http import public
from api.keys import PLATFORM
from core.blobs import BlobInfo, BlobStore, blob_key
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
    blobs = request.app[PLATFORM].blobs
    found = await blobs.stat(key)
    if found is None:
        raise web.HTTPNotFound
    guessed = mimetypes.guess_type(info["filename"], strict=False)[0] or ""
    headers = dict(_COMMON)
    if _INLINE.match(guessed):
        headers["Content-Type"] = guessed + ("; charset=utf-8" if guessed == "text/plain" else "")
    else:
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Disposition"] = "attachment"
    return await _serve(request, blobs, key, found, headers)


@routes.get("/avatars/" + _ID % "user_id" + "/{file}")
@public
async def avatar(request: web.Request) -> web.StreamResponse:
    return await _image(request, "avatars", int(request.match_info["user_id"]))


@routes.get("/icons/" + _ID % "guild_id" + "/{file}")
@public
async def icon(request: web.Request) -> web.StreamResponse:
    return await _image(request, "icons", int(request.match_info["guild_id"]))


@routes.get("/channel-icons/" + _ID % "channel_id" + "/{file}")
@public
async def channel_icon(request: web.Request) -> web.StreamResponse:
    """A group DM's icon (Discord's ``/channel-icons/{channel_id}/{hash}.png``)."""
    return await _image(request, "channel-icons", int(request.match_info["channel_id"]))


async def _image(request: web.Request, kind: str, owner_id: int) -> web.StreamResponse:
    match = _IMAGE_FILE.match(request.match_info["file"])
    if match is None:
        raise web.HTTPNotFound
    blobs = request.app[PLATFORM].blobs
    key = blob_key(kind, owner_id, match.group(1))
    found = await blobs.stat(key)
    if found is None:
        raise web.HTTPNotFound
    async with contextlib.aclosing(blobs.read(key, 0, 64)) as first:
        head = b"".join([c async for c in first])
    image = sniff(head)
    headers = {**_COMMON, "Content-Type": image.content_type if image else "image/png"}
    return await _serve(request, blobs, key, found, headers)


async def _serve(
    request: web.Request, blobs: BlobStore, key: str, info: BlobInfo, headers: dict[str, str]
) -> web.StreamResponse:
    if info.file is not None:
        return web.FileResponse(info.file, headers=headers)
    return await _stream(request, blobs, key, info, headers)


async def _stream(
    request: web.Request, blobs: BlobStore, key: str, info: BlobInfo, headers: dict[str, str]
) -> web.StreamResponse:
    """A blob with no local file, streamed: 304 on a matching ``If-None-Match``, 206 for a
    satisfiable ``Range`` (416 otherwise), else 200; HEAD gets the headers alone."""
    headers = {**headers, "ETag": info.etag, "Accept-Ranges": "bytes",
               "Last-Modified": formatdate(info.modified, usegmt=True)}
    if info.etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    start, end, status = 0, info.size, 200
    if "Range" in request.headers and _if_range_holds(request, info):
        unsatisfiable = web.Response(status=416, headers={
            **headers, "Content-Range": f"bytes */{info.size}"})
        try:
            wanted = request.http_range  # slice(start, stop); a suffix has start < 0
        except ValueError:
            return unsatisfiable
        if wanted.start is not None and wanted.start < 0:  # "bytes=-500": the last 500
            start = max(0, info.size + wanted.start)
        elif wanted.start is not None or wanted.stop is not None:
            start = wanted.start or 0
            end = min(info.size, wanted.stop if wanted.stop is not None else info.size)
        if start >= end:
            return unsatisfiable
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method != "HEAD":
        # Closed at once if the client goes away mid-way: the store's connection is freed.
        async with contextlib.aclosing(blobs.read(key, start, end)) as chunks:
            async for chunk in chunks:
                await response.write(chunk)
    await response.write_eof()
    return response


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def _if_range_holds(request: web.Request, info: BlobInfo) -> bool:
    """``If-Range``: the range applies only while the blob is the one the client has."""
    cond = request.headers.get("If-Range")
    return cond is None or cond.strip() == info.etag
