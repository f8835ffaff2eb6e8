"""Syncthing on one host (included by deploy/deploy.py; does nothing when mesh.yaml has no syncthing section).

Phase 1 of uni_wizard/deployment/syncthing_setup.py: the package, the home and the shared folder owned by
uni-wizard, config.xml seeded once (API on 127.0.0.1 with the host's syncthing_api_key; Syncthing owns the file
afterwards, so a later deploy never overwrites it), the hardening drop-in, the service running and enabled.
The device pairing needs every host's device id: `uni-wizard deploy` does it after pyinfra, over the REST API.
"""

import io
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, systemd

from uni_wizard.deployment import layout
from uni_wizard.deployment import syncthing_setup as st

# a dry run without the API key secret shows the plan without seeding config.xml (a real run needs the key)
found = st.host_syncthing(
    host.data.get("uw_seed_files"), host.data.get("uw_secrets"), dry=host.data.get("uw_dry", False)
)
if found is not None:
    settings, key_file = found
    USER = layout.SERVICE_USER
    apt.packages(name="package syncthing", packages=["syncthing"], update=False)
    for directory in host.loop((st.STATE_DIR, st.HOME, settings.folder_path)):
        files.directory(name=f"dir {directory}", path=str(directory), user=USER, group=USER, mode="700")
    seeded = None
    config_xml = f"{st.HOME}/config.xml"
    if key_file is not None and host.get_fact(File, path=config_xml) is None:
        seed = st.seed_config(Path(key_file).read_text(encoding="utf-8").strip(), host.name)
        seeded = files.put(
            name=f"seed {config_xml}", src=io.StringIO(seed), dest=config_xml, user=USER, group=USER, mode="600"
        )
    dropin_dir = f"{layout.UNIT_DIR}/{st.UNIT}.d"
    files.directory(name=f"dir {dropin_dir}", path=dropin_dir, mode="755")
    dropin = files.put(
        name=f"{st.UNIT} drop-in",
        src=str(Path(host.data.get("uw_units_dir")) / f"{st.UNIT}.d" / "uni-wizard.conf"),
        dest=f"{dropin_dir}/uni-wizard.conf",
        mode="644",
    )
    systemd.daemon_reload(name="daemon-reload (syncthing drop-in changed)", _if=dropin.did_change)
    changed = [op for op in (dropin, seeded) if op is not None]
    systemd.service(
        name=f"{st.UNIT} restarted (config or drop-in changed)",
        service=st.UNIT,
        running=True,
        restarted=True,
        enabled=True,
        _if=lambda: any(op.did_change() for op in changed),
    )
    systemd.service(name=f"{st.UNIT} running and enabled", service=st.UNIT, running=True, enabled=True)
