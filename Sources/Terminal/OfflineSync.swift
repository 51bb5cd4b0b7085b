import Foundation
import Ledger
import Payments

/// What the ledger answered for one forwarded offline payment.
public enum ForwardAnswer: Sendable, Equatable {
    /// Settled now or before (a repeat is "already exists", which is done too).
    case settled(OfflineSettlement)
    /// Refused for good: the token does not verify, its certificate is unknown… The payment
    /// stays in the journal with the reason, for the merchant to follow up; it is not sent again.
    case refused(String)

    /// How the journal records it.
    var journalText: String {
        switch self {
        case .settled(let s):
            "settled: allowance \(s.fromAllowance), wallet \(s.fromWallet), debt \(s.debt)" + (s.replayed ? " (already settled)" : "")
        case .refused(let reason): "refused: " + reason
        }
    }
}

/// The ledger's side of store-and-forward: takes a batch of journal entries and answers each.
/// Throws when the ledger cannot be reached (the batch is sent again later, with the same ids).
public protocol OfflineSettler: Sendable {
    func settle(_ entries: [JournalEntry]) throws -> [String: ForwardAnswer]
}

/// A settler on a ledger this process holds (the embedded one, or PostgreSQL): it checks each
/// token again as the ledger server does, since the ledger trusts no terminal's word: the
/// issuer's and the device's signatures, the certificate valid when the phone made the code,
/// and that it names the wallet whose allowance it spends. Then
/// ``WalletOperations/settleOfflinePayment(paymentID:serial:merchant:amount:now:)``.
public struct LedgerSettler: OfflineSettler {
    public let ops: WalletOperations
    public let issuers: [OfflinePublicKey]
    private let verifier: OfflineVerifier
    public let clockSkewMillis: Int64
    public let now: @Sendable () -> Int64

    public init(ops: WalletOperations, issuers: [OfflinePublicKey], clockSkewMillis: Int64, now: @escaping @Sendable () -> Int64 = UnixTime.nowMillis) {
        self.ops = ops
        self.issuers = issuers
        verifier = OfflineVerifier(issuers: issuers)
        self.clockSkewMillis = clockSkewMillis
        self.now = now
    }

    /// Checks every entry, then settles the ones that pass in one ledger transaction.
    public func settle(_ entries: [JournalEntry]) throws -> [String: ForwardAnswer] {
        var answers: [String: ForwardAnswer] = [:]
        var payments: [WalletOperations.OfflinePayment] = []
        for entry in entries {
            guard entry.offline, let text = entry.token else { answers[entry.id] = .refused("not an offline payment"); continue }
            let token: OfflineToken
            do {
                token = try OfflineToken(parsing: text)
                // Judged at the time the phone made the code: a payment taken yesterday is
                // forwarded today, after its certificate may have ended.
                try verifier.verify(token, now: token.time, clockSkewMillis: clockSkewMillis)
            } catch {
                answers[entry.id] = .refused(error.message)
                continue
            }
            guard token.certificate.walletID == entry.wallet, token.certificate.serial == entry.certificate,
                  token.certificate.allowance.currency == entry.amount.currency else {
                answers[entry.id] = .refused("the journal entry does not match its token")
                continue
            }
            payments.append(WalletOperations.OfflinePayment(id: entry.id, serial: token.certificate.serial, merchant: entry.merchant,
                                                            amount: entry.amount))
        }
        guard !payments.isEmpty else { return answers }
        for (payment, result) in zip(payments, try ops.settleOfflinePayments(payments, now: now())) {
            switch result {
            case .success(let settlement): answers[payment.id] = .settled(settlement)
            case .failure(let error) where error.code == .notFound || error.code == .idConflict || error.code == .invalidRequest:
                answers[payment.id] = .refused(error.message)
            case .failure(let error): throw error
            }
        }
        return answers
    }
}

/// Forwards the journal's offline payments to the ledger: oldest first, in batches, each with
/// its terminal-made id; a failed batch is sent again after a growing pause, with the same ids,
/// so a payment is settled once however often it is sent.
public struct Forwarder: Sendable {
    public let journal: TerminalJournal
    public let settler: any OfflineSettler
    public var batchSize = 500
    /// Pauses between tries of a batch the ledger did not answer: 0.2 s, doubling, at most 30 s.
    public var backoffMillis: (first: Int64, max: Int64) = (200, 30_000)
    public var attemptsMax = 5

    public init(journal: TerminalJournal, settler: any OfflineSettler) {
        self.journal = journal
        self.settler = settler
    }

    public struct Report: Sendable, Equatable {
        public var settled = 0
        public var refused = 0
        /// Batches that failed and were tried again.
        public var retries = 0
        /// Still waiting when the forwarder gave up (the ledger unreachable `attemptsMax` times).
        public var left = 0
        /// Why the last try failed, when one did.
        public var lastError: String?
    }

    /// Sends everything that waits; `sleep` is injected (tests need no real pauses).
    public func forwardAll(now: () -> Int64 = UnixTime.nowMillis,
                           sleep: (Int64) -> Void = { Thread.sleep(forTimeInterval: Double($0) / 1000) }) throws -> Report {
        var report = Report()
        var pause = backoffMillis.first
        var failures = 0
        while true {
            let batch = try journal.unsynced(limit: batchSize)
            guard !batch.isEmpty else { return report }
            do {
                let answers = try settler.settle(batch)
                var results: [String: String] = [:]
                for entry in batch {
                    guard let answer = answers[entry.id] else { continue }
                    results[entry.id] = answer.journalText
                    if case .settled = answer { report.settled += 1 } else { report.refused += 1 }
                }
                guard !results.isEmpty else { throw CheckoutError("the ledger answered none of \(batch.count) payments") }
                try journal.markSynced(results, now: now())
                failures = 0
                pause = backoffMillis.first
            } catch let error as CheckoutError where error.message.hasPrefix("the terminal journal") {
                throw error
            } catch {
                failures += 1
                report.lastError = "\(error)"
                guard failures < attemptsMax else {
                    report.left = try journal.syncStatus(now: now()).unsyncedCount
                    return report
                }
                report.retries += 1
                sleep(pause)
                pause = min(pause * 2, backoffMillis.max)
            }
        }
    }
}
