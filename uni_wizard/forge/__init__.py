"""The forge: a thin typed async client for Gitea's API v1 (and the devforge).

    from uni_wizard.forge import GiteaClient

    async with GiteaClient("https://forge.example", token) as forge:
        for issue in await forge.list_issues("mesh", "coordination", labels=["status/todo"]):
            ...

Errors are ``uni_wizard.errors.ForgeError`` (by status) and ``ForgeUnavailable``.

Floor: above the base. May import: the base (errors, config, configfile, reporef, metricset, _version); never
a lane.
"""

from .client import MESH_SCOPES, GiteaClient
from .http import FEATURES, RETRYABLE_STATUSES, forge_breaker
from .metrics import ForgeMetrics
from .models import (
    AccessToken,
    Branch,
    BranchProtection,
    CombinedStatus,
    Comment,
    CommitStatus,
    FileChange,
    FileContent,
    Hook,
    Issue,
    Label,
    Organization,
    PullRequest,
    Repository,
    RepositoryPermissions,
    Review,
    User,
    Version,
)
from .pagination import MAX_LIMIT, dedupe_since, paginate
from .repos import MESH_EVENTS
from .status import error_for_response

__all__ = [
    "FEATURES",
    "MAX_LIMIT",
    "MESH_EVENTS",
    "MESH_SCOPES",
    "RETRYABLE_STATUSES",
    "AccessToken",
    "Branch",
    "BranchProtection",
    "CombinedStatus",
    "Comment",
    "CommitStatus",
    "FileChange",
    "FileContent",
    "ForgeMetrics",
    "GiteaClient",
    "Hook",
    "Issue",
    "Label",
    "Organization",
    "PullRequest",
    "Repository",
    "RepositoryPermissions",
    "Review",
    "User",
    "Version",
    "dedupe_since",
    "error_for_response",
    "forge_breaker",
    "paginate",
]
