"""The fake forge's records as the client's typed models (``uni_wizard.forge.models``), as the devforge shows
them: labels sorted by name, assignees by user id, a PR's ``mergeable`` false once merged or while held."""

from __future__ import annotations

from ..forge.models import (
    Branch,
    Comment,
    CommitStatus,
    Issue,
    Label,
    PullRequest,
    Repository,
    RepositoryPermissions,
    Review,
    User,
)
from ._fake_state import FComment, FIssue, FLabel, ForgeState, FRepo, FReview, FStatus, FUser, moment

__all__ = [
    "branch_model",
    "comment_model",
    "issue_labels",
    "issue_model",
    "label_model",
    "pull_model",
    "repo_model",
    "review_model",
    "status_model",
    "user_model",
]


def user_model(state: ForgeState, login: str) -> User:
    user = state.user(login) or FUser(0, login)
    return User.model_validate(user.json())


def label_model(label: FLabel) -> Label:
    return Label(id=label.id, name=label.name, color=label.color, description=label.description,
                 exclusive=label.exclusive, is_archived=label.is_archived)  # fmt: skip


def issue_labels(repo: FRepo, issue: FIssue) -> list[Label]:
    labels = [repo.labels[i] for i in issue.labels if i in repo.labels]
    return [label_model(label) for label in sorted(labels, key=lambda x: (x.name, x.id))]


def _html(state: ForgeState, repo: FRepo, issue: FIssue) -> str:
    kind = "pulls" if issue.pull is not None else "issues"
    return f"{state.root_url}{repo.full_name}/{kind}/{issue.number}"


def issue_model(state: ForgeState, repo: FRepo, issue: FIssue) -> Issue:
    assignees = sorted((state.user(login) or FUser(0, login) for login in issue.assignees), key=lambda u: u.id)
    return Issue(
        id=issue.id,
        number=issue.number,
        title=issue.title,
        body=issue.body,
        state=issue.state,
        user=user_model(state, issue.poster),
        labels=issue_labels(repo, issue),
        assignees=[User.model_validate(u.json()) for u in assignees],
        comments=len(issue.comments),
        html_url=_html(state, repo, issue),
        created_at=moment(issue.created),
        updated_at=moment(issue.updated),
        closed_at=moment(issue.closed),
        is_pull=issue.pull is not None,
    )


def pull_model(state: ForgeState, repo: FRepo, issue: FIssue) -> PullRequest:
    pull = issue.pull
    assert pull is not None
    return PullRequest(
        id=pull.id,
        number=issue.number,
        state=issue.state,
        title=issue.title,
        body=issue.body,
        user=user_model(state, issue.poster),
        labels=issue_labels(repo, issue),
        merged=pull.merged,
        mergeable=issue.state == "open" and not pull.merged and not pull.held,
        merge_commit_sha=pull.merge_commit_sha,
        head_sha=pull.head_sha,
        head_ref=pull.head_ref,
        base_ref=pull.base_ref,
        html_url=_html(state, repo, issue),
        updated_at=moment(issue.updated),
    )


def review_model(state: ForgeState, review: FReview) -> Review:
    return Review(id=review.id, user=user_model(state, review.reviewer), state=review.state,
                  official=review.official, stale=review.stale, dismissed=review.dismissed,
                  commit_id=review.commit_id, body=review.body)  # fmt: skip


def comment_model(state: ForgeState, repo: FRepo, issue: FIssue, comment: FComment) -> Comment:
    return Comment(
        id=comment.id,
        body=comment.body,
        user=user_model(state, comment.poster),
        html_url=f"{_html(state, repo, issue)}#issuecomment-{comment.id}",
        created_at=moment(comment.created),
        updated_at=moment(comment.updated),
    )


def status_model(status: FStatus) -> CommitStatus:
    return CommitStatus(id=status.id, status=status.state, context=status.context,
                        description=status.description, target_url=status.target_url)  # fmt: skip


def repo_model(state: ForgeState, repo: FRepo, *, admin: bool) -> Repository:
    return Repository(
        id=repo.id,
        name=repo.name,
        full_name=repo.full_name,
        owner=repo.owner,
        default_branch=repo.default_branch,
        empty=not repo.branches,
        private=repo.private,
        clone_url=f"{state.root_url}{repo.full_name}.git",
        html_url=f"{state.root_url}{repo.full_name}",
        permissions=RepositoryPermissions(admin=admin, push=True, pull=True),
    )


def branch_model(repo: FRepo, name: str) -> Branch:
    rule = repo.rule_for(name)
    return Branch(
        name=name,
        commit_id=repo.branches[name],
        protected=rule is not None,
        required_approvals=rule.required_approvals if rule else 0,
        enable_status_check=rule.enable_status_check if rule else False,
        status_check_contexts=list(rule.status_check_contexts) if rule else [],
        user_can_push=rule is None,
        user_can_merge=True,
    )
