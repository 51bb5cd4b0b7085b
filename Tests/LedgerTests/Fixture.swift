import Foundation
import Ledger
import LedgerSQLite
import Payments
import Testing

/// A fresh ledger (a SQLite file in its own temporary folder, or a fresh PostgreSQL schema), with
/// a merchant and two funded wallets.
struct Fixture {
    let ledger: any LedgerStore
    let merchant: Merchant
    let alice: Account
    let bob: Account
    var now: Int64 = 1_800_000_000_000

    init(_ kind: StoreKind = .sqlite, aliceCash: String = "100.00", bobCash: String? = nil,
         walletLimits: @escaping @Sendable (Currency) -> WalletLimits = WalletLimits.standard(for:)) throws {
        ledger = try kind.makeCheckoutStore(walletLimits: walletLimits)
        merchant = try ledger.createMerchant(name: "Corner Shop", city: "Hangzhou", categoryCode: "5411",
                                             countryCode: "CN", currency: .CNY, now: now)
        alice = try ledger.createWallet(name: "Alice", phone: "+8613800000001", currency: .CNY, now: now)
        bob = try ledger.createWallet(name: "Bob", phone: nil, currency: .CNY, now: now)
        _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: alice.id, amount: cny(aliceCash), source: .cash, now: now)
        if let bobCash {
            _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: bob.id, amount: cny(bobCash), source: .bank, now: now)
        }
    }

    /// The SQLite ledger, for the tests that look inside its file.
    var sqlite: SQLiteLedger {
        get throws { try #require(ledger as? SQLiteLedger) }
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
