import GRDB
import Ledger
import Payments

/// The engine's view of the SQLite ledger inside one write transaction: every read goes to the
/// database through a cached prepared statement, so a batch sees its own transaction's rows.
struct SQLiteReader: LedgerReading {
    let db: Database
    /// The hot path's statements, run through SQLite's C API (``RawStatement``).
    let statements: LedgerStatements
    /// What ``prefetch(_:)`` loaded: found rows, and ids known to be absent (nil).
    private var accounts: [String: Account?] = [:]
    private var transfers: [String: Transfer?] = [:]

    init(db: Database, statements: LedgerStatements? = nil) {
        self.db = db
        self.statements = statements ?? LedgerStatements(db)
    }

    /// Loads every account and transfer `batch` names in a few `IN (…)` queries instead of one
    /// query per transfer and account: a batch of 1,000 payments spent two thirds of its time
    /// in those single-row reads.
    mutating func prefetch(_ batch: [Transfer]) throws {
        // A few transfers read faster one by one through cached statements than through an `IN (…)`
        // query compiled afresh (an offline settlement applies 1 to 3 per payment).
        guard batch.count >= 8 else { return }
        let transferIDs = Set(batch.map(\.id) + batch.compactMap(\.pendingID))
        for t in try fetch(SQLiteRows.transferColumns, from: "transfer", ids: transferIDs, SQLiteRows.transfer) {
            transfers[t.id] = .some(t)
        }
        for id in transferIDs where transfers[id] == nil { transfers[id] = .some(nil) }
        var accountIDs = Set(batch.flatMap { [$0.debitAccount, $0.creditAccount] })
        for case let t?? in transfers.values where t.flags.contains(.pending) {
            accountIDs.insert(t.debitAccount)
            accountIDs.insert(t.creditAccount)
        }
        for a in try fetch(SQLiteRows.accountColumns, from: "account", ids: accountIDs, SQLiteRows.account) {
            accounts[a.id] = .some(a)
        }
        for id in accountIDs where accounts[id] == nil { accounts[id] = .some(nil) }
    }

    private func fetch<T>(_ columns: String, from table: String, ids: Set<String>, _ make: (RawRow) throws -> T) throws -> [T] {
        var found: [T] = []
        let all = Array(ids)
        // SQLite binds at most 32,766 parameters; 500 at a time keeps statements small.
        for start in stride(from: 0, to: all.count, by: 500) {
            let chunk = all[start..<min(start + 500, all.count)]
            let marks = repeatElement("?", count: chunk.count).joined(separator: ",")
            let statement = RawStatement(try db.makeStatement(sql: "SELECT \(columns) FROM \(table) WHERE id IN (\(marks))"), in: db)
            for (i, id) in chunk.enumerated() { statement.bind(id, at: Int32(i + 1)) }
            while try statement.step() { found.append(try make(statement.row)) }
            statement.reset()
        }
        return found
    }

    /// An account read is remembered when found: the engine answers from its own changes before
    /// asking, so what is remembered is what the database holds until the engine writes.
    mutating func account(_ id: String) throws -> Account? {
        if let known = accounts[id] { return known }
        let found = try fetchOne(.account, id, SQLiteRows.account)
        if let found { accounts[id] = .some(found) }
        return found
    }

    /// A transfer read is remembered, found or not: transfers are only ever written through the
    /// engine, which answers for the ones it made.
    mutating func transfer(_ id: String) throws -> Transfer? {
        if let known = transfers[id] { return known }
        let found = try fetchOne(.transfer, id, SQLiteRows.transfer)
        transfers[id] = .some(found)
        return found
    }

    mutating func pendingStatus(_ id: String) throws -> PendingStatus? {
        try fetchOne(.pendingStatus, id) { try SQLiteRows.pendingStatus($0, id: id) }
    }

    /// The one row a statement finds by id, or nil.
    private func fetchOne<T>(_ kind: LedgerStatements.Kind, _ id: String, _ make: (RawRow) throws -> T) throws -> T? {
        let statement = try statements(kind)
        statement.bind(id, at: 1)
        defer { statement.reset() }
        return try statement.step() ? make(statement.row) : nil
    }
}

/// Row ↔ value conversions shared by the store's reads and the engine's.
enum SQLiteRows {
    /// The columns ``account(_:)`` reads, by position: GRDB looks a name up case-insensitively
    /// on every access, which showed in the ledger benchmark's profile; a position is an index.
    static let accountColumns = "id, kind, currency, name, flags, debits_pending, debits_posted, credits_pending, credits_posted"

    static func account<R: ColumnReading>(_ row: R) throws -> Account {
        let id = row.text(0)
        return Account(id: id, kind: try decode(AccountKind.self, row.text(1), "account \(id)"),
                       currency: try currency(row.text(2), "account \(id)"),
                       name: row.text(3), flags: AccountFlags(rawValue: Int(row.integer(4))),
                       debitsPending: row.integer(5), debitsPosted: row.integer(6), creditsPending: row.integer(7),
                       creditsPosted: row.integer(8))
    }

    /// The columns ``transfer(_:)`` reads, by position.
    static let transferColumns =
        "id, kind, debit_account, credit_account, amount, currency, flags, pending_id, timeout_ms, refund_of, order_id, memo, created_at"

    static func transfer<R: ColumnReading>(_ row: R) throws -> Transfer {
        let id = row.text(0)
        return Transfer(id: id, kind: try decode(TransferKind.self, row.text(1), "transfer \(id)"), debitAccount: row.text(2),
                        creditAccount: row.text(3),
                        amount: Money(minorUnits: row.integer(4), currency: try currency(row.text(5), "transfer \(id)")),
                        flags: TransferFlags(rawValue: Int(row.integer(6))), pendingID: row.optionalText(7), timeoutMillis: row.integer(8),
                        refundOf: row.optionalText(9), orderID: row.optionalText(10), memo: row.text(11), createdAt: row.integer(12))
    }

    /// The columns status, resolved_by, resolved_at of pending_transfer.
    static func pendingStatus<R: ColumnReading>(_ row: R, id: String) throws -> PendingStatus {
        switch row.text(0) {
        case "pending": return .pending
        case "posted": return .posted(by: row.text(1))
        case "voided": return .voided(by: row.text(1))
        case "expired": return .expired(at: row.integer(2))
        case let other: throw LedgerError(.storage, "pending transfer \(id) has an unknown status '\(other)'")
        }
    }

    /// A stored enum value this build does not know (a newer qrpos wrote it, or the file is
    /// damaged) is a storage error naming the row, never a crash.
    static func decode<T: RawRepresentable>(_ type: T.Type, _ raw: String, _ row: String) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: raw) else { throw LedgerError(.storage, "\(row) has an unknown \(T.self) '\(raw)'") }
        return value
    }

    static func currency(_ code: String, _ row: String) throws -> Currency {
        guard let value = Currency(code) else { throw LedgerError(.storage, "\(row) has an unknown currency '\(code)'") }
        return value
    }
}

extension SQLiteLedger {
    /// Writes what the engine changed, in the caller's transaction: the accounts' totals, the new
    /// transfers, the pending transfers' statuses, and one event per change to a wallet.
    static func write(_ changes: LedgerChanges, now: Int64, statements: LedgerStatements) throws {
        if !changes.accounts.isEmpty {
            let update = try statements(.updateAccount)
            for account in changes.accounts.values {
                try update.run(account.debitsPending, account.debitsPosted, account.creditsPending, account.creditsPosted, account.id)
            }
        }
        if !changes.transfers.isEmpty {
            let insert = try statements(.insertTransfer)
            for t in changes.transfers {
                try insert.run(t.id, t.kind.rawValue, t.debitAccount, t.creditAccount, t.amount.minorUnits, t.amount.currency.code,
                               t.flags.rawValue, t.pendingID, t.timeoutMillis, t.refundOf, t.orderID, t.memo, t.createdAt)
                if t.flags.contains(.pending) {
                    try statements(.insertPending).run(t.id, t.holdExpiresAt)
                }
            }
        }
        for (id, status) in changes.resolved {
            let (name, by, at): (String, String?, Int64)
            switch status {
            case .pending: continue
            case .posted(let transfer): (name, by, at) = ("posted", transfer, now)
            case .voided(let transfer): (name, by, at) = ("voided", transfer, now)
            case .expired(let when): (name, by, at) = ("expired", nil, when)
            }
            // A second resolution would be an engine bug; the database's word is final.
            let changed = try statements(.resolvePending).run(name, by, at, id)
            precondition(changed == 1, "pending transfer \(id) resolved twice")
        }
        try recordEvents(changes, statements: statements, now: now)
    }

    /// One event per change to a wallet, in order, with the wallet's balances after it.
    private static func recordEvents(_ changes: LedgerChanges, statements: LedgerStatements, now: Int64) throws {
        for p in changes.postings where p.account.kind == .wallet {
            try statements(.insertEvent).run(p.account.id, p.transferID, p.event, p.delta, p.account.available.minorUnits,
                                             p.account.balance.minorUnits, p.account.currency.code, now)
        }
    }
}
