import BankRail
import Payments
import Testing

/// The simulated bank rail behaves as its contract says, on its own (the month of traffic in
/// WalletOperationsTests shows the ledger stays exact under it): business days in the bank's
/// time zone, returns at the rate asked, repeated and crossing callbacks, a repeated instruction
/// ignored, and the same seed giving the same run.
@Suite("The simulated bank rail")
struct BankRailTests {
    static let day: Int64 = 86_400_000
    /// Monday 2027-01-04 00:00 in China (UTC+8), in Unix milliseconds.
    static let monday: Int64 = 1_798_992_000_000

    /// The local weekday (0 = Monday) and hour of `t` in UTC+8.
    static func local(_ t: Int64) -> (weekday: Int64, hour: Int64) {
        let local = t + 8 * 3_600_000
        let days = local / day
        return (((days + 3) % 7 + 7) % 7, (local % day) / 3_600_000)
    }

    func submitted(_ count: Int, seed: UInt64, failurePerMille: UInt64 = 80, duplicatePerMille: UInt64 = 250,
                   every stepMillis: Int64 = 3_600_000) -> (rail: SimulatedBankRail, sent: [String: Int64]) {
        var rail = SimulatedBankRail(seed: seed, failurePerMille: failurePerMille, duplicatePerMille: duplicatePerMille)
        var sent: [String: Int64] = [:]
        for i in 0..<count {
            let at = Self.monday + Int64(i) * stepMillis
            rail.submit(reference: "r\(i)", direction: i % 2 == 0 ? .deposit : .withdrawal,
                        amount: Money(minorUnits: 100 + Int64(i), currency: .CNY), now: at)
            sent["r\(i)"] = at
        }
        return (rail, sent)
    }

    @Test("the Monday 2027-01-04 the tests count from is a Monday in China")
    func calendar() {
        #expect(Self.local(Self.monday).weekday == 0 && Self.local(Self.monday).hour == 0)
        #expect(Self.local(Self.monday + 5 * Self.day).weekday == 5)
    }

    @Test("an instruction settles one to three business days later, in business hours, never on a weekend")
    func businessDays() {
        // An instruction every hour for three weeks, weekends included.
        var (rail, sent) = submitted(21 * 24, seed: 1)
        var first: [String: Int64] = [:]
        for callback in rail.deliver(upTo: Self.monday + 60 * Self.day) where first[callback.reference] == nil {
            first[callback.reference] = callback.deliverAt
        }
        #expect(first.count == sent.count, "every instruction is answered")
        for (reference, at) in first {
            let (weekday, hour) = Self.local(at)
            #expect(weekday < 5 && (9..<17).contains(hour), "\(reference) answered on day \(weekday) at \(hour) h")
            // Counted in business days from the day it was sent: at least 1, at most 3.
            let from = SimulatedBankRail.addBusinessDays(1, to: sent[reference]!, utcOffsetMinutes: 480)
            let to = SimulatedBankRail.addBusinessDays(3, to: sent[reference]!, utcOffsetMinutes: 480) + 8 * 3_600_000
            #expect(at >= from && at <= to, "\(reference) sent \(sent[reference]!) answered \(at)")
        }
        // Friday evening's instruction waits for the week after.
        let friday = Self.monday + 4 * Self.day + 20 * 3_600_000
        #expect(SimulatedBankRail.addBusinessDays(1, to: friday, utcOffsetMinutes: 480) == Self.monday + 7 * Self.day + 9 * 3_600_000)
    }

    @Test("returns come at the rate asked, and every copy of a callback says the same as the first")
    func returnsAndRepeats() {
        var (rail, _) = submitted(2_000, seed: 2)
        let callbacks = rail.deliver(upTo: Self.monday + 400 * Self.day)
        var outcome: [String: Bool] = [:]
        var copies: [String: Int] = [:]
        for callback in callbacks {
            if let earlier = outcome[callback.reference] { #expect(earlier == callback.settled, "\(callback.reference) contradicts itself") }
            outcome[callback.reference] = callback.settled
            copies[callback.reference, default: 0] += 1
        }
        #expect(outcome.count == 2_000 && rail.outstanding == 0)
        let returned = outcome.values.filter { !$0 }.count
        #expect((100...220).contains(returned), "80 per mille of 2,000 returned, give or take: \(returned)")
        for (reference, truth) in rail.decided { #expect(outcome[reference] == truth.settled) }
        let repeated = copies.values.filter { $0 > 1 }.count
        #expect((400...600).contains(repeated), "250 per mille of callbacks repeated, give or take: \(repeated)")
        #expect(copies.values.allSatisfy { (1...3).contains($0) })
        // None returned, or all.
        #expect(submitted(300, seed: 3, failurePerMille: 0).rail.decided.values.allSatisfy { $0.settled })
        #expect(submitted(300, seed: 3, failurePerMille: 1000).rail.decided.values.allSatisfy { !$0.settled })
        var once = submitted(300, seed: 4, duplicatePerMille: 0).rail
        #expect(once.deliver(upTo: Self.monday + 400 * Self.day).count == 300)
    }

    @Test("callbacks cross: later instructions are answered before earlier ones, and a repeat can come days after")
    func outOfOrder() {
        var (rail, sent) = submitted(500, seed: 5, every: 600_000)
        let callbacks = rail.deliver(upTo: Self.monday + 60 * Self.day)
        var seen: Set<String> = []
        var firsts: [String] = []
        var lateRepeat = false
        var firstAt: [String: Int64] = [:]
        for callback in callbacks {
            if seen.insert(callback.reference).inserted {
                firsts.append(callback.reference)
                firstAt[callback.reference] = callback.deliverAt
            } else if callback.deliverAt - firstAt[callback.reference]! > Self.day {
                lateRepeat = true
            }
        }
        let sentOrder = firsts.map { sent[$0]! }
        let crossed = zip(sentOrder, sentOrder.dropFirst()).filter { $0 > $1 }.count
        #expect(crossed > 50, "answers come in another order than the instructions: \(crossed) inversions of neighbours")
        #expect(lateRepeat, "some repeat comes more than a day after the first callback")
        #expect(callbacks.map(\.deliverAt) == callbacks.map(\.deliverAt).sorted(), "delivered in time order")
    }

    @Test("an instruction sent twice is one instruction; the same seed gives the same callbacks")
    func idempotentAndSeeded() {
        var rail = SimulatedBankRail(seed: 6, duplicatePerMille: 0)
        rail.submit(reference: "r", direction: .deposit, amount: Money(minorUnits: 500, currency: .CNY), now: Self.monday)
        rail.submit(reference: "r", direction: .withdrawal, amount: Money(minorUnits: 900, currency: .CNY), now: Self.monday + 1)
        #expect(rail.decided["r"]?.direction == .deposit && rail.decided["r"]?.amount.minorUnits == 500)
        #expect(rail.deliver(upTo: Self.monday + 30 * Self.day).count == 1)
        var a = submitted(200, seed: 7).rail, b = submitted(200, seed: 7).rail, c = submitted(200, seed: 8).rail
        let end = Self.monday + 60 * Self.day
        let (ra, rb, rc) = (a.deliver(upTo: end), b.deliver(upTo: end), c.deliver(upTo: end))
        #expect(ra == rb)
        #expect(ra != rc)
    }
}
