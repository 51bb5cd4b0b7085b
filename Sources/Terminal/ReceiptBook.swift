import Foundation
import GRDB
import LedgerSQLite
import Payments
import Receipts

/// The terminal's receipt book: every receipt it issued, numbered without gaps per terminal,
/// and its Z reports. One SQLite file (WAL, `synchronous=FULL`).
///
/// A number is taken in the same transaction that stores its receipt, and the receipt is signed
/// with the number inside that transaction: a crash or a failed signature leaves neither, and
/// the next receipt takes the same number, so the sequence has no holes for an auditor to ask
/// about. One receipt per payment or refund: issuing again for the same payment returns the
/// receipt already issued (a retried sale is not a second sale in the day's totals).
///
/// Nothing in the book is ever deleted or rewritten; SQLite triggers refuse it, whoever asks.
/// Only a receipt's print count grows, and a Z report closes the receipts it covers exactly once.
public final class ReceiptBook: Sendable {
    public let path: String
    private let pool: DatabasePool

    /// A receipt as the book holds it.
    public struct Entry: Sendable {
        public let receipt: SignedReceipt
        /// Times it was printed; a print after the first is a copy.
        public let printed: Int
        /// The Z report that closed it; nil while the day is open.
        public let closedBy: Int?
    }

    /// The journal mode and `synchronous` level its writer commits with ("wal", 2 = FULL).
    public func durability() throws -> (journalMode: String, synchronous: Int) {
        try DurablePool.settings(pool)
    }

    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        do {
            pool = try DurablePool.open(path: path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw CheckoutError("cannot open the receipt book at \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: receipts and Z reports") { db in
            try db.execute(sql: """
                CREATE TABLE receipt (
                    terminal TEXT NOT NULL,
                    seq INTEGER NOT NULL CHECK (seq >= 1),
                    number TEXT NOT NULL UNIQUE,
                    payment_id TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    currency TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    issued_at INTEGER NOT NULL,
                    compact TEXT NOT NULL,
                    printed INTEGER NOT NULL DEFAULT 0 CHECK (printed >= 0),
                    z INTEGER,
                    PRIMARY KEY (terminal, seq)
                ) STRICT;
                CREATE TABLE z_report (
                    terminal TEXT NOT NULL,
                    number INTEGER NOT NULL CHECK (number >= 1),
                    made_at INTEGER NOT NULL,
                    report TEXT NOT NULL,
                    PRIMARY KEY (terminal, number)
                ) STRICT;
                CREATE TRIGGER receipt_kept BEFORE DELETE ON receipt
                    BEGIN SELECT RAISE(ABORT, 'receipts are never deleted'); END;
                CREATE TRIGGER receipt_fixed BEFORE UPDATE ON receipt
                    WHEN NEW.terminal IS NOT OLD.terminal OR NEW.seq IS NOT OLD.seq OR NEW.number IS NOT OLD.number
                      OR NEW.payment_id IS NOT OLD.payment_id OR NEW.kind IS NOT OLD.kind OR NEW.currency IS NOT OLD.currency
                      OR NEW.amount IS NOT OLD.amount OR NEW.issued_at IS NOT OLD.issued_at OR NEW.compact IS NOT OLD.compact
                      OR NEW.printed < OLD.printed OR (OLD.z IS NOT NULL AND NEW.z IS NOT OLD.z)
                    BEGIN SELECT RAISE(ABORT, 'a receipt is never changed, and a closed day is never reopened'); END;
                CREATE TRIGGER z_report_kept BEFORE DELETE ON z_report
                    BEGIN SELECT RAISE(ABORT, 'Z reports are never deleted'); END;
                CREATE TRIGGER z_report_fixed BEFORE UPDATE ON z_report
                    BEGIN SELECT RAISE(ABORT, 'Z reports are never changed'); END;
                """)
        }
        migrator.registerMigration("v2: the baskets of sales not yet receipted") { db in
            // A sale's item lines, kept before the ledger is asked (by the sale id, or by the order
            // id of a merchant QR), so that the receipt of a payment whose process stopped before
            // its receipt, or of an order paid while the till waited, still lists what was sold.
            try db.execute(sql: """
                CREATE TABLE basket_line (
                    sale TEXT NOT NULL,
                    position INTEGER NOT NULL CHECK (position >= 0),
                    name TEXT NOT NULL,
                    quantity INTEGER NOT NULL CHECK (quantity >= 1),
                    unit_price INTEGER NOT NULL,
                    total INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    tax_rate INTEGER,
                    kept_at INTEGER NOT NULL,
                    PRIMARY KEY (sale, position)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX basket_line_by_age ON basket_line(kept_at);
                """)
        }
        return migrator
    }

    /// How long a kept basket stays after its sale (``closeDay(terminal:merchantName:now:)``
    /// drops older ones): recovery runs when the till starts and at every day's end, so a week
    /// covers a till that was off for days.
    public static let basketKeepMillis: Int64 = 7 * 86_400_000

    /// Keeps `lines` as the basket of `sale` (a sale id, or a merchant QR's order id) before the
    /// ledger is asked, and returns the basket that stands for the sale: the first one kept (a
    /// retried sale sells what its first attempt did), else `lines`. Nothing is kept for an
    /// empty basket.
    @discardableResult
    public func keepBasket(sale: String, lines: [Receipt.Line], now: Int64) throws -> [Receipt.Line] {
        guard !lines.isEmpty else { return try basket(sale: sale) }
        return try pool.write { db in
            let kept = try Self.basket(db, sale: sale)
            guard kept.isEmpty else { return kept }
            for (position, line) in lines.enumerated() {
                try db.execute(sql: """
                    INSERT INTO basket_line (sale, position, name, quantity, unit_price, total, currency, tax_rate, kept_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [sale, position, line.name, line.quantity, line.unitPrice.minorUnits, line.total.minorUnits,
                                     line.total.currency.code, line.taxRate, now])
            }
            return lines
        }
    }

    /// The basket kept for `sale`, in order; empty when none was.
    public func basket(sale: String) throws -> [Receipt.Line] {
        try pool.read { db in try Self.basket(db, sale: sale) }
    }

    private static func basket(_ db: Database, sale: String) throws -> [Receipt.Line] {
        try Row.fetchAll(db, sql: """
            SELECT name, quantity, unit_price, total, currency, tax_rate FROM basket_line WHERE sale = ? ORDER BY position
            """, arguments: [sale]).map { row in
            let code: String = row[4]
            guard let currency = Currency(code) else { throw CheckoutError("the basket of sale \(sale) has an unknown currency '\(code)'") }
            return Receipt.Line(name: row[0], quantity: row[1], unitPrice: Money(minorUnits: row[2], currency: currency),
                                total: Money(minorUnits: row[3], currency: currency), taxRate: row[5])
        }
    }

    /// "T7-000042": the terminal and its receipt's place in the sequence.
    public static func number(terminal: String, seq: Int64) -> String {
        let digits = String(seq)
        return terminal + "-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// The receipt for `paymentID`: the one already issued, or a new one made by `make` with
    /// the terminal's next number and stored, in one transaction.
    public func issue(terminal: String, paymentID: String, make: (String) throws -> SignedReceipt) throws -> SignedReceipt {
        try pool.write { db in
            if let existing = try String.fetchOne(db, sql: "SELECT compact FROM receipt WHERE payment_id = ?", arguments: [paymentID]) {
                return try Self.parse(existing)
            }
            let seq = (try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM receipt WHERE terminal = ?", arguments: [terminal]) ?? 0) + 1
            let signed = try make(Self.number(terminal: terminal, seq: seq))
            let r = signed.receipt
            guard r.terminalID == terminal, r.paymentID == paymentID, r.number == Self.number(terminal: terminal, seq: seq) else {
                throw CheckoutError("receipt \(r.number) does not carry the number, terminal and payment the book gave it")
            }
            try db.execute(sql: """
                INSERT INTO receipt (terminal, seq, number, payment_id, kind, currency, amount, issued_at, compact)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [terminal, seq, r.number, paymentID, r.kind.rawValue, r.amount.currency.code, r.amount.minorUnits,
                                 r.issuedAt, try ReceiptCodec.compact(signed)])
            return signed
        }
    }

    public func entry(number: String) throws -> Entry? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT compact, printed, z FROM receipt WHERE number = ?", arguments: [number]).map(Self.entry)
        }
    }

    public func entry(paymentID: String) throws -> Entry? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT compact, printed, z FROM receipt WHERE payment_id = ?", arguments: [paymentID]).map(Self.entry)
        }
    }

    /// The newest receipt, of `terminal` or of any terminal.
    public func last(terminal: String? = nil) throws -> Entry? {
        try pool.read { db in
            let row = try terminal.map {
                try Row.fetchOne(db, sql: "SELECT compact, printed, z FROM receipt WHERE terminal = ? ORDER BY seq DESC LIMIT 1", arguments: [$0])
            } ?? Row.fetchOne(db, sql: "SELECT compact, printed, z FROM receipt ORDER BY issued_at DESC, rowid DESC LIMIT 1")
            return try row.map(Self.entry)
        }
    }

    /// Receipts of `terminal` in number order; only the open day's with `openOnly`.
    public func entries(terminal: String, openOnly: Bool = false) throws -> [Entry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT compact, printed, z FROM receipt WHERE terminal = ? \(openOnly ? "AND z IS NULL" : "") ORDER BY seq",
                             arguments: [terminal]).map(Self.entry)
        }
    }

    /// Prints receipt `number` with `send`, marked as a copy when the book has printed it before,
    /// and counts the print once `send` returns (a printer that failed leaves the count alone, so
    /// the next try is still the original). Returns whether it went as a copy.
    @discardableResult
    public func print(number: String, with send: (SignedReceipt, _ copy: Bool) throws -> Void) throws -> Bool {
        guard let entry = try entry(number: number) else { throw CheckoutError("no receipt \(number) in the receipt book") }
        let copy = entry.printed > 0
        try send(entry.receipt, copy)
        try printed(number: number)
        return copy
    }

    /// Records that receipt `number` was printed, once the printer took it; returns how many
    /// times it has been printed now.
    @discardableResult
    public func printed(number: String) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "UPDATE receipt SET printed = printed + 1 WHERE number = ?", arguments: [number])
            guard db.changesCount == 1 else { throw CheckoutError("no receipt \(number) in the book") }
            return try Int.fetchOne(db, sql: "SELECT printed FROM receipt WHERE number = ?", arguments: [number]) ?? 0
        }
    }

    /// The X report: the open day's totals. Changes nothing.
    public func xReport(terminal: String, merchantName: String, now: Int64) throws -> DayReport {
        try pool.read { db in try Self.report(db, kind: .x, number: nil, terminal: terminal, merchantName: merchantName, now: now) }
    }

    /// The Z report: the open day's totals under the next Z number, stored, and the day's
    /// receipts closed by it, in one transaction. A closed day never reopens.
    public func closeDay(terminal: String, merchantName: String, now: Int64) throws -> DayReport {
        try pool.write { db in
            let number = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM z_report WHERE terminal = ?", arguments: [terminal]) ?? 0) + 1
            let report = try Self.report(db, kind: .z, number: number, terminal: terminal, merchantName: merchantName, now: now)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try db.execute(sql: "INSERT INTO z_report (terminal, number, made_at, report) VALUES (?, ?, ?, ?)",
                           arguments: [terminal, number, now, String(decoding: try encoder.encode(report), as: UTF8.self)])
            try db.execute(sql: "UPDATE receipt SET z = ? WHERE terminal = ? AND z IS NULL", arguments: [number, terminal])
            guard db.changesCount == report.receiptCount else {
                throw CheckoutError("the day's receipts changed while the Z report was made; nothing was closed")
            }
            try db.execute(sql: "DELETE FROM basket_line WHERE kept_at < ?", arguments: [now - Self.basketKeepMillis])
            return report
        }
    }

    /// Z report `number` of `terminal`, as it was made.
    public func zReport(terminal: String, number: Int) throws -> DayReport? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT report FROM z_report WHERE terminal = ? AND number = ?", arguments: [terminal, number])
                .map { try JSONDecoder().decode(DayReport.self, from: Data($0.utf8)) }
        }
    }

    private static func report(_ db: Database, kind: DayReport.Kind, number: Int?, terminal: String, merchantName: String,
                               now: Int64) throws -> DayReport {
        let since = try Int64.fetchOne(db, sql: "SELECT MAX(made_at) FROM z_report WHERE terminal = ?", arguments: [terminal])
        let receipts = try String.fetchAll(db, sql: "SELECT compact FROM receipt WHERE terminal = ? AND z IS NULL ORDER BY seq",
                                           arguments: [terminal]).map { try parse($0).receipt }
        return DayReport(kind: kind, number: number, terminalID: terminal, merchantName: merchantName, madeAt: now, since: since,
                         receipts: receipts)
    }

    private static func entry(_ row: Row) throws -> Entry {
        Entry(receipt: try parse(row[0]), printed: row[1], closedBy: row[2])
    }

    private static func parse(_ compact: String) throws -> SignedReceipt {
        do { return try ReceiptCodec.parse(compact: compact) } catch {
            throw CheckoutError("the receipt book holds a damaged receipt: \(error)")
        }
    }
}
