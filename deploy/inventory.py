"""pyinfra inventory built from the deploy inventory (UNIWIZARD_INVENTORY) and the mesh.yaml it names.

`uni-wizard deploy --inventory FILE` sets UNIWIZARD_INVENTORY, UNIWIZARD_WHEELHOUSE and
UNIWIZARD_WHEELHOUSE_TAR (the wheels packed for shipping), UNIWIZARD_DEPLOY_DRY=1 for --dry, and runs
`pyinfra deploy/inventory.py deploy/deploy.py`; the group `mesh` holds every host of the mesh.
"""

import os
from pathlib import Path

from uni_wizard.deployment.runner import pyinfra_hosts

mesh = pyinfra_hosts(
    Path(os.environ["UNIWIZARD_INVENTORY"]),
    Path(os.environ["UNIWIZARD_WHEELHOUSE"]),
    Path(os.environ["UNIWIZARD_WHEELHOUSE_TAR"]),
    dry=os.environ.get("UNIWIZARD_DEPLOY_DRY") == "1",
)
