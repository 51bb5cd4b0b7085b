import Foundation
import Ledger
import LedgerSQLite
import Payments
import Synchronization

/// `qrpos bench ledger`: payments per second on a store with its durable settings on (SQLite:
/// WAL, synchronous=FULL), one payment per database transaction and in batches, from 1 and 8
/// concurrent clients, spread over many merchants and all into one (the hot account).
///
/// Every payment is a real transfer through the engine: its id looked up, both accounts read,
/// checked against their flags, updated, the transfer and its wallet events written, and the
/// transaction committed to disk before the call returns. The ledger is audited after each case.
struct LedgerBench {
    let walletCount: Int
    let merchantCount: Int
    let singleCount: Int
    let batchSize: Int
    let batchCount: Int
    /// The cases to run, by ``Case/label`` ("single-hot/8"); nil runs them all.
    var only: Set<String>? = nil

    struct Case {
        let name: String
        let clients: Int
        let batch: Int
        let hot: Bool
        /// The name with its client count, as `--cases` takes it: "single-spread/8".
        var label: String { "\(name)/\(clients)" }
    }

    static let cases = [
        Case(name: "single-spread", clients: 1, batch: 1, hot: false),
        Case(name: "single-hot", clients: 1, batch: 1, hot: true),
        Case(name: "single-spread", clients: 4, batch: 1, hot: false),
        Case(name: "single-hot", clients: 4, batch: 1, hot: true),
        Case(name: "single-spread", clients: 8, batch: 1, hot: false),
        Case(name: "single-hot", clients: 8, batch: 1, hot: true),
        Case(name: "batch-spread", clients: 1, batch: 0, hot: false),
        Case(name: "batch-hot", clients: 1, batch: 0, hot: true),
    ]

    func run(on makeStore: () throws -> (store: any LedgerCore, label: String)) throws {
        // A batch case's size is `batchSize`.
        let cases = Self.cases.map { $0.batch == 0 ? Case(name: $0.name, clients: $0.clients, batch: batchSize, hot: $0.hot) : $0 }
        for benchCase in cases where only?.contains(benchCase.label) ?? true {
            let (store, label) = try makeStore()
            printJSON(try measure(benchCase, store: store, label: label))
        }
    }

    private func measure(_ c: Case, store: any LedgerCore, label: String) throws -> [String: Any] {
        let now = UnixTime.nowMillis()
        // Accounts: wallets funded generously, merchants; made outside the timing.
        let seed = try store.createWallet(name: "seed", phone: nil, currency: .CNY, now: now)
        _ = try store.deposit(requestID: UUIDv7.make(), wallet: seed.id, amount: Money(minorUnits: 1, currency: .CNY), source: .cash, now: now)
        var wallets: [String] = []
        for i in 0..<walletCount { wallets.append(try store.createWallet(name: "w\(i)", phone: nil, currency: .CNY, now: now).id) }
        var merchants: [String] = []
        for i in 0..<merchantCount {
            merchants.append(try store.createMerchant(name: "m\(i)", city: "Hangzhou", categoryCode: "5411", countryCode: "CN",
                                                      currency: .CNY, now: now).id)
        }
        let funding = wallets.map { w in
            Transfer(id: UUIDv7.make(), kind: .deposit, debitAccount: "settlement-CNY", creditAccount: w,
                     amount: Money(minorUnits: 1_000_000_000, currency: .CNY), refundOf: nil, orderID: nil, memo: "cash", createdAt: 0)
        }
        for chunk in stride(from: 0, to: funding.count, by: 1_000) {
            let results = try store.createTransfers(Array(funding[chunk..<min(chunk + 1_000, funding.count)]), now: now)
            guard results.allSatisfy({ $0.transfer != nil }) else { throw LedgerError(.storage, "bench funding refused: \(results)") }
        }

        let (walletIDs, merchantIDs) = (wallets, merchants)
        let total = c.batch == 1 ? singleCount : batchCount * c.batch
        let calls = total / c.batch
        let latencies = Mutex<[Double]>([])
        let failures = Atomic<Int>(0)
        let clock = ContinuousClock()
        let started = clock.now
        // One thread per client (concurrentPerform would run only as many at once as there are
        // cores, and a client mostly waits on the store).
        runOnThreads(c.clients) { client in
            var mine: [Double] = []
            mine.reserveCapacity(calls / c.clients + 1)
            var k = UInt64(client) &+ 1
            for _ in stride(from: client, to: calls, by: c.clients) {
                var batch: [Transfer] = []
                batch.reserveCapacity(c.batch)
                for _ in 0..<c.batch {
                    k = k &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let w = walletIDs[Int((k >> 33) % UInt64(walletIDs.count))]
                    let m = c.hot ? merchantIDs[0] : merchantIDs[Int((k >> 17) % UInt64(merchantIDs.count))]
                    batch.append(Transfer(id: UUIDv7.make(), kind: .payment, debitAccount: w, creditAccount: m,
                                          amount: Money(minorUnits: 100 + Int64(k >> 56), currency: .CNY),
                                          refundOf: nil, orderID: nil, memo: "bench", createdAt: 0))
                }
                let began = clock.now
                do {
                    let results = try store.createTransfers(batch, now: UnixTime.nowMillis())
                    if !results.allSatisfy({ if case .created = $0 { true } else { false } }) { failures.add(1, ordering: .relaxed) }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
                mine.append(milliseconds(began.duration(to: clock.now)))
            }
            latencies.withLock { $0 += mine }
        }
        let seconds = milliseconds(started.duration(to: clock.now)) / 1_000
        let sorted = latencies.withLock { $0 }.sorted()
        let report = try store.audit()
        guard report.passed else { throw LedgerError(.storage, "bench ledger audit failed: \(report.violations)") }
        guard failures.load(ordering: .relaxed) == 0 else {
            throw LedgerError(.storage, "\(failures.load(ordering: .relaxed)) bench calls failed")
        }
        return ["bench": "ledger", "case": c.name, "store": label, "clients": c.clients, "batch": c.batch,
                "n": total, "calls": calls, "median_ms": percentile(sorted, 0.5), "p99_ms": percentile(sorted, 0.99),
                "per_second": Int((Double(total) / seconds).rounded()), "accounts": walletCount + merchantCount,
                "audit": "passed"]
    }
}

/// Runs `body(0..<count)` on `count` threads at once and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        let thread = Thread {
            body(i)
            done.leave()
        }
        thread.start()
    }
    done.wait()
}
