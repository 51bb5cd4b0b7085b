import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Group commit for a store's `createTransfers(_:now:)`: calls that arrive while a commit is
/// under way wait for the next one, and that one carries all of them, so many clients share one
/// disk sync instead of queueing for one each (TigerBeetle batches the same way). Both stores
/// use it; on PostgreSQL it also means a hot account's row lock is taken once per group, not
/// once per payment.
///
/// Each call's batch still goes through the engine on its own, in arrival order, inside the
/// shared transaction: its linked chains, its results and its idempotency are exactly what they
/// would be alone, and it sees every batch before it. The first caller to find no commit under
/// way leads: it drains the queue, commits, hands every waiter its results, and leads again
/// while more arrived. A storage failure fails the whole group; every caller gets the error and
/// retries with its same ids, safely.
public final class GroupCommit: Sendable {
    /// One waiting call.
    public final class Slot: @unchecked Sendable {
        public let batch: [Transfer]
        public let now: Int64
        let done = DispatchSemaphore(value: 0)
        // Written by the leader before `done.signal()`, read by the caller after `wait()`.
        var result: Result<[TransferResult], any Error> = .success([])
        init(batch: [Transfer], now: Int64) {
            self.batch = batch
            self.now = now
        }
    }

    private let state = Mutex<(queue: [Slot], leading: Bool)>(([], false))

    /// How long a leader waits for the next group to grow as large as the last one.
    public let gatherWait: Duration

    /// Group commit whose leader, with some callers already queued but fewer than its last group
    /// had, waits up to `gatherWait` for the rest: callers just answered come back within a
    /// wake-up or two, and taking the one or two already queued would spend a whole commit on
    /// them. Zero takes what is queued at once. It never delays a lone caller (nothing queued).
    public init(gatherWait: Duration = .zero) {
        self.gatherWait = gatherWait
    }

    /// Runs `batch` in the next group; `commit` runs one transaction for a group of slots and
    /// returns each slot's results in order.
    public func submit(_ batch: [Transfer], now: Int64, commit: ([Slot]) throws -> [[TransferResult]]) throws -> [TransferResult] {
        let slot = Slot(batch: batch, now: now)
        let lead = state.withLock { s -> Bool in
            s.queue.append(slot)
            if s.leading { return false }
            s.leading = true
            return true
        }
        if lead {
            var lastGroupSize = 0
            while true {
                let deadline = ContinuousClock.now + gatherWait
                while ContinuousClock.now < deadline {
                    let queued = state.withLock { $0.queue.count }
                    if queued == 0 || queued >= lastGroupSize { break }
                    usleep(20)
                }
                let group = state.withLock { s -> [Slot] in
                    let taken = Self.take(&s.queue)
                    if taken.isEmpty { s.leading = false }
                    return taken
                }
                if group.isEmpty { break }
                lastGroupSize = group.count
                do {
                    let results = try commit(group)
                    for (slot, r) in zip(group, results) { slot.result = .success(r) }
                } catch {
                    for slot in group { slot.result = .failure(error) }
                }
                // Every slot signals, the leader's own included: it waits on it like the others.
                for slot in group { slot.done.signal() }
            }
        }
        slot.done.wait()
        return try slot.result.get()
    }

    /// Up to ``LedgerLimits/batchCountMax`` transfers' worth of slots from the front (at least one).
    private static func take(_ queue: inout [Slot]) -> [Slot] {
        var count = 0
        var n = 0
        while n < queue.count && (n == 0 || count + queue[n].batch.count <= LedgerLimits.batchCountMax) {
            count += queue[n].batch.count
            n += 1
        }
        let taken = Array(queue.prefix(n))
        queue.removeFirst(n)
        return taken
    }
}
