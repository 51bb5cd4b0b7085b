import Foundation
import Payments
import Terminal

/// `qrpos bench sync`: what a terminal does for a payment when the network is gone. The case
/// measured is an offline approval made durable: a fresh token from one of 100 wallets' phones
/// checked (both Ed25519 signatures, the times, the limits against the journal) and the
/// approval written to the journal (SQLite, WAL, synchronous=FULL) before it returns. The scan
/// itself is not timed; the token is parsed from its text as the scanner would hand it over.
struct SyncBench {
    let count: Int

    func run() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-bench-sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = try TerminalJournal(path: folder.appendingPathComponent("journal.sqlite").path)
        let issuer = OfflineIssuerKey()
        let now = UnixTime.nowMillis()
        let phones = try (0..<100).map { i -> (OfflineDeviceKey, OfflineCertificate) in
            let device = OfflineDeviceKey()
            let cert = try OfflineCertificate.issue(serial: UUIDv7.make(), walletID: "wal_bench\(i)", device: device.publicKey,
                                                    allowance: Money(minorUnits: 100_000_000, currency: .CNY),
                                                    validFrom: now - 60_000, validUntil: now + 86_400_000, issuer: issuer)
            return (device, cert)
        }
        var policy = OfflinePolicy.standard(for: .CNY)
        policy.walletLimit = .max / 4
        policy.unsyncedCountMax = count + 1
        policy.unsyncedAmountMax = .max / 4
        let texts = try (0..<count).map { k -> String in
            let (device, cert) = phones[k % phones.count]
            return try OfflineToken.make(certificate: cert, device: device, counter: UInt32(k / phones.count + 1), time: now).text
        }
        var times: [Double] = []
        times.reserveCapacity(count)
        let clock = ContinuousClock()
        let started = clock.now
        for (k, text) in texts.enumerated() {
            let began = clock.now
            let token = try OfflineToken(parsing: text)
            let result = try journal.approveOffline(id: UUIDv7.make(), terminal: "term_bench", merchant: "mer_bench",
                                                    amount: Money(minorUnits: 100 + Int64(k % 900), currency: .CNY), token: token,
                                                    issuers: [issuer.publicKey], policy: policy, now: UnixTime.nowMillis())
            times.append(milliseconds(began.duration(to: clock.now)))
            if case .failure(let decline) = result { throw Failure("bench sync: approval \(k) declined: \(decline)") }
        }
        let seconds = milliseconds(started.duration(to: clock.now)) / 1_000
        let status = try journal.syncStatus(now: UnixTime.nowMillis())
        guard status.unsyncedCount == count else { throw Failure("bench sync: the journal holds \(status.unsyncedCount) of \(count) approvals") }
        let sorted = times.sorted()
        printJSON(["bench": "sync", "case": "offline-approval", "n": count, "median_ms": percentile(sorted, 0.5),
                   "p99_ms": percentile(sorted, 0.99), "per_second": Int((Double(count) / seconds).rounded()),
                   "durable": "journal, WAL, synchronous=FULL"])
    }
}
