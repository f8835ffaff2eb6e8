"""The houses at work: claims, plans (playbooks or a model's), the Harness run, PRs with proof, the report."""
