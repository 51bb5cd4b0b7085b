import Foundation
import Ledger
import Payments

extension JournalEntry {
    /// The entry as it is forwarded to the ledger; nil for one that is not an approved offline payment.
    public var forwarded: ForwardedPayment? {
        guard offline, status == .approved, let token, let wallet, let certificate, let counter else { return nil }
        return ForwardedPayment(id: id, terminal: terminal, merchant: merchant, amount: amount, token: token, wallet: wallet,
                                certificate: certificate, counter: counter, createdAt: createdAt)
    }
}

/// What the ledger answered, online, to a customer's code.
public enum OnlineAnswer: Sendable, Equatable {
    /// Charged; the wallet it was charged to, when the ledger says.
    case approved(wallet: String?)
    /// Declined by the ledger, with the reason the cashier reads out. Final: the sale is not
    /// then taken offline.
    case declined(String)
}

/// No answer from the ledger (unreachable, too slow, or failing itself): the sale may go on
/// offline, with the same id.
public struct OnlineAuthorizerUnreachable: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// The ledger, online, for a customer's code (``LedgerClient`` over HTTP). Throws
/// ``OnlineAuthorizerUnreachable`` when no answer came in time; any other error is the
/// terminal's own mistake.
public protocol OnlineAuthorizer: Sendable {
    func authorize(id: String, merchant: String, amount: Money, code: String) throws -> OnlineAnswer
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

    /// Sends everything that waits; `sleep` is injected (tests need no real pauses). `progress`
    /// hears the report so far after every batch answered, and before every pause (with its
    /// length in milliseconds), for a cashier or an operator watching a long upload.
    public func forwardAll(now: () -> Int64 = UnixTime.nowMillis,
                           sleep: (Int64) -> Void = { Thread.sleep(forTimeInterval: Double($0) / 1000) },
                           progress: (Report, _ pauseMillis: Int64?) -> Void = { _, _ in }) throws -> Report {
        var report = Report()
        var pause = backoffMillis.first
        var failures = 0
        while true {
            let batch = try journal.unsynced(limit: batchSize)
            guard !batch.isEmpty else { return report }
            // Only the ledger's answer is retried; the journal's own failures are thrown.
            var answered: [String: ForwardAnswer] = [:]
            do {
                let answers = try settler.settle(batch.compactMap(\.forwarded))
                let sent = Set(batch.map(\.id))
                answered = answers.filter { sent.contains($0.key) }
                if answered.isEmpty { throw CheckoutError("the ledger answered none of \(batch.count) payments") }
            } catch {
                failures += 1
                report.lastError = "\(error)"
                guard failures < attemptsMax else {
                    report.left = try journal.syncStatus(now: now()).unsyncedCount
                    return report
                }
                report.retries += 1
                progress(report, pause)
                sleep(pause)
                pause = min(pause * 2, backoffMillis.max)
                continue
            }
            for answer in answered.values {
                if case .settled = answer { report.settled += 1 } else { report.refused += 1 }
            }
            try journal.markSynced(answered.mapValues(\.summary), now: now())
            progress(report, nil)
            failures = 0
            pause = backoffMillis.first
        }
    }
}
