"""The mesh: the forge-backed dispatcher lease (with its fencing epoch), failover, peers, and Syncthing folders."""
