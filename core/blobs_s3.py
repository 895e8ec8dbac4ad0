"""The S3-compatible :class:`core.blobs.BlobStore`: files in a bucket of any S3 API server
(AWS S3, MinIO, Ceph RGW, Garage, SeaweedFS, R2, ...), shared by every host of a cluster.

The client is **aiobotocore**: botocore (the AWS SDK's own request signing, retries, error
model, endpoint and addressing rules, maintained by AWS and released in step with S3) driven
on aiohttp, the HTTP library this server already runs on, by the aio-libs community (the
aiohttp maintainers). It is asyncio-native, so an upload or a download never takes a thread,
and it is the base of aioboto3 and s3fs, so it is kept working with each botocore release.
The alternatives were weighed: boto3 would block the event loop (or take a thread per
transfer), the ``minio`` SDK is synchronous too, and a hand-written SigV4 client would be one
more thing to keep right. It is an optional extra (``pip install 'discord-arch[s3]'``),
imported only when ``s3_bucket`` is set.

Writes stream: the chunks of an upload gather into parts of :data:`PART_BYTES` (S3's parts
are at least 5 MiB, except the last); a file that fits in one part is one ``PutObject``, a
larger one a multipart upload whose parts are sent as they fill, so memory holds one part per
upload, never the file. An upload that breaks off, is cancelled or grows past its limit is
aborted (``AbortMultipartUpload``): S3 drops its parts and no object appears. Reads stream
``GetObject`` with the ``Range`` asked passed through, chunk by chunk.

Checksums are computed "when required" only: newer botocore adds CRC trailers to every
upload by default, which several S3-compatible servers refuse; S3's Content-MD5/SigV4
payload checks still cover each request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any

from core.blobs import READ_CHUNK, BlobInfo, BlobTooLarge, blob_key

__all__ = ["PART_BYTES", "S3BlobStore"]

# Each part of a multipart upload (S3: at least 5 MiB except the last, at most 10,000
# parts: 80 GB at this size, far above any attachment limit).
PART_BYTES = 8 << 20
# DeleteObjects takes at most 1,000 keys a request.
_DELETE_BATCH = 1000


class S3BlobStore:
    """:class:`core.blobs.BlobStore` in an S3 bucket: each key an object of that name.

    Built with :meth:`open` (which makes the client and checks the bucket is reachable);
    :meth:`aclose` closes the client's connections.
    """

    def __init__(self, client: Any, bucket: str, exits: contextlib.AsyncExitStack) -> None:
        self._s3 = client
        self.bucket = bucket
        self._exits = exits

    @classmethod
    async def open(
        cls, *, bucket: str, endpoint_url: str = "", region: str = "us-east-1",
        access_key_id: str = "", secret_access_key: str = "", path_style: bool = False,
    ) -> S3BlobStore:
        """A store on ``bucket``, its existence checked (``HeadBucket``).

        Args:
            endpoint_url: the S3 API's URL (empty: AWS's, from ``region``).
            access_key_id, secret_access_key: the credentials (empty: botocore's usual chain:
                the AWS_* environment, a profile, an instance role).
            path_style: address the bucket as ``{endpoint}/{bucket}/{key}`` (MinIO and most
                self-hosted servers) instead of ``{bucket}.{endpoint}/{key}``.

        Raises:
            RuntimeError: the ``s3`` extra (aiobotocore) is not installed.
            OSError: the bucket cannot be reached or does not exist (one-line message).
        """
        try:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session
        except ImportError:
            raise RuntimeError("s3_bucket needs the s3 extra: pip install "
                               "'discord-arch[s3]' (aiobotocore)") from None
        from botocore.exceptions import BotoCoreError, ClientError

        config = AioConfig(
            s3={"addressing_style": "path" if path_style else "auto"},
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=10, read_timeout=60,
        )
        exits = contextlib.AsyncExitStack()
        try:
            client = await exits.enter_async_context(get_session().create_client(
                "s3", region_name=region or "us-east-1", endpoint_url=endpoint_url or None,
                aws_access_key_id=access_key_id or None,
                aws_secret_access_key=secret_access_key or None, config=config))
            await client.head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as e:
            await exits.aclose()
            raise OSError(f"S3 bucket {bucket!r} is not reachable: {e}") from None
        except BaseException:
            await exits.aclose()
            raise
        return cls(client, bucket, exits)

    async def aclose(self) -> None:
        await self._exits.aclose()

    async def put(self, key: str, chunks: AsyncIterable[bytes], max_bytes: int) -> int:
        blob_key(key)  # a key is validated as the local store does
        part = bytearray()
        size = 0
        upload_id: str | None = None
        etags: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge
                part += chunk
                if len(part) >= PART_BYTES:
                    if upload_id is None:
                        started = await self._s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key)
                        upload_id = started["UploadId"]
                    etags.append(await self._part(key, upload_id, len(etags) + 1,
                                                  bytes(part[:PART_BYTES])))
                    del part[:PART_BYTES]
            if upload_id is None:
                await self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(part))
                return size
            if part or not etags:
                etags.append(await self._part(key, upload_id, len(etags) + 1, bytes(part)))
            await self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": etags})
            upload_id = None
        except BaseException:
            if upload_id is not None:
                # Broken off, cancelled or too large: the parts sent so far are dropped and
                # no object appears. Shielded: a cancellation must not skip the abort.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._s3.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id))
            raise
        return size

    async def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        sent = await self._s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                          PartNumber=number, Body=data)
        return {"PartNumber": number, "ETag": sent["ETag"]}

    async def stat(self, key: str) -> BlobInfo | None:
        from botocore.exceptions import ClientError

        blob_key(key)
        try:
            head = await self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if _missing(e):
                return None
            raise
        etag = head.get("ETag") or '""'
        if not etag.startswith('"'):
            etag = f'"{etag}"'
        return BlobInfo(size=int(head["ContentLength"]), etag=etag,
                        modified=head["LastModified"].timestamp())

    async def read(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        from botocore.exceptions import ClientError

        blob_key(key)
        if end is not None and end <= start:
            return
        wanted = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            got = await self._s3.get_object(Bucket=self.bucket, Key=key, Range=wanted)
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(key) from None
            if e.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # start at or past the end: no bytes
            raise
        body = got["Body"]
        try:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, keys: list[str]) -> None:
        for k in keys:
            blob_key(k)
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = keys[i:i + _DELETE_BATCH]
            await self._s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in batch], "Quiet": True})

    async def delete_prefix(self, prefix: str) -> None:
        blob_key(prefix)
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix + "/")
        async for page in pages:
            keys = [o["Key"] for o in page.get("Contents", ())]
            if keys:
                await self._s3.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": k} for k in keys], "Quiet": True})


def _missing(e: Any) -> bool:
    error = e.response.get("Error", {})
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in ("404", "NoSuchKey", "NotFound") or status == 404

