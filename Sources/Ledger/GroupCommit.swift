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
/// way leads: it takes the queue, commits, hands every waiter its results, and passes the lead
/// to the first caller that arrived meanwhile. A storage failure fails the whole group; every
/// caller gets the error and retries with its same ids, safely.
public final class GroupCommit: Sendable {
    /// One waiting call.
    public final class Slot: @unchecked Sendable {
        public let batch: [Transfer]
        public let now: Int64
        let done = DispatchSemaphore(value: 0)
        // Written by the leader before `done.signal()`, read by the caller after `wait()`.
        var result: Result<[TransferResult], any Error> = .success([])
        /// Whether `result` is the answer; a slot woken without one is to lead the next group.
        var answered = false
        init(batch: [Transfer], now: Int64) {
            self.batch = batch
            self.now = now
        }
    }

    /// The waiting calls, whether a leader is at work, and how many calls its last group carried.
    private let state = Mutex<(queue: [Slot], leading: Bool, lastGroupSize: Int)>(([], false, 0))

    /// How long a leader waits for its group to grow as large as the last one.
    public let gatherWait: Duration

    /// Group commit whose leader, with some callers already queued but fewer than the last
    /// group had, waits up to `gatherWait` for the rest: callers just answered come back within a
    /// wake-up or two, and taking the one or two already queued would spend a whole commit on
    /// them. Zero takes what is queued at once. A steady lone caller is never delayed (its last
    /// group was itself); one alone just after a busier moment waits once.
    public init(gatherWait: Duration = .zero) {
        self.gatherWait = gatherWait
    }

    /// Runs `batch` in the next group; `commit` runs one transaction for a group of slots and
    /// returns each slot's results in order.
    ///
    /// A leader commits one group, its own call's, then hands the lead to the first call still
    /// queued and returns: a caller that leads is never kept from its own answer by a queue that
    /// busy clients keep full.
    public func submit(_ batch: [Transfer], now: Int64, commit: ([Slot]) throws -> [[TransferResult]]) throws -> [TransferResult] {
        let slot = Slot(batch: batch, now: now)
        var leads = state.withLock { s -> Bool in
            s.queue.append(slot)
            if s.leading { return false }
            s.leading = true
            return true
        }
        while true {
            if leads { lead(commit) }
            slot.done.wait()
            if slot.answered { return try slot.result.get() }
            // Woken to lead: this call is first in the queue, so the next group carries it.
            leads = true
        }
    }

    /// Commits one group from the front of the queue (the leader's own call first), answers its
    /// calls, and passes the lead on to the first call left, if any.
    private func lead(_ commit: ([Slot]) throws -> [[TransferResult]]) {
        let deadline = ContinuousClock.now + gatherWait
        while ContinuousClock.now < deadline {
            let (queued, wanted) = state.withLock { ($0.queue.count, $0.lastGroupSize) }
            if queued >= wanted { break }
            usleep(20)
        }
        let group = state.withLock { Self.take(&$0.queue) }
        do {
            let results = try commit(group)
            for (slot, r) in zip(group, results) { slot.result = .success(r) }
        } catch {
            for slot in group { slot.result = .failure(error) }
        }
        for slot in group { slot.answered = true }
        let next = state.withLock { s -> Slot? in
            s.lastGroupSize = group.count
            guard let first = s.queue.first else {
                s.leading = false
                return nil
            }
            return first
        }
        // Every slot of the group is answered, the leader's own included: it waits on it like
        // the others. The next leader is woken without an answer.
        for slot in group { slot.done.signal() }
        next?.done.signal()
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
