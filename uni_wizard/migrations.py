"""The schema of the host's SQLite store: an append-only list of migrations (never edit one that shipped).

Migration N (1-based) brings a database from schema version N-1 to N; ``Store`` applies the missing ones
at open, each in one transaction, and records it in ``schema_version``.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE provenance (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        house TEXT NOT NULL,
        host TEXT NOT NULL,
        mode TEXT NOT NULL,
        tool TEXT NOT NULL,
        task TEXT,
        args_digest TEXT NOT NULL,
        args_json TEXT NOT NULL,
        output_digest TEXT,
        output_json TEXT,
        status TEXT NOT NULL,
        error TEXT,
        error_type TEXT,
        duration REAL NOT NULL,
        attempts INTEGER NOT NULL,
        decision_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX provenance_task ON provenance(task);
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        house TEXT NOT NULL,
        tool TEXT NOT NULL,
        args_digest TEXT NOT NULL,
        args_json TEXT NOT NULL,
        task TEXT,
        reason TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        note TEXT
    );
    CREATE INDEX approvals_lookup ON approvals(house, tool, args_digest, state);
    CREATE TABLE approval_transitions (
        id INTEGER PRIMARY KEY,
        approval_id INTEGER NOT NULL REFERENCES approvals(id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE tool_stats (
        house TEXT NOT NULL,
        tool TEXT NOT NULL,
        calls INTEGER NOT NULL,
        successes INTEGER NOT NULL,
        ewma_duration REAL NOT NULL,
        max_duration REAL NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (house, tool)
    );
    """,
    # 2: the webhook intake (uni_wizard/intake/queue.py): durable de-duplication and the event queue
    """
    CREATE TABLE webhook_deliveries (
        delivery TEXT PRIMARY KEY,
        event_type TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL
    );
    CREATE INDEX webhook_deliveries_received ON webhook_deliveries(received_at);
    CREATE TABLE event_queue (
        id INTEGER PRIMARY KEY,
        delivery TEXT NOT NULL,
        event_type TEXT NOT NULL,
        kind TEXT NOT NULL,
        repository TEXT NOT NULL,
        number INTEGER,
        payload_json TEXT NOT NULL,
        received_at TEXT NOT NULL,
        claimed_at TEXT,
        done_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX event_queue_pending ON event_queue(id) WHERE done_at IS NULL;
    """,
    # 3: Allegro's lane (uni_wizard/dispatch/, uni_wizard/observe/events.py): the event log, routing
    # decisions, house outcomes (the history routing learns from) and the sweep cursors
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        host TEXT NOT NULL,
        repository TEXT,
        number INTEGER,
        data_json TEXT NOT NULL
    );
    CREATE INDEX events_kind ON events(kind, seq);
    CREATE TABLE routing_decisions (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        kind TEXT NOT NULL,
        chosen TEXT,
        runner_up TEXT,
        host TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        reason TEXT NOT NULL,
        candidates_json TEXT NOT NULL
    );
    CREATE INDEX routing_decisions_issue ON routing_decisions(repository, number, id);
    CREATE TABLE house_outcomes (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        house TEXT NOT NULL,
        kind TEXT NOT NULL,
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
        duration REAL NOT NULL
    );
    CREATE INDEX house_outcomes_house_kind ON house_outcomes(house, kind);
    CREATE TABLE issue_states (
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        status TEXT NOT NULL,
        house TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (repository, number)
    );
    CREATE TABLE sweep_cursors (
        repository TEXT PRIMARY KEY,
        since TEXT,
        last_full TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 4: the self-upgrade queue (uni_wizard/upgrade/): one row per upgrade pull request, one per transition
    """
    CREATE TABLE upgrades (
        id INTEGER PRIMARY KEY,
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        title TEXT NOT NULL,
        author TEXT NOT NULL,
        state TEXT NOT NULL,
        head_sha TEXT NOT NULL,
        diff_sha256 TEXT NOT NULL,
        merge_base TEXT NOT NULL,
        files_json TEXT NOT NULL,
        lines INTEGER NOT NULL,
        risk TEXT NOT NULL,
        risk_reasons_json TEXT NOT NULL,
        merge_sha TEXT,
        note TEXT NOT NULL DEFAULT '',
        proposed_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (repository, number)
    );
    CREATE INDEX upgrades_state ON upgrades(state, updated_at);
    CREATE TABLE upgrade_transitions (
        id INTEGER PRIMARY KEY,
        upgrade_id INTEGER NOT NULL REFERENCES upgrades(id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        head_sha TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX upgrade_transitions_upgrade ON upgrade_transitions(upgrade_id, id);
    """,
    # 5: house outcomes from every host (uni_wizard/dispatch/history.py import_outcome): a row's origin
    # ('' = this host) and, for one imported from a peer's telemetry, that event's seq there
    """
    ALTER TABLE house_outcomes ADD COLUMN origin_host TEXT NOT NULL DEFAULT '';
    ALTER TABLE house_outcomes ADD COLUMN origin_seq INTEGER;
    CREATE UNIQUE INDEX house_outcomes_origin ON house_outcomes(origin_host, origin_seq);
    """,
    # 6: a lease held without a forge (a mesh of one, uni_wizard/dispatch/store_lease.py): who holds it, under
    # which epoch, until when (UNIX seconds); kept after a release (expires then) so the epoch keeps growing
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        house TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        acquired REAL NOT NULL,
        renewed REAL NOT NULL,
        expires REAL NOT NULL
    );
    """,
    # 7: Timmy's reviewer (uni_wizard/review/proven.py): the verdict of each re-run of the tests, by the tree it
    # ran on and the re-run's policy, so the same tree is not re-run for another head or pull request
    """
    CREATE TABLE review_proven_trees (
        tree TEXT NOT NULL,
        policy TEXT NOT NULL,
        passed INTEGER NOT NULL,
        sentence TEXT NOT NULL,
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        head TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (tree, policy)
    );
    """,
    # 8: the pattern database's decayed evidence (uni_wizard/intelligence/patterns.py), replacing tool_stats: per
    # house, tool and argument shape (the repository, '' for none); house and tool '*' hold the aggregates
    """
    CREATE TABLE tool_outcomes (
        house TEXT NOT NULL,
        tool TEXT NOT NULL,
        shape TEXT NOT NULL,
        successes REAL NOT NULL,
        failures REAL NOT NULL,
        samples INTEGER NOT NULL,
        ewma_duration REAL NOT NULL,
        max_duration REAL NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (house, tool, shape)
    );
    INSERT INTO tool_outcomes SELECT house, tool, '', successes, calls - successes, calls, ewma_duration,
        max_duration, updated_at FROM tool_stats;
    DROP TABLE tool_stats;
    """,
    # 9: the error capture (uni_wizard/attention/capture.py): one row per fingerprint of an unexpected exception,
    # its count on this host, and the forge issue that tells it (published_count: the count the issue shows)
    """
    CREATE TABLE captured_errors (
        fingerprint TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        context TEXT NOT NULL,
        version TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        issue INTEGER,
        published_count INTEGER NOT NULL DEFAULT 0,
        published_at REAL NOT NULL DEFAULT 0
    );
    """,
    # 10: the mesh's memory of the forge (uni_wizard/memory/): one row per document (issue, pull request, report,
    # review verdict, decision), its FTS5 index (rowid = the document's id; BM25) and each repository's sync cursor
    """
    CREATE TABLE memory_docs (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        repo TEXT NOT NULL,
        number INTEGER NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        url TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        digest TEXT NOT NULL,
        indexed_at TEXT NOT NULL
    );
    CREATE INDEX memory_docs_issue ON memory_docs (repo, number);
    CREATE VIRTUAL TABLE memory_fts USING fts5(title, body, tokenize = 'porter unicode61');
    CREATE TABLE memory_cursors (
        repo TEXT PRIMARY KEY,
        since TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 11: the ledger (uni_wizard/dispatch/bids.py, spend.py): every house's bid on every routing decision (the
    # winner's open until settled or void; at most one open per issue), each move of a bid, and token spend per
    # day, house, provider and model
    """
    CREATE TABLE ledger_bids (
        id INTEGER PRIMARY KEY,
        decision_id INTEGER,
        at TEXT NOT NULL,
        repository TEXT NOT NULL,
        number INTEGER NOT NULL,
        kind TEXT NOT NULL,
        house TEXT NOT NULL,
        amount_milli INTEGER NOT NULL,
        eligible INTEGER NOT NULL,
        won INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('lost', 'open', 'settled', 'void')),
        pr_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX ledger_bids_issue ON ledger_bids (repository, number);
    CREATE UNIQUE INDEX ledger_bids_one_open ON ledger_bids (repository, number) WHERE state = 'open';
    CREATE INDEX ledger_bids_state ON ledger_bids (state, updated_at);
    CREATE TABLE ledger_transitions (
        id INTEGER PRIMARY KEY,
        bid_id INTEGER NOT NULL REFERENCES ledger_bids (id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX ledger_transitions_bid ON ledger_transitions (bid_id);
    CREATE TABLE ledger_spend (
        day TEXT NOT NULL,
        house TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        calls INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        PRIMARY KEY (day, house, provider, model)
    );
    """,
    # 12: the owner's escalations (uni_wizard/attention/escalations.py, calibration.py): each escalation, its route
    # and why, when it was sent and whether the owner acted on it; each category's calibrated threshold and pin
    """
    CREATE TABLE attention_escalations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        category TEXT NOT NULL,
        kind TEXT NOT NULL,
        weight REAL NOT NULL,
        title TEXT NOT NULL,
        url TEXT NOT NULL,
        repository TEXT,
        number INTEGER,
        labels TEXT NOT NULL DEFAULT '',
        route TEXT NOT NULL,
        why TEXT NOT NULL,
        raised_at REAL NOT NULL,
        sent_at REAL,
        outcome TEXT,
        decided_at REAL
    );
    CREATE INDEX attention_escalations_pending ON attention_escalations(route, sent_at);
    CREATE TABLE attention_thresholds (
        category TEXT PRIMARY KEY,
        threshold REAL NOT NULL,
        acted INTEGER NOT NULL DEFAULT 0,
        ignored INTEGER NOT NULL DEFAULT 0,
        pinned TEXT,
        updated_at REAL NOT NULL
    );
    """,
)
