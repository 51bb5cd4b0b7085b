import Foundation
import Ledger
import LedgerPostgres
import Payments
import QrposTestSupport
import Testing

@Suite("PostgreSQL ledger: opening") struct PostgresLedgerTests {
    /// A process killed while it created the schema leaves the version table and nothing else;
    /// `ledger audit` and `ledger ids` must call that "no ledger", not fail on a missing table.
    @Test("an existing-only open refuses a missing schema and a half-made one, and accepts a whole one")
    func existingOnly() throws {
        let schema = "t_eo_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let url = try TestPostgres.baseURL.get() + "?search_path=\(schema)"
        func refusal() -> LedgerError? {
            do { _ = try PostgresLedger(url: url, existingOnly: true); return nil } catch { return error as? LedgerError }
        }
        #expect(refusal()?.code == .notFound)
        try TestPostgres.psql("CREATE SCHEMA \(schema); CREATE TABLE \(schema).qrpos_schema (version INT PRIMARY KEY)")
        #expect(refusal()?.code == .notFound, "the version table alone is not a ledger")
        let made = try PostgresLedger(url: url)
        #expect(try made.audit().passed)
        #expect(refusal() == nil)
        #expect(try PostgresLedger(url: url, existingOnly: true).transferIDs().isEmpty)
    }

    /// The write function is the last word before a commit that is no longer waited for
    /// separately: a write that would update an account or a hold that is not there (an engine
    /// bug) must abort the transaction, not commit a partial write.
    @Test("qrpos_write refuses to update an account that is not there, and to resolve a hold twice")
    func writeChecksItsRows() throws {
        let schema = "t_wc_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try TestPostgres.psql("CREATE SCHEMA \(schema)")
        _ = try PostgresLedger(url: try TestPostgres.baseURL.get() + "?search_path=\(schema)")
        func write(accounts: String, resolved: String) -> String {
            let none = "'{}'::text[]", noInts = "'{}'::int8[]"
            return """
                SET search_path = \(schema); SELECT qrpos_write(\(accounts), '{0}', '{0}', '{0}', '{0}',
                \(none), \(none), \(none), \(none), \(noInts), \(none), \(noInts), \(none), \(noInts), \(none), \(none), \(none), \(noInts),
                \(none), \(noInts), \(resolved), '{posted}', '{t1}', '{0}',
                \(none), \(none), \(none), \(noInts), \(noInts), \(noInts), \(none), 0)
                """
        }
        do {
            try TestPostgres.psql(write(accounts: "'{acc_missing}'", resolved: "'{}'"))
            Issue.record("updating an account that is not there was accepted")
        } catch {
            #expect("\(error)".contains("ledger write lost rows"))
        }
        try TestPostgres.psql("SET search_path = \(schema); INSERT INTO account (id, kind, currency, name, flags, created_at) VALUES ('acc_there', 'wallet', 'CNY', 'w', 1, 0)")
        do {
            try TestPostgres.psql(write(accounts: "'{acc_there}'", resolved: "'{hold_missing}'"))
            Issue.record("resolving a hold that is not pending was accepted")
        } catch {
            #expect("\(error)".contains("resolved twice"))
        }
    }

    @Test("the audit finds a transfer whose kind does not fit its accounts")
    func auditDetectsWrongKind() throws {
        let (ledger, schema) = try Self.depositedLedger("t_wk_")
        try TestPostgres.psql("UPDATE \(schema).transfer SET kind = 'bill' WHERE kind = 'deposit'")
        #expect(try ledger.audit().violations.map(\.check).contains("transfer kinds fit their accounts"))
    }

    /// A ledger in a fresh schema named from `prefix`, with one wallet and its cash deposit, whose
    /// audit passes: what the audit tests then damage behind its back.
    static func depositedLedger(_ prefix: String) throws -> (ledger: PostgresLedger, schema: String) {
        let schema = prefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let ledger = try PostgresLedger(url: try TestPostgres.baseURL.get() + "?search_path=\(schema)")
        let wallet = try ledger.createWallet(name: "w", phone: nil, currency: .CNY, now: 0).id
        _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: wallet, amount: Money(minorUnits: 100, currency: .CNY), source: .cash, now: 0)
        #expect(try ledger.audit().passed)
        return (ledger, schema)
    }

    /// The transfer and event tables have no foreign keys to their accounts on PostgreSQL (they
    /// cost half a payment's server time); the audit is what finds a row naming a missing one.
    @Test("the audit finds a transfer or an event naming a missing account")
    func auditDetectsMissingAccount() throws {
        let (ledger, schema) = try Self.depositedLedger("t_ma_")
        try TestPostgres.psql("UPDATE \(schema).transfer SET credit_account = 'wal_gone' WHERE kind = 'deposit'")
        var found = try ledger.audit().violations.filter { $0.check == "transfers and events name existing accounts" }
        #expect(found.contains { $0.detail.hasPrefix("transfer ") })
        try TestPostgres.psql("UPDATE \(schema).wallet_event SET account = 'wal_gone'")
        found = try ledger.audit().violations.filter { $0.check == "transfers and events name existing accounts" }
        #expect(found.contains { $0.detail.hasPrefix("event ") })
    }

    /// The one-round-trip path decides from this process's cache of accounts. When another
    /// process changed an account since, the decision must not stand: not a payment approved on
    /// a balance that is gone, and not a decline on a balance that has since grown.
    @Test("a payment decided from a stale cache is decided again under lock, either way")
    func staleCache() throws {
        let schema = "t_sc_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let url = try TestPostgres.baseURL.get() + "?search_path=\(schema)"
        let terminal = try PostgresLedger(url: url), other = try PostgresLedger(url: url)
        let now: Int64 = 1_800_000_000_000
        let wallet = try terminal.createWallet(name: "w", phone: nil, currency: .CNY, now: now).id
        let shop = try terminal.createMerchant(name: "m", city: "Hangzhou", categoryCode: "5411", countryCode: "CN", currency: .CNY, now: now).id
        func pay(_ store: PostgresLedger, _ amount: Int64) throws -> TransferResult {
            try store.createTransfers([Transfer(id: UUIDv7.make(), kind: .payment, debitAccount: wallet, creditAccount: shop,
                                                amount: Money(minorUnits: amount, currency: .CNY), refundOf: nil, orderID: nil,
                                                memo: "t", createdAt: 0)], now: now)[0]
        }
        func fund(_ store: PostgresLedger, _ amount: Int64) throws {
            let outcome = try store.deposit(requestID: UUIDv7.make(), wallet: wallet, amount: Money(minorUnits: amount, currency: .CNY),
                                            source: .cash, now: now)
            guard outcome.transfer != nil else { throw LedgerError(.storage, "funding refused: \(outcome)") }
        }
        try fund(terminal, 100)
        // The terminal's store cached both accounts when it made them and when it funded the
        // wallet, so its payments take one round trip.
        guard case .created = try pay(terminal, 30) else { Issue.record("a covered payment was refused"); return }
        // Another process spends most of what the terminal's cache still shows as there.
        guard case .created = try pay(other, 60) else { Issue.record("the other process's payment was refused"); return }
        if case .created = try pay(terminal, 20) { Issue.record("a payment approved on a balance that another process spent") }
        #expect(try terminal.account(wallet)?.balance.minorUnits == 10)
        // The terminal caches the wallet again (5 left), then another process tops it up: the
        // cache now shows too little.
        guard case .created = try pay(terminal, 5) else { Issue.record("a covered payment was refused"); return }
        try fund(other, 500)
        guard case .created = try pay(terminal, 200) else { Issue.record("a payment declined on a balance that had grown"); return }
        #expect(try terminal.account(wallet)?.balance.minorUnits == 305)
        #expect(try terminal.audit().passed)
    }
}
