"""The houses at work: claims, plans (playbooks or a model's), the Harness run, PRs with proof, the report.

Its forge calls are ``forge_api.WorkForge``; ``assembly.worker`` builds the worker from settings.

Floor: a lane, above dispatch and the cascade. May import: the base, policy, forge, observe, intake, tools,
harness, cascade, dispatch (issue texts, the routing ledger).
"""
