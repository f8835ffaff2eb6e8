"""Allegro's lane: triage, routing, the sweep and the webhook queue's consumer, the dispatcher lease (local or
forge-backed, with failover between hosts) and the routing history.

Floor: a lane, the lowest but the cascade. Imports: the base, policy, forge, observe, intake, harness, cascade.
Its forge calls are ``forge_api.DispatchForge``; ``assembly.dispatcher`` builds it from settings.
"""
