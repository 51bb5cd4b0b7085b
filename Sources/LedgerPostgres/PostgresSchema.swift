import Ledger
import Logging
import PostgresNIO

/// The PostgreSQL ledger's schema, the same tables and constraints as the SQLite one's, and its
/// audit. Versions are applied once, under an advisory lock, so several processes starting at
/// once do not race to create the tables.
enum PostgresSchema {
    /// Each version's statements; version 1's are separated by ";\n", later ones are whole.
    static var versions: [(Int, [String])] {
        // Version 4 replaces version 2's write function with the one that checks its row counts
        // itself; a new ledger runs the same CREATE OR REPLACE twice.
        [(1, version1.components(separatedBy: ";\n")), (2, [writeFunction]), (3, version3), (4, [writeFunction]), (5, [expectFunction]), (6, [commitExpectedProcedure]), (7, version7), (8, version8), (9, version9)]
    }

    /// Transfers and events no longer name their accounts through foreign keys: every payment
    /// paid for three RI triggers (the debit and credit accounts of its transfer, the wallet of
    /// its event), each a locking lookup through SPI, and they were half of what a group of 8
    /// payments cost the server (auto_explain: 0.99 of 2.0 ms). They checked nothing the engine
    /// has not: it read both accounts in the same transaction, locked (`FOR UPDATE`, or
    /// `qrpos_expect`'s lock and check), and refuses a transfer to an account that is not there;
    /// accounts are never deleted. The audit checks that every transfer and event names an
    /// account ("transfers and events name existing accounts"), on both stores. SQLite keeps its
    /// foreign keys: there a check is one index lookup in the same process.
    static let version9 = [
        "ALTER TABLE transfer DROP CONSTRAINT IF EXISTS transfer_debit_account_fkey, DROP CONSTRAINT IF EXISTS transfer_credit_account_fkey",
        "ALTER TABLE wallet_event DROP CONSTRAINT IF EXISTS wallet_event_account_fkey",
    ]

    /// The checkout's tables, as SQLite's: each request's first outcome, one-time codes (by digest
    /// only, under the ledger's own key), merchant-presented orders.
    static let version8 = [
        """
        CREATE TABLE request (
            id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, transfer_id TEXT UNIQUE REFERENCES transfer(id), decline TEXT,
            created_at INT8 NOT NULL,
            CHECK ((transfer_id IS NULL) <> (decline IS NULL)), CHECK (transfer_id IS NULL OR transfer_id = id))
        """,
        """
        CREATE TABLE payment_code (
            digest TEXT PRIMARY KEY, wallet TEXT NOT NULL REFERENCES account(id), issued_at INT8 NOT NULL, expires_at INT8 NOT NULL,
            used_by TEXT UNIQUE REFERENCES request(id) DEFERRABLE INITIALLY DEFERRED, CHECK (expires_at > issued_at))
        """,
        """
        CREATE TABLE merchant_order (
            id TEXT PRIMARY KEY, merchant TEXT NOT NULL REFERENCES account(id), amount INT8 NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL, terminal TEXT NOT NULL, created_at INT8 NOT NULL, expires_at INT8 NOT NULL,
            payment TEXT UNIQUE REFERENCES transfer(id), cancelled_at INT8,
            CHECK (expires_at > created_at), CHECK (payment IS NULL OR cancelled_at IS NULL))
        """,
        // 32 random bytes from two random UUIDs (gen_random_uuid is built in from PostgreSQL 13).
        """
        CREATE TABLE ledger_secret (id INT PRIMARY KEY CHECK (id = 1), code_key BYTEA NOT NULL CHECK (length(code_key) = 32))
        """,
        """
        INSERT INTO ledger_secret (id, code_key)
        VALUES (1, decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'))
        """,
    ]

    /// The offline counter registry (as SQLite's v5).
    static let version7 = [
        """
        CREATE TABLE offline_counter (
            certificate TEXT NOT NULL, counter INT8 NOT NULL CHECK (counter >= 0), payment TEXT NOT NULL, created_at INT8 NOT NULL,
            PRIMARY KEY (certificate, counter, payment))
        """,
    ]

    /// Declined wallet requests: final like approvals, and counted towards velocity.
    static let version3 = [
        """
        CREATE TABLE wallet_decline (
            request_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, wallet TEXT, decline TEXT NOT NULL, created_at INT8 NOT NULL)
        """,
        "CREATE INDEX wallet_decline_by_wallet ON wallet_decline(wallet, created_at)",
    ]

    static let version1 = """
            CREATE TABLE account (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('wallet', 'merchant', 'settlement', 'exchange', 'revenue', 'biller')),
                currency TEXT NOT NULL CHECK (length(currency) = 3),
                name TEXT NOT NULL,
                flags INT8 NOT NULL CHECK (flags BETWEEN 0 AND 2),
                debits_pending INT8 NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
                debits_posted INT8 NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
                credits_pending INT8 NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
                credits_posted INT8 NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
                created_at INT8 NOT NULL,
                CHECK ((flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted),
                CHECK ((flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted)
            );
            CREATE TABLE wallet (account_id TEXT PRIMARY KEY REFERENCES account(id), phone TEXT UNIQUE);
            CREATE TABLE merchant (
                account_id TEXT PRIMARY KEY REFERENCES account(id),
                city TEXT NOT NULL,
                category_code TEXT NOT NULL CHECK (length(category_code) = 4),
                country_code TEXT NOT NULL CHECK (length(country_code) = 2)
            );
            CREATE TABLE transfer (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'payment', 'refund', 'transfer', 'exchange', 'fee', 'bill', 'correction')),
                debit_account TEXT NOT NULL REFERENCES account(id),
                credit_account TEXT NOT NULL REFERENCES account(id),
                amount INT8 NOT NULL CHECK (amount > 0),
                currency TEXT NOT NULL,
                flags INT8 NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 15),
                pending_id TEXT REFERENCES transfer(id),
                timeout_ms INT8 NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
                refund_of TEXT REFERENCES transfer(id),
                order_id TEXT UNIQUE,
                memo TEXT NOT NULL,
                created_at INT8 NOT NULL,
                CHECK (debit_account <> credit_account),
                CHECK (refund_of IS NULL OR kind = 'refund'),
                CHECK ((pending_id IS NOT NULL) = ((flags & 12) <> 0)),
                CHECK (timeout_ms = 0 OR (flags & 2) <> 0)
            );
            CREATE INDEX transfer_by_debit ON transfer(debit_account, created_at);
            CREATE INDEX transfer_by_credit ON transfer(credit_account, created_at);
            CREATE INDEX transfer_by_refund_of ON transfer(refund_of) WHERE refund_of IS NOT NULL;
            CREATE TABLE pending_transfer (
                id TEXT PRIMARY KEY REFERENCES transfer(id),
                status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
                expires_at INT8,
                resolved_by TEXT UNIQUE REFERENCES transfer(id),
                resolved_at INT8,
                CHECK ((status = 'pending') = (resolved_at IS NULL)),
                CHECK ((status IN ('posted', 'voided')) = (resolved_by IS NOT NULL))
            );
            CREATE INDEX pending_due ON pending_transfer(expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;
            -- xid: the writing transaction, so a cursor can read in transaction order below the
            -- oldest transaction still running, and never skip an event that commits late.
            CREATE TABLE wallet_event (
                seq BIGSERIAL PRIMARY KEY,
                xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                account TEXT NOT NULL REFERENCES account(id),
                transfer TEXT NOT NULL,
                kind TEXT NOT NULL,
                delta INT8 NOT NULL,
                available INT8 NOT NULL,
                balance INT8 NOT NULL,
                currency TEXT NOT NULL,
                created_at INT8 NOT NULL
            );
            CREATE INDEX wallet_event_by_xid ON wallet_event((xid::text::numeric), seq);
            CREATE INDEX wallet_event_by_account ON wallet_event(account, seq);
            """

    /// `qrpos_write`'s parameters: the engine's changes, one array per column.
    static let writeParameters = """
        acc_id text[], acc_dp int8[], acc_dd int8[], acc_cp int8[], acc_cc int8[],
                    t_id text[], t_kind text[], t_d text[], t_c text[], t_amount int8[], t_cur text[], t_flags int8[], t_pid text[],
                    t_timeout int8[], t_refund text[], t_ord text[], t_memo text[], t_at int8[],
                    h_id text[], h_exp int8[],
                    r_id text[], r_status text[], r_by text[], r_at int8[],
                    e_acc text[], e_tr text[], e_kind text[], e_delta int8[], e_av int8[], e_bal int8[], e_cur text[], e_now int8
        """

    /// The writer of an engine's changes, as a server function: PL/pgSQL plans its statements
    /// once per session, where the same statements sent as one query were planned on every
    /// payment (most of its time). It only writes what the Swift engine decided; no rule lives
    /// here. Returns the rows written: accounts, transfers, holds resolved; raises an error
    /// (aborting the transaction) when an account or hold it updates was not updated exactly once.
    ///
    /// PL/pgSQL still made a custom plan for every call's arrays (a quarter of the function's
    /// time in a profile of single payments); `plan_cache_mode` makes it keep one generic plan.
    static let writeFunction = """
        CREATE OR REPLACE FUNCTION qrpos_write(
            \(writeParameters)
        ) RETURNS int8[] LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
        DECLARE a int8 := 0; t int8 := 0; r int8 := 0;
        BEGIN
            IF cardinality(acc_id) > 0 THEN
                UPDATE account x SET debits_pending = v.dp, debits_posted = v.dd, credits_pending = v.cp, credits_posted = v.cc
                FROM unnest(acc_id, acc_dp, acc_dd, acc_cp, acc_cc) AS v(id, dp, dd, cp, cc) WHERE x.id = v.id;
                GET DIAGNOSTICS a = ROW_COUNT;
                IF a <> cardinality(acc_id) THEN
                    RAISE EXCEPTION 'ledger write lost rows: % of % accounts updated', a, cardinality(acc_id) USING ERRCODE = 'XX000';
                END IF;
            END IF;
            IF cardinality(t_id) > 0 THEN
                INSERT INTO transfer (id, kind, debit_account, credit_account, amount, currency, flags, pending_id, timeout_ms,
                                      refund_of, order_id, memo, created_at)
                SELECT v.id, v.kind, v.d, v.c, v.amount, v.cur, v.flags, NULLIF(v.pid, ''), v.timeout, NULLIF(v.refund, ''),
                       NULLIF(v.ord, ''), v.memo, v.at
                FROM unnest(t_id, t_kind, t_d, t_c, t_amount, t_cur, t_flags, t_pid, t_timeout, t_refund, t_ord, t_memo, t_at)
                     AS v(id, kind, d, c, amount, cur, flags, pid, timeout, refund, ord, memo, at);
                GET DIAGNOSTICS t = ROW_COUNT;
            END IF;
            IF cardinality(h_id) > 0 THEN
                INSERT INTO pending_transfer (id, status, expires_at)
                SELECT v.id, 'pending', NULLIF(v.expires, 0) FROM unnest(h_id, h_exp) AS v(id, expires);
            END IF;
            IF cardinality(r_id) > 0 THEN
                UPDATE pending_transfer p SET status = v.status, resolved_by = NULLIF(v.by, ''), resolved_at = v.at
                FROM unnest(r_id, r_status, r_by, r_at) AS v(id, status, by, at) WHERE p.id = v.id AND p.status = 'pending';
                GET DIAGNOSTICS r = ROW_COUNT;
                IF r <> cardinality(r_id) THEN
                    RAISE EXCEPTION 'a pending transfer was resolved twice: % of % resolved', r, cardinality(r_id) USING ERRCODE = 'XX000';
                END IF;
            END IF;
            IF cardinality(e_acc) > 0 THEN
                INSERT INTO wallet_event (account, transfer, kind, delta, available, balance, currency, created_at)
                SELECT v.a, v.t, v.k, v.d, v.av, v.b, v.c, e_now
                FROM unnest(e_acc, e_tr, e_kind, e_delta, e_av, e_bal, e_cur) AS v(a, t, k, d, av, b, c);
            END IF;
            RETURN ARRAY[a, t, r];
        END $$
        """

    /// Locks the accounts named (in id order, as every transaction here does) and checks that
    /// each still holds the totals given: what a write decided from the process's cache of
    /// accounts instead of from a locked read (``PostgresLedger``'s one-round-trip path) commits
    /// only if nothing it read has changed since. A changed or missing account raises a
    /// serialization failure, which aborts the transaction; the caller then takes the locked path.
    static let expectFunction = """
        CREATE OR REPLACE FUNCTION qrpos_expect(acc_id text[], acc_dp int8[], acc_dd int8[], acc_cp int8[], acc_cc int8[])
        RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
        DECLARE n int8;
        BEGIN
            SELECT count(*) INTO n FROM (
                SELECT 1 FROM account x JOIN unnest(acc_id, acc_dp, acc_dd, acc_cp, acc_cc) AS v(id, dp, dd, cp, cc) ON x.id = v.id
                WHERE x.debits_pending = v.dp AND x.debits_posted = v.dd AND x.credits_pending = v.cp AND x.credits_posted = v.cc
                ORDER BY x.id FOR UPDATE OF x) s;
            IF n <> cardinality(acc_id) THEN
                RAISE EXCEPTION 'an account changed since it was cached' USING ERRCODE = '40001';
            END IF;
        END $$
        """

    /// ``expectFunction`` then ``writeFunction`` then COMMIT, as one call made outside a
    /// transaction block: the one-round-trip path's whole transaction. A procedure, because only
    /// a procedure may commit, and the commit must come before the answer: a statement sent on
    /// its own commits only after it has answered (at the protocol's Sync), so its success would
    /// not yet be durable. (A procedure with a SET clause may not commit; the two functions it
    /// calls keep theirs.)
    static let commitExpectedProcedure = """
        CREATE OR REPLACE PROCEDURE qrpos_commit_expected(
            INOUT written int8[],
            x_id text[], x_dp int8[], x_dd int8[], x_cp int8[], x_cc int8[],
            \(writeParameters)
        ) LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM qrpos_expect(x_id, x_dp, x_dd, x_cp, x_cc);
            written := qrpos_write(acc_id, acc_dp, acc_dd, acc_cp, acc_cc,
                t_id, t_kind, t_d, t_c, t_amount, t_cur, t_flags, t_pid, t_timeout, t_refund, t_ord, t_memo, t_at,
                h_id, h_exp, r_id, r_status, r_by, r_at, e_acc, e_tr, e_kind, e_delta, e_av, e_bal, e_cur, e_now);
            COMMIT;
        END $$
        """

    static func migrate(_ conn: PostgresConnection, logger: Logger) throws {
        _ = try conn.query("SELECT pg_advisory_lock(7243001)", logger: logger).wait()
        defer { _ = try? conn.query("SELECT pg_advisory_unlock(7243001)", logger: logger).wait() }
        _ = try conn.query("CREATE TABLE IF NOT EXISTS qrpos_schema (version INT PRIMARY KEY)", logger: logger).wait()
        let done = Set(try conn.query("SELECT version FROM qrpos_schema", logger: logger).wait().map { try $0.decode(Int.self) })
        for (version, statements) in versions where !done.contains(version) {
            _ = try conn.query("BEGIN", logger: logger).wait()
            do {
                for statement in statements where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    _ = try conn.query(PostgresQuery(unsafeSQL: statement), logger: logger).wait()
                }
                _ = try conn.query("INSERT INTO qrpos_schema (version) VALUES (\(version))", logger: logger).wait()
                _ = try conn.query("COMMIT", logger: logger).wait()
            } catch {
                _ = try? conn.query("ROLLBACK", logger: logger).wait()
                throw LedgerError(.storage, "cannot create the ledger schema (version \(version)): \(PostgresLedger.describe(error))")
            }
        }
    }

    /// The invariants of ``SQLiteLedger/audit()``, in PostgreSQL's SQL.
    static func audit(_ conn: PostgresConnection, logger: Logger) throws -> AuditReport {
        var violations: [Violation] = []
        func check(_ name: String, _ sql: String) throws {
            for row in try conn.query(PostgresQuery(unsafeSQL: sql), logger: logger).wait() {
                violations.append(Violation(check: name, detail: try row.decode(String.self)))
            }
        }
        _ = try conn.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger).wait()
        defer { _ = try? conn.query("COMMIT", logger: logger).wait() }
        try check("debits equal credits", """
            SELECT currency || ': posted ' || SUM(debits_posted) || '/' || SUM(credits_posted) || ', pending ' || SUM(debits_pending) || '/' || SUM(credits_pending)
            FROM account GROUP BY currency HAVING SUM(debits_posted) <> SUM(credits_posted) OR SUM(debits_pending) <> SUM(credits_pending)
            """)
        try check("balances match transfers", """
            WITH moved AS (
                SELECT debit_account AS account, amount AS d, 0::int8 AS c, 0::int8 AS dp, 0::int8 AS cp FROM transfer WHERE (flags & 10) = 0
                UNION ALL SELECT credit_account, 0, amount, 0, 0 FROM transfer WHERE (flags & 10) = 0
                UNION ALL SELECT t.debit_account, 0, 0, t.amount, 0 FROM transfer t JOIN pending_transfer p ON p.id = t.id WHERE p.status = 'pending'
                UNION ALL SELECT t.credit_account, 0, 0, 0, t.amount FROM transfer t JOIN pending_transfer p ON p.id = t.id WHERE p.status = 'pending'
            ), sums AS (SELECT account, SUM(d) AS d, SUM(c) AS c, SUM(dp) AS dp, SUM(cp) AS cp FROM moved GROUP BY account)
            SELECT 'account ' || a.id || ': stored ' || a.debits_pending || '/' || a.debits_posted || '/' || a.credits_pending || '/' || a.credits_posted
                   || ', transfers sum to ' || COALESCE(s.dp, 0) || '/' || COALESCE(s.d, 0) || '/' || COALESCE(s.cp, 0) || '/' || COALESCE(s.c, 0)
            FROM account a LEFT JOIN sums s ON s.account = a.id
            WHERE a.debits_posted <> COALESCE(s.d, 0) OR a.credits_posted <> COALESCE(s.c, 0)
               OR a.debits_pending <> COALESCE(s.dp, 0) OR a.credits_pending <> COALESCE(s.cp, 0)
            """)
        try check("no balance past its flag", """
            SELECT 'account ' || id FROM account
            WHERE ((flags & 1) <> 0 AND debits_pending + debits_posted > credits_posted)
               OR ((flags & 2) <> 0 AND credits_pending + credits_posted > debits_posted)
            """)
        try check("currencies agree", """
            SELECT 'transfer ' || t.id FROM transfer t JOIN account d ON d.id = t.debit_account JOIN account c ON c.id = t.credit_account
            WHERE t.currency <> d.currency OR t.currency <> c.currency
            """)
        try check("transfers and events name existing accounts", """
            SELECT 'transfer ' || t.id || ' names a missing account' FROM transfer t
                LEFT JOIN account d ON d.id = t.debit_account LEFT JOIN account c ON c.id = t.credit_account
                WHERE d.id IS NULL OR c.id IS NULL
            UNION ALL SELECT 'event ' || e.seq || ' names a missing account ' || e.account FROM wallet_event e
                LEFT JOIN account a ON a.id = e.account WHERE a.id IS NULL
            """)
        try check("transfer kinds fit their accounts", """
            SELECT 'transfer ' || t.id || ' (' || t.kind || ')' FROM transfer t
            JOIN account d ON d.id = t.debit_account JOIN account c ON c.id = t.credit_account
            WHERE NOT (\(TransferKind.accountKindsFitSQL))
            """)
        try check("pending transfers resolved exactly once", """
            SELECT 'transfer ' || t.id || ': no status' FROM transfer t LEFT JOIN pending_transfer p ON p.id = t.id
                WHERE (t.flags & 2) <> 0 AND p.id IS NULL
            UNION ALL SELECT 'transfer ' || p.id || ': resolved by a transfer that does not name it' FROM pending_transfer p
                LEFT JOIN transfer r ON r.id = p.resolved_by
                WHERE p.resolved_by IS NOT NULL AND (r.id IS NULL OR r.pending_id IS DISTINCT FROM p.id
                      OR (p.status = 'posted') <> ((r.flags & 4) <> 0))
            UNION ALL SELECT 'transfer ' || r.pending_id || ': resolution ' || r.id || ' not recorded' FROM transfer r
                LEFT JOIN pending_transfer p ON p.id = r.pending_id
                WHERE r.pending_id IS NOT NULL AND p.resolved_by IS DISTINCT FROM r.id
            UNION ALL SELECT 'transfer ' || r.id || ': resolves more than it held' FROM transfer r JOIN transfer t ON t.id = r.pending_id
                WHERE r.amount > t.amount OR ((r.flags & 8) <> 0 AND r.amount <> t.amount)
                   OR r.debit_account <> t.debit_account OR r.credit_account <> t.credit_account
            """)
        try check("refunds within their payment", """
            SELECT 'payment ' || p.id || ' of ' || p.amount || ' refunded ' || SUM(r.amount) FROM transfer r JOIN transfer p ON p.id = r.refund_of
            GROUP BY p.id, p.amount HAVING SUM(r.amount) > p.amount
            """)
        try check("refunds reverse their payment", """
            SELECT 'refund ' || r.id FROM transfer r JOIN transfer p ON p.id = r.refund_of
            WHERE p.kind <> 'payment' OR r.debit_account <> p.credit_account OR r.credit_account <> p.debit_account OR r.currency <> p.currency
            """)
        // A paid order is paid by exactly its amount, to its merchant (as SQLite's audit).
        try check("orders paid exactly", """
            SELECT 'order ' || o.id FROM merchant_order o JOIN transfer t ON t.id = o.payment
            WHERE t.amount <> o.amount OR t.credit_account <> o.merchant OR t.order_id IS DISTINCT FROM o.id OR t.currency <> o.currency
            """)
        try check("payments of orders are recorded on the order", """
            SELECT 'transfer ' || t.id FROM transfer t LEFT JOIN merchant_order o ON o.payment = t.id WHERE t.order_id IS NOT NULL AND o.id IS NULL
            """)
        try check("codes spent by charges", """
            SELECT 'request ' || c.used_by FROM payment_code c JOIN request q ON q.id = c.used_by
            WHERE q.fingerprint NOT LIKE 'charge|' || c.digest || '|%'
            """)
        let totals = try conn.query("SELECT currency, SUM(debits_posted)::int8 FROM account GROUP BY currency", logger: logger).wait()
        var sums: [String: Int64] = [:]
        for row in totals {
            let (currency, total) = try row.decode((String, Int64).self)
            sums[currency] = total
        }
        let counts = try conn.query("SELECT (SELECT COUNT(*) FROM account)::int8, (SELECT COUNT(*) FROM transfer)::int8", logger: logger).wait()
        let (accounts, transfers) = try counts.first!.decode((Int64, Int64).self)
        return AuditReport(accounts: Int(accounts), transfers: Int(transfers), totals: sums, violations: violations)
    }
}
