"""The self-upgrade queue (ADR-021): pull requests to the mesh's own repository labelled ``upgrade``.

    proposed → approved | rejected | expired;  approved → applying → applied | failed (rolled back)

What lives here: ``queue.py`` (``UpgradeQueue``: records a proposal, moves and mirrors it, the sovereign's
``approve`` and ``reject``), ``progress.py`` (how ``sync_once`` moves each open upgrade on from the forge),
``hook.py`` (``UpgradeHook``: the queue as a review extension: it records each head Timmy's reviewer
checks, gives the verdict instead of the owner escalation, and adds a merge blocker), ``records.py`` (the
store: compare-and-set, one history row per transition), ``states.py``, ``labels.py`` (the state mirrored
as the ``upgrade/<state>`` label), ``risk.py``, ``deploys.py`` (the reconcilers' reports),
``config.py`` (``configs/upgrades.yaml``), ``metrics.py`` and ``forge_api.py`` (``UpgradeForge``, the forge
calls it makes); ``assembly.upgrades`` builds it from settings and makes the extension factory the
composition passes to ``build_reviewer``. The reconciler on each host applies an
approved, merged upgrade and reports ``uni-wizard/deploy/<host>``.

What it may import: the review package only through ``review.extension`` (what review exports for
extensions), and the floors below review (harness, forge, observe, meshfile and the base); never the
reconciler, deployment or the composition. Nothing below it imports it: the composition hands the hook to
the reviewer.

Floor: a lane, above review. May import: the base (meshfile), forge, observe, harness, and of review only
``review.extension``.
"""

from .config import RiskRules, UpgradeConfig, load_upgrade_config
from .deploys import DeployOutcome, deploy_outcome
from .hook import UpgradeHook
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
    "UpgradeHook",
    "UpgradeQueue",
    "UpgradeStore",
    "assess",
    "deploy_outcome",
    "load_upgrade_config",
    "mirrored",
    "state_label",
]
