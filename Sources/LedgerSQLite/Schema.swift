import Foundation
import GRDB

/// The ledger's schema. Migrations are never edited once shipped: a change is a new migration.
/// Invariants live in the schema too (CHECK, foreign keys, UNIQUE), as a backstop behind the code.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: accounts, transfers, requests, codes, orders") { db in
            try db.execute(sql: """
                CREATE TABLE account (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('wallet', 'merchant', 'settlement')),
                    currency TEXT NOT NULL CHECK (length(currency) = 3),
                    name TEXT NOT NULL,
                    flags INTEGER NOT NULL CHECK (flags BETWEEN 0 AND 2),
                    debits_posted INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
                    credits_posted INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
                    created_at INTEGER NOT NULL,
                    CHECK ((flags & 1) = 0 OR debits_posted <= credits_posted),
                    CHECK ((flags & 2) = 0 OR credits_posted <= debits_posted)
                ) STRICT;

                CREATE TABLE wallet (
                    account_id TEXT PRIMARY KEY NOT NULL REFERENCES account(id),
                    phone TEXT UNIQUE
                ) STRICT;

                CREATE TABLE merchant (
                    account_id TEXT PRIMARY KEY NOT NULL REFERENCES account(id),
                    city TEXT NOT NULL,
                    category_code TEXT NOT NULL CHECK (length(category_code) = 4),
                    country_code TEXT NOT NULL CHECK (length(country_code) = 2)
                ) STRICT;

                CREATE TABLE transfer (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'payment', 'refund')),
                    debit_account TEXT NOT NULL REFERENCES account(id),
                    credit_account TEXT NOT NULL REFERENCES account(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    refund_of TEXT REFERENCES transfer(id),
                    order_id TEXT UNIQUE,
                    memo TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    CHECK (debit_account <> credit_account),
                    CHECK ((kind = 'refund') = (refund_of IS NOT NULL))
                ) STRICT;
                CREATE INDEX transfer_by_debit ON transfer(debit_account, created_at);
                CREATE INDEX transfer_by_credit ON transfer(credit_account, created_at);
                CREATE INDEX transfer_by_refund_of ON transfer(refund_of) WHERE refund_of IS NOT NULL;

                -- The first outcome of every request id, approved or declined, so that a retry gets
                -- the same answer. The fingerprint is the request's fields: the same id with other
                -- fields is refused as a conflict.
                CREATE TABLE request (
                    id TEXT PRIMARY KEY NOT NULL,
                    fingerprint TEXT NOT NULL,
                    transfer_id TEXT UNIQUE REFERENCES transfer(id),
                    decline TEXT,
                    created_at INTEGER NOT NULL,
                    CHECK ((transfer_id IS NULL) <> (decline IS NULL)),
                    CHECK (transfer_id IS NULL OR transfer_id = id)
                ) STRICT;

                -- One-time customer codes, stored by digest only.
                CREATE TABLE payment_code (
                    digest TEXT PRIMARY KEY NOT NULL,
                    wallet TEXT NOT NULL REFERENCES account(id),
                    issued_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_by TEXT UNIQUE REFERENCES request(id) DEFERRABLE INITIALLY DEFERRED,
                    CHECK (expires_at > issued_at)
                ) STRICT;

                CREATE TABLE merchant_order (
                    id TEXT PRIMARY KEY NOT NULL,
                    merchant TEXT NOT NULL REFERENCES account(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    terminal TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    payment TEXT UNIQUE REFERENCES transfer(id),
                    -- Set when the terminal gave up waiting: from then on the order cannot be paid.
                    cancelled_at INTEGER,
                    CHECK (expires_at > created_at),
                    CHECK (payment IS NULL OR cancelled_at IS NULL)
                ) STRICT;

                -- The key of the payment-code digests, made once per ledger.
                CREATE TABLE ledger_secret (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    code_key BLOB NOT NULL CHECK (length(code_key) = 32)
                ) STRICT;
                """)
            var rng = SystemRandomNumberGenerator()
            let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try db.execute(sql: "INSERT INTO ledger_secret (id, code_key) VALUES (1, ?)", arguments: [Data(key)])
        }
        migrator.registerMigration("v2: two-phase transfers, more kinds of account and transfer, wallet events") { db in
            // SQLite cannot change a CHECK in place: the two tables are rebuilt, rows kept.
            try db.execute(sql: """
                CREATE TABLE account_v2 (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('wallet', 'merchant', 'settlement', 'exchange', 'revenue', 'biller')),
                    currency TEXT NOT NULL CHECK (length(currency) = 3),
                    name TEXT NOT NULL,
                    flags INTEGER NOT NULL CHECK (flags BETWEEN 0 AND 2),
                    debits_pending INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
                    debits_posted INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
                    credits_pending INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
                    credits_posted INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
                    created_at INTEGER NOT NULL,
                    CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
                    CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted)
                ) STRICT;
                INSERT INTO account_v2 (id, kind, currency, name, flags, debits_posted, credits_posted, created_at)
                    SELECT id, kind, currency, name, flags, debits_posted, credits_posted, created_at FROM account;
                DROP TABLE account;
                ALTER TABLE account_v2 RENAME TO account;

                CREATE TABLE transfer_v2 (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'payment', 'refund', 'transfer', 'exchange', 'fee', 'bill', 'correction')),
                    debit_account TEXT NOT NULL REFERENCES account(id),
                    credit_account TEXT NOT NULL REFERENCES account(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    flags INTEGER NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 15),
                    pending_id TEXT REFERENCES transfer(id),
                    timeout_ms INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
                    refund_of TEXT REFERENCES transfer(id),
                    order_id TEXT UNIQUE,
                    memo TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    CHECK (debit_account <> credit_account),
                    CHECK (refund_of IS NULL OR kind = 'refund'),
                    CHECK ((pending_id IS NOT NULL) = ((flags & 12) <> 0)),
                    CHECK (timeout_ms = 0 OR (flags & 2) <> 0)
                ) STRICT;
                INSERT INTO transfer_v2 (id, kind, debit_account, credit_account, amount, currency, refund_of, order_id, memo, created_at)
                    SELECT id, kind, debit_account, credit_account, amount, currency, refund_of, order_id, memo, created_at FROM transfer;
                DROP TABLE transfer;
                ALTER TABLE transfer_v2 RENAME TO transfer;
                CREATE INDEX transfer_by_debit ON transfer(debit_account, created_at);
                CREATE INDEX transfer_by_credit ON transfer(credit_account, created_at);
                CREATE INDEX transfer_by_refund_of ON transfer(refund_of) WHERE refund_of IS NOT NULL;

                -- Every pending transfer and where it stands; it leaves 'pending' exactly once,
                -- posted or voided by the transfer named, or expired.
                CREATE TABLE pending_transfer (
                    id TEXT PRIMARY KEY NOT NULL REFERENCES transfer(id),
                    status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
                    expires_at INTEGER,
                    resolved_by TEXT UNIQUE REFERENCES transfer(id),
                    resolved_at INTEGER,
                    CHECK ((status = 'pending') = (resolved_at IS NULL)),
                    CHECK ((status IN ('posted', 'voided')) = (resolved_by IS NOT NULL))
                ) STRICT;
                CREATE INDEX pending_due ON pending_transfer(expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

                -- Every posted change to a wallet, in order: what alerts are made from. A notifier
                -- reads from its cursor (the last seq it delivered) and may deliver twice, never skip.
                CREATE TABLE wallet_event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    account TEXT NOT NULL REFERENCES account(id),
                    transfer TEXT NOT NULL REFERENCES transfer(id),
                    kind TEXT NOT NULL,
                    delta INTEGER NOT NULL,
                    available INTEGER NOT NULL,
                    balance INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX wallet_event_by_account ON wallet_event(account, seq);
                """)
        }
        migrator.registerMigration("v3: declined wallet requests") { db in
            // A wallet request's decline, final like an approval: a retry gets it back, and it
            // counts towards the wallet's velocity.
            try db.execute(sql: """
                CREATE TABLE wallet_decline (
                    request_id TEXT PRIMARY KEY NOT NULL,
                    fingerprint TEXT NOT NULL,
                    wallet TEXT,
                    decline TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX wallet_decline_by_wallet ON wallet_decline(wallet, created_at);
                """)
        }
        migrator.registerMigration("v4: lighter writes per payment") { db in
            // Two b-tree writes fewer per payment, from a profile of batched payments (whose
            // time goes to SQLite's page writes): an order id is unique where there is one, and
            // a payment without one no longer adds a NULL to a unique index; and an event's seq
            // is its rowid without AUTOINCREMENT's sqlite_sequence row, rewritten per insert.
            // Events are never deleted, so a rowid is never reused and cursors stay valid.
            try db.execute(sql: """
                CREATE TABLE transfer_v4 (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'payment', 'refund', 'transfer', 'exchange', 'fee', 'bill', 'correction')),
                    debit_account TEXT NOT NULL REFERENCES account(id),
                    credit_account TEXT NOT NULL REFERENCES account(id),
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    flags INTEGER NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 15),
                    pending_id TEXT REFERENCES transfer(id),
                    timeout_ms INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
                    refund_of TEXT REFERENCES transfer(id),
                    order_id TEXT,
                    memo TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    CHECK (debit_account <> credit_account),
                    CHECK (refund_of IS NULL OR kind = 'refund'),
                    CHECK ((pending_id IS NOT NULL) = ((flags & 12) <> 0)),
                    CHECK (timeout_ms = 0 OR (flags & 2) <> 0)
                ) STRICT;
                INSERT INTO transfer_v4 (id, kind, debit_account, credit_account, amount, currency, flags, pending_id,
                                         timeout_ms, refund_of, order_id, memo, created_at)
                    SELECT id, kind, debit_account, credit_account, amount, currency, flags, pending_id,
                           timeout_ms, refund_of, order_id, memo, created_at FROM transfer;
                DROP TABLE transfer;
                ALTER TABLE transfer_v4 RENAME TO transfer;
                CREATE INDEX transfer_by_debit ON transfer(debit_account, created_at);
                CREATE INDEX transfer_by_credit ON transfer(credit_account, created_at);
                CREATE INDEX transfer_by_refund_of ON transfer(refund_of) WHERE refund_of IS NOT NULL;
                CREATE UNIQUE INDEX transfer_by_order ON transfer(order_id) WHERE order_id IS NOT NULL;

                CREATE TABLE wallet_event_v4 (
                    seq INTEGER PRIMARY KEY,
                    account TEXT NOT NULL REFERENCES account(id),
                    transfer TEXT NOT NULL REFERENCES transfer(id),
                    kind TEXT NOT NULL,
                    delta INTEGER NOT NULL,
                    available INTEGER NOT NULL,
                    balance INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) STRICT;
                INSERT INTO wallet_event_v4 (seq, account, transfer, kind, delta, available, balance, currency, created_at)
                    SELECT seq, account, transfer, kind, delta, available, balance, currency, created_at FROM wallet_event;
                DROP TABLE wallet_event;
                ALTER TABLE wallet_event_v4 RENAME TO wallet_event;
                CREATE INDEX wallet_event_by_account ON wallet_event(account, seq);
                """)
        }
        migrator.registerMigration("v5: the offline counter registry") { db in
            // Which payments used each offline code (certificate, counter): a code used by two
            // payments is refused online and flagged when forwarded.
            try db.execute(sql: """
                CREATE TABLE offline_counter (
                    certificate TEXT NOT NULL,
                    counter INTEGER NOT NULL CHECK (counter >= 0),
                    payment TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (certificate, counter, payment)
                ) STRICT, WITHOUT ROWID;
                """)
        }
        return migrator
    }
}
