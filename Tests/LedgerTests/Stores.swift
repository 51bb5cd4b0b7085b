import Foundation
import Ledger
import Payments
import LedgerPostgres
import LedgerSQLite
import QrposTestSupport
import Testing

/// The stores every shared scenario runs on. PostgreSQL is the project's own server on
/// loopback, started by `services/postgres.sh` (installed if missing) the first time a test
/// needs it, or the one named by `QRPOS_TEST_POSTGRES_URL`; each store is a fresh schema in it.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static let all = allCases
    var testDescription: String { rawValue }

    /// The store with the checkout's operations too (one-time codes, orders, refunds).
    func makeCheckoutStore(walletLimits: @escaping @Sendable (Currency) -> WalletLimits = WalletLimits.standard(for:)) throws -> any LedgerStore {
        try #require(try make(walletLimits: walletLimits) as? any LedgerStore)
    }

    func make(walletLimits: @escaping @Sendable (Currency) -> WalletLimits = WalletLimits.standard(for:)) throws -> any TransactionalLedgerStore {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return try SQLiteLedger(path: dir.appendingPathComponent("ledger.sqlite").path, walletLimits: walletLimits)
        case .postgres:
            let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            return try PostgresLedger(url: try TestPostgres.baseURL.get() + "?search_path=\(schema)", walletLimits: walletLimits)
        }
    }
}
