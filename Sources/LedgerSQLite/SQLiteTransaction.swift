import GRDB
import Ledger
import Payments

/// A ``LedgerTransaction`` over one SQLite write transaction (`BEGIN IMMEDIATE`: the writer
/// lock is held from the first statement, so what it reads stays true until it commits).
final class SQLiteTransaction: LedgerTransaction {
    let db: Database
    let now: Int64
    /// The hot path's statements, looked up once for the transaction.
    private let statements: LedgerStatements
    /// The engine of ``deferringWrites(_:)`` while its body runs.
    private var deferred: LedgerEngine<SQLiteReader>?
    /// An error the deferred engine threw in the middle of an apply that may have left part of it
    /// in the engine: ``deferringWrites(_:)`` then writes nothing and throws it.
    ///
    /// The deferred engine's reader is never prefetched, so it never notes an account as absent
    /// (``SQLiteReader`` remembers found accounts only, and transfers found or not, which only
    /// the engine writes): ``ensureAccount(id:kind:currency:name:)`` inserts an account with SQL
    /// and then reads it back through the engine, which must find it.
    private var deferredFailure: (any Error)?

    init(db: Database, now: Int64, statements: LedgerStatements? = nil) {
        self.db = db
        self.now = now
        self.statements = statements ?? LedgerStatements(db)
    }

    func account(_ id: String) throws -> Account? {
        if deferred != nil { return try deferred!.account(id) }
        var reader = SQLiteReader(db: db, statements: statements)
        return try reader.account(id)
    }

    func transfer(_ id: String) throws -> Transfer? {
        if deferred != nil { return try deferred!.transfer(id) }
        var reader = SQLiteReader(db: db, statements: statements)
        return try reader.transfer(id)
    }

    func pendingStatus(_ id: String) throws -> PendingStatus? {
        if deferred != nil { return try deferred!.pendingStatus(id) }
        var reader = SQLiteReader(db: db, statements: statements)
        return try reader.pendingStatus(id)
    }

    func deferringWrites<T>(_ body: () throws -> T) throws -> T {
        guard deferred == nil else { return try body() }
        deferred = LedgerEngine(reader: SQLiteReader(db: db, statements: statements))
        defer { (deferred, deferredFailure) = (nil, nil) }
        let result = try body()
        if let deferredFailure { throw deferredFailure }
        if let engine = deferred { try SQLiteLedger.write(engine.changes, now: now, statements: statements) }
        return result
    }

    func apply(_ batch: [Transfer]) throws -> [TransferResult] {
        if deferred != nil {
            do { return try deferred!.apply(batch, now: now) } catch {
                // One transfer or one chain that throws leaves the engine as it was (it puts a
                // failed chain back), as a throw outside the deferral writes nothing of it;
                // several chains might leave those before it applied and unanswered.
                if !batch.dropLast().allSatisfy({ $0.flags.contains(.linked) }) { deferredFailure = deferredFailure ?? error }
                throw error
            }
        }
        var reader = SQLiteReader(db: db, statements: statements)
        try reader.prefetch(batch)
        var engine = LedgerEngine(reader: reader)
        let results = try engine.apply(batch, now: now)
        try SQLiteLedger.write(engine.changes, now: now, statements: statements)
        return results
    }

    func expire(_ pendingIDs: [String]) throws -> [String] {
        if deferred != nil {
            do { return try deferred!.expire(pendingIDs, now: now) } catch {
                deferredFailure = deferredFailure ?? error
                throw error
            }
        }
        var engine = LedgerEngine(reader: SQLiteReader(db: db, statements: statements))
        let released = try engine.expire(pendingIDs, now: now)
        try SQLiteLedger.write(engine.changes, now: now, statements: statements)
        return released
    }

    func walletID(phone: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT account_id FROM wallet WHERE phone = ?"), arguments: [phone])
    }

    func debits(of account: String, kinds: Set<TransferKind>, since: Int64) throws -> (count: Int, sum: Int64) {
        let marks = repeatElement("?", count: kinds.count).joined(separator: ",")
        var arguments: StatementArguments = [account, since]
        arguments += StatementArguments(kinds.map(\.rawValue).sorted())
        // Single-phase debits and holds; a post repeats its hold and a void cancels it, so
        // neither counts again, and a voided or expired hold does not count at all.
        let row = try Row.fetchOne(db, sql: """
            SELECT COUNT(*) AS n, COALESCE(SUM(t.amount), 0) AS s FROM transfer t
            LEFT JOIN pending_transfer p ON p.id = t.id
            WHERE t.debit_account = ? AND t.created_at >= ? AND t.kind IN (\(marks)) AND (t.flags & 12) = 0
              AND (p.id IS NULL OR p.status IN ('pending', 'posted'))
            """, arguments: arguments)!
        return (row["n"], row["s"])
    }

    func corrected(_ transfer: Transfer) throws -> Int64 {
        let prefix = WalletOperations.correctionMemoPrefix(transfer.id)
        return try Int64.fetchOne(db, sql: """
            SELECT COALESCE(SUM(amount), 0) FROM transfer
            WHERE debit_account = ? AND created_at >= ? AND credit_account = ? AND kind = 'correction' AND substr(memo, 1, ?) = ?
            """, arguments: [transfer.creditAccount, transfer.createdAt - WalletOperations.correctionClockSlackMillis, transfer.debitAccount,
                              prefix.unicodeScalars.count, prefix]) ?? 0
    }

    func storedDecline(_ requestID: String) throws -> (fingerprint: String, decline: Decline)? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT fingerprint, decline FROM wallet_decline WHERE request_id = ?"),
                                         arguments: [requestID]) else { return nil }
        return (row[0], try SQLiteRows.decode(Decline.self, row[1], "declined request \(requestID)"))
    }

    func recordDecline(requestID: String, fingerprint: String, wallet: String?, decline: Decline) throws {
        try db.execute(sql: "INSERT INTO wallet_decline (request_id, fingerprint, wallet, decline, created_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [requestID, fingerprint, wallet, decline.rawValue, now])
    }

    func declineCount(of wallet: String, since: Int64) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM wallet_decline WHERE wallet = ? AND created_at >= ?"),
                         arguments: [wallet, since]) ?? 0
    }

    func ensureAccount(id: String, kind: AccountKind, currency: Currency, name: String) throws {
        try db.execute(sql: """
            INSERT INTO account (id, kind, currency, name, flags, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
            """, arguments: [id, kind.rawValue, currency.code, name, Account.flags(for: kind).rawValue, now])
        guard let made = try account(id), made.kind == kind, made.currency == currency else {
            throw LedgerError(.invalidRequest, "account \(id) exists as another kind or currency")
        }
    }
}

extension SQLiteTransaction {
    func offlineCounterUses(serial: String, counter: Int64) throws -> [String] {
        let statement = try statements(.offlineCounterUses)
        statement.bind(serial, at: 1)
        statement.bind(counter, at: 2)
        defer { statement.reset() }
        var payments: [String] = []
        while try statement.step() { payments.append(statement.row.text(0)) }
        return payments
    }

    func heldOfflineReservations(limit: Int) throws -> [Transfer] {
        try Row.fetchAll(db, sql: """
            SELECT \(SQLiteRows.transferColumns) FROM transfer WHERE kind = 'transfer' AND credit_account IN (
                SELECT id FROM account WHERE id >= ? AND id < ? AND credits_posted > debits_posted + debits_pending)
            AND id NOT LIKE '%.%'
            ORDER BY created_at, id LIMIT ?
            """, arguments: [Self.offlineAccountRange.from, Self.offlineAccountRange.below, limit]).map(SQLiteRows.transfer)
    }

    func recordOfflineCounter(serial: String, counter: Int64, payment: String) throws {
        try statements(.recordOfflineCounter).run(serial, counter, payment, now)
    }
}

extension SQLiteLedger: TransactionalLedgerStore {
    public func transaction<T>(now: Int64, _ body: (any LedgerTransaction) throws -> T) throws -> T {
        try write { db in try body(SQLiteTransaction(db: db, now: now)) }
    }
}
