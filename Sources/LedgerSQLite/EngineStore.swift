import GRDB
import Ledger
import Payments

/// The engine's view of the SQLite ledger inside one write transaction: every read goes to the
/// database through a cached prepared statement, so a batch sees its own transaction's rows.
struct SQLiteReader: LedgerReading {
    let db: Database
    /// What ``prefetch(_:)`` loaded: found rows, and ids known to be absent (nil).
    private var accounts: [String: Account?] = [:]
    private var transfers: [String: Transfer?] = [:]

    init(db: Database) {
        self.db = db
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

    private func fetch<T>(_ columns: String, from table: String, ids: Set<String>, _ make: (Row) throws -> T) throws -> [T] {
        var found: [T] = []
        let all = Array(ids)
        // SQLite binds at most 32,766 parameters; 500 at a time keeps statements small.
        for start in stride(from: 0, to: all.count, by: 500) {
            let chunk = Array(all[start..<min(start + 500, all.count)])
            let marks = repeatElement("?", count: chunk.count).joined(separator: ",")
            let rows = try Row.fetchAll(db, sql: "SELECT \(columns) FROM \(table) WHERE id IN (\(marks))", arguments: StatementArguments(chunk))
            found += try rows.map(make)
        }
        return found
    }

    mutating func account(_ id: String) throws -> Account? {
        if let known = accounts[id] { return known }
        return try Row.fetchOne(db.cachedStatement(sql: "SELECT \(SQLiteRows.accountColumns) FROM account WHERE id = ?"), arguments: [id])
            .map { try SQLiteRows.account($0) }
    }

    mutating func transfer(_ id: String) throws -> Transfer? {
        if let known = transfers[id] { return known }
        return try Row.fetchOne(db.cachedStatement(sql: "SELECT \(SQLiteRows.transferColumns) FROM transfer WHERE id = ?"), arguments: [id])
            .map { try SQLiteRows.transfer($0) }
    }

    mutating func pendingStatus(_ id: String) throws -> PendingStatus? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT status, resolved_by, resolved_at FROM pending_transfer WHERE id = ?"),
                                         arguments: [id]) else { return nil }
        return try SQLiteRows.pendingStatus(row, id: id)
    }
}

/// Row ↔ value conversions shared by the store's reads and the engine's.
enum SQLiteRows {
    /// The columns ``account(_:)`` reads, by position: GRDB looks a name up case-insensitively
    /// on every access, which showed in the ledger benchmark's profile; a position is an index.
    static let accountColumns = "id, kind, currency, name, flags, debits_pending, debits_posted, credits_pending, credits_posted"

    static func account(_ row: Row) throws -> Account {
        let id: String = row[0]
        return Account(id: id, kind: try decode(AccountKind.self, row[1], "account \(id)"),
                       currency: try currency(row[2], "account \(id)"),
                       name: row[3], flags: AccountFlags(rawValue: row[4]),
                       debitsPending: row[5], debitsPosted: row[6], creditsPending: row[7], creditsPosted: row[8])
    }

    /// The columns ``transfer(_:)`` reads, by position.
    static let transferColumns =
        "id, kind, debit_account, credit_account, amount, currency, flags, pending_id, timeout_ms, refund_of, order_id, memo, created_at"

    static func transfer(_ row: Row) throws -> Transfer {
        let id: String = row[0]
        return Transfer(id: id, kind: try decode(TransferKind.self, row[1], "transfer \(id)"), debitAccount: row[2],
                        creditAccount: row[3],
                        amount: Money(minorUnits: row[4], currency: try currency(row[5], "transfer \(id)")),
                        flags: TransferFlags(rawValue: row[6]), pendingID: row[7], timeoutMillis: row[8],
                        refundOf: row[9], orderID: row[10], memo: row[11], createdAt: row[12])
    }

    static func pendingStatus(_ row: Row, id: String) throws -> PendingStatus {
        switch row["status"] as String {
        case "pending": return .pending
        case "posted": return .posted(by: row["resolved_by"])
        case "voided": return .voided(by: row["resolved_by"])
        case "expired": return .expired(at: row["resolved_at"])
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
    static func write(_ changes: LedgerChanges, in db: Database, now: Int64) throws {
        let updateAccount = try db.cachedStatement(sql: """
            UPDATE account SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ? WHERE id = ?
            """)
        for account in changes.accounts.values {
            try updateAccount.execute(arguments: [account.debitsPending, account.debitsPosted, account.creditsPending,
                                                  account.creditsPosted, account.id])
        }
        let insertTransfer = try db.cachedStatement(sql: """
            INSERT INTO transfer (id, kind, debit_account, credit_account, amount, currency, flags, pending_id, timeout_ms,
                                  refund_of, order_id, memo, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertPending = try db.cachedStatement(sql: "INSERT INTO pending_transfer (id, status, expires_at) VALUES (?, 'pending', ?)")
        for t in changes.transfers {
            try insertTransfer.execute(arguments: [t.id, t.kind.rawValue, t.debitAccount, t.creditAccount, t.amount.minorUnits,
                                                   t.amount.currency.code, t.flags.rawValue, t.pendingID,
                                                   t.timeoutMillis, t.refundOf, t.orderID, t.memo, t.createdAt])
            if t.flags.contains(.pending) {
                try insertPending.execute(arguments: [t.id, t.holdExpiresAt])
            }
        }
        let resolve = try db.cachedStatement(sql: """
            UPDATE pending_transfer SET status = ?, resolved_by = ?, resolved_at = ? WHERE id = ? AND status = 'pending'
            """)
        for (id, status) in changes.resolved {
            switch status {
            case .pending: continue
            case .posted(let by): try resolve.execute(arguments: ["posted", by, now, id])
            case .voided(let by): try resolve.execute(arguments: ["voided", by, now, id])
            case .expired(let at): try resolve.execute(arguments: ["expired", nil, at, id])
            }
            // A second resolution would be an engine bug; the database's word is final.
            precondition(db.changesCount == 1, "pending transfer \(id) resolved twice")
        }
        try recordEvents(changes, in: db, now: now)
    }

    /// One event per change to a wallet, in order, with the wallet's balances after it.
    private static func recordEvents(_ changes: LedgerChanges, in db: Database, now: Int64) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO wallet_event (account, transfer, kind, delta, available, balance, currency, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for p in changes.postings where p.account.kind == .wallet {
            try insert.execute(arguments: [p.account.id, p.transferID, p.event, p.delta, p.account.available.minorUnits,
                                           p.account.balance.minorUnits, p.account.currency.code, now])
        }
    }
}
