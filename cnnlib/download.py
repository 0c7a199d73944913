"""Downloads that finish, or say why not: ``download_file(urls, dest, md5=...)``.

A file (a data set's archive, a trained network) is fetched from an ordered list of addresses,
each a copy of the same bytes:

- streamed into ``<dest>.part`` in the destination folder, with a progress bar (``tqdm.auto``);
- within a time limit: ``timeout`` for connecting and for each read, ``deadline`` for the whole
  file from one address (a slow address gives way to the next one);
- resumed after an interruption: the next request asks for the rest with an HTTP ``Range``
  header, and starts again from the first byte when the server answers with the whole file;
- checked (MD5 or SHA-256) *before* it is renamed to ``dest``: a wrong file is deleted, so a
  broken download is never mistaken for a good one;
- when every address fails, a :class:`DownloadError` names each address with its reason and says
  what else to do (by default: the offline folder ``CNNLIB_DATA``).

Only the standard library (``urllib``) and ``tqdm.auto``: every other module may use it.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from . import REPOSITORY_URL, __version__

__all__ = ["download_file", "release_url", "DownloadError", "Failure", "OFFLINE_ADVICE"]

CHUNK = 1 << 16  # bytes read at a time: the deadline and the progress bar are checked per chunk
OFFLINE_ADVICE = ("Without the network, put the files in a folder and set CNNLIB_DATA to it "
                  "(README, 'Where the data comes from'), e.g. export CNNLIB_DATA=/path/to/shared/data")


def release_url(asset: str) -> str:
    """The address of ``asset`` in the book's release of this cnnlib version (its own copy of
    the data archives and trained networks; README, 'Cutting a release')."""
    return f"{REPOSITORY_URL}/releases/download/v{__version__}/{asset}"


@dataclass(frozen=True)
class Failure:
    """Why one address did not give the file. ``status``: the HTTP status, when there was one."""

    url: str
    reason: str
    status: int | None = None


class DownloadError(OSError):
    """No address gave the file: ``failures`` lists each address and why."""

    def __init__(self, dest: Path, failures: list[Failure], advice: str = OFFLINE_ADVICE):
        self.dest, self.failures = Path(dest), list(failures)
        tried = "\n".join(f"  - {f.url}: {f.reason}" for f in self.failures)
        part = self.dest.with_name(self.dest.name + ".part")
        kept = (f"\nThe {part.stat().st_size:,} bytes downloaded so far are kept in {part}; the next "
                "try resumes them." if part.is_file() else "")
        super().__init__(f"could not download {self.dest.name}; tried {len(self.failures)} "
                         f"address(es):\n{tried}{kept}" + (f"\n{advice}" if advice else ""))

    @property
    def not_found(self) -> bool:
        """Every address answered 404: the file is not published (rather than unreachable)."""
        return bool(self.failures) and all(f.status == 404 for f in self.failures)


class _Interrupted(OSError):
    """The connection ended before the whole file came: worth resuming."""


class _TooSlow(OSError):
    """The address did not deliver the file within the deadline (says how much came)."""


def download_file(urls, dest, *, md5: str | None = None, sha256: str | None = None,
                  timeout: float = 30, deadline: float = 3600, attempts: int = 3,
                  progress: bool = True, advice: str = OFFLINE_ADVICE) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that delivers it whole (and, given ``md5`` or
    ``sha256``, with that checksum); return ``dest``.

    ``timeout``: seconds to connect and for each read; ``deadline``: seconds for the whole file
    from one address (an hour: enough for CIFAR-10's 163 MB from its slow origin); ``attempts``:
    requests per address while each one brings new bytes (an interruption is resumed, not
    started again). A ``dest`` that already has the checksum is kept as it is; a ``.part`` left by
    an earlier call is resumed when there is a checksum to check the result. Raises
    :class:`DownloadError` when every address failed.
    """
    dest = Path(dest)
    urls = [urls] if isinstance(urls, str) else list(urls)
    check = _checksum(md5, sha256)
    if check is not None and dest.is_file() and _digest(dest, check[0]) == check[1]:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if check is None:
        part.unlink(missing_ok=True)  # without a checksum, bytes of an earlier try cannot be trusted
    failures = []
    for url in urls:
        failure = _from_address(url, part, timeout, deadline, attempts, progress)
        if failure is None:
            failure = _verify(url, part, check)
        if failure is None:
            os.replace(part, dest)
            return dest
        failures.append(failure)
    raise DownloadError(dest, failures, advice)


def _checksum(md5, sha256) -> tuple[str, str] | None:
    if md5 and sha256:
        raise ValueError("give md5 or sha256, not both")
    if md5:
        return "md5", md5.lower()
    if sha256:
        return "sha256", sha256.lower()
    return None


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(url: str, part: Path, check) -> Failure | None:
    """None when ``part`` has the expected checksum; else delete it (it is wrong, and resuming
    it would only make it longer) and say so."""
    if check is None:
        return None
    algorithm, expected = check
    found = _digest(part, algorithm)
    if found == expected:
        return None
    part.unlink()
    return Failure(url, f"wrong {algorithm.upper()} (expected {expected}, got {found}); "
                        "the downloaded file was deleted")


def _from_address(url, part, timeout, deadline, attempts, progress) -> Failure | None:
    """Bring ``part`` to the whole file from ``url``: None on success, else why not.

    Each request resumes where the file stops; another request is made only when the last one
    brought new bytes, at most ``attempts`` in all and within ``deadline`` seconds."""
    stop_at = time.monotonic() + deadline
    reason = ""
    for _ in range(attempts):
        before = _size(part)
        try:
            _request(url, part, timeout, stop_at, progress)
            return None
        except urllib.error.HTTPError as err:  # the server answered: another try would not help
            return Failure(url, f"HTTP {err.code} {err.reason}", err.code)
        except _TooSlow as err:  # the part is kept: the next address resumes it
            return Failure(url, f"too slow: {err} within the {deadline:g} s allowed")
        except (_Interrupted, http.client.HTTPException, socket.timeout, ConnectionError,
                ssl.SSLError) as err:
            reason = _reason(err, timeout)
            if _size(part) <= before:
                return Failure(url, reason)
        except urllib.error.URLError as err:  # no such host, refused, a local file missing
            return Failure(url, _reason(err, timeout))
    return Failure(url, f"{reason} (after {attempts} requests)")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _reason(err: Exception, timeout: float) -> str:
    if isinstance(err, urllib.error.URLError) and isinstance(err.reason, Exception):
        err = err.reason
    if isinstance(err, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    return str(err) or type(err).__name__


def _open(url: str, part: Path, timeout: float):
    """The response to a request for the rest of the file after ``part`` (the whole file when
    there is no part, or when the part does not fit: HTTP 416), and the offset it starts at."""
    offset = _size(part)
    headers = {"User-Agent": f"cnnlib/{__version__}"}
    if offset:
        try:
            request = urllib.request.Request(url, headers={**headers, "Range": f"bytes={offset}-"})
            return urllib.request.urlopen(request, timeout=timeout), offset
        except urllib.error.HTTPError as err:
            if err.code != 416:
                raise
            part.unlink()  # the part is longer than this file: it is not a prefix of it
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout), 0


def _request(url: str, part: Path, timeout: float, stop_at: float, progress: bool) -> None:
    """One request: append the rest of the file to ``part`` (or rewrite it when the server sends
    the whole file instead of the rest). Raises on any shortfall."""
    response, offset = _open(url, part, timeout)
    with response:
        if offset and not _resumes_at(response, offset):
            offset = 0  # a whole file (200), not the rest: start again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        read = getattr(response, "read1", response.read)  # read1: whatever has arrived, at once
        received = offset
        with open(part, "ab" if offset else "wb") as out, \
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=part.name[:-len(".part")], disable=not progress) as bar:
            for block in iter(lambda: read(CHUNK), b""):
                out.write(block)
                received += len(block)
                bar.update(len(block))
                if time.monotonic() > stop_at and (total is None or received < total):
                    size = f"{total:,}" if total is not None else "?"
                    raise _TooSlow(f"{received:,} of {size} bytes")
    if total is not None and received < total:
        raise _Interrupted(f"the connection ended after {received:,} of {total:,} bytes")


def _resumes_at(response, offset: int) -> bool:
    """Did the server send the rest from ``offset`` (206 with a matching Content-Range)?"""
    if getattr(response, "status", None) != 206:
        return False
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset
