"""The self-upgrade queue (ADR-021): pull requests to the mesh's own repository labelled ``upgrade``.

    proposed → approved | rejected | expired;  approved → applying → applied | failed (rolled back)

Timmy's reviewer records each upgrade when it checks its head (head sha, diff hash, risk), decides its
verdict through ``hook.plan_upgrade_verdict`` and moves it on with ``UpgradeQueue.sync_once``; the
reconciler on each host applies an approved, merged upgrade and reports ``uni-wizard/deploy/<host>``.
State lives in the host's store (compare-and-set, one history row per transition) and is mirrored as
the ``upgrade/<state>`` label on the pull request.
"""

from .config import RiskRules, UpgradeConfig, load_upgrade_config
from .deploys import DeployOutcome, deploy_outcome
from .labels import LabelMirror, mirrored
from .queue import UpgradeQueue
from .records import Proposal, Transition, Upgrade, UpgradeStore
from .risk import Risk, assess
from .states import State, state_label

__all__ = [
    "DeployOutcome",
    "LabelMirror",
    "Proposal",
    "Risk",
    "RiskRules",
    "State",
    "Transition",
    "Upgrade",
    "UpgradeConfig",
    "UpgradeQueue",
    "UpgradeStore",
    "assess",
    "deploy_outcome",
    "load_upgrade_config",
    "mirrored",
    "state_label",
]
