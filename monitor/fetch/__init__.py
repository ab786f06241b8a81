"""The fetch stage: feeds and article pages over one pooled httpx client, guarded and bounded.

Imports only `models`, `errors` and the project's USER_AGENT. Failures are FetchError with
a `kind` from FETCH_ERROR_KINDS; "not modified" is a Fetched with status 304.
"""

from __future__ import annotations

from monitor.fetch._client import FEED_ACCEPT, PAGE_ACCEPT, Fetcher, FetchOptions
from monitor.fetch._errors import parse_retry_after
from monitor.fetch._guard import is_blocked_address, is_metadata_address, resolve_host

__all__ = [
    "FEED_ACCEPT",
    "PAGE_ACCEPT",
    "FetchOptions",
    "Fetcher",
    "is_blocked_address",
    "is_metadata_address",
    "parse_retry_after",
    "resolve_host",
]
