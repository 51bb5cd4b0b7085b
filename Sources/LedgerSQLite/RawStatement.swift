import GRDB
import GRDBSQLite

/// A statement GRDB prepared and keeps in its connection's cache, bound, stepped and read
/// through SQLite's C API by parameter and column index.
///
/// A payment's statements spent most of their time around SQLite, not in it (`perf` of
/// `qrpos bench ledger`, one client: of the time inside the engine's transaction, about 3 %
/// was SQLite's own; the rest was GRDB building `StatementArguments` of existentials, copying
/// each row with its column names, and hashing the SQL text to find the cached statement on
/// every execution). The ledger's hot path (``SQLiteReader``'s reads and the writes of
/// ``SQLiteLedger/write(_:now:statements:)``) runs through this; everything else keeps
/// GRDB's conveniences.
struct RawStatement {
    /// GRDB's statement, held so that the handle stays valid; GRDB finalizes it with its connection.
    private let statement: Statement
    fileprivate let handle: OpaquePointer
    private let connection: OpaquePointer?

    init(_ statement: Statement, in db: Database) {
        self.statement = statement
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
    }

    /// Clears the last execution (a row still being read, a finished step) before new bindings.
    func reset() {
        sqlite3_reset(handle)
    }

    /// Binds `values` to the parameters from the first on, runs the statement (which returns no
    /// rows) and says how many rows it changed.
    @discardableResult
    func run<each V: RawBindable>(_ values: repeat each V) throws -> Int {
        bind(repeat each values)
        while try step() {}
        let changed = connection.map { Int(sqlite3_changes($0)) } ?? 0
        sqlite3_reset(handle)
        return changed
    }

    /// Binds `value` to the parameter at `index` (from 1).
    func bind(_ value: some RawBindable, at index: Int32) {
        value.bind(to: handle, at: index)
    }

    /// Binds `values` to the parameters from the first on.
    private func bind<each V: RawBindable>(_ values: repeat each V) {
        var index: Int32 = 0
        for value in repeat each values {
            index += 1
            value.bind(to: handle, at: index)
        }
        precondition(index == sqlite3_bind_parameter_count(handle), "\(index) values for \(sqlite3_bind_parameter_count(handle)) parameters")
    }

    /// Steps once: true with a row to read, false when done; a failure throws SQLite's error.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let message = connection.map { String(cString: sqlite3_errmsg($0)) }
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: String(cString: sqlite3_sql(handle)))
        }
    }

    /// The current row, readable by column index.
    var row: RawRow { RawRow(handle: handle) }
}

/// A value a ``RawStatement`` binds to a parameter.
protocol RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32)
}

extension String: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) {
        var value = self
        value.withUTF8 { utf8 in
            // An empty buffer may have no address, and a NULL pointer would bind NULL, not "".
            if let base = utf8.baseAddress, utf8.count > 0 {
                base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    _ = sqlite3_bind_text(statement, index, $0, Int32(utf8.count), Self.transient)
                }
            } else {
                _ = sqlite3_bind_text(statement, index, "", 0, Self.transient)
            }
        }
    }

    /// `SQLITE_TRANSIENT`: SQLite copies what is bound, since Swift's buffer lives only for the call.
    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }
}

extension Int64: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) {
        sqlite3_bind_int64(statement, index, self)
    }
}

extension Int: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) {
        sqlite3_bind_int64(statement, index, Int64(self))
    }
}

extension Optional: RawBindable where Wrapped: RawBindable {
    func bind(to statement: OpaquePointer, at index: Int32) {
        if let value = self { value.bind(to: statement, at: index) } else { sqlite3_bind_null(statement, index) }
    }
}

/// A row's columns, read by index the same way from GRDB's `Row` and from a ``RawStatement``,
/// so that one decoding (``SQLiteRows``) serves both.
protocol ColumnReading {
    func text(_ index: Int32) -> String
    func optionalText(_ index: Int32) -> String?
    func integer(_ index: Int32) -> Int64
    func optionalInteger(_ index: Int32) -> Int64?
}

struct RawRow: ColumnReading {
    fileprivate let handle: OpaquePointer

    func text(_ index: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, index) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, index))), as: UTF8.self)
    }

    func optionalText(_ index: Int32) -> String? {
        sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : text(index)
    }

    func integer(_ index: Int32) -> Int64 {
        sqlite3_column_int64(handle, index)
    }

    func optionalInteger(_ index: Int32) -> Int64? {
        sqlite3_column_type(handle, index) == SQLITE_NULL ? nil : integer(index)
    }
}

extension Row: ColumnReading {
    func text(_ index: Int32) -> String { self[Int(index)] }
    func optionalText(_ index: Int32) -> String? { self[Int(index)] }
    func integer(_ index: Int32) -> Int64 { self[Int(index)] }
    func optionalInteger(_ index: Int32) -> Int64? { self[Int(index)] }
}

/// The statements of the ledger's hot path on one connection, looked up in GRDB's cache once
/// each per transaction (or per read) rather than once per execution.
final class LedgerStatements {
    enum Kind: Int, CaseIterable {
        case account, transfer, pendingStatus, updateAccount, insertTransfer, insertPending, resolvePending, insertEvent
        case offlineCounterUses, recordOfflineCounter
    }

    let db: Database
    private var prepared: [RawStatement?] = Array(repeating: nil, count: Kind.allCases.count)

    init(_ db: Database) {
        self.db = db
    }

    /// The statement, reset and ready to bind.
    func callAsFunction(_ kind: Kind) throws -> RawStatement {
        if let statement = prepared[kind.rawValue] {
            statement.reset()
            return statement
        }
        let statement = RawStatement(try db.cachedStatement(sql: Self.sql(kind)), in: db)
        statement.reset()
        prepared[kind.rawValue] = statement
        return statement
    }

    private static func sql(_ kind: Kind) -> String {
        switch kind {
        case .account: "SELECT \(SQLiteRows.accountColumns) FROM account WHERE id = ?"
        case .transfer: "SELECT \(SQLiteRows.transferColumns) FROM transfer WHERE id = ?"
        case .pendingStatus: "SELECT status, resolved_by, resolved_at FROM pending_transfer WHERE id = ?"
        case .updateAccount:
            "UPDATE account SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ? WHERE id = ?"
        case .insertTransfer:
            """
            INSERT INTO transfer (id, kind, debit_account, credit_account, amount, currency, flags, pending_id, timeout_ms,
                                  refund_of, order_id, memo, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        case .insertPending: "INSERT INTO pending_transfer (id, status, expires_at) VALUES (?, 'pending', ?)"
        case .resolvePending: "UPDATE pending_transfer SET status = ?, resolved_by = ?, resolved_at = ? WHERE id = ? AND status = 'pending'"
        case .insertEvent:
            """
            INSERT INTO wallet_event (account, transfer, kind, delta, available, balance, currency, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """
        case .offlineCounterUses: "SELECT payment FROM offline_counter WHERE certificate = ? AND counter = ? ORDER BY payment"
        case .recordOfflineCounter:
            "INSERT INTO offline_counter (certificate, counter, payment, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        }
    }
}
