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
///
/// `inFlight` batches may be out at once (`qrpos sync push` and the till send two): while the
/// server checks one batch's codes on its cores, it writes the one before to its ledger,
/// and the terminal marks a third synced. Which batch settles first is then not fixed; the
/// rule that settles a wallet's overspend takes payments in the order they reach the ledger,
/// whichever terminal or batch they come from.
public struct Forwarder: Sendable {
    public let journal: TerminalJournal
    public let settler: any OfflineSettler
    public var batchSize = 500
    /// Batches sent at once (1: one after the other).
    public var inFlight = 1
    /// Pauses between tries of a batch the ledger did not answer: 0.2 s, doubling, at most 30 s.
    public var backoffMillis: (first: Int64, max: Int64) = (200, 30_000)
    /// Tries of one batch in a row before the forwarder gives up: every lane stops, and the rest
    /// waits in the journal.
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
        /// The payments the ledger settled only in part from the customer: what neither the
        /// certificate's allowance nor the wallet covered (an overspend across terminals) is the
        /// customer's debt to the ledger. The merchant is paid in full; this is its report.
        public var debts: [Debt] = []

        public struct Debt: Sendable, Equatable {
            public let payment: String
            public let amount: Money
        }
    }

    /// What the lanes share: batches read and not yet taken, the ids out (taken and not yet
    /// marked), the report, and whether to stop (a lane gave up, or the journal failed).
    private struct Shared {
        var queue: [[JournalEntry]] = []
        var out: Set<String> = []
        var report = Report()
        var gaveUp = false
        var failure: (any Error)?
    }

    /// Sends everything that waits; `sleep` is injected (tests need no real pauses). `progress`
    /// hears the report so far after every batch answered, and before every pause (with its
    /// length in milliseconds), for a cashier or an operator watching a long upload; it is
    /// called for one batch at a time. With `inFlight` above 1, `now` and `sleep` are called
    /// from several threads.
    public func forwardAll(now: () -> Int64 = UnixTime.nowMillis,
                           sleep: (Int64) -> Void = { Thread.sleep(forTimeInterval: Double($0) / 1000) },
                           progress: (Report, _ pauseMillis: Int64?) -> Void = { _, _ in }) throws -> Report {
        let lock = NSLock()
        var shared = Shared()
        /// The next batch to send, or nil when nothing waits that is not already out (or the
        /// forwarder is stopping). Called under `lock`.
        /// Whether the lanes are to stop: one gave up, or the journal failed. Called under `lock`.
        func stopping() -> Bool { shared.gaveUp || shared.failure != nil }
        func take() throws -> [JournalEntry]? {
            guard !stopping() else { return nil }
            if shared.queue.isEmpty {
                let waiting = try journal.unsynced(limit: batchSize * (inFlight + 1)).filter { !shared.out.contains($0.id) }
                shared.queue = stride(from: 0, to: waiting.count, by: batchSize).map { Array(waiting[$0..<min($0 + batchSize, waiting.count)]) }
            }
            guard !shared.queue.isEmpty else { return nil }
            let batch = shared.queue.removeFirst()
            shared.out.formUnion(batch.map(\.id))
            return batch
        }
        func lane() {
            var pause = backoffMillis.first
            var failures = 0
            while true {
                let next = lock.withLock { () -> [JournalEntry]? in
                    do { return try take() } catch {
                        shared.failure = shared.failure ?? error
                        return nil
                    }
                }
                guard let batch = next else { return }
                let ids = Set(batch.map(\.id))
                defer { lock.withLock { shared.out.subtract(ids) } }
                while true {
                    // Only the ledger's answer is retried; the journal's own failures are thrown.
                    var answered: [String: ForwardAnswer] = [:]
                    do {
                        answered = try settler.settle(batch.compactMap(\.forwarded)).filter { ids.contains($0.key) }
                        if answered.isEmpty { throw CheckoutError("the ledger answered none of \(batch.count) payments") }
                    } catch {
                        failures += 1
                        let stop = lock.withLock { () -> Bool in
                            shared.report.lastError = "\(error)"
                            if failures >= attemptsMax { shared.gaveUp = true }
                            if stopping() { return true }
                            shared.report.retries += 1
                            progress(shared.report, pause)
                            return false
                        }
                        if stop { return }
                        sleep(pause)
                        pause = min(pause * 2, backoffMillis.max)
                        // Another lane may have given up (or the journal failed) meanwhile.
                        if lock.withLock(stopping) { return }
                        continue
                    }
                    do { try journal.markSynced(answered.mapValues(\.summary), now: now()) } catch {
                        lock.withLock { shared.failure = shared.failure ?? error }
                        return
                    }
                    lock.withLock {
                        for entry in batch {
                            guard let answer = answered[entry.id] else { continue }
                            guard case .settled(let settlement) = answer else { shared.report.refused += 1; continue }
                            shared.report.settled += 1
                            if settlement.debt > 0 {
                                shared.report.debts.append(Report.Debt(payment: entry.id,
                                                                       amount: Money(minorUnits: settlement.debt, currency: entry.amount.currency)))
                            }
                        }
                        progress(shared.report, nil)
                    }
                    failures = 0
                    pause = backoffMillis.first
                    break
                }
            }
        }
        if inFlight <= 1 {
            lane()
        } else {
            // Every lane touches `shared` under `lock` only, and calls `progress` under it; `now`
            // and `sleep` may run on two lanes at once. Threads of their own: Dispatch's
            // concurrentPerform ran the lanes one after the other when its workers were busy (a
            // loaded test run saw no two batches out at once).
            Self.onThreads(inFlight, lane)
        }
        if let failure = shared.failure { throw failure }
        var report = shared.report
        if shared.gaveUp { report.left = try journal.syncStatus(now: now()).unsyncedCount }
        return report
    }

    /// Runs `body` on `count` threads at once, the caller's among them, and returns once every
    /// one has finished with it. Joined POSIX threads, so `body` (which may capture the
    /// caller's non-escaping closures) is released by every thread before this returns.
    private static func onThreads(_ count: Int, _ body: () -> Void) {
        final class Box {
            let body: () -> Void
            init(_ body: @escaping () -> Void) { self.body = body }
        }
        withoutActuallyEscaping(body) { body in
            #if canImport(Darwin)
            var threads: [pthread_t?] = []
            #else
            var threads: [pthread_t] = []
            #endif
            for _ in 1..<max(1, count) {
                let box = Unmanaged.passRetained(Box(body)).toOpaque()
                #if canImport(Darwin)
                var made: pthread_t?
                let status = pthread_create(&made, nil, { raw in
                    Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
                    return nil
                }, box)
                #else
                var made = pthread_t()
                let status = pthread_create(&made, nil, { raw in
                    Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                    return nil
                }, box)
                #endif
                if status == 0 {
                    threads.append(made)
                } else {
                    // No thread to be had: this lane runs here, first, on its own.
                    Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()
                }
            }
            body()
            #if canImport(Darwin)
            for case let thread? in threads { pthread_join(thread, nil) }
            #else
            for thread in threads { pthread_join(thread, nil) }
            #endif
        }
    }
}
