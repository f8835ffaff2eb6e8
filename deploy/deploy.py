"""pyinfra deploy of uni-wizard to one host of the mesh (run through `uni-wizard deploy`).

Host data comes from deploy/inventory.py (built from the deploy inventory and mesh.yaml):
  uw_roles, uw_config_files, uw_seed_files, uw_secrets, uw_wheelhouse_tar, uw_release, uw_python, uw_units_dir
and, when the mesh has a Syncthing section, uw_syncthing (see uni_wizard/deployment/syncthing_setup.py).
The filesystem layout is uni_wizard/deployment/layout.py (and docs/OPERATIONS.md). Idempotent: a second
run with the same inputs changes nothing. The seed files (houses/ and configs/ under /etc/uni-wizard) are
written only when a host lacks them: once there they belong to the reconciler, so a re-deploy never undoes
an applied upgrade (docs/OPERATIONS.md, "Who owns /etc/uni-wizard"). Every loop goes through host.loop():
hosts with different roles run different operations, and pyinfra orders them by call site plus loop position.
"""

import io
from pathlib import Path

from pyinfra import host, local
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, pip, server, systemd
from pyinfra.operations.util import any_changed

from uni_wizard.deployment import layout
from uni_wizard.config import ROLES

USER = layout.SERVICE_USER
roles = list(host.data.get("uw_roles"))
release = f"{layout.RELEASES}/{host.data.get('uw_release')}"
units_dir = Path(host.data.get("uw_units_dir"))

# bubblewrap: the sandbox every run of repository code goes through (run_tests fails closed without it)
apt.packages(name="package bubblewrap", packages=["bubblewrap"], update=False)
server.group(name="group uni-wizard", group=USER, system=True)
server.user(  # noqa: S604 - `shell` is the login shell, not a subprocess shell
    name="user uni-wizard",
    user=USER,
    group=USER,
    system=True,
    home="/var/lib/uni-wizard",
    shell="/usr/sbin/nologin",
    create_home=False,
    ensure_home=False,
)
for directory in host.loop((layout.ROOT, layout.RELEASES, layout.WHEELHOUSE)):
    files.directory(name=f"dir {directory}", path=str(directory), user="root", group="root", mode="755")
files.directory(name=f"dir {layout.CONFIG_DIR}", path=str(layout.CONFIG_DIR), user="root", group=USER, mode="750")
for directory in host.loop((layout.HOUSES_DIR, layout.CONFIGS_DIR)):
    files.directory(name=f"dir {directory}", path=str(directory), user="root", group=USER, mode="750")
# secrets stay root's: systemd hands them to each unit (LoadCredential=), the daemons cannot read this directory
files.directory(name=f"dir {layout.SECRETS_DIR}", path=str(layout.SECRETS_DIR), user="root", group="root", mode="700")

# --- the release: a venv of its own, installed from the shipped wheels (one tar per release) -----------
wheels = f"{layout.WHEELHOUSE}/{host.data.get('uw_release')}"
wheels_tar = files.put(name="wheelhouse tar", src=host.data.get("uw_wheelhouse_tar"), dest=f"{wheels}.tar", mode="644")
files.directory(name=f"dir {wheels}", path=wheels, user="root", group="root", mode="755")
server.shell(name="unpack the wheelhouse", commands=[f"tar -xf {wheels}.tar -C {wheels}"], _if=wheels_tar.did_change)
pip.virtualenv(name=f"venv {release}", path=release, python=host.data.get("uw_python"), venv=True)
pip.packages(
    name="uni-wizard into the release venv",
    packages=[f"uni-wizard=={host.data.get('uw_release').split('-')[0]}"],
    virtualenv=release,
    extra_install_args=f"--no-index --find-links={wheels}",
)
# relative, as the reconciler writes it (uni_wizard/reconcile/releases.py)
current = files.link(
    name=f"{layout.CURRENT} -> {release}", path=str(layout.CURRENT), target=release.removeprefix(f"{layout.ROOT}/")
)

# --- configuration and secrets ------------------------------------------------------------------------
changed = [current]
for dest, content in host.loop(sorted(host.data.get("uw_config_files").items())):
    changed.append(
        files.put(name=f"config {dest}", src=io.StringIO(content), dest=dest, user="root", group=USER, mode="640")
    )
# seeded once: the reconciler owns houses/ and configs/ afterwards (it installs the mesh repository's files)
for dest, content in host.loop(sorted(host.data.get("uw_seed_files").items())):
    if host.get_fact(File, path=dest) is None:
        changed.append(
            files.put(name=f"seed {dest}", src=io.StringIO(content), dest=dest, user="root", group=USER, mode="640")
        )
for secret, src in host.loop(sorted(host.data.get("uw_secrets").items())):
    dest = f"{layout.SECRETS_DIR}/{secret}"
    changed.append(files.put(name=f"secret {dest}", src=src, dest=dest, user="root", group="root", mode="600"))

# --- units: the template for every role, instances enabled for this host's roles only -----------------
units = [
    files.put(
        name="unit uni-wizard@.service",
        src=str(units_dir / "uni-wizard@.service"),
        dest=f"{layout.UNIT_DIR}/uni-wizard@.service",
        mode="644",
    ),
    files.put(
        name="unit uni-wizard.target",
        src=str(units_dir / "uni-wizard.target"),
        dest=f"{layout.UNIT_DIR}/{layout.TARGET}",
        mode="644",
    ),
    files.directory(
        name="dir reconciler drop-in", path=f"{layout.UNIT_DIR}/uni-wizard@reconciler.service.d", mode="755"
    ),
    files.put(
        name="reconciler drop-in",
        src=str(units_dir / "uni-wizard@reconciler.service.d" / "reconciler.conf"),
        dest=f"{layout.UNIT_DIR}/uni-wizard@reconciler.service.d/reconciler.conf",
        mode="644",
    ),
]
# the roles that run repository code: their drop-in lets bubblewrap create the sandbox (systemd/*/sandbox.conf)
for role in host.loop(("worker", "reviewer")):
    dropin = f"{layout.UNIT_DIR}/uni-wizard@{role}.service.d"
    units.append(files.directory(name=f"dir {role} drop-in", path=dropin, mode="755"))
    units.append(
        files.put(
            name=f"{role} sandbox drop-in",
            src=str(units_dir / f"uni-wizard@{role}.service.d" / "sandbox.conf"),
            dest=f"{dropin}/sandbox.conf",
            mode="644",
        )
    )
systemd.daemon_reload(name="daemon-reload (units changed)", _if=any_changed(*units))
restart_needed = any_changed(*changed, *units)
for role in host.loop(ROLES):
    unit = layout.unit_name(role)
    if role in roles:
        systemd.service(
            name=f"{unit} restarted (release, config or unit changed)",
            service=unit,
            running=True,
            restarted=True,
            enabled=True,
            _if=restart_needed,
        )
        systemd.service(
            name=f"{unit} running and enabled",
            service=unit,
            running=True,
            enabled=True,
            _if=lambda: not restart_needed(),
        )
    else:
        systemd.service(
            name=f"{unit} stopped and disabled (not a role of this host)", service=unit, running=False, enabled=False
        )
# running=None: pyinfra counts only running/exited/... as up, never a target's "active" (it would start it every run)
systemd.service(name=f"{layout.TARGET} enabled", service=layout.TARGET, running=None, enabled=True)

# Syncthing, when mesh.yaml has a syncthing section (the pairing itself runs after pyinfra, see the file)
local.include("./syncthing.py")
