"""The whole exception tree of uni-wizard.

Every error the package raises on purpose is one of these; callers catch
``UniWizardError`` (or a branch of it) and never a foreign exception type.
Classes carry data, not behaviour, and never log.

    UniWizardError
    ├── ConfigError (ValueError)           a settings, house or policy file is wrong; names file and key
    ├── ToolDefinitionError (TypeError)    a @tool function is not fit to be a tool (at import)
    │   └── DuplicateToolError (ValueError)  two tools share a name
    ├── ToolCallError (ValueError)         the caller's fault: unknown tool, bad or missing argument
    ├── ToolExecutionError                 the tool ran and failed
    │   ├── TransientToolError             ... in a way worth retrying (connection refused, 503, lock)
    │   ├── GitRefused                     ... not run: git was asked to work on a repository or remote it
    │   │                                  must not trust (a config key, a .git elsewhere, a URL off the forge)
    │   ├── ToolTimeout (TimeoutError)     ... by running out of time
    │   └── CircuitOpen                    ... not run: its group's breaker is open
    ├── PolicyDenied (PermissionError)     the house policy refused the call; carries the Decision's rule
    ├── ApprovalError                      an approval cannot be granted or rejected
    │   └── NotAuthorized (PermissionError)  the actor may not approve
    ├── RecordNotFound (LookupError)       no record of that id: a provenance record, an approval, an upgrade
    ├── StoreError                         the SQLite store is unusable or inconsistent
    │   ├── StoreUnavailable               a write the store cannot take now (locked, read-only, I/O)
    │   └── ProvenanceBroken               the provenance hash chain does not verify
    ├── ForgeError                         the forge (Gitea) answered with an error; .status, .message, .url, .body
    │   ├── Unauthorized                   401: missing or bad token or password
    │   ├── Forbidden (PermissionError)    403: the account may not do this
    │   ├── NotFound (LookupError)         404: missing, or invisible to this account
    │   ├── NotAllowed                     405: a merge gate (approvals, status checks, already merged...)
    │   ├── Conflict                       409: exists already, or the head moved (head out of date)
    │   ├── PreconditionFailed             412: a state change the forge refuses (e.g. a merged PR)
    │   ├── Unprocessable (ValueError)     422: validation failed
    │   │   ├── ShaMismatch                422 "sha does not match" (contents API): a compare-and-swap was lost
    │   │   └── FileExists                 422 "repository file already exists" (contents API)
    │   ├── Locked                         423: the repository is archived
    │   └── ServerError                    5xx
    ├── ForgeUnavailable                   the forge could not be reached (connection, timeout, open breaker)
    ├── LeaseLost                          a lease is not held (or is within its safety margin): nothing is written
    ├── EventRejected (ValueError)         an event cannot be logged: bad kind, key or data; nothing is written
    ├── PlaybookError (ValueError)         an issue's ```uni-wizard playbook is invalid; .line (in the body), .step
    ├── WebhookRejected                    a webhook delivery failed verification or could not be parsed; .status
    ├── ModelError                         a model provider failed; .provider, .model
    │   ├── ProviderUnavailable            ... on its side, next provider; .reason (a label) from the class. As
    │   │   │                              itself: refused or broken connection, 502/503/504, an error mid-answer
    │   │   │                              (retried first); "unavailable"
    │   │   ├── ProviderTimeout            ... no answer in time, or 408 (retried); "timeout"
    │   │   ├── ProviderRateLimited        ... 429 (retried, honouring Retry-After); "rate_limited"
    │   │   ├── ProviderServerError        ... 500 and the other 5xx (next provider, no retry); "server_error"
    │   │   ├── ProviderMalformed          ... an answer that cannot be parsed (next provider); "malformed"
    │   │   └── ProviderBreakerOpen        ... not contacted, or tripped: its breaker is open (next provider);
    │   │                                  "circuit_open"
    │   ├── ProviderRejected (ValueError)  ... permanently (400/401/403/422): no retry, no failover
    │   │   ├── ModelNotFound (LookupError)  the model is not on that provider (404, not pulled)
    │   │   └── ContextLengthExceeded      the prompt does not fit the model's context: a bigger one may
    │   ├── CascadeExhausted               every allowed provider failed; .attempts lists what each did
    │   └── BudgetExhausted                the agent loop ran out of steps, tokens or time; .budget
    ├── MeshError                          the mesh: a peer, Syncthing or the mesh configuration
    │   └── SyncthingError                 Syncthing's REST API failed or is unreachable; .status
    └── UpgradeError                       the self-upgrade queue or a deploy
        ├── TransitionRefused              a state change not allowed from the current state (compare-and-set lost)
        └── DeployFailed                   a release could not be installed, switched or health-checked

A ``Result`` returned by the Harness carries the class of its error (``Result.error_class``) and names it
in ``error_type`` on the wire; ``BY_NAME`` maps those names back to the classes of this tree (a name it does
not hold is ``ToolExecutionError``), so ``Result.raise_for_status()`` raises the same class after JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

__all__ = [
    "BY_NAME",
    "ApprovalError",
    "BudgetExhausted",
    "CascadeExhausted",
    "CircuitOpen",
    "ConfigError",
    "Conflict",
    "ContextLengthExceeded",
    "DeployFailed",
    "DuplicateToolError",
    "EventRejected",
    "FileExists",
    "Forbidden",
    "ForgeError",
    "ForgeUnavailable",
    "GitRefused",
    "LeaseLost",
    "Locked",
    "MeshError",
    "ModelError",
    "ModelNotFound",
    "NotAllowed",
    "NotAuthorized",
    "NotFound",
    "PlaybookError",
    "PolicyDenied",
    "PreconditionFailed",
    "ProvenanceBroken",
    "ProviderBreakerOpen",
    "ProviderMalformed",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderServerError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RecordNotFound",
    "ServerError",
    "ShaMismatch",
    "StoreError",
    "StoreUnavailable",
    "SyncthingError",
    "ToolCallError",
    "ToolDefinitionError",
    "ToolExecutionError",
    "ToolTimeout",
    "TransientToolError",
    "TransitionRefused",
    "Unauthorized",
    "UniWizardError",
    "Unprocessable",
    "UpgradeError",
    "WebhookRejected",
]


class UniWizardError(Exception):
    """Root of every error uni-wizard raises on purpose."""


class ConfigError(UniWizardError, ValueError):
    """A configuration, house or policy file is invalid.

    ``source`` is the file (or "environment") and ``key`` the dotted key at fault.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        where = ":".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.key = key


class ToolDefinitionError(UniWizardError, TypeError):
    """A function decorated with ``@tool`` cannot become a tool (missing hint, undocumented argument...)."""


class DuplicateToolError(ToolDefinitionError, ValueError):
    """A registry already holds a tool of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a tool named {name!r} is already registered")
        self.name = name


class ToolCallError(UniWizardError, ValueError):
    """The call is wrong before anything ran: unknown tool, bad or missing arguments."""


class ToolExecutionError(UniWizardError):
    """The tool ran and failed; the message says what happened."""


class TransientToolError(ToolExecutionError):
    """A failure that may succeed when tried again (connection refused, HTTP 502/503/504, a held lock)."""


class GitRefused(ToolExecutionError):
    """git was not run: the repository (``repository``) carries something uni-wizard does not let git
    act on (``key``: a config key outside the allowlist, or what else was refused), or the remote is not
    on the configured forge. The message names both, never a config value (it could be a secret)."""

    def __init__(self, message: str, *, repository: str = "", key: str = "") -> None:
        super().__init__(message)
        self.repository = repository
        self.key = key


class ToolTimeout(ToolExecutionError, TimeoutError):
    """The tool did not finish within its timeout; it was cancelled (its subprocess killed)."""


class CircuitOpen(ToolExecutionError):
    """The tool was not run because the breaker of its group is open."""

    def __init__(self, group: str, retry_after: float) -> None:
        super().__init__(
            f"the {group!r} tool group is failing: its circuit breaker is open; "
            f"it admits a trial call in about {retry_after:.0f} s"
        )
        self.group = group
        self.retry_after = retry_after


class PolicyDenied(UniWizardError, PermissionError):
    """The house policy refused the call. ``rule`` is the policy rule that decided it."""

    def __init__(self, reason: str, *, rule: str = "policy") -> None:
        super().__init__(reason)
        self.rule = rule


class ApprovalError(UniWizardError):
    """An approval request cannot be found, or is not in a state that allows the action."""


class NotAuthorized(ApprovalError, PermissionError):
    """The actor may not approve or reject (only a house with may_approve, or the owner)."""


class RecordNotFound(UniWizardError, LookupError):
    """No record has the id asked for (a provenance record, an approval request, an upgrade): nothing changed.
    ``kind`` names what was looked for, ``key`` the id."""

    def __init__(self, message: str, *, kind: str = "", key: object = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


class StoreError(UniWizardError):
    """The SQLite store cannot be opened, migrated or written."""


class StoreUnavailable(StoreError):
    """The store cannot take a write now (locked past its busy timeout, read-only, an I/O error): the data was
    fine, the store was not; another attempt later may succeed."""


class ProvenanceBroken(StoreError):
    """The provenance chain does not verify; ``record_id`` is the first broken record."""

    def __init__(self, record_id: int, why: str) -> None:
        super().__init__(f"provenance record {record_id} is broken: {why}")
        self.record_id = record_id
        self.why = why


class ForgeError(UniWizardError):
    """The forge answered with an error status, classified by status code in one place
    (``forge.status.error_for_response``). ``ShaMismatch`` and ``FileExists`` refine a 422 of the contents API
    there: Gitea gives them no code of their own, so its message is the only signal."""

    status: int = 0

    def __init__(self, message: str, *, status: int | None = None, url: str = "", body: object = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.url = url
        self.body = body


class Unauthorized(ForgeError):
    status = 401


class Forbidden(ForgeError, PermissionError):
    status = 403


class NotFound(ForgeError, LookupError):
    status = 404


class NotAllowed(ForgeError):
    """405: Gitea's merge gates (not enough approvals, status checks, already merged, try again later)."""

    status = 405


class Conflict(ForgeError):
    status = 409


class PreconditionFailed(ForgeError):
    status = 412


class Unprocessable(ForgeError, ValueError):
    status = 422


class ShaMismatch(Unprocessable):
    """The contents API's compare-and-swap was lost: the file changed since its sha was read."""


class FileExists(Unprocessable):
    """A create found the file already there."""


class Locked(ForgeError):
    status = 423


class ServerError(ForgeError):
    status = 500


class ForgeUnavailable(UniWizardError):
    """The forge could not be reached: connection refused, timeout, or its breaker is open."""


class WebhookRejected(UniWizardError):
    """A webhook delivery was refused: bad or missing signature, or a body that is not a payload.

    ``status`` is the HTTP answer: 400 malformed, 401 signature, 413 too large, 503 intake off.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class LeaseLost(UniWizardError):
    """A lease is not held, or is too close to expiry to act under: nothing is written."""


class EventRejected(UniWizardError, ValueError):
    """An event cannot be logged: its kind is not ``<word>.<word>``, its key is empty or too long, or its
    data is not a JSON object of bounded size. Nothing is written."""


class PlaybookError(UniWizardError, ValueError):
    """An issue's playbook (its fenced ``uni-wizard`` block) cannot be run as written.

    The message says what and where ("line 14, step 2 (file_write): unknown argument 'contnt' ...");
    ``line`` is the line in the issue body and ``step`` the step's 1-based number, when they are known.
    """

    def __init__(self, message: str, *, line: int | None = None, step: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.step = step


class ModelError(UniWizardError):
    """A model provider failed. ``provider`` and ``model`` name where (empty when not known)."""

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class ProviderUnavailable(ModelError):
    """A failure on the provider's side; the next provider may answer. Raised as itself for a refused or
    broken connection, 502/503/504 or an error line before the first token (worth a retry); its subclasses
    say the other kinds. ``retry_after`` is the provider's Retry-After in seconds, when it sent one.
    ``reason`` is the kind as a metric label ("unavailable" here), read from the class."""

    _reason: ClassVar[str] = "unavailable"

    def __init__(self, message: str, *, provider: str = "", model: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider, model=model)
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """The ``outcome`` and ``reason`` label of this kind of failure (the class decides it)."""
        return self._reason


class ProviderTimeout(ProviderUnavailable):
    """No answer (or no first token) within the timeout, a connect timeout, or 408. Worth a retry."""

    _reason = "timeout"


class ProviderRateLimited(ProviderUnavailable):
    """429: the provider asks to slow down (``retry_after`` when it said how long). Worth a retry."""

    _reason = "rate_limited"


class ProviderServerError(ProviderUnavailable):
    """500, 501 or another 5xx that is not 502/503/504: not retried, the next provider is tried."""

    _reason = "server_error"


class ProviderMalformed(ProviderUnavailable):
    """The answer cannot be parsed (bad JSON, a tool call without a name...): not retried."""

    _reason = "malformed"


class ProviderBreakerOpen(ProviderUnavailable):
    """The provider's breaker is open: the request was not sent (or this failure opened it). Not retried."""

    _reason = "circuit_open"


class ProviderRejected(ModelError, ValueError):
    """A permanent failure: the provider refused the request (400/401/403/422). Not retried, not counted by
    the breaker, and no failover: the same request would fail the same way elsewhere (``ModelNotFound`` and
    ``ContextLengthExceeded`` are the exceptions: the cascade moves on)."""


class ModelNotFound(ProviderRejected, LookupError):
    """The provider does not have the model (404, not pulled)."""


class ContextLengthExceeded(ProviderRejected):
    """The prompt does not fit the model's context window; a provider whose model has a bigger one may."""


class CascadeExhausted(ModelError):
    """Every allowed provider was tried and failed. ``attempts`` is ``(provider, model, reason)`` per try."""

    def __init__(self, message: str, *, attempts: tuple[tuple[str, str, str], ...] = ()) -> None:
        super().__init__(message)
        self.attempts = attempts


class BudgetExhausted(ModelError):
    """The agent loop ran out of ``budget`` ("steps", "tokens" or "time") before the model finished."""

    def __init__(self, message: str, *, budget: str) -> None:
        super().__init__(message)
        self.budget = budget


class MeshError(UniWizardError):
    """The mesh: a peer, Syncthing, or the mesh configuration failed."""


class SyncthingError(MeshError):
    """Syncthing's REST API failed (``status`` is the HTTP status, 0 when it could not be reached)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class UpgradeError(UniWizardError):
    """The self-upgrade queue or a deploy failed."""


class TransitionRefused(UpgradeError):
    """A state change that the current state does not allow (or a compare-and-set that was lost): nothing
    changed."""


class DeployFailed(UpgradeError):
    """A release could not be installed, switched to, or passed its health gate."""


BY_NAME: Mapping[str, type[UniWizardError]] = MappingProxyType(
    {cls.__name__: cls for cls in dict(globals()).values() if isinstance(cls, type) and issubclass(cls, UniWizardError)}
)
"""Every class of the tree by its name: what ``Result.error_type`` names on the wire."""
