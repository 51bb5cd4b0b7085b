import Foundation
import Ledger
import LedgerSQLite
import Payments
import Receipts
import Synchronization
import Terminal
import Testing

/// Offline payments from issue to settlement, on a real embedded ledger: the allowance reserved,
/// two terminals taking one wallet's codes while cut off (more than its allowance between them),
/// then forwarding through a link that fails and loses answers. Every approved payment reaches
/// the ledger exactly once, and the audit passes.
@Suite("Offline checkout and store-and-forward")
struct OfflineCheckoutTests {
    let now: Int64 = 1_800_000_000_000
    let issuer = OfflineIssuerKey()
    let phone = OfflineDeviceKey()
    let policy = OfflinePolicy.standard(for: .CNY)

    struct Setup {
        let till: Till
        let ops: WalletOperations
        let certificate: OfflineCertificate
        let journals: [TerminalJournal]
        let checkouts: [Checkout]
    }

    func setup() throws -> Setup {
        let till = try Till(walletCash: "1000.00")
        let ops = WalletOperations(store: till.ledger)
        let serial = UUIDv7.make()
        let validUntil = now + 3 * 86_400_000
        let reserved = try ops.reserveOfflineAllowance(serial: serial, wallet: till.wallet.id, amount: try till.cny("300.00"),
                                                       validUntil: validUntil, now: now)
        #expect(reserved.transfer != nil)
        let certificate = try OfflineCertificate.issue(serial: serial, walletID: till.wallet.id, device: phone.publicKey,
                                                       allowance: try till.cny("300.00"), validFrom: now, validUntil: validUntil, issuer: issuer)
        let journals = try (0..<2).map { _ in
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-offline-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return try TerminalJournal(path: dir.appendingPathComponent("journal.sqlite").path)
        }
        let checkouts = ["T1", "T2"].map { Checkout(ledger: till.ledger, merchant: till.merchant, terminalID: $0, receiptKey: till.key) }
        return Setup(till: till, ops: ops, certificate: certificate, journals: journals, checkouts: checkouts)
    }

    func code(_ s: Setup, _ counter: UInt32, at time: Int64) throws -> String {
        try OfflineToken.make(certificate: s.certificate, device: phone, counter: counter, time: time).text
    }

    /// The embedded ledger's settler, its clock at `now`.
    func settler(_ s: Setup, at now: Int64) -> LedgerSettler {
        LedgerSettler(ops: s.ops, issuers: [issuer.publicKey], clockSkewMillis: policy.clockSkewMillis, now: { now })
    }

    /// `count` payments of `amount` taken offline on the first terminal, each approved.
    func takeOffline(_ s: Setup, _ count: Int, of amount: String, at t: Int64) throws {
        for counter in 1...count {
            _ = try #require(try s.checkouts[0].chargeOffline(amount: try s.till.cny(amount), token: try code(s, UInt32(counter), at: t),
                                                              journal: s.journals[0], issuers: [issuer.publicKey], policy: policy,
                                                              now: t + Int64(counter)).receipt)
        }
    }

    /// A terminal whose answer was lost sends the batch again after the ledger's issuer keys
    /// changed: what was settled is answered settled, not refused; what was not stays refused.
    @Test("a repeat of a settled payment is answered settled even when its code no longer passes the ledger's checks")
    func repeatAfterTheKeysChanged() throws {
        let s = try setup()
        let t = now + 60_000
        try takeOffline(s, 2, of: "20.00", at: t)
        let entries = try s.journals[0].unsynced(limit: 10).compactMap(\.forwarded)
        #expect(entries.count == 2)
        let first = try settler(s, at: t + 1_000).settle([entries[0]])
        guard case .settled(let original)? = first[entries[0].id] else { Issue.record("\(first)"); return }
        let rotated = LedgerSettler(ops: s.ops, issuers: [OfflineIssuerKey().publicKey], clockSkewMillis: policy.clockSkewMillis, now: { t + 2_000 })
        let again = try rotated.settle(entries)
        guard case .settled(let repeated)? = again[entries[0].id], case .refused(let why)? = again[entries[1].id] else {
            Issue.record("\(again)")
            return
        }
        #expect(repeated.replayed && repeated.fromAllowance == original.fromAllowance && repeated.fromWallet == original.fromWallet)
        #expect(why.contains("issued by a key"))
        // Another payment under a settled id (another amount) is not taken for it.
        let other = ForwardedPayment(id: entries[0].id, terminal: "T1", merchant: entries[0].merchant, amount: try s.till.cny("21.00"),
                                     token: entries[0].token, wallet: entries[0].wallet, certificate: entries[0].certificate,
                                     counter: entries[0].counter, createdAt: entries[0].createdAt)
        guard case .refused? = try rotated.settle([other])[other.id] else { Issue.record("a different payment passed for a settled one"); return }
        #expect(try s.till.ledger.audit().passed)
    }

    @Test("two terminals overspend one allowance offline; forwarding settles every payment once")
    func overspendAcrossTerminals() throws {
        let s = try setup()
        let t = now + 60_000
        var approved: [(terminal: Int, id: String, amount: String)] = []
        for (terminal, counter, amount) in [(0, 1, "150.00"), (0, 2, "100.00"), (1, 3, "120.00")] as [(Int, UInt32, String)] {
            let result = try s.checkouts[terminal].chargeOffline(amount: try s.till.cny(amount), token: try code(s, counter, at: t),
                                                                 journal: s.journals[terminal], issuers: [issuer.publicKey],
                                                                 policy: policy, now: t + 1)
            let receipt = try #require(result.receipt, "\(result.declineReason ?? "")")
            #expect(receipt.receipt.method == "offline code")
            approved.append((terminal, receipt.receipt.paymentID, amount))
        }
        // The same code again at the second terminal: its own journal has never seen it, so the
        // second terminal could be fooled; at the first it is refused.
        #expect(try s.checkouts[0].chargeOffline(amount: try s.till.cny("1.00"), token: try code(s, 2, at: t), journal: s.journals[0],
                                                 issuers: [issuer.publicKey], policy: policy, now: t + 2).declineReason != nil)
        #expect(try s.till.ledger.account(s.till.merchant.id)?.balance.minorUnits == 0, "nothing reached the ledger yet")

        let settler = LedgerSettler(ops: s.ops, issuers: [issuer.publicKey], clockSkewMillis: policy.clockSkewMillis, now: { t + 3_600_000 })
        for journal in s.journals {
            let report = try Forwarder(journal: journal, settler: settler).forwardAll(sleep: { _ in })
            #expect(report.refused == 0 && report.left == 0)
            #expect(try journal.syncStatus(now: t).unsyncedCount == 0)
            #expect(try journal.audit() == [])
        }
        #expect(try s.till.ledger.account(s.till.merchant.id)?.balance.minorUnits == 37_000, "370.00: every payment, once")
        // 300 came from the allowance, 70 from the wallet's own money.
        #expect(try s.till.ledger.account(s.till.wallet.id)?.balance.minorUnits == 63_000)
        #expect(try s.till.ledger.account(WalletOperations.offlineAllowanceAccount(s.certificate.serial))?.balance.minorUnits == 0)
        let second = try #require(try s.journals[1].entry(approved[2].id))
        #expect(second.syncResult == "settled: allowance 5000, wallet 7000, debt 0")
        #expect(try s.till.ledger.audit().violations.isEmpty)
    }

    /// An offline approval is on disk before its receipt is made: a terminal stopped between the
    /// two makes the receipt from its journal when it starts again, once, marked offline; and once
    /// the payment is forwarded, the ledger's transfers for it bring no second receipt.
    @Test("an offline sale whose receipt was never made gets it from the journal, once, and none more after forwarding")
    func receiptRecoveredFromTheJournal() throws {
        let s = try setup()
        let t = now + 60_000
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-book-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let book = try ReceiptBook(path: dir.appendingPathComponent("receipt-book.sqlite").path)
        // The basket, kept under the sale id as a checkout with a book keeps it before it asks anyone.
        let saleID = UUIDv7.make()
        let lines = [Receipt.Line(name: "Longjing green tea", quantity: 1, unitPrice: try s.till.cny("12.30"), total: try s.till.cny("12.30"))]
        try book.keepBasket(sale: saleID, lines: lines, now: t)
        // Approved without a book: as if the process stopped before the receipt was kept.
        let approved = try s.checkouts[0].chargeOffline(amount: try s.till.cny("12.30"), token: try code(s, 1, at: t), journal: s.journals[0],
                                                        issuers: [issuer.publicKey], policy: policy, saleID: saleID, now: t + 1)
        let sale = try #require(approved.receipt).receipt.paymentID
        let checkout = Checkout(ledger: s.till.ledger, merchant: s.till.merchant, terminalID: "T1", receiptKey: s.till.key, book: book)
        let recovered = try checkout.recoverReceipts(journal: s.journals[0])
        #expect(recovered.count == 1)
        let receipt = try #require(recovered.first).receipt
        #expect(receipt.paymentID == sale && receipt.number == "T1-000001" && receipt.amount.minorUnits == 1_230)
        #expect(receipt.authorization == .offline && receipt.method == "offline code")
        #expect(receipt.lines == lines, "the basket kept for the sale")
        #expect(try checkout.recoverReceipts(journal: s.journals[0]).isEmpty, "once")

        let settler = LedgerSettler(ops: s.ops, issuers: [issuer.publicKey], clockSkewMillis: policy.clockSkewMillis, now: { t + 60_000 })
        #expect(try Forwarder(journal: s.journals[0], settler: settler).forwardAll(sleep: { _ in }).settled == 1)
        #expect(try checkout.recoverReceipts(journal: s.journals[0]).isEmpty, "the forwarded payment's transfers are not a second sale")
        #expect(try book.entries(terminal: "T1").count == 1)
    }

    /// A link that fails twice, then loses the answer to a batch the ledger did settle: the
    /// forwarder backs off, sends again with the same ids, and "already settled" is done.
    @Test("a flaky link: retries with backoff, a lost answer, and still exactly once")
    func flakyLink() throws {
        let s = try setup()
        let t = now + 60_000
        try takeOffline(s, 6, of: "20.00", at: t)
        let flaky = FlakySettler(inner: settler(s, at: t + 10_000), failFirst: 2, loseAnswerOf: 3)
        var forwarder = Forwarder(journal: s.journals[0], settler: flaky)
        forwarder.batchSize = 4
        let pauses = Mutex<[Int64]>([])
        var heard: [(done: Int, pause: Int64?)] = []
        let report = try forwarder.forwardAll(sleep: { p in pauses.withLock { $0.append(p) } },
                                              progress: { sofar, pause in heard.append((sofar.settled + sofar.refused, pause)) })
        #expect(report.settled == 6 && report.left == 0)
        #expect(heard.map(\.pause) == [200, 400, 800, nil, nil], "each pause announced before it, each answered batch after it")
        #expect(heard.map(\.done) == [0, 0, 0, 4, 6], "progress only grows, to the whole")
        #expect(pauses.withLock { $0 } == [200, 400, 800], "backs off, doubling")
        #expect(try s.till.ledger.account(s.till.merchant.id)?.balance.minorUnits == 12_000)
        #expect(try s.journals[0].unsynced(limit: 10).isEmpty)
        #expect(try s.till.ledger.audit().violations.isEmpty)
    }

    /// Three batches out at once, through the same bad link: batches overlap at the ledger, no
    /// payment is in two batches out at the same time, and each is settled once.
    @Test("batches in flight at once: overlapping, each payment out once at a time, retried, settled once")
    func batchesInFlight() throws {
        let s = try setup()
        let t = now + 60_000
        try takeOffline(s, 30, of: "1.00", at: t)
        let watched = OverlapSettler(inner: FlakySettler(inner: settler(s, at: t + 10_000), failFirst: 2, loseAnswerOf: 5))
        var forwarder = Forwarder(journal: s.journals[0], settler: watched)
        forwarder.batchSize = 4
        forwarder.inFlight = 3
        let report = try forwarder.forwardAll(sleep: { _ in })
        #expect(report.settled == 30 && report.refused == 0 && report.left == 0 && report.retries == 3)
        #expect(watched.most.withLock { $0 } > 1, "batches were out at the same time")
        #expect(watched.twice.withLock { $0 }.isEmpty, "no payment was in two batches out at once")
        #expect(try s.till.ledger.account(s.till.merchant.id)?.balance.minorUnits == 3_000, "each payment paid once")
        #expect(try s.journals[0].unsynced(limit: 100).isEmpty)
        #expect(try s.till.ledger.audit().violations.isEmpty)
    }

    @Test("a ledger that stays unreachable: nothing lost, the forwarder gives up and says how many wait")
    func unreachable() throws {
        let s = try setup()
        let t = now + 60_000
        _ = try s.checkouts[0].chargeOffline(amount: try s.till.cny("20.00"), token: try code(s, 1, at: t), journal: s.journals[0],
                                             issuers: [issuer.publicKey], policy: policy, now: t)
        let dead = FlakySettler(inner: LedgerSettler(ops: s.ops, issuers: [issuer.publicKey], clockSkewMillis: 0), failFirst: 100, loseAnswerOf: 0)
        let report = try Forwarder(journal: s.journals[0], settler: dead).forwardAll(sleep: { _ in })
        #expect(report.left == 1 && report.settled == 0 && report.lastError != nil)
        #expect(try s.journals[0].syncStatus(now: t).unsyncedCount == 1)
    }

    @Test("an entry whose token was altered in the journal is refused by the ledger, and kept with the reason")
    func tamperedJournal() throws {
        let s = try setup()
        let t = now + 60_000
        let other = OfflineDeviceKey()
        let rogue = OfflineIssuerKey()
        // A certificate the issuer never made: signed by another key under the same serial.
        let forged = try OfflineCertificate.issue(serial: s.certificate.serial, walletID: s.till.wallet.id, device: other.publicKey,
                                                  allowance: try s.till.cny("300.00"), validFrom: now, validUntil: now + 86_400_000,
                                                  issuer: rogue)
        let token = try OfflineToken.make(certificate: forged, device: other, counter: 1, time: t)
        // The terminal that trusted both issuers took it; the ledger trusts only its own.
        let id = UUIDv7.make()
        _ = try #require(try s.checkouts[0].chargeOffline(amount: try s.till.cny("10.00"), token: token.text, journal: s.journals[0],
                                                          issuers: [issuer.publicKey, rogue.publicKey],
                                                          policy: policy, saleID: id, now: t).receipt)
        let report = try Forwarder(journal: s.journals[0], settler: LedgerSettler(ops: s.ops, issuers: [issuer.publicKey], clockSkewMillis: 300_000))
            .forwardAll(sleep: { _ in })
        #expect(report.refused == 1 && report.settled == 0)
        #expect(try s.journals[0].entry(id)?.syncResult?.hasPrefix("refused:") == true)
        #expect(try s.till.ledger.account(s.till.merchant.id)?.balance.minorUnits == 0)
        #expect(try s.till.ledger.audit().violations.isEmpty)
    }
}

/// A settler behind a bad link: the first `failFirst` calls fail before reaching the ledger; call
/// number `loseAnswerOf` (1-based, counting all calls) reaches it and its answer is lost.
final class FlakySettler: OfflineSettler, @unchecked Sendable {
    let inner: any OfflineSettler
    let failFirst: Int
    let loseAnswerOf: Int
    private let calls = Mutex(0)

    init(inner: any OfflineSettler, failFirst: Int, loseAnswerOf: Int) {
        self.inner = inner
        self.failFirst = failFirst
        self.loseAnswerOf = loseAnswerOf
    }

    struct LinkDown: Error {}

    func settle(_ entries: [ForwardedPayment]) throws -> [String: ForwardAnswer] {
        let n = calls.withLock { c in
            c += 1
            return c
        }
        if n <= failFirst { throw LinkDown() }
        let answers = try inner.settle(entries)
        if n == loseAnswerOf { throw LinkDown() }
        return answers
    }
}

/// Counts the calls out at once, and notes any payment sent while it was already out.
final class OverlapSettler: OfflineSettler, @unchecked Sendable {
    let inner: any OfflineSettler
    private let out = Mutex<(calls: Int, ids: Set<String>)>((0, []))
    let most = Mutex(0)
    let twice = Mutex<[String]>([])

    init(inner: any OfflineSettler) { self.inner = inner }

    func settle(_ entries: [ForwardedPayment]) throws -> [String: ForwardAnswer] {
        let ids = entries.map(\.id)
        let calls = out.withLock { o in
            twice.withLock { $0 += ids.filter { o.ids.contains($0) } }
            o.ids.formUnion(ids)
            o.calls += 1
            return o.calls
        }
        most.withLock { $0 = max($0, calls) }
        defer { out.withLock { o in o.ids.subtract(ids); o.calls -= 1 } }
        // As long as a batch takes on a loaded link, so the others catch up with it.
        Thread.sleep(forTimeInterval: 0.02)
        return try inner.settle(entries)
    }
}
