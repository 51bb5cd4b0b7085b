import Foundation
import Ledger
import LedgerPostgres
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
}
