import ArgumentParser
import Foundation
import Ledger
import Payments
import SeededRandom

/// `qrpos ledger stress`: a seeded stream of transfers for crash tests. It prints `ack ID new`
/// (or `ack ID exists`, for a retry) on
/// standard output only after the transfer's transaction has committed (flushed at once), so a
/// test that kills the process at any moment knows exactly what was acknowledged.
///
/// The stream is a function of the seed alone: run again with the same seed, it makes the same
/// transfers with the same ids, so a restart retries what may or may not have committed
/// before the kill, and the ledger answers "exists" for those that did.
struct LedgerStress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Write a seeded stream of transfers, printing 'ack ID new|exists' after each commit (for crash tests).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Seed of the stream.") var seed: UInt64 = 1
    @Option(help: "How many batches to write.") var batches: Int = 1_000
    @Option(help: "Wallets the money moves between.") var wallets: Int = 8

    func validate() throws {
        guard batches >= 1, (2...1_000).contains(wallets) else { throw ValidationError("--batches ≥ 1, --wallets 2…1000") }
    }

    func run() throws {
        let ledger = try store.openCore()
        let now = UnixTime.nowMillis()
        // Accounts with fixed ids, made once (idempotent: "exists" on a restart).
        try ensureStressAccounts(ledger, count: wallets, now: now)
        let funding = (0..<wallets).map { i in
            Transfer(id: "fund-\(seed)-\(i)", kind: .deposit, debitAccount: "settlement-CNY", creditAccount: "stress-\(i)",
                     amount: Money(minorUnits: 1_000_00, currency: .CNY), refundOf: nil, orderID: nil, memo: "cash", createdAt: 0)
        }
        try acknowledge(ledger.createTransfers(funding, now: now))
        // The seed is spread before use, so seeds 1, 2, 3… start far apart.
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15)
        for b in 0..<batches {
            var batch: [Transfer] = []
            for i in 0..<Int(1 + rng.next() % 6) {
                let id = "s\(seed)-\(b)-\(i)"
                let from = Int(rng.next() % UInt64(wallets)), to = (from + 1 + Int(rng.next() % UInt64(wallets - 1))) % wallets
                let amount = Money(minorUnits: Int64(1 + rng.next() % 5_000), currency: .CNY)
                switch rng.next() % 4 {
                case 0:
                    // A hold and its post in one linked chain (the post for less).
                    batch.append(Transfer(id: id + "h", kind: .transfer, debitAccount: "stress-\(from)", creditAccount: "stress-\(to)",
                                          amount: amount, flags: [.pending, .linked], refundOf: nil, orderID: nil, memo: "", createdAt: 0))
                    batch.append(Transfer(id: id + "p", kind: .transfer, debitAccount: "stress-\(from)", creditAccount: "stress-\(to)",
                                          amount: Money(minorUnits: max(1, amount.minorUnits / 2), currency: .CNY), flags: .postPending,
                                          pendingID: id + "h", refundOf: nil, orderID: nil, memo: "", createdAt: 0))
                case 1:
                    // A hold left to expire after 50 ms.
                    batch.append(Transfer(id: id, kind: .transfer, debitAccount: "stress-\(from)", creditAccount: "stress-\(to)",
                                          amount: amount, flags: .pending, timeoutMillis: 50, refundOf: nil, orderID: nil, memo: "", createdAt: 0))
                default:
                    batch.append(Transfer(id: id, kind: .transfer, debitAccount: "stress-\(from)", creditAccount: "stress-\(to)",
                                          amount: amount, refundOf: nil, orderID: nil, memo: "", createdAt: 0))
                }
            }
            try acknowledge(ledger.createTransfers(batch, now: UnixTime.nowMillis()))
            if b % 16 == 0 { _ = try ledger.expirePending(now: UnixTime.nowMillis()) }
        }
    }

    /// Prints an ack for every transfer the ledger holds after the commit: created now, or
    /// found existing (a retry after a restart). Refusals (not enough money) are printed too.
    private func acknowledge(_ results: [TransferResult]) throws {
        var out = ""
        for r in results {
            switch r {
            case .created(let t): out += "ack \(t.id) new\n"
            case .exists(let t): out += "ack \(t.id) exists\n"
            case .refused(let reason): out += "refused \(reason.rawValue)\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

/// The settlement account and `count` wallets `stress-0`… with fixed ids, made once; existing
/// ones are left as they are.
private func ensureStressAccounts(_ ledger: any TransactionalLedgerStore, count: Int, now: Int64) throws {
    try ledger.transaction(now: now) { tx in
        try tx.ensureAccount(id: "settlement-CNY", kind: .settlement, currency: .CNY, name: "Settlement (bank and cash) CNY")
        for i in 0..<count {
            try tx.ensureAccount(id: "stress-\(i)", kind: .wallet, currency: .CNY, name: "stress \(i)")
        }
    }
}
