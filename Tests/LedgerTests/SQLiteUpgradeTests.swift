import Foundation
import GRDB
import Ledger
@testable import LedgerSQLite
import Payments
import Testing

@Suite("SQLite ledger: upgrading an older file")
struct SQLiteUpgradeTests {
    /// A ledger written by the previous schema (v3) opens under the current one with every
    /// transfer, balance and event as it was, events keeping their numbers (a notifier's cursor
    /// stays valid) and new ones numbered after them, and order ids still unique.
    @Test("a v3 ledger keeps its transfers, balances and event numbers, and order ids stay unique")
    func fromV3() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-upgrade-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("ledger.sqlite").path
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v3: declined wallet requests")
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO account (id, kind, currency, name, flags, credits_posted, created_at)
                        VALUES ('wal_old', 'wallet', 'CNY', 'Old', 1, 500, 0);
                    INSERT INTO wallet (account_id, phone) VALUES ('wal_old', NULL);
                    INSERT INTO account (id, kind, currency, name, flags, debits_posted, created_at)
                        VALUES ('settlement-CNY', 'settlement', 'CNY', 'cash', 2, 500, 0);
                    INSERT INTO transfer (id, kind, debit_account, credit_account, amount, currency, memo, created_at)
                        VALUES ('t-old', 'deposit', 'settlement-CNY', 'wal_old', 500, 'CNY', 'cash', 0);
                    INSERT INTO wallet_event (seq, account, transfer, kind, delta, available, balance, currency, created_at)
                        VALUES (41, 'wal_old', 't-old', 'deposit', 500, 500, 500, 'CNY', 0);
                    """)
            }
        }
        let ledger = try SQLiteLedger(path: path)
        #expect(try ledger.audit().passed)
        #expect(try ledger.transfer("t-old")?.amount.minorUnits == 500)
        #expect(try ledger.account("wal_old")?.creditsPosted == 500)
        let before = try ledger.events(after: 0, account: "wal_old", limit: 10)
        #expect(before.map(\.seq) == [41])
        let outcome = try ledger.deposit(requestID: UUIDv7.make(), wallet: "wal_old",
                                         amount: Money(minorUnits: 250, currency: .CNY), source: .cash, now: 1)
        #expect(outcome.transfer != nil)
        let after = try ledger.events(after: 41, account: "wal_old", limit: 10)
        #expect(after.count == 1 && after[0].seq > 41)
        #expect(try ledger.audit().passed)
        // The order id's uniqueness moved to a partial index: still enforced where there is one.
        let queue = try DatabaseQueue(path: path)
        do {
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO transfer (id, kind, debit_account, credit_account, amount, currency, order_id, memo, created_at)
                        VALUES ('t-a', 'payment', 'wal_old', 'settlement-CNY', 1, 'CNY', 'ord-1', '', 2)
                    """)
                #expect(throws: DatabaseError.self) {
                    try db.execute(sql: """
                        INSERT INTO transfer (id, kind, debit_account, credit_account, amount, currency, order_id, memo, created_at)
                            VALUES ('t-b', 'payment', 'wal_old', 'settlement-CNY', 1, 'CNY', 'ord-1', '', 2)
                        """)
                }
                // Checked, not committed: the file stays a valid ledger.
                throw CancelWrite()
            }
        } catch is CancelWrite {}
    }

    private struct CancelWrite: Error {}
}
