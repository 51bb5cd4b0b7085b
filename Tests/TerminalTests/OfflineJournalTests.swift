import Barcodes
import Foundation
import Payments
@testable import Terminal
import GRDB
import Synchronization
import Testing

/// The terminal's side of offline payments: the token read from a QR, the offline rules, and the
/// journal that records every approval on disk before the cashier sees it.
@Suite("Terminal journal and offline rules") struct OfflineJournalTests {
    let issuer = OfflineIssuerKey()
    let device = OfflineDeviceKey()
    let now: Int64 = 1_800_000_000_000
    let policy = OfflinePolicy(floorLimit: 20_000, walletLimit: 50_000, clockSkewMillis: 300_000,
                               unsyncedAgeMaxMillis: 86_400_000, unsyncedAmountMax: 1_000_000, unsyncedCountMax: 500)

    func journal() throws -> TerminalJournal {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-journal-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try TerminalJournal(path: folder.appendingPathComponent("journal.sqlite").path)
    }

    func certificate(allowance: Int64 = 30_000, device: OfflineDeviceKey? = nil, currency: Currency = .CNY) throws -> OfflineCertificate {
        try OfflineCertificate.issue(serial: UUIDv7.make(), walletID: "wal_0123456789abcdef", device: (device ?? self.device).publicKey,
                                     allowance: Money(minorUnits: allowance, currency: currency),
                                     validFrom: now - 3_600_000, validUntil: now + 86_400_000, issuer: issuer)
    }

    func token(_ cert: OfflineCertificate, counter: UInt32, device: OfflineDeviceKey? = nil) throws -> OfflineToken {
        try OfflineToken.make(certificate: cert, device: device ?? self.device, counter: counter, time: now - 2_000)
    }

    func take(_ journal: TerminalJournal, _ token: OfflineToken, _ amount: Int64, id: String = UUIDv7.make(), at: Int64? = nil,
              policy: OfflinePolicy? = nil) throws -> OfflineDecline.Reason? {
        switch try journal.approveOffline(id: id, terminal: "term_1", merchant: "mer_1", amount: Money(minorUnits: amount, currency: .CNY),
                                          token: token, issuers: [issuer.publicKey], policy: policy ?? self.policy, now: at ?? now) {
        case .success: nil
        case .failure(let decline): decline.reason
        }
    }

    @Test("a token shown as a QR is read back by zbar and verifies (version 12 at level M)")
    func throughACamera() throws {
        // As a phone shows it, with the cryptogram for the ledger.
        let cert = try certificate()
        let text = try OfflineToken.make(certificate: cert, device: device, counter: 1, time: now - 2_000,
                                         cryptogramKey: issuer.cryptogramKey(for: cert)).text
        let qr = try QREncoder.encode(text)
        #expect(qr.version <= 12)
        let read = CodeScanner().scan(Render.raster(qr, moduleSize: 3)).compactMap(\.text)
        #expect(read == [text])
        let parsed = try OfflineToken(parsing: try #require(read.first))
        try parsed.verify(issuers: [issuer.publicKey], now: now, clockSkewMillis: policy.clockSkewMillis)
    }

    @Test("a code the ledger approved online spends its counter and its allowance here too, and waits for no sync")
    func approvedOnline() throws {
        let j = try journal()
        let cert = try certificate(allowance: 10_000)
        let online = try token(cert, counter: 4)
        let id = UUIDv7.make()
        try j.begin(id: id, terminal: "term_1", merchant: "mer_1", method: .offlineToken, amount: Money(minorUnits: 6_000, currency: .CNY), now: now)
        #expect(try j.syncStatus(now: now).undecidedCount == 1, "written before the ledger is asked")
        let entry = try j.decide(id: id, approved: true, decline: nil, token: online, now: now)
        #expect(entry.status == .approved && !entry.offline && entry.counter == 4 && entry.certificate == cert.serial)
        #expect(try j.syncStatus(now: now).unsyncedCount == 0)
        #expect(try take(j, try token(cert, counter: 4), 100) == .replayed, "the same code offline afterwards")
        #expect(try take(j, try token(cert, counter: 5), 4_100) == .walletLimit, "6,000 of the 10,000 allowance went online")
        #expect(try take(j, try token(cert, counter: 5), 4_000) == nil)
        // A second answer to a decided sale changes nothing.
        #expect(try j.decide(id: id, approved: false, decline: "late", now: now).status == .approved)
        #expect(try j.audit() == [])
    }

    @Test("an approval is on disk, counted as unsynced, and the same sale id answers the same")
    func approvalIsDurable() throws {
        let j = try journal()
        let t = try token(try certificate(), counter: 1)
        let id = UUIDv7.make()
        #expect(try take(j, t, 12_000, id: id) == nil)
        let reopened = try TerminalJournal(path: j.path)
        let entry = try #require(try reopened.entry(id))
        #expect(entry.status == .approved && entry.offline && entry.counter == 1 && entry.token == t.text)
        #expect(try reopened.syncStatus(now: now + 60_000) == SyncStatus(unsyncedCount: 1, unsyncedAmounts: ["CNY": 12_000],
                                                                        oldestAgeMillis: 60_000, undecidedCount: 0))
        // Asked again with the same id (a retry): the same answer, nothing new.
        #expect(try take(reopened, t, 12_000, id: id) == nil)
        #expect(try reopened.unsynced(limit: 10).map(\.id) == [id])
        #expect(throws: CheckoutError.self) { try take(reopened, t, 13_000, id: id) }
    }

    @Test("a code shown twice is refused the second time, and a fresh code from the same phone is taken")
    func replay() throws {
        let j = try journal()
        let cert = try certificate()
        #expect(try take(j, try token(cert, counter: 5), 1_000) == nil)
        #expect(try take(j, try token(cert, counter: 5), 1_000) == .replayed)
        #expect(try take(j, try token(cert, counter: 6), 1_000) == nil)
        // Another device of the same wallet counts on its own.
        let other = OfflineDeviceKey()
        #expect(try take(j, try token(try certificate(device: other), counter: 5, device: other), 1_000) == nil)
    }

    @Test("floor limit, the certificate's allowance, the per-wallet limit and the currency")
    func limits() throws {
        let j = try journal()
        let cert = try certificate(allowance: 30_000)
        #expect(try take(j, try token(cert, counter: 1), 20_001) == .aboveFloorLimit)
        #expect(try take(j, try token(cert, counter: 2), 20_000) == nil)
        #expect(try take(j, try token(cert, counter: 3), 10_001) == .walletLimit, "30,001 of a 30,000 allowance")
        #expect(try take(j, try token(cert, counter: 4), 10_000) == nil)
        // A new certificate of the same wallet with a larger allowance is still held to the
        // terminal's limit per wallet: 50,000 unsynced, 30,000 of it already taken. (The phone's
        // counter goes on across its certificates.)
        let big = try certificate(allowance: 1_000_000)
        #expect(try take(j, try token(big, counter: 4), 1) == .replayed)
        #expect(try take(j, try token(big, counter: 10), 20_000) == nil)
        #expect(try take(j, try token(big, counter: 11), 1) == .walletLimit)
        let dollars = try certificate(currency: .USD)
        #expect(try take(j, try token(dollars, counter: 1), 100) == .currencyMismatch)
        let status = try j.syncStatus(now: now)
        #expect(status.unsyncedCount == 3 && status.unsyncedAmounts == ["CNY": 50_000])
        // Once the ledger has them, the wallet's limit here is free again; the allowance is not.
        try j.markSynced(try j.unsynced(limit: 10).map(\.id), now: now)
        #expect(try take(j, try token(big, counter: 12), 20_000) == nil)
        #expect(try take(j, try token(cert, counter: 13), 1) == .walletLimit, "the first certificate's 30,000 is spent")
    }

    @Test("a forged, foreign or expired code is declined and recorded as declined")
    func invalidTokens() throws {
        let j = try journal()
        let foreign = try OfflineCertificate.issue(serial: UUIDv7.make(), walletID: "wal_x", device: device.publicKey,
                                                   allowance: Money(minorUnits: 10_000, currency: .CNY), validFrom: now - 1,
                                                   validUntil: now + 1_000_000, issuer: OfflineIssuerKey())
        let id = UUIDv7.make()
        #expect(try take(j, try token(foreign, counter: 1), 100, id: id) == .invalidToken)
        #expect(try j.entry(id)?.status == .declined)
        #expect(try take(j, try token(try certificate(), counter: 1), 100, at: now + 2 * 86_400_000) == .invalidToken)
        #expect(try j.syncStatus(now: now).unsyncedCount == 0)
    }

    @Test("past its unsynced count, total or age the terminal asks to sync first; syncing lifts it")
    func syncRequired() throws {
        let j = try journal()
        var tight = policy
        tight.unsyncedCountMax = 2
        let cert = try certificate()
        let first = UUIDv7.make()
        #expect(try take(j, try token(cert, counter: 1), 100, id: first, policy: tight) == nil)
        #expect(try take(j, try token(cert, counter: 2), 100, policy: tight) == nil)
        #expect(try take(j, try token(cert, counter: 3), 100, policy: tight) == .syncRequired)
        try j.markSynced([first], now: now)
        #expect(try take(j, try token(cert, counter: 4), 100, policy: tight) == nil)
        // Age: a day and a bit after the oldest unsynced payment, no more (the codes are fresh).
        var aged = policy
        aged.unsyncedAgeMaxMillis = 60_000
        let later = now + 61_000
        let fresh = try OfflineToken.make(certificate: cert, device: device, counter: 9, time: later)
        #expect(try take(j, fresh, 100, at: later, policy: aged) == .syncRequired)
        // Total.
        var small = policy
        small.unsyncedAmountMax = 400
        #expect(try take(j, try token(cert, counter: 10), 201, policy: small) == .syncRequired, "200 waiting + 201 > 400")
        #expect(try take(j, try token(cert, counter: 11), 200, policy: small) == nil)
        try j.markSynced([first], now: now + 1)   // already acknowledged: nothing changes
        #expect(try j.audit() == [])
        #expect(try j.syncStatus(now: now).unsyncedAmounts == ["CNY": 400])
    }

    /// The ledger's answers to a whole batch are written in a few statements (400 entries each);
    /// every entry gets its own answer and the backlog drains by exactly what was waiting.
    @Test("a batch of answers larger than one statement marks every entry once, each with its own answer")
    func markSyncedInChunks() throws {
        let j = try journal()
        let cert = try certificate()
        var ids: [String] = []
        for counter in 1...450 {
            let id = UUIDv7.make()
            #expect(try take(j, try token(cert, counter: UInt32(counter)), 10, id: id) == nil)
            ids.append(id)
        }
        let kept = ids.removeLast()
        var answers = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0 % 2 == 0 ? "settled" : "refused: #\($0)") })
        answers["not-in-this-journal"] = "settled"
        try j.markSynced(answers, now: now + 5)
        // The marks' own commit is not synced to disk; the journal's writes after it are again.
        #expect(try j.durability() == ("wal", 2))
        let status = try j.syncStatus(now: now + 5)
        #expect(status.unsyncedCount == 1)
        #expect(status.unsyncedAmounts == ["CNY": 10])
        #expect(try j.entry(kept)?.syncedAt == nil)
        for (index, id) in ids.enumerated() where index % 97 == 0 || index == ids.count - 1 {
            let entry = try #require(try j.entry(id))
            #expect(entry.syncedAt == now + 5)
            #expect(entry.syncResult == answers[id])
        }
        try j.markSynced(answers, now: now + 6)   // the same answers again: nothing drains twice
        #expect(try j.syncStatus(now: now + 6).unsyncedCount == 1)
        #expect(try j.audit() == [])
    }

    /// What waits is handed to the forwarder oldest first, whatever its currency: read a
    /// currency at a time and merged.
    @Test("waiting entries come oldest first across currencies, and only those still waiting")
    func unsyncedInOrderAcrossCurrencies() throws {
        let j = try journal()
        let yuan = try certificate(), dollars = try certificate(currency: .USD)
        var ids: [String] = []
        for k in 0..<7 {
            let id = UUIDv7.make()
            let (cert, currency): (OfflineCertificate, Currency) = k % 3 == 1 ? (dollars, .USD) : (yuan, .CNY)
            let result = try j.approveOffline(id: id, terminal: "term_1", merchant: "mer_1", amount: Money(minorUnits: 100, currency: currency),
                                              token: try token(cert, counter: UInt32(k + 1)), issuers: [issuer.publicKey], policy: policy,
                                              now: now + Int64(k) * 10)
            guard case .success = result else { Issue.record("approval \(k): \(result)"); return }
            ids.append(id)
        }
        #expect(try j.unsynced(limit: 3).map(\.id) == Array(ids.prefix(3)))
        #expect(try j.unsynced(limit: 100).map(\.id) == ids)
        try j.markSynced([ids[0], ids[1], ids[4]], now: now + 100)
        #expect(try j.unsynced(limit: 3).map(\.id) == [ids[2], ids[3], ids[5]])
        #expect(try j.unsynced(limit: 100).map(\.id).count == 4)
        #expect(try j.unsynced(limit: 0).isEmpty && j.unsynced(limit: -1).isEmpty)
        #expect(try j.audit() == [])
        // Each read walks the partial index in its order: no pass over every waiting entry, no sort.
        let db = try DatabaseQueue(path: j.path)
        for (sql, arguments) in [(TerminalJournal.nextUnsyncedCurrencySQL, ["" as any DatabaseValueConvertible]),
                                 (TerminalJournal.unsyncedSQL, ["CNY", 3])] {
            let plan = try db.read { try Row.fetchAll($0, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(arguments)) }
                .map { $0["detail"] as String }
            #expect(plan.contains { $0.contains("SEARCH entry USING") && $0.contains("entry_unsynced") }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") || $0.hasPrefix("SCAN") }, "\(plan)")
        }
    }

    @Test("a sale begun online and then taken offline is one entry; an unanswered one is counted")
    func onlineThenOffline() throws {
        let j = try journal()
        let id = UUIDv7.make()
        let amount = Money(minorUnits: 500, currency: .CNY)
        try j.begin(id: id, terminal: "term_1", merchant: "mer_1", method: .offlineToken, amount: amount, now: now)
        #expect(try j.syncStatus(now: now).undecidedCount == 1)
        #expect(try take(j, try token(try certificate(), counter: 1), 500, id: id) == nil)
        #expect(try j.syncStatus(now: now).undecidedCount == 0)
        #expect(try j.entry(id)?.offline == true)
        let online = UUIDv7.make()
        try j.begin(id: online, terminal: "term_1", merchant: "mer_1", method: .customerCode, amount: amount, now: now)
        try j.begin(id: online, terminal: "term_1", merchant: "mer_1", method: .customerCode, amount: amount, now: now)
        #expect(throws: CheckoutError.self) {
            try j.begin(id: online, terminal: "term_1", merchant: "mer_1", method: .customerCode, amount: Money(minorUnits: 501, currency: .CNY), now: now)
        }
        try j.decide(id: online, approved: false, decline: "insufficient funds", now: now)
        #expect(try j.entry(online)?.status == .declined && j.entry(online)?.decline == "insufficient funds")
    }

    /// Eight checkouts of one terminal take codes of one wallet at once: the allowance is never
    /// passed, and exactly as many as fit are approved.
    @Test("concurrent offline approvals never pass the allowance")
    func concurrent() throws {
        let j = try journal()
        let cert = try certificate(allowance: 30_000)
        let tokens = try (1...40).map { try token(cert, counter: UInt32($0)) }
        let approved = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: tokens.count) { i in
            if (try? take(j, tokens[i], 1_000)) == .some(nil) { approved.withLock { $0 += 1 } }
        }
        #expect(approved.withLock { $0 } == 30)
        #expect(try j.syncStatus(now: now).unsyncedAmounts == ["CNY": 30_000])
        #expect(try j.audit() == [])
    }
}
