"""Requirements files named by URL (``-r https://...`` inside a requirements file), fetched as
pip fetches them, within bounds: at most ``MAX_DOCUMENT_BYTES``, ``FETCH_SECONDS`` in all (a
server that sends a byte at a time cannot hold a build), http and https only. Fetched on every
build, warm ones too: only its bytes say whether it changed (they are in the cache key)."""

from __future__ import annotations

import time

from layerforge import __version__
from layerforge.documents import MAX_DOCUMENT_BYTES
from layerforge.errors import BuildError, UsageError

__all__ = ["FETCH_SECONDS", "fetch_text"]

#: The whole fetch (connecting, every read) ends within this.
FETCH_SECONDS = 30.0
_BLOCK = 1 << 16


def fetch_text(url: str, *, what: str) -> str:
    """The UTF-8 text at ``url``; a missing or unusable document is a UsageError, a server or
    network that does not answer a BuildError."""
    import urllib.error  # with ssl, 17 ms: only a requirements file named by URL
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise UsageError(f"cannot fetch {what} {url}: only http and https URLs are fetched")
    deadline = time.monotonic() + FETCH_SECONDS
    request = urllib.request.Request(url, headers={"User-Agent": f"layerforge/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_SECONDS) as response:
            data = _read_bounded(response, deadline, url, what)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403, 404, 410):
            raise UsageError(
                f"cannot fetch {what} {url}: HTTP {exc.code} {exc.reason}",
                hint="check the URL in the -r line (a private file needs a URL that works "
                "without a login, or a local copy)",
            ) from None
        raise _unreachable(url, what, f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _unreachable(url, what, str(reason)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{what} {url} is not a text file (not UTF-8)", hint="check the URL in the -r line"
        ) from None


def _read_bounded(response: object, deadline: float, url: str, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise _unreachable(url, what, f"not fetched within {FETCH_SECONDS:.0f} s")
        chunk = response.read1(_BLOCK)  # type: ignore[attr-defined]  # one read, not a loop
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            raise UsageError(
                f"{what} {url} is over {MAX_DOCUMENT_BYTES // 2**20} MiB: not a {what}",
                hint="check the URL in the -r line",
            )
        chunks.append(chunk)


def _unreachable(url: str, what: str, reason: str) -> BuildError:
    return BuildError(
        f"cannot fetch {what} {url} ({reason})",
        hint="check the network and the URL, or download the file and name its path",
    )
