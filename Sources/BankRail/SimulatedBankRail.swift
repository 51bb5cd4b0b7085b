import Payments
import SeededRandom

/// A bank's payment rail as the wallet sees it, simulated for tests, rigs and demos, because no
/// real bank can be reached from these machines. It behaves the way rails do: an instruction
/// (a top-up pulled from the customer's bank, or a withdrawal pushed to it) settles only on a
/// business day, one to three business days after it was sent, some fail and come back
/// returned, and the callback announcing the result may arrive late, twice or three times, and
/// out of order with other instructions' callbacks.
///
/// It is seeded, so a failing test replays exactly. The ledger's side of the contract is that
/// the first callback for an instruction decides, a repeat changes nothing, and the ledger stays
/// exact whatever the order (`WalletOperations.bankCallback`).
public struct SimulatedBankRail: Sendable {
    public enum Direction: String, Sendable, Hashable, Codable { case deposit, withdrawal }

    public struct Callback: Sendable, Hashable {
        /// The instruction's reference: the ledger request id of its hold.
        public let reference: String
        public let settled: Bool
        /// Unix milliseconds when the bank delivers it.
        public let deliverAt: Int64
    }

    /// Per mille of instructions the bank returns (account closed, insufficient funds at the bank…).
    public var failurePerMille: UInt64
    /// Per mille of callbacks delivered more than once.
    public var duplicatePerMille: UInt64
    /// Business days to settle: uniformly `settlementDays`.
    public var settlementDays: ClosedRange<Int>
    /// The bank's time zone, in minutes east of UTC (its business days are local).
    public var utcOffsetMinutes: Int

    private var rng: SplitMix64
    private var queue: [Callback] = []
    /// What the bank decided for each instruction: the truth tests compare the ledger with.
    public private(set) var decided: [String: (direction: Direction, amount: Money, settled: Bool)] = [:]

    public init(seed: UInt64, failurePerMille: UInt64 = 80, duplicatePerMille: UInt64 = 250,
                settlementDays: ClosedRange<Int> = 1...3, utcOffsetMinutes: Int = 480) {
        precondition(failurePerMille <= 1000 && duplicatePerMille <= 1000 && settlementDays.lowerBound >= 0, "rates are per mille")
        self.rng = SplitMix64(seed: seed)
        self.failurePerMille = failurePerMille
        self.duplicatePerMille = duplicatePerMille
        self.settlementDays = settlementDays
        self.utcOffsetMinutes = utcOffsetMinutes
    }

    /// Sends an instruction to the bank at `now`. Sending the same reference again is ignored,
    /// as a bank ignores a duplicate instruction id.
    public mutating func submit(reference: String, direction: Direction, amount: Money, now: Int64) {
        guard decided[reference] == nil else { return }
        let settled = rng.next() % 1000 >= failurePerMille
        decided[reference] = (direction, amount, settled)
        let days = settlementDays.lowerBound + Int(rng.next() % UInt64(settlementDays.count))
        let base = Self.addBusinessDays(days, to: now, utcOffsetMinutes: utcOffsetMinutes)
        // Banks deliver settlement files in batches through the day: up to 8 hours of jitter,
        // so callbacks of different instructions cross.
        let first = base + Int64(rng.next() % (8 * 3_600_000))
        queue.append(Callback(reference: reference, settled: settled, deliverAt: first))
        var copies = 0
        while copies < 2 && rng.next() % 1000 < duplicatePerMille {
            copies += 1
            queue.append(Callback(reference: reference, settled: settled, deliverAt: first + Int64(rng.next() % (48 * 3_600_000))))
        }
    }

    /// The callbacks due by `now`, in delivery order, removed from the queue.
    public mutating func deliver(upTo now: Int64) -> [Callback] {
        let due = queue.filter { $0.deliverAt <= now }.sorted { ($0.deliverAt, $0.reference) < ($1.deliverAt, $1.reference) }
        queue.removeAll { $0.deliverAt <= now }
        return due
    }

    /// Callbacks not yet delivered.
    public var outstanding: Int { queue.count }

    /// `now` plus `days` business days (Monday to Friday, local time), landing at 09:00 local.
    public static func addBusinessDays(_ days: Int, to now: Int64, utcOffsetMinutes: Int) -> Int64 {
        let day: Int64 = 86_400_000
        let offset = Int64(utcOffsetMinutes) * 60_000
        var localDay = (now + offset).floorDivided(by: day)
        var left = days
        // 1970-01-01 was a Thursday: weekday 0 = Monday.
        func weekday(_ d: Int64) -> Int64 { ((d + 3) % 7 + 7) % 7 }
        while left > 0 || weekday(localDay) >= 5 {
            localDay += 1
            if weekday(localDay) < 5 { left -= 1 }
        }
        return localDay * day + 9 * 3_600_000 - offset
    }
}

extension Int64 {
    fileprivate func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
