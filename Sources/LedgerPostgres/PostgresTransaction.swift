import Ledger
import Logging
import Payments
import PostgresNIO

/// The engine's view of the PostgreSQL ledger inside one transaction. With `lock`, accounts are
/// read `FOR UPDATE` (prefetched in id order), and so are pending transfers' statuses: what the
/// engine decides on stays true until the commit.
final class PostgresReader: LedgerReading {
    let conn: PostgresConnection
    let logger: Logger
    let lock: Bool
    private var accounts: [String: Account?] = [:]
    private var transfers: [String: Transfer?] = [:]

    init(conn: PostgresConnection, logger: Logger, lock: Bool = true) {
        self.conn = conn
        self.logger = logger
        self.lock = lock
    }

    private var forUpdate: String { lock ? " FOR UPDATE" : "" }

    /// Loads what `batch` names in two queries sent together (one wait): its transfers and the
    /// holds it resolves, and every account involved (the holds' too), locked in id order.
    func prefetch(_ batch: [Transfer]) throws {
        let transferIDs = Array(Set(batch.map(\.id) + batch.compactMap(\.pendingID)))
        let pendingIDs = Array(Set(batch.compactMap(\.pendingID)))
        let ids = Array(Set(batch.flatMap { [$0.debitAccount, $0.creditAccount] })).sorted()
        let transferQuery = conn.query("""
            SELECT \(unescaped: PostgresRows.transferColumns) FROM transfer WHERE id = ANY(\(transferIDs))
            """, logger: logger)
        // (The holds' accounts only when the batch resolves holds: the subquery costs the
        // planner more than the whole single-payment lookup.)
        let accountQuery = pendingIDs.isEmpty
            ? conn.query("""
                SELECT \(unescaped: PostgresRows.accountColumns) FROM account WHERE id = ANY(\(ids)) ORDER BY id\(unescaped: forUpdate)
                """, logger: logger)
            : conn.query("""
                SELECT \(unescaped: PostgresRows.accountColumns) FROM account
                WHERE id = ANY(\(ids)) OR id IN (SELECT debit_account FROM transfer WHERE id = ANY(\(pendingIDs))
                                                UNION SELECT credit_account FROM transfer WHERE id = ANY(\(pendingIDs)))
                ORDER BY id\(unescaped: forUpdate)
                """, logger: logger)
        for t in try transferQuery.wait().map(PostgresRows.transfer) { transfers[t.id] = .some(t) }
        for id in transferIDs where transfers[id] == nil { transfers[id] = .some(nil) }
        for a in try accountQuery.wait().map(PostgresRows.account) { accounts[a.id] = .some(a) }
        for id in ids where accounts[id] == nil { accounts[id] = .some(nil) }
    }

    func account(_ id: String) throws -> Account? {
        if let known = accounts[id] { return known }
        let a = try conn.query("SELECT \(unescaped: PostgresRows.accountColumns) FROM account WHERE id = \(id)\(unescaped: forUpdate)",
                               logger: logger).wait().first.map(PostgresRows.account)
        accounts[id] = .some(a)
        return a
    }

    func transfer(_ id: String) throws -> Transfer? {
        if let known = transfers[id] { return known }
        let t = try conn.query("SELECT \(unescaped: PostgresRows.transferColumns) FROM transfer WHERE id = \(id)",
                               logger: logger).wait().first.map(PostgresRows.transfer)
        transfers[id] = .some(t)
        return t
    }

    func pendingStatus(_ id: String) throws -> PendingStatus? {
        guard let row = try conn.query("""
            SELECT status, resolved_by, resolved_at FROM pending_transfer WHERE id = \(id)\(unescaped: forUpdate)
            """, logger: logger).wait().first else { return nil }
        let (status, by, at) = try row.decode((String, String?, Int64?).self)
        switch status {
        case "pending": return .pending
        case "posted": return .posted(by: by ?? "")
        case "voided": return .voided(by: by ?? "")
        case "expired": return .expired(at: at ?? 0)
        default: throw LedgerError(.storage, "pending transfer \(id) has an unknown status '\(status)'")
        }
    }
}

/// The engine's view of the ledger from ``PostgresLedger``'s cache of accounts, with no query:
/// an account not cached, a transfer other than the batch's own (assumed new), or a hold's
/// status, and it gives up (``NeedsLock``) so the store takes the locked path. What it served
/// is checked under lock before the write commits (``PostgresTransaction/sendCommitExpected(_:logger:expected:changes:now:)``).
final class CachedAccountReader: LedgerReading {
    struct NeedsLock: Error {}
    private let lookup: (String) -> Account?
    private let newTransferIDs: Set<String>
    /// Every account served, as served.
    private(set) var served: [String: Account] = [:]

    init(newTransferIDs: Set<String>, lookup: @escaping (String) -> Account?) {
        self.newTransferIDs = newTransferIDs
        self.lookup = lookup
    }

    func account(_ id: String) throws -> Account? {
        if let known = served[id] { return known }
        guard let cached = lookup(id) else { throw NeedsLock() }
        served[id] = cached
        return cached
    }

    func transfer(_ id: String) throws -> Transfer? {
        guard newTransferIDs.contains(id) else { throw NeedsLock() }
        return nil
    }

    func pendingStatus(_ id: String) throws -> PendingStatus? { throw NeedsLock() }
}

/// A ``LedgerTransaction`` over one PostgreSQL transaction.
final class PostgresTransaction: LedgerTransaction {
    /// Each apply writes at once here: PostgreSQL's path is not the one batches of offline
    /// payments are measured on, and its reads are already per statement.
    func deferringWrites<T>(_ body: () throws -> T) throws -> T { try body() }

    let conn: PostgresConnection
    let logger: Logger
    let now: Int64
    /// Writes sent and not yet answered (see ``apply(group:)``).
    private(set) var unanswered: [EventLoopFuture<PostgresQueryResult>] = []
    /// Every account this transaction wrote, as each write left it, in order: what the store's
    /// cache learns once the transaction has committed.
    private(set) var changedAccounts: [Account] = []

    init(conn: PostgresConnection, logger: Logger, now: Int64) {
        self.conn = conn
        self.logger = logger
        self.now = now
    }

    func account(_ id: String) throws -> Account? { try PostgresReader(conn: conn, logger: logger).account(id) }
    func transfer(_ id: String) throws -> Transfer? { try PostgresReader(conn: conn, logger: logger).transfer(id) }
    func pendingStatus(_ id: String) throws -> PendingStatus? { try PostgresReader(conn: conn, logger: logger).pendingStatus(id) }

    func apply(_ batch: [Transfer]) throws -> [TransferResult] {
        let reader = PostgresReader(conn: conn, logger: logger)
        try reader.prefetch(batch)
        var engine = LedgerEngine(reader: reader)
        let results = try engine.apply(batch, now: now)
        try write(engine.changes)
        return results
    }

    /// Several callers' batches in one engine run, one prefetch and one write: what group commit
    /// sends in one transaction. Each batch keeps its own chains and results. The write is sent
    /// but its answer left in ``unanswered``, to be checked together with the commit's
    /// (``PostgresLedger/inPipelinedTransaction(_:)``).
    func apply(group: [(batch: [Transfer], now: Int64)]) throws -> [[TransferResult]] {
        let reader = PostgresReader(conn: conn, logger: logger)
        try reader.prefetch(group.flatMap(\.batch))
        var engine = LedgerEngine(reader: reader)
        var results: [[TransferResult]] = []
        for (batch, now) in group { results.append(try engine.apply(batch, now: now)) }
        if let sent = send(engine.changes) { unanswered.append(sent) }
        return results
    }

    func expire(_ pendingIDs: [String]) throws -> [String] {
        var engine = LedgerEngine(reader: PostgresReader(conn: conn, logger: logger))
        let released = try engine.expire(pendingIDs, now: now)
        try write(engine.changes)
        return released
    }

    func walletID(phone: String) throws -> String? {
        try conn.query("SELECT account_id FROM wallet WHERE phone = \(phone)", logger: logger).wait().first?.decode(String.self)
    }

    func debits(of account: String, kinds: Set<TransferKind>, since: Int64) throws -> (count: Int, sum: Int64) {
        // The wallet's row is locked first: two debits of one wallet check their limits one
        // after the other, never both against the same history.
        _ = try self.account(account)
        let kindNames = kinds.map(\.rawValue).sorted()
        let row = try conn.query("""
            SELECT COUNT(*)::int8, COALESCE(SUM(t.amount), 0)::int8 FROM transfer t
            LEFT JOIN pending_transfer p ON p.id = t.id
            WHERE t.debit_account = \(account) AND t.created_at >= \(since) AND t.kind = ANY(\(kindNames)) AND (t.flags & 12) = 0
              AND (p.id IS NULL OR p.status IN ('pending', 'posted'))
            """, logger: logger).wait().first!
        let (count, sum) = try row.decode((Int64, Int64).self)
        return (Int(count), sum)
    }

    func corrected(_ transfer: Transfer) throws -> Int64 {
        // The account a correction debits is locked first: two corrections of one transfer at
        // once are judged one after the other, the second seeing the first's (READ COMMITTED
        // reads what committed before each statement).
        _ = try account(transfer.creditAccount)
        let prefix = WalletOperations.correctionMemoPrefix(transfer.id)
        return try conn.query("""
            SELECT COALESCE(SUM(amount), 0)::int8 FROM transfer
            WHERE debit_account = \(transfer.creditAccount) AND created_at >= \(transfer.createdAt - WalletOperations.correctionClockSlackMillis)
              AND credit_account = \(transfer.debitAccount)
              AND kind = 'correction' AND starts_with(memo, \(prefix))
            """, logger: logger).wait().first!.decode(Int64.self)
    }

    func storedDecline(_ requestID: String) throws -> (fingerprint: String, decline: Decline)? {
        guard let row = try conn.query("SELECT fingerprint, decline FROM wallet_decline WHERE request_id = \(requestID)",
                                       logger: logger).wait().first else { return nil }
        let (fingerprint, raw) = try row.decode((String, String).self)
        guard let decline = Decline(rawValue: raw) else { throw LedgerError(.storage, "declined request \(requestID) has an unknown reason '\(raw)'") }
        return (fingerprint, decline)
    }

    func recordDecline(requestID: String, fingerprint: String, wallet: String?, decline: Decline) throws {
        _ = try conn.query("""
            INSERT INTO wallet_decline (request_id, fingerprint, wallet, decline, created_at)
            VALUES (\(requestID), \(fingerprint), \(wallet), \(decline.rawValue), \(now))
            """, logger: logger).wait()
    }

    func declineCount(of wallet: String, since: Int64) throws -> Int {
        let row = try conn.query("SELECT COUNT(*)::int8 FROM wallet_decline WHERE wallet = \(wallet) AND created_at >= \(since)",
                                 logger: logger).wait().first!
        return Int(try row.decode(Int64.self))
    }

    func offlineCounterUses(serial: String, counter: Int64) throws -> [String] {
        try conn.query("SELECT payment FROM offline_counter WHERE certificate = \(serial) AND counter = \(counter) ORDER BY payment",
                       logger: logger).wait().map { try $0.decode(String.self) }
    }

    func heldOfflineReservations(limit: Int) throws -> [Transfer] {
        let (from, below) = Self.offlineAccountRange
        return try conn.query("""
            SELECT \(unescaped: PostgresRows.transferColumns) FROM transfer WHERE kind = 'transfer' AND credit_account IN (
                SELECT id FROM account WHERE id >= \(from) AND id < \(below) AND credits_posted > debits_posted + debits_pending)
            AND id NOT LIKE '%.%'
            ORDER BY created_at, id LIMIT \(limit)
            """, logger: logger).wait().map(PostgresRows.transfer)
    }

    func recordOfflineCounter(serial: String, counter: Int64, payment: String) throws {
        _ = try conn.query("""
            INSERT INTO offline_counter (certificate, counter, payment, created_at) VALUES (\(serial), \(counter), \(payment), \(now))
            ON CONFLICT DO NOTHING
            """, logger: logger).wait()
    }

    func ensureAccount(id: String, kind: AccountKind, currency: Currency, name: String) throws {
        _ = try conn.query("""
            INSERT INTO account (id, kind, currency, name, flags, created_at)
            VALUES (\(id), \(kind.rawValue), \(currency.code), \(name), \(Account.flags(for: kind).rawValue), \(now))
            ON CONFLICT (id) DO NOTHING
            """, logger: logger).wait()
        guard let made = try PostgresReader(conn: conn, logger: logger, lock: false).account(id), made.kind == kind, made.currency == currency else {
            throw LedgerError(.invalidRequest, "account \(id) exists as another kind or currency")
        }
    }

    /// Writes what the engine changed in one call whatever the batch's size: arrays bound as
    /// parameters, unnested by the server function `qrpos_write` (``PostgresSchema``).
    func write(_ changes: LedgerChanges) throws {
        _ = try send(changes)?.wait()
    }

    /// Sends ``write(_:)``'s query without waiting for its answer; nil when there is nothing to
    /// write. `qrpos_write` raises an error, aborting the transaction, if any account or hold
    /// it updates was not updated exactly once: the engine read those rows under lock in this
    /// transaction, so anything else is a bug, and it must not commit.
    func send(_ changes: LedgerChanges) -> EventLoopFuture<PostgresQueryResult>? {
        if changes.accounts.isEmpty && changes.transfers.isEmpty && changes.resolved.isEmpty { return nil }
        changedAccounts += changes.accounts.values
        var binds = PostgresBindings()
        Self.appendWrite(changes, now: now, to: &binds)
        return conn.query(PostgresQuery(unsafeSQL: "SELECT qrpos_write(\(Self.placeholders(1...binds.count)))", binds: binds), logger: logger)
    }

    /// Sends, outside any transaction block, one call that is a whole transaction: lock the
    /// accounts `expected` (as they were read, not locked) in id order and check each is
    /// unchanged, write `changes`, and commit (the procedure ``PostgresSchema/commitExpectedProcedure``).
    /// Its answer comes after the commit, so a success is durable; a changed account answers a
    /// serialization failure (40001) with nothing written.
    static func sendCommitExpected(_ conn: PostgresConnection, logger: Logger, expected: [Account], changes: LedgerChanges,
                                   now: Int64) -> EventLoopFuture<PostgresQueryResult> {
        let sorted = expected.sorted { $0.id < $1.id }
        var binds = PostgresBindings()
        binds.append(sorted.map(\.id))
        binds.append(sorted.map(\.debitsPending))
        binds.append(sorted.map(\.debitsPosted))
        binds.append(sorted.map(\.creditsPending))
        binds.append(sorted.map(\.creditsPosted))
        appendWrite(changes, now: now, to: &binds)
        return conn.query(PostgresQuery(unsafeSQL: "CALL qrpos_commit_expected(NULL, \(placeholders(1...binds.count)))", binds: binds),
                          logger: logger)
    }

    private static func placeholders(_ numbers: ClosedRange<Int>) -> String {
        numbers.map { "$\($0)" }.joined(separator: ", ")
    }

    /// `qrpos_write`'s 32 arguments: the engine's changes as arrays, one per column.
    private static func appendWrite(_ changes: LedgerChanges, now: Int64, to binds: inout PostgresBindings) {
        let accounts = Array(changes.accounts.values)
        let ts = changes.transfers
        let holds = ts.filter { $0.flags.contains(.pending) }
        let resolved = changes.resolved.filter { $0.value != .pending }.sorted { $0.key < $1.key }
        let rStatus = resolved.map { r -> String in
            switch r.value {
            case .posted: "posted"
            case .voided: "voided"
            case .expired, .pending: "expired"
            }
        }
        let rBy = resolved.map { r -> String in
            switch r.value {
            case .posted(let by), .voided(let by): by
            case .expired, .pending: ""
            }
        }
        let rAt = resolved.map { r -> Int64 in if case .expired(let at) = r.value { at } else { now } }
        let ps = changes.postings.filter { $0.account.kind == .wallet }
        binds.append(accounts.map(\.id))
        binds.append(accounts.map(\.debitsPending))
        binds.append(accounts.map(\.debitsPosted))
        binds.append(accounts.map(\.creditsPending))
        binds.append(accounts.map(\.creditsPosted))
        binds.append(ts.map(\.id))
        binds.append(ts.map(\.kind.rawValue))
        binds.append(ts.map(\.debitAccount))
        binds.append(ts.map(\.creditAccount))
        binds.append(ts.map(\.amount.minorUnits))
        binds.append(ts.map(\.amount.currency.code))
        binds.append(ts.map { Int64($0.flags.rawValue) })
        binds.append(ts.map { $0.pendingID ?? "" })
        binds.append(ts.map(\.timeoutMillis))
        binds.append(ts.map { $0.refundOf ?? "" })
        binds.append(ts.map { $0.orderID ?? "" })
        binds.append(ts.map(\.memo))
        binds.append(ts.map(\.createdAt))
        binds.append(holds.map(\.id))
        binds.append(holds.map { $0.holdExpiresAt ?? 0 })
        binds.append(resolved.map(\.key))
        binds.append(rStatus)
        binds.append(rBy)
        binds.append(rAt)
        binds.append(ps.map(\.account.id))
        binds.append(ps.map(\.transferID))
        binds.append(ps.map(\.event))
        binds.append(ps.map(\.delta))
        binds.append(ps.map(\.account.available.minorUnits))
        binds.append(ps.map(\.account.balance.minorUnits))
        binds.append(ps.map(\.account.currency.code))
        binds.append(now)
    }
}

/// Row ↔ value conversions, by column position.
enum PostgresRows {
    static let accountColumns = "id, kind, currency, name, flags, debits_pending, debits_posted, credits_pending, credits_posted"
    static let transferColumns =
        "id, kind, debit_account, credit_account, amount, currency, flags, pending_id, timeout_ms, refund_of, order_id, memo, created_at"

    static func account(_ row: PostgresRow) throws -> Account {
        let (id, kind, currency, name, flags, dp, dd, cp, cc) =
            try row.decode((String, String, String, String, Int64, Int64, Int64, Int64, Int64).self)
        guard let k = AccountKind(rawValue: kind) else { throw LedgerError(.storage, "account \(id) has an unknown kind '\(kind)'") }
        return Account(id: id, kind: k, currency: try Self.currency(currency, "account \(id)"), name: name,
                       flags: AccountFlags(rawValue: Int(flags)), debitsPending: dp, debitsPosted: dd, creditsPending: cp, creditsPosted: cc)
    }

    static func transfer(_ row: PostgresRow) throws -> Transfer {
        let (id, kind, debit, credit, amount, currency, flags, pendingID, timeout, refundOf, orderID, memo, createdAt) =
            try row.decode((String, String, String, String, Int64, String, Int64, String?, Int64, String?, String?, String, Int64).self)
        guard let k = TransferKind(rawValue: kind) else { throw LedgerError(.storage, "transfer \(id) has an unknown kind '\(kind)'") }
        return Transfer(id: id, kind: k, debitAccount: debit, creditAccount: credit,
                        amount: Money(minorUnits: amount, currency: try Self.currency(currency, "transfer \(id)")),
                        flags: TransferFlags(rawValue: Int(flags)), pendingID: pendingID, timeoutMillis: timeout,
                        refundOf: refundOf, orderID: orderID, memo: memo, createdAt: createdAt)
    }

    static func currency(_ code: String, _ row: String) throws -> Currency {
        guard let value = Currency(code) else { throw LedgerError(.storage, "\(row) has an unknown currency '\(code)'") }
        return value
    }
}
