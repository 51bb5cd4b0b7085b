import Foundation
import GRDB
import Ledger
import Payments

/// The embedded wallet ledger: one SQLite file in WAL mode with `synchronous=FULL`, so a
/// transfer that returned is on disk even if the power goes a moment later.
///
/// Every money-moving call is one `BEGIN IMMEDIATE` transaction (so several processes can share
/// the file without a lost update): it looks up the request id, then either returns the stored
/// outcome or decides, posts the balanced transfer and records the outcome, all or nothing.
public final class SQLiteLedger: LedgerStore {
    /// The file this ledger lives in.
    public let path: String
    private let pool: DatabasePool
    /// The key of the payment-code digests (table ledger_secret).
    private let codeKey: [UInt8]
    private let checkpointer: Checkpointer
    /// Groups gather for up to 0.3 ms: a commit costs 0.3–0.6 ms, and more of the clients' calls
    /// share each; the leader applies each call as it arrives meanwhile (``GroupCommit/Feed``).
    /// 0.1 and 0.6 ms measured no better (`qrpos bench ledger`, 8 clients, 6 interleaved runs
    /// each: p99 means 3.1–3.2 ms for 0.3 and 0.6 ms, all within this host's noise).
    private let groupCommit = GroupCommit(gatherWait: .microseconds(300))

    /// Opens the ledger at `path` and brings its schema up to date, creating the file if needed.
    /// With `existingOnly`, a missing file or a file that is not a qrpos ledger is an error and
    /// nothing is written (what `qrpos ledger audit` wants).
    /// The limits and velocity rules a payment from a wallet is judged by (the wallet
    /// operations take theirs from ``WalletOperations/limits``).
    public let walletLimits: @Sendable (Currency) -> WalletLimits

    public init(path: String, existingOnly: Bool = false,
                walletLimits: @escaping @Sendable (Currency) -> WalletLimits = WalletLimits.standard(for:)) throws {
        self.path = path
        self.walletLimits = walletLimits
        if existingOnly && !FileManager.default.fileExists(atPath: path) {
            throw LedgerError(.notFound, "no ledger at \(path)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        // synchronous=FULL is set on the writer by ``DurablePool``.
        config.prepareDatabase { db in
            // Checkpoints run beside the writers (``Checkpointer``), not inside a commit, where
            // they were the whole p99 of a payment. This bound only matters if that falls behind.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.walPagesMax)")
            // 64 MiB of page cache per connection (SQLite's default is 2 MiB): a batch touches
            // index pages all over the transfer table.
            try db.execute(sql: "PRAGMA cache_size = -65536")
        }
        do {
            pool = try DurablePool.open(path: path, configuration: config)
            if existingOnly {
                guard try pool.read({ try Schema.migrator.hasCompletedMigrations($0) }) else {
                    throw LedgerError(.notFound, "\(path) is not a qrpos ledger (or one from a newer qrpos)")
                }
            } else {
                try Schema.migrator.migrate(pool)
            }
            checkpointer = try Checkpointer(path: path)
            codeKey = try pool.read { db in
                guard let data = try Data.fetchOne(db, sql: "SELECT code_key FROM ledger_secret WHERE id = 1") else {
                    throw LedgerError(.storage, "the ledger at \(path) has lost its code key")
                }
                return Array(data)
            }
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError(.storage, "cannot open the ledger at \(path): \(error)")
        }
    }

    /// The journal mode and `synchronous` level the ledger's writer commits with ("wal", 2 =
    /// FULL), so a test or an operator can see the durability settings actually in force.
    public func durability() throws -> (journalMode: String, synchronous: Int) {
        try DurablePool.settings(pool)
    }

    // MARK: Accounts

    public func createWallet(name: String, phone: String?, currency: Currency, now: Int64) throws -> Account {
        let id = ShortID.make(prefix: "wal")
        return try write { db in
            if let phone, try Row.fetchOne(db, sql: "SELECT 1 FROM wallet WHERE phone = ?", arguments: [phone]) != nil {
                throw LedgerError(.invalidRequest, "a wallet with phone \(phone) already exists")
            }
            try insertAccount(db, id: id, kind: .wallet, currency: currency, name: name, now: now)
            try db.execute(sql: "INSERT INTO wallet (account_id, phone) VALUES (?, ?)", arguments: [id, phone])
            return try loadAccount(db, id)!
        }
    }

    public func createMerchant(name: String, city: String, categoryCode: String, countryCode: String,
                               currency: Currency, now: Int64) throws -> Merchant {
        try Merchant.check(categoryCode: categoryCode, countryCode: countryCode)
        let id = ShortID.make(prefix: "mer")
        return try write { db in
            try insertAccount(db, id: id, kind: .merchant, currency: currency, name: name, now: now)
            try db.execute(sql: "INSERT INTO merchant (account_id, city, category_code, country_code) VALUES (?, ?, ?, ?)",
                           arguments: [id, city, categoryCode, countryCode])
            return Merchant(id: id, name: name, city: city, categoryCode: categoryCode, countryCode: countryCode, currency: currency)
        }
    }

    public func account(_ id: String) throws -> Account? {
        try read { db in try loadAccount(db, id) }
    }

    public func merchant(_ id: String) throws -> Merchant? {
        try read { db in try loadMerchant(db, id) }
    }

    public func wallet(phone: String) throws -> Account? {
        try read { db in
            guard let id = try String.fetchOne(db, sql: "SELECT account_id FROM wallet WHERE phone = ?", arguments: [phone]) else { return nil }
            return try loadAccount(db, id)
        }
    }

    // MARK: Deposits and withdrawals

    public func deposit(requestID: String, wallet: String, amount: Money, source: DepositSource, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        return try request(requestID, fingerprint: "deposit|\(wallet)|\(amount)|\(source.rawValue)", now: now) { db in
            guard let account = try loadAccount(db, wallet), account.kind == .wallet else { return .declined(.accountUnknown) }
            guard account.currency == amount.currency else { return .declined(.currencyMismatch) }
            let settlement = try settlementAccount(db, currency: amount.currency, now: now)
            return try post(db, Transfer(id: requestID, kind: .deposit, debitAccount: settlement, creditAccount: wallet,
                                         amount: amount, refundOf: nil, orderID: nil, memo: source.rawValue, createdAt: now))
        }
    }

    public func withdraw(requestID: String, wallet: String, amount: Money, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        return try request(requestID, fingerprint: "withdraw|\(wallet)|\(amount)", now: now) { db in
            guard let account = try loadAccount(db, wallet), account.kind == .wallet else { return .declined(.accountUnknown) }
            guard account.currency == amount.currency else { return .declined(.currencyMismatch) }
            let settlement = try settlementAccount(db, currency: amount.currency, now: now)
            return try post(db, Transfer(id: requestID, kind: .withdrawal, debitAccount: wallet, creditAccount: settlement,
                                         amount: amount, refundOf: nil, orderID: nil, memo: "bank", createdAt: now))
        }
    }

    // MARK: Customer-presented codes

    public func issueCode(wallet: String, validityMillis: Int64, now: Int64) throws -> IssuedCode {
        precondition(validityMillis > 0, "a code is valid for some time")
        return try write { db in
            guard let account = try loadAccount(db, wallet), account.kind == .wallet else {
                throw LedgerError(.notFound, "no wallet \(wallet)")
            }
            var rng = SystemRandomNumberGenerator()
            // A collision with a live code is astronomically unlikely (10^15 codes); loop anyway
            // rather than hand one customer's code to another.
            while true {
                let code = PaymentCode.random(using: &rng)
                let digest = code.digest(key: codeKey)
                if try Row.fetchOne(db, sql: "SELECT 1 FROM payment_code WHERE digest = ?", arguments: [digest]) != nil { continue }
                try db.execute(sql: "INSERT INTO payment_code (digest, wallet, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                               arguments: [digest, wallet, now, now + validityMillis])
                return IssuedCode(code: code, walletID: wallet, expiresAt: now + validityMillis)
            }
        }
    }

    public func charge(requestID: String, code: PaymentCode, merchant: String, amount: Money, memo: String, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        let digest = code.digest(key: codeKey)
        let fingerprint = "charge|\(digest)|\(merchant)|\(amount)"
        return try request(requestID, fingerprint: fingerprint, now: now) { db in
            // The terminal's own mistakes (unknown merchant, wrong currency) leave the customer's
            // code unspent.
            guard let m = try loadAccount(db, merchant), m.kind == .merchant else { return .declined(.accountUnknown) }
            guard m.currency == amount.currency else { return .declined(.currencyMismatch) }
            guard let row = try Row.fetchOne(db, sql: "SELECT wallet, expires_at, used_by FROM payment_code WHERE digest = ?",
                                             arguments: [digest]) else { return .declined(.codeUnknown) }
            if row["used_by"] as String? != nil { return .declined(.codeUsed) }
            if now >= row["expires_at"] as Int64 { return .declined(.codeExpired) }
            // Spent now, whatever follows: a code is good for one presentation only, as Alipay's
            // are. The request row this points at is inserted in the same transaction.
            try db.execute(sql: "UPDATE payment_code SET used_by = ? WHERE digest = ?", arguments: [requestID, digest])
            let wallet: String = row["wallet"]
            return try pay(db, fingerprint: fingerprint, Transfer(id: requestID, kind: .payment, debitAccount: wallet, creditAccount: merchant,
                                                                  amount: amount, refundOf: nil, orderID: nil, memo: memo, createdAt: now))
        }
    }

    // MARK: Merchant-presented orders

    public func createOrder(id: String, merchant: String, amount: Money, terminalID: String, expiresAt: Int64, now: Int64) throws -> Order {
        try checkPositive(amount)
        guard expiresAt > now else { throw LedgerError(.invalidRequest, "an order must expire after it is made") }
        return try write { db in
            guard let m = try loadAccount(db, merchant), m.kind == .merchant else {
                throw LedgerError(.notFound, "no merchant \(merchant)")
            }
            guard m.currency == amount.currency else {
                throw LedgerError(.invalidRequest, "merchant \(merchant) takes \(m.currency.code), not \(amount.currency.code)")
            }
            if let existing = try loadOrder(db, id, now: now) {
                // Idempotent like every request: the same order again is the same order.
                guard existing.merchantID == merchant, existing.amount == amount, existing.terminalID == terminalID,
                      existing.expiresAt == expiresAt else {
                    throw LedgerError(.idConflict, "order \(id) already exists with other fields")
                }
                return existing
            }
            try db.execute(sql: """
                INSERT INTO merchant_order (id, merchant, amount, currency, terminal, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, merchant, amount.minorUnits, amount.currency.code, terminalID, now, expiresAt])
            return try loadOrder(db, id, now: now)!
        }
    }

    public func order(_ id: String, now: Int64) throws -> Order? {
        try read { db in try loadOrder(db, id, now: now) }
    }

    public func cancelOrder(_ id: String, now: Int64) throws -> Order {
        try write { db in
            guard let order = try loadOrder(db, id, now: now) else { throw LedgerError(.notFound, "no order \(id)") }
            if order.paymentID == nil {
                try db.execute(sql: "UPDATE merchant_order SET cancelled_at = COALESCE(cancelled_at, ?) WHERE id = ?", arguments: [now, id])
            }
            return try loadOrder(db, id, now: now)!
        }
    }

    public func payOrder(requestID: String, orderID: String, wallet: String, merchant: String, amount: Money, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        let fingerprint = "pay|\(orderID)|\(wallet)|\(merchant)|\(amount)"
        return try request(requestID, fingerprint: fingerprint, now: now) { db in
            guard let order = try loadOrder(db, orderID, now: now) else { return .declined(.orderUnknown) }
            if let refusal = order.refusal(merchant: merchant, amount: amount) { return .declined(refusal) }
            guard let w = try loadAccount(db, wallet), w.kind == .wallet else { return .declined(.accountUnknown) }
            guard w.currency == amount.currency else { return .declined(.currencyMismatch) }
            let result = try pay(db, fingerprint: fingerprint, Transfer(id: requestID, kind: .payment, debitAccount: wallet, creditAccount: merchant,
                                                                        amount: amount, refundOf: nil, orderID: orderID, memo: "order \(orderID)",
                                                                        createdAt: now))
            if case .posted = result {
                try db.execute(sql: "UPDATE merchant_order SET payment = ? WHERE id = ? AND payment IS NULL", arguments: [requestID, orderID])
                precondition(db.changesCount == 1, "order \(orderID) was paid twice")
            }
            return result
        }
    }

    // MARK: Refunds

    public func refund(requestID: String, payment: String, merchant: String, amount: Money, now: Int64) throws -> Outcome {
        try checkPositive(amount)
        return try request(requestID, fingerprint: "refund|\(payment)|\(merchant)|\(amount)", now: now) { db in
            // A payment taken offline is settled in up to two transfers (WalletOperations'
            // settleOfflinePayment): `payment` from the certificate's allowance and
            // `payment.wallet` from the wallet. A refund takes back the wallet's part first.
            let parts = try WalletOperations.paymentParts(payment).compactMap { try loadTransfer(db, $0) }
            guard !parts.isEmpty, parts.allSatisfy({ $0.kind == .payment }) else { return .declined(.notAPayment) }
            guard parts.allSatisfy({ $0.creditAccount == merchant }) else { return .declined(.merchantMismatch) }
            guard parts[0].amount.currency == amount.currency else { return .declined(.currencyMismatch) }
            guard let legs = try WalletOperations.refundLegs(
                requestID: requestID, payment: payment, parts: parts, merchant: merchant, amount: amount,
                refunded: { try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(amount), 0) FROM transfer WHERE refund_of = ?", arguments: [$0]) ?? 0 },
                allowanceOwner: { try offlineAllowanceOwner(db, $0) }, now: now) else { return .declined(.refundExceedsPayment) }
            return try post(db, legs)
        }
    }

    /// The wallet an offline allowance account was reserved from (its reservation's payer); nil
    /// for any other account.
    private func offlineAllowanceOwner(_ db: Database, _ account: String) throws -> String? {
        guard account.hasPrefix("off_") else { return nil }
        return try String.fetchOne(db, sql: """
            SELECT debit_account FROM transfer WHERE credit_account = ? AND kind = 'transfer' ORDER BY created_at, id LIMIT 1
            """, arguments: [account])
    }

    // MARK: Reading

    public func transfer(_ id: String) throws -> Transfer? {
        try read { db in try loadTransfer(db, id) }
    }

    public func history(account: String, limit: Int) throws -> [Transfer] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(SQLiteRows.transferColumns) FROM transfer WHERE debit_account = ? OR credit_account = ?
                ORDER BY created_at DESC, id DESC LIMIT ?
                """, arguments: [account, account, limit]).map { try SQLiteRows.transfer($0) }
        }
    }

    public func transferIDs() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT id FROM transfer") }
    }

    // MARK: Audit

    public func audit() throws -> AuditReport {
        try read { db in
            var violations: [Violation] = []
            func flag(_ check: String, _ rows: [Row], _ describe: (Row) -> String) {
                violations += rows.map { Violation(check: check, detail: describe($0)) }
            }
            // Debits equal credits, per currency, posted and pending.
            let totals = try Row.fetchAll(db, sql: """
                SELECT currency, SUM(debits_posted) AS d, SUM(credits_posted) AS c,
                       SUM(debits_pending) AS dp, SUM(credits_pending) AS cp FROM account GROUP BY currency
                """)
            for row in totals where (row["d"] as Int64) != (row["c"] as Int64) || (row["dp"] as Int64) != (row["cp"] as Int64) {
                violations.append(Violation(check: "debits equal credits",
                                            detail: "\(row["currency"] as String): posted debits \(row["d"] as Int64), credits \(row["c"] as Int64); pending \(row["dp"] as Int64), \(row["cp"] as Int64)"))
            }
            // Every account's four totals are the sums of its transfers: posted from the
            // single-phase transfers and posts (a void moves nothing), pending from the holds
            // still pending.
            flag("balances match transfers", try Row.fetchAll(db, sql: """
                WITH moved AS (
                    SELECT debit_account AS account, amount AS d, 0 AS c, 0 AS dp, 0 AS cp FROM transfer WHERE (flags & 10) = 0
                    UNION ALL SELECT credit_account, 0, amount, 0, 0 FROM transfer WHERE (flags & 10) = 0
                    UNION ALL SELECT t.debit_account, 0, 0, t.amount, 0 FROM transfer t JOIN pending_transfer p ON p.id = t.id WHERE p.status = 'pending'
                    UNION ALL SELECT t.credit_account, 0, 0, 0, t.amount FROM transfer t JOIN pending_transfer p ON p.id = t.id WHERE p.status = 'pending'
                ), sums AS (SELECT account, SUM(d) AS d, SUM(c) AS c, SUM(dp) AS dp, SUM(cp) AS cp FROM moved GROUP BY account)
                SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
                       COALESCE(s.d, 0) AS d, COALESCE(s.c, 0) AS c, COALESCE(s.dp, 0) AS dp, COALESCE(s.cp, 0) AS cp
                FROM account a LEFT JOIN sums s ON s.account = a.id
                WHERE a.debits_posted <> COALESCE(s.d, 0) OR a.credits_posted <> COALESCE(s.c, 0)
                   OR a.debits_pending <> COALESCE(s.dp, 0) OR a.credits_pending <> COALESCE(s.cp, 0)
                """)) { "account \($0["id"] as String): stored \($0["debits_pending"] as Int64)/\($0["debits_posted"] as Int64)/\($0["credits_pending"] as Int64)/\($0["credits_posted"] as Int64) (pending/posted debits, pending/posted credits), transfers sum to \($0["dp"] as Int64)/\($0["d"] as Int64)/\($0["cp"] as Int64)/\($0["c"] as Int64)" }
            // No balance past its flag, holds included.
            flag("no balance past its flag", try Row.fetchAll(db, sql: """
                SELECT id, debits_pending + debits_posted AS d, credits_pending + credits_posted AS c FROM account
                WHERE ((flags & 1) <> 0 AND debits_pending + debits_posted > credits_posted)
                   OR ((flags & 2) <> 0 AND credits_pending + credits_posted > debits_posted)
                """)) { "account \($0["id"] as String): debits \($0["d"] as Int64), credits \($0["c"] as Int64)" }
            // Every transfer is in its accounts' currency.
            flag("currencies agree", try Row.fetchAll(db, sql: """
                SELECT t.id FROM transfer t JOIN account d ON d.id = t.debit_account JOIN account c ON c.id = t.credit_account
                WHERE t.currency <> d.currency OR t.currency <> c.currency
                """)) { "transfer \($0["id"] as String)" }
            // Every transfer and event names an account that exists (the schema's foreign keys
            // say so too here; PostgreSQL's ledger relies on the engine and this check).
            flag("transfers and events name existing accounts", try Row.fetchAll(db, sql: """
                SELECT 'transfer ' || t.id AS what FROM transfer t
                    LEFT JOIN account d ON d.id = t.debit_account LEFT JOIN account c ON c.id = t.credit_account
                    WHERE d.id IS NULL OR c.id IS NULL
                UNION ALL SELECT 'event ' || e.seq || ' of ' || e.account FROM wallet_event e
                    LEFT JOIN account a ON a.id = e.account WHERE a.id IS NULL
                """)) { "\($0["what"] as String) names a missing account" }
            // Transfers connect the right kinds of account.
            flag("transfer kinds fit their accounts", try Row.fetchAll(db, sql: """
                SELECT t.id, t.kind FROM transfer t JOIN account d ON d.id = t.debit_account JOIN account c ON c.id = t.credit_account
                WHERE NOT (\(TransferKind.accountKindsFitSQL))
                """)) { "transfer \($0["id"] as String) (\($0["kind"] as String))" }
            // Every pending transfer is posted, voided or expired exactly once: its status row
            // exists, names the transfer that resolved it, and that transfer names it back.
            flag("pending transfers resolved exactly once", try Row.fetchAll(db, sql: """
                SELECT t.id AS id, 'no status' AS why FROM transfer t LEFT JOIN pending_transfer p ON p.id = t.id
                    WHERE (t.flags & 2) <> 0 AND p.id IS NULL
                UNION ALL SELECT p.id, 'status without a pending transfer' FROM pending_transfer p JOIN transfer t ON t.id = p.id
                    WHERE (t.flags & 2) = 0
                UNION ALL SELECT p.id, 'resolved by a transfer that does not name it' FROM pending_transfer p
                    LEFT JOIN transfer r ON r.id = p.resolved_by
                    WHERE p.resolved_by IS NOT NULL AND (r.id IS NULL OR r.pending_id IS NOT p.id
                          OR (p.status = 'posted') <> ((r.flags & 4) <> 0))
                UNION ALL SELECT r.pending_id, 'resolution ' || r.id || ' not recorded' FROM transfer r
                    LEFT JOIN pending_transfer p ON p.id = r.pending_id
                    WHERE r.pending_id IS NOT NULL AND (p.resolved_by IS NOT r.id)
                UNION ALL SELECT r.id, 'resolves more than it held' FROM transfer r JOIN transfer t ON t.id = r.pending_id
                    WHERE r.amount > t.amount OR ((r.flags & 8) <> 0 AND r.amount <> t.amount)
                       OR r.debit_account <> t.debit_account OR r.credit_account <> t.credit_account
                """)) { "transfer \($0["id"] as String): \($0["why"] as String)" }
            // Refunds never above their payment, and back along the same path.
            flag("refunds within their payment", try Row.fetchAll(db, sql: """
                SELECT p.id, p.amount, SUM(r.amount) AS refunded FROM transfer r JOIN transfer p ON p.id = r.refund_of
                GROUP BY p.id HAVING SUM(r.amount) > p.amount
                """)) { "payment \($0["id"] as String) of \($0["amount"] as Int64) refunded \($0["refunded"] as Int64)" }
            flag("refunds reverse their payment", try Row.fetchAll(db, sql: """
                SELECT r.id FROM transfer r JOIN transfer p ON p.id = r.refund_of
                WHERE p.kind <> 'payment' OR r.debit_account <> p.credit_account OR r.credit_account <> p.debit_account OR r.currency <> p.currency
                """)) { "refund \($0["id"] as String)" }
            // A paid order is paid by exactly its amount, to its merchant.
            flag("orders paid exactly", try Row.fetchAll(db, sql: """
                SELECT o.id FROM merchant_order o JOIN transfer t ON t.id = o.payment
                WHERE t.amount <> o.amount OR t.credit_account <> o.merchant OR t.order_id IS NOT o.id OR t.currency <> o.currency
                """)) { "order \($0["id"] as String)" }
            flag("payments of orders are recorded on the order", try Row.fetchAll(db, sql: """
                SELECT t.id FROM transfer t LEFT JOIN merchant_order o ON o.payment = t.id WHERE t.order_id IS NOT NULL AND o.id IS NULL
                """)) { "transfer \($0["id"] as String)" }
            // A code is spent at most once (UNIQUE), and only by a request for a charge.
            flag("codes spent by charges", try Row.fetchAll(db, sql: """
                SELECT c.used_by FROM payment_code c JOIN request q ON q.id = c.used_by WHERE q.fingerprint NOT LIKE 'charge|' || c.digest || '|%'
                """)) { "request \($0["used_by"] as String)" }

            let accounts = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM account") ?? 0
            let transfers = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM transfer") ?? 0
            var sums: [String: Int64] = [:]
            for row in totals { sums[row["currency"]] = row["d"] }
            return AuditReport(accounts: accounts, transfers: transfers, totals: sums, violations: violations)
        }
    }

    // MARK: Private

    private func checkPositive(_ amount: Money) throws {
        guard amount.minorUnits > 0 else { throw LedgerError(.invalidRequest, "amount must be positive, not \(amount)") }
        guard amount.minorUnits <= LedgerLimits.transferAmountMax else {
            throw LedgerError(.invalidRequest, "\(amount) is above the ledger's limit for one transfer")
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, mapping failures to ``LedgerError``.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            var result: T?
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
            }
            checkpointer.committed()
            return result!
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError(.storage, "ledger write failed: \(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError(.storage, "ledger read failed: \(error)")
        }
    }

    /// Runs one money-moving request exactly once: a known id returns its stored outcome (or an
    /// id conflict), a new one runs `decide` and records what it returned, in one transaction.
    private func request(_ id: String, fingerprint: String, now: Int64,
                         decide: (Database) throws -> Outcome.Result) throws -> Outcome {
        guard !id.isEmpty, id.count <= 64 else { throw LedgerError(.invalidRequest, "a request id is 1 to 64 characters") }
        return try write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT fingerprint, transfer_id, decline FROM request WHERE id = ?", arguments: [id]) {
                guard row["fingerprint"] as String == fingerprint else {
                    throw LedgerError(.idConflict, "request \(id) was already made with other fields")
                }
                if let transferID = row["transfer_id"] as String? {
                    guard let transfer = try loadTransfer(db, transferID) else {
                        throw LedgerError(.storage, "request \(id) points at a missing transfer \(transferID)")
                    }
                    return Outcome(requestID: id, result: .posted(transfer), replayed: true)
                }
                return Outcome(requestID: id, result: .declined(try decode(Decline.self, row["decline"], "request \(id)")), replayed: true)
            }
            let result = try decide(db)
            switch result {
            case .posted(let transfer):
                try db.execute(sql: "INSERT INTO request (id, fingerprint, transfer_id, created_at) VALUES (?, ?, ?, ?)",
                               arguments: [id, fingerprint, transfer.id, now])
            case .declined(let decline):
                try db.execute(sql: "INSERT INTO request (id, fingerprint, decline, created_at) VALUES (?, ?, ?, ?)",
                               arguments: [id, fingerprint, decline.rawValue, now])
            }
            return Outcome(requestID: id, result: result, replayed: false)
        }
    }

    /// A payment from a wallet to a merchant, judged by the wallet's limits first (``WalletOperations/payment(_:_:fingerprint:limits:post:)``).
    private func pay(_ db: Database, fingerprint: String, _ payment: Transfer) throws -> Outcome.Result {
        try WalletOperations.payment(SQLiteTransaction(db: db, now: payment.createdAt), payment, fingerprint: fingerprint,
                                     limits: walletLimits(payment.amount.currency)) { try post(db, payment) }
    }

    /// Posts one transfer through the engine, in the request's transaction: applied and
    /// written, or declined with the reason a cashier sees.
    private func post(_ db: Database, _ transfer: Transfer) throws -> Outcome.Result {
        try post(db, [transfer])
    }

    /// Applies a linked chain (or one transfer) and maps the engine's answer to an outcome.
    private func post(_ db: Database, _ chain: [Transfer]) throws -> Outcome.Result {
        let results = try SQLiteTransaction(db: db, now: chain[0].createdAt).apply(chain)
        return try Outcome.Result(chain: results, id: chain[0].id) { try loadAccount(db, chain[0].debitAccount)?.kind }
    }

    // MARK: Transfers as the engine takes them

    public func createTransfers(_ batch: [Transfer], now: Int64) throws -> [TransferResult] {
        guard batch.count <= LedgerLimits.batchCountMax else {
            throw LedgerError(.invalidRequest, "a batch holds at most \(LedgerLimits.batchCountMax) transfers, not \(batch.count)")
        }
        return try groupCommit.submit(batch, now: now, feeding: { feed in
            try write { db in
                // One set of statements for the group: each call's batch applies in its own
                // SQLiteTransaction view, which only differs in `now`.
                let statements = LedgerStatements(db)
                var results: [[TransferResult]] = []
                while let slot = feed.next() {
                    results.append(try SQLiteTransaction(db: db, now: slot.now, statements: statements).apply(slot.batch))
                }
                return results
            }
        })
    }

    public func expirePending(now: Int64) throws -> [String] {
        try write { db in
            let due = try String.fetchAll(db, sql: """
                SELECT id FROM pending_transfer WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?
                ORDER BY expires_at, id LIMIT ?
                """, arguments: [now, LedgerLimits.batchCountMax])
            return try SQLiteTransaction(db: db, now: now).expire(due)
        }
    }

    public func pendingStatus(_ id: String) throws -> PendingStatus? {
        try read { db in
            var reader = SQLiteReader(db: db)
            return try reader.pendingStatus(id)
        }
    }

    public func events(after seq: Int64, account: String?, limit: Int) throws -> [WalletEvent] {
        try read { db in
            // One wallet's through its index (account, seq); `? IS NULL OR account = ?` would scan
            // every event after the cursor, and a follower asks ten times a second.
            let rows = try account.map {
                try Row.fetchAll(db, sql: "SELECT * FROM wallet_event WHERE account = ? AND seq > ? ORDER BY seq LIMIT ?", arguments: [$0, seq, limit])
            } ?? Row.fetchAll(db, sql: "SELECT * FROM wallet_event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
            return try rows.map { row in
                WalletEvent(seq: row["seq"], account: row["account"], transfer: row["transfer"], kind: row["kind"],
                            delta: Money(minorUnits: row["delta"], currency: try SQLiteRows.currency(row["currency"], "event")),
                            available: row["available"], balance: row["balance"], createdAt: row["created_at"])
            }
        }
    }

    private func insertAccount(_ db: Database, id: String, kind: AccountKind, currency: Currency, name: String, now: Int64) throws {
        try db.execute(sql: "INSERT INTO account (id, kind, currency, name, flags, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [id, kind.rawValue, currency.code, name, Account.flags(for: kind).rawValue, now])
    }

    /// The one settlement account of a currency (bank and cash), made on first use.
    private func settlementAccount(_ db: Database, currency: Currency, now: Int64) throws -> String {
        let id = "settlement-" + currency.code
        if try loadAccount(db, id) == nil {
            try insertAccount(db, id: id, kind: .settlement, currency: currency, name: "Settlement (bank and cash) \(currency.code)", now: now)
        }
        return id
    }

    private func loadAccount(_ db: Database, _ id: String) throws -> Account? {
        var reader = SQLiteReader(db: db)
        return try reader.account(id)
    }

    private func loadMerchant(_ db: Database, _ id: String) throws -> Merchant? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT a.id, a.name, a.currency, m.city, m.category_code, m.country_code
            FROM merchant m JOIN account a ON a.id = m.account_id WHERE a.id = ?
            """, arguments: [id]) else { return nil }
        return Merchant(id: row["id"], name: row["name"], city: row["city"], categoryCode: row["category_code"],
                        countryCode: row["country_code"], currency: try currency(row["currency"], "merchant \(id)"))
    }

    private func loadTransfer(_ db: Database, _ id: String) throws -> Transfer? {
        var reader = SQLiteReader(db: db)
        return try reader.transfer(id)
    }

    private func loadOrder(_ db: Database, _ id: String, now: Int64) throws -> Order? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM merchant_order WHERE id = ?", arguments: [id]) else { return nil }
        let payment: String? = row["payment"]
        let expiresAt: Int64 = row["expires_at"]
        let cancelled = row["cancelled_at"] as Int64? != nil
        let status: Order.Status = payment != nil ? .paid : (cancelled || now >= expiresAt ? .expired : .open)
        return Order(id: row["id"], merchantID: row["merchant"],
                     amount: Money(minorUnits: row["amount"], currency: try currency(row["currency"], "order \(id)")),
                     terminalID: row["terminal"], createdAt: row["created_at"], expiresAt: expiresAt,
                     paymentID: payment, status: status)
    }

    private func decode<T: RawRepresentable>(_ type: T.Type, _ raw: String, _ row: String) throws -> T where T.RawValue == String {
        try SQLiteRows.decode(type, raw, row)
    }

    private func currency(_ code: String, _ row: String) throws -> Currency {
        try SQLiteRows.currency(code, row)
    }
}
