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
}
