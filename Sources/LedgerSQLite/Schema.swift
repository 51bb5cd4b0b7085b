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
        return migrator
    }
}
