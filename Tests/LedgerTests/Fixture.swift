import Foundation
import Ledger
import LedgerSQLite
import Payments
import Testing

/// A fresh ledger file in its own temporary folder, with a merchant and two funded wallets.
struct Fixture {
    let dir: URL
    let ledger: SQLiteLedger
    let merchant: Merchant
    let alice: Account
    let bob: Account
    var now: Int64 = 1_800_000_000_000

    init(aliceCash: String = "100.00", bobCash: String? = nil) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ledger = try SQLiteLedger(path: dir.appendingPathComponent("ledger.sqlite").path)
        merchant = try ledger.createMerchant(name: "Corner Shop", city: "Hangzhou", categoryCode: "5411",
                                             countryCode: "CN", currency: .CNY, now: now)
        alice = try ledger.createWallet(name: "Alice", phone: "+8613800000001", currency: .CNY, now: now)
        bob = try ledger.createWallet(name: "Bob", phone: nil, currency: .CNY, now: now)
        _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: alice.id, amount: cny(aliceCash), source: .cash, now: now)
        if let bobCash {
            _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: bob.id, amount: cny(bobCash), source: .bank, now: now)
        }
    }

    func balance(_ id: String) throws -> Int64 {
        try #require(try ledger.account(id)).balance.minorUnits
    }

    /// Every invariant holds; called after every scenario.
    func expectAuditPasses(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let report = try ledger.audit()
        #expect(report.violations == [], sourceLocation: sourceLocation)
    }
}

func cny(_ text: String) -> Money {
    try! Money(parsing: text, currency: .CNY)
}
