"""A small concurrent JSON client for OpenAI-compatible servers: retries with capped exponential
backoff on 429 / 5xx / timeouts / dropped connections, a per-request timeout, N requests in flight.

Built on ``requests`` (one pooled Session per worker thread: Sessions are not documented as
thread-safe). The API key is read from the environment by the caller and only ever sent as a
header; it is never stored or logged.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from code_unlearn_bench.errors import CubError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ServerError(CubError):
    """The server refused a request or kept failing after the retries."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _server_message(response) -> str:
    """The error message of an OpenAI-style error body, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text or response.reason or "")
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return _one_line(err.get("message") or err.get("detail") or body)
        return _one_line(body.get("detail") or body.get("message") or err)
    return _one_line(body)


class CompletionsClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 600.0,
                 max_retries: int = 5, num_concurrent: int = 8, backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.num_concurrent = num_concurrent
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep  # injectable: the retry tests do not wait for real
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self.retries_done = 0  # observability for tests and the bench
        self._pool: ThreadPoolExecutor | None = None

    # -- sessions -------------------------------------------------------------------------------
    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            import requests
            from requests.adapters import HTTPAdapter

            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(2, self.num_concurrent), max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self._headers)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()
        self._local = threading.local()

    # -- one request ----------------------------------------------------------------------------
    def _delay(self, attempt: int, response=None) -> float:
        if response is not None:  # the server says when to come back (429/503)
            try:
                return min(self.max_backoff_s, max(0.0, float(response.headers.get("Retry-After", ""))))
            except ValueError:
                pass
        with self._lock:
            jitter = 0.5 + self._rng.random() / 2  # spread concurrent retries apart
        return min(self.max_backoff_s, self.backoff_s * (2 ** attempt)) * jitter

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """JSON in, JSON out; ServerError (one line) on a refusal or after ``max_retries`` retries."""
        import requests

        url = f"{self.base_url}/{path.lstrip('/')}"
        last = ""
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = self._session().request(method, url, json=payload, timeout=self.timeout)
            except requests.Timeout:
                last = f"no answer within {self.timeout:g} s (--request-timeout)"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                last = f"cannot connect ({_one_line(exc, 160)})"  # or the connection dropped mid-answer
            except requests.RequestException as exc:  # malformed URL and the like: retrying cannot help
                raise ServerError(f"request to {url} failed: {_one_line(exc)}") from None
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        raise ServerError(f"{url} answered with non-JSON: {_one_line(response.text, 120)}") from None
                last = f"HTTP {response.status_code}: {_server_message(response)}"
                if response.status_code in (401, 403):
                    raise ServerError(f"{url} refused the request ({last}); set the API key in the "
                                      f"environment variable named by --api-key-env") from None
                if response.status_code not in RETRY_STATUS and response.status_code < 500:
                    raise ServerError(f"{url} refused the request ({last})") from None
            if attempt < self.max_retries:
                with self._lock:
                    self.retries_done += 1
                self._sleep(self._delay(attempt, response))
        raise ServerError(f"{url} failed after {self.max_retries} retries ({last})")

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        return self.request("POST", path, payload)

    # -- many requests ----------------------------------------------------------------------------
    def post_many(self, path: str, payloads: Sequence[dict[str, Any]]) -> list[Any]:
        """Answers in the order of ``payloads``, at most ``num_concurrent`` in flight; the first
        failure cancels what has not started and is raised."""
        if len(payloads) <= 1 or self.num_concurrent <= 1:
            return [self.post(path, p) for p in payloads]
        if self._pool is None:  # one pool per client: its threads keep their pooled connections
            self._pool = ThreadPoolExecutor(max_workers=self.num_concurrent, thread_name_prefix="cub-openai")
        futures = [self._pool.submit(self.post, path, p) for p in payloads]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()
