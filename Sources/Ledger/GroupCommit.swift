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

    /// The waiting calls, whether a leader is at work, and how many callers were active when the
    /// last group was answered (its own, and those queued meanwhile).
    fileprivate let state = Mutex<(queue: [Slot], leading: Bool, activeCallers: Int)>(([], false, 0))

    /// How long a leader waits for its group to grow as large as the callers active at the end
    /// of the last one.
    public let gatherWait: Duration

    /// Group commit whose leader, with fewer calls than were active at the end of the last
    /// group, waits up to `gatherWait` for the rest: callers just answered come back within a
    /// wake-up or two, and taking only those already queued would leave the others behind for a
    /// whole commit (and the group after would leave as many behind again: with 8 clients,
    /// counting only the last group's size kept groups split). Zero takes what is queued at once.
    /// A steady lone caller is never delayed (the only caller active was itself); one alone just
    /// after a busier moment waits once.
    public init(gatherWait: Duration = .zero) {
        self.gatherWait = gatherWait
    }

    /// The calls one group carries, handed to the leader's transaction one at a time: the
    /// transaction applies each call as it is handed over, so a call that arrives while earlier
    /// ones are being applied joins the same commit instead of the leader idling to gather it.
    public final class Feed {
        private let owner: GroupCommit
        private let deadline: ContinuousClock.Instant
        private let wanted: Int
        /// The calls handed out so far, in order; the leader's own is first.
        fileprivate private(set) var taken: [Slot] = []
        private var count = 0
        private var handedFirst = false

        /// Takes the leader's own call, which is at the front of the queue.
        fileprivate init(owner: GroupCommit, gatherWait: Duration) {
            self.owner = owner
            deadline = ContinuousClock.now + gatherWait
            let (first, wanted) = owner.state.withLock { s in (s.queue.removeFirst(), s.activeCallers) }
            self.wanted = wanted
            taken = [first]
            count = first.batch.count
        }

        /// The next call of this group, or nil once the group is closed: nothing is queued and
        /// either the group is as large as the callers active at the end of the last one, or
        /// `gatherWait` has passed since it began; or the next call would take the group past
        /// ``LedgerLimits/batchCountMax``.
        public func next() -> Slot? {
            if !handedFirst {
                handedFirst = true
                return taken[0]
            }
            while true {
                enum Step { case take(Slot), full, empty }
                let step = owner.state.withLock { s -> Step in
                    guard let first = s.queue.first else { return .empty }
                    if count + first.batch.count > LedgerLimits.batchCountMax { return .full }
                    s.queue.removeFirst()
                    return .take(first)
                }
                switch step {
                case .take(let slot):
                    taken.append(slot)
                    count += slot.batch.count
                    return slot
                case .full:
                    return nil
                case .empty:
                    if taken.count >= wanted || ContinuousClock.now >= deadline { return nil }
                    usleep(20)
                }
            }
        }
    }

    /// Runs `batch` in the next group; `commit` runs one transaction for a group of slots and
    /// returns each slot's results in order. The group is gathered before `commit` runs
    /// (PostgreSQL sends it in one call).
    public func submit(_ batch: [Transfer], now: Int64, commit: ([Slot]) throws -> [[TransferResult]]) throws -> [TransferResult] {
        try submit(batch, now: now, feeding: { feed in
            var group: [Slot] = []
            while let slot = feed.next() { group.append(slot) }
            return try commit(group)
        })
    }

    /// Runs `batch` in the next group; `transaction` runs one transaction that takes the group's
    /// calls from its feed until the feed ends, and returns the results of each call it took,
    /// in order.
    ///
    /// A leader commits one group, its own call's, then hands the lead to the first call still
    /// queued and returns: a caller that leads is never kept from its own answer by a queue that
    /// busy clients keep full.
    public func submit(_ batch: [Transfer], now: Int64, feeding transaction: (Feed) throws -> [[TransferResult]]) throws -> [TransferResult] {
        let slot = Slot(batch: batch, now: now)
        var leads = state.withLock { s -> Bool in
            s.queue.append(slot)
            if s.leading { return false }
            s.leading = true
            return true
        }
        while true {
            if leads { lead(transaction) }
            slot.done.wait()
            if slot.answered { return try slot.result.get() }
            // Woken to lead: this call is first in the queue, so the next group carries it.
            leads = true
        }
    }

    /// Commits one group from the front of the queue (the leader's own call first), answers its
    /// calls, and passes the lead on to the first call left, if any.
    private func lead(_ transaction: (Feed) throws -> [[TransferResult]]) {
        let feed = Feed(owner: self, gatherWait: gatherWait)
        do {
            let results = try transaction(feed)
            precondition(results.count == feed.taken.count, "a group's transaction answers every call it took")
            for (slot, r) in zip(feed.taken, results) { slot.result = .success(r) }
        } catch {
            for slot in feed.taken { slot.result = .failure(error) }
        }
        let group = feed.taken
        for slot in group { slot.answered = true }
        let next = state.withLock { s -> Slot? in
            // The callers of this group come back for more while those queued meanwhile wait:
            // the next group waits for all of them, or it would leave as many behind as this one did.
            s.activeCallers = group.count + s.queue.count
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
}
