"""Fault injection rules, switchable while the server runs.

A rule matches an API method name ("playlistItems.insert", "playlists.*", or "*") and
fires either for its next ``count`` matching requests or with a ``probability`` drawn from
a seeded RNG, so a failing fault run can be replayed exactly.  Kinds:

``lose_response``        apply the request, then close the connection cleanly (FIN) without
                         answering.  Note: httplib2 treats a close-without-status on the
                         first try as a stale keep-alive connection and re-sends the request
                         once, whatever ``httplib2.RETRIES`` says; a stock client therefore
                         turns one lost insert into a silent duplicate.
``lose_response_reset``  apply, then abort the connection (RST).  httplib2 raises
                         ``ConnectionResetError`` without re-sending.
``error_5xx``            500 backendError (``status=503`` for the 503 form); not applied.
``rate_limit_429``       429 rateLimitExceeded; not applied.
``rate_limit_403``       403 rateLimitExceeded (``reason="userRateLimitExceeded"`` for the
                         other form); not applied.
``conflict_409``         409 operationAborted; not applied.
``quota_exceeded``       403 quotaExceeded (``reason="dailyLimitExceeded"`` for the old
                         form); not applied and, like a real refusal, not charged.

Answers that are not what the API sends (a proxy's page, a broken deployment); the
request is applied and charged as usual, only its 200 answer is spoilt:

``html_answer``          an HTML page instead of JSON (a captive portal, a proxy).
``garbled_answer``       JSON of the wrong shape: a list's items are strings, an
                         insert's answer has no id.
``repeat_page_token``    a list answers with ``nextPageToken`` set to the token it was
                         asked for (the first page's own, on the first page): a client
                         that follows it reads the same page for ever.
``endless_pages``        a list always has a ``nextPageToken``, a new one each time,
                         past its last item (empty pages from there on).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal[
    "lose_response",
    "lose_response_reset",
    "error_5xx",
    "rate_limit_429",
    "rate_limit_403",
    "conflict_409",
    "quota_exceeded",
    "html_answer",
    "garbled_answer",
    "repeat_page_token",
    "endless_pages",
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
LOSING_KINDS: frozenset[str] = frozenset({"lose_response", "lose_response_reset"})
SPOILING_KINDS: frozenset[str] = frozenset(
    {"html_answer", "garbled_answer", "repeat_page_token", "endless_pages"}
)


@dataclass(slots=True)
class FaultRule:
    method: str
    kind: FaultKind
    remaining: int | None  # None: no count limit (probability decides)
    probability: float
    status: int | None = None
    reason: str | None = None

    def matches(self, method: str) -> bool:
        if self.method == "*" or self.method == method:
            return True
        # "playlists.*" matches every method of one resource.
        return self.method.endswith(".*") and method.startswith(self.method[:-1])

    def body_case(self) -> str | None:
        """Which error body this fault answers with (None for the losing kinds)."""
        if self.kind == "error_5xx":
            return "backendError503" if self.status == 503 else "backendError"
        if self.kind == "rate_limit_429":
            return "rateLimitExceeded"
        if self.kind == "rate_limit_403":
            if self.reason == "userRateLimitExceeded":
                return "userRateLimitExceeded403"
            return "rateLimitExceeded403"
        if self.kind == "conflict_409":
            return "operationAborted"
        if self.kind == "quota_exceeded":
            return "dailyLimitExceeded" if self.reason == "dailyLimitExceeded" else "quotaExceeded"
        return None


class Faults:
    """The active rules and a per-kind count of faults injected so far."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self.injected: Counter[str] = Counter()

    def add(
        self,
        *,
        kind: FaultKind,
        method: str = "*",
        count: int | None = None,
        probability: float = 1.0,
        status: int | None = None,
        reason: str | None = None,
    ) -> FaultRule:
        """Add a rule.  Without ``count`` it stays until ``remove``/``clear``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if count is not None and count < 1:
            raise ValueError("count must be positive")
        rule = FaultRule(method, kind, count, probability, status, reason)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        """Drop every rule (the injected counts stay)."""
        with self._lock:
            self._rules.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def draw(self, method: str) -> FaultRule | None:
        """The rule that fires for this request, if any; counts it as injected."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method):
                    continue
                # Draw only for probabilistic rules, so count-only runs leave the RNG alone.
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                self.injected[rule.kind] += 1
                return rule
            return None

    def summary(self) -> dict[str, int]:
        with self._lock:
            return dict(self.injected)
