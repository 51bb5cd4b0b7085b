import Foundation
import Ledger
import LedgerServer
import LedgerSQLite
import Payments
import Receipts
import Synchronization
import Terminal

/// `qrpos bench sync`: the offline side of a terminal and its store-and-forward, on loopback.
///
/// - `offline-approval`: a fresh code from one of 100 wallets' phones checked (both Ed25519
///   signatures, the times, the limits against the journal) and the approval written to the
///   journal (SQLite, WAL, synchronous=FULL) before it returns. The scan itself is not timed;
///   the code is parsed from its text as the scanner hands it over.
/// - `sync-upload`: those approvals forwarded to `qrpos ledger serve` (a child process, SQLite
///   ledger) in signed batches of 500 over loopback HTTP, two out at once (as `qrpos sync push`
///   sends them); each batch is checked again by the server (the certificate once, then each
///   code's cryptogram, as the phones of `qrpos wallet token` make them) and settled in one
///   ledger transaction. Entries per second, and each batch's time.
///
/// - `online-authorize`: a sale on a fresh offline code asked of the same server online first
///   (`POST /v1/authorize`, signed, over loopback HTTP: the server verifies the code, checks its
///   counter and settles it in one ledger transaction). `round_trip` is the request alone;
///   `sale` the whole checkout path: the journal entry before the request, the answer written
///   after it, the receipt signed.
///
/// The ledger is audited at the end.
struct SyncBench {
    let count: Int

    func run() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-bench-sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let ledger = try SQLiteLedger(path: home.appendingPathComponent("ledger.sqlite").path)
        let ops = WalletOperations(store: ledger)
        let issuerSeed = (0..<32).map { _ in UInt8.random(in: 0...255) }
        try Data(issuerSeed).write(to: home.appendingPathComponent("offline-issuer-key"))
        let issuer = try OfflineIssuerKey(seed: issuerSeed)
        let now = UnixTime.nowMillis()
        let merchant = try ledger.createMerchant(name: "Bench", city: "Hangzhou", categoryCode: "5411", countryCode: "CN", currency: .CNY, now: now)
        let phones = try (0..<100).map { i -> (OfflineDeviceKey, OfflineCertificate) in
            let wallet = try ledger.createWallet(name: "w\(i)", phone: nil, currency: .CNY, now: now)
            _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: wallet.id, amount: Money(minorUnits: 100_000_000, currency: .CNY),
                                   source: .cash, now: now)
            let serial = UUIDv7.make(), allowance = Money(minorUnits: 10_000_000, currency: .CNY)
            _ = try ops.reserveOfflineAllowance(serial: serial, wallet: wallet.id, amount: allowance, validUntil: now + 86_400_000, now: now)
            let device = OfflineDeviceKey()
            return (device, try OfflineCertificate.issue(serial: serial, walletID: wallet.id, device: device.publicKey, allowance: allowance,
                                                         validFrom: now - 60_000, validUntil: now + 86_400_000, issuer: issuer))
        }
        let journal = try TerminalJournal(path: home.appendingPathComponent("journal.sqlite").path)
        var policy = OfflinePolicy.standard(for: .CNY)
        policy.walletLimit = .max / 4
        policy.unsyncedCountMax = count + 1
        policy.unsyncedAmountMax = .max / 4
        let texts = try (0..<count).map { k -> String in
            let (device, cert) = phones[k % phones.count]
            return try OfflineToken.make(certificate: cert, device: device, counter: UInt32(k / phones.count + 1), time: now,
                                         cryptogramKey: issuer.cryptogramKey(for: cert)).text
        }
        var times: [Double] = []
        times.reserveCapacity(count)
        let clock = ContinuousClock()
        var started = clock.now
        var total: Int64 = 0
        for (k, text) in texts.enumerated() {
            let began = clock.now
            let token = try OfflineToken(parsing: text)
            let amount = Money(minorUnits: 100 + Int64(k % 900), currency: .CNY)
            let result = try journal.approveOffline(id: UUIDv7.make(), terminal: "T1", merchant: merchant.id, amount: amount, token: token,
                                                    issuers: [issuer.publicKey], policy: policy, now: UnixTime.nowMillis())
            times.append(milliseconds(began.duration(to: clock.now)))
            if case .failure(let decline) = result { throw Failure("bench sync: approval \(k) declined: \(decline)") }
            total += amount.minorUnits
        }
        var seconds = milliseconds(started.duration(to: clock.now)) / 1_000
        let status = try journal.syncStatus(now: UnixTime.nowMillis())
        guard status.unsyncedCount == count else { throw Failure("bench sync: the journal holds \(status.unsyncedCount) of \(count) approvals") }
        var sorted = times.sorted()
        printJSON(["bench": "sync", "case": "offline-approval", "n": count, "median_ms": percentile(sorted, 0.5),
                   "p99_ms": percentile(sorted, 0.99), "per_second": Int((Double(count) / seconds).rounded()),
                   "durable": "journal, WAL, synchronous=FULL"])

        // The upload: the server as its own process, as a terminal would find it.
        let terminalKey = TerminalKey()
        try JSONEncoder().encode([TerminalRegistration(id: "T1", merchant: merchant.id, publicKey: terminalKey.publicKey.hex)])
            .write(to: home.appendingPathComponent("terminals.json"))
        let server = try ServerProcess(executable: URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath(),
                                       home: home.path, terminals: home.appendingPathComponent("terminals.json").path, port: 0)
        defer { server.stop() }
        let settler = TimedSettler(inner: LedgerClient(server: URL(string: "http://127.0.0.1:\(server.port)")!, terminalID: "T1",
                                                      key: terminalKey, timeoutSeconds: 60))
        var forwarder = Forwarder(journal: journal, settler: settler)
        forwarder.batchSize = 500
        forwarder.inFlight = 2
        started = clock.now
        let report = try forwarder.forwardAll()
        seconds = milliseconds(started.duration(to: clock.now)) / 1_000
        guard report.settled == count, report.left == 0 else { throw Failure("bench sync: upload settled \(report.settled) of \(count): \(report)") }
        guard try ledger.account(merchant.id)?.balance.minorUnits == total else { throw Failure("bench sync: the merchant was not paid exactly") }
        let audit = try ledger.audit()
        guard audit.passed else { throw Failure("bench sync: ledger audit failed: \(audit.violations)") }
        sorted = settler.times.withLock { $0 }.sorted()
        printJSON(["bench": "sync", "case": "sync-upload", "n": count, "batch": forwarder.batchSize, "in_flight": forwarder.inFlight, "median_ms": percentile(sorted, 0.5),
                   "p99_ms": percentile(sorted, 0.99), "per_second": Int((Double(count) / seconds).rounded()),
                   "store": "sqlite", "audit": "passed"])

        // Online first: the same server, one sale at a time.
        let client = LedgerClient(server: URL(string: "http://127.0.0.1:\(server.port)")!, terminalID: "T1", key: terminalKey, timeoutSeconds: 5)
        let checkout = Checkout(ledger: nil, merchant: merchant, terminalID: "T1", receiptKey: ReceiptKey())
        let online = min(count, 2_000)
        var trips: [Double] = [], sales: [Double] = []
        var paidOnline: Int64 = 0
        for k in 0..<online {
            let (device, cert) = phones[k % phones.count]
            let amount = Money(minorUnits: 100 + Int64(k % 900), currency: .CNY)
            let code = try OfflineToken.make(certificate: cert, device: device, counter: UInt32(1_000_000 + k / phones.count), time: UnixTime.nowMillis())
            if k % 2 == 0 {
                let began = clock.now
                let answer = try client.authorize(id: UUIDv7.make(), merchant: merchant.id, amount: amount, code: code.text)
                trips.append(milliseconds(began.duration(to: clock.now)))
                guard case .approved = answer else { throw Failure("bench sync: online authorization \(k) declined: \(answer)") }
            } else {
                let began = clock.now
                let result = try checkout.chargeOnlineFirst(amount: amount, code: code.text, journal: journal, online: client,
                                                            issuers: [issuer.publicKey], policy: policy)
                sales.append(milliseconds(began.duration(to: clock.now)))
                guard let receipt = result.receipt, receipt.receipt.method == "offline code, online" else {
                    throw Failure("bench sync: online sale \(k) was not approved online: \(result)")
                }
            }
            paidOnline += amount.minorUnits
        }
        guard try ledger.account(merchant.id)?.balance.minorUnits == total + paidOnline else { throw Failure("bench sync: online sales not paid exactly") }
        guard try ledger.audit().passed else { throw Failure("bench sync: ledger audit failed after the online sales") }
        for (name, times) in [("round_trip", trips), ("sale", sales)] {
            let sorted = times.sorted()
            printJSON(["bench": "sync", "case": "online-authorize", "part": name, "n": times.count, "median_ms": percentile(sorted, 0.5),
                       "p99_ms": percentile(sorted, 0.99), "store": "sqlite", "transport": "HTTP/1.1 loopback, signed requests"])
        }
    }
}

/// Times each batch the inner settler answers.
final class TimedSettler: OfflineSettler, @unchecked Sendable {
    let inner: any OfflineSettler
    let times = Mutex<[Double]>([])
    init(inner: any OfflineSettler) { self.inner = inner }
    func settle(_ entries: [ForwardedPayment]) throws -> [String: ForwardAnswer] {
        let clock = ContinuousClock()
        let began = clock.now
        defer { let t = milliseconds(began.duration(to: clock.now)); times.withLock { $0.append(t) } }
        return try inner.settle(entries)
    }
}
