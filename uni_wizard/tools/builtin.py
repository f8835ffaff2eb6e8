"""The built-in tool set, listed explicitly."""

from __future__ import annotations

from . import file, git, gitea, memory, network, proof, review, system
from .registry import ToolRegistry
from .spec import ToolSpec

__all__ = ["BUILTIN_TOOLS", "builtin_registry"]

BUILTIN_TOOLS: tuple[ToolSpec, ...] = (
    system.system_info,
    system.process_list,
    system.service_status,
    system.service_control,
    system.health_check,
    system.disk_usage,
    git.git_status,
    git.git_log,
    git.git_diff,
    git.git_branch_list,
    git.git_checkout,
    git.git_commit,
    git.git_pull,
    git.git_push,
    network.http_get,
    network.http_post,
    gitea.gitea_list_issues,
    gitea.gitea_get_issue,
    gitea.gitea_create_issue,
    gitea.gitea_comment,
    memory.memory_search,
    file.file_read,
    file.file_write,
    file.file_list,
    file.file_search,
    proof.run_tests,
    review.gitea_approve_pr,
    review.gitea_merge_pr,
)


def builtin_registry() -> ToolRegistry:
    """A fresh registry holding every built-in tool."""
    return ToolRegistry(BUILTIN_TOOLS)
