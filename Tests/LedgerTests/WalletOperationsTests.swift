import BankRail
import Foundation
import Ledger
import LedgerSQLite
import Payments
import SeededRandom
import Synchronization
import Testing

/// The wallet operations on both stores: every scenario runs on SQLite and on PostgreSQL
/// (``StoreKind``), and ends with the full audit.
@Suite struct WalletOperationsTests {
    @Test(arguments: StoreKind.all) func transferByPhoneWithItsFee(_ kind: StoreKind) throws {
        try WalletScenarios(kind).aTransferByPhoneWithItsFeeAppliesWholeOrNotAtAll()
    }
    @Test(arguments: StoreKind.all) func limitsAndVelocity(_ kind: StoreKind) throws {
        try WalletScenarios(kind).limitsAndVelocityDeclineWithTheirReason()
    }
    @Test(arguments: StoreKind.all) func exchange(_ kind: StoreKind) throws {
        try WalletScenarios(kind).anExchangeAtAQuoteMovesBothCurrenciesAndTheFee()
    }
    @Test(arguments: StoreKind.all) func bankDeposit(_ kind: StoreKind) throws {
        try WalletScenarios(kind).aBankDepositIsHeldUntilTheBankSettlesOrReturnsIt()
    }
    @Test(arguments: [11, 12, 13] as [UInt64]) func aMonthOfBankTrafficOnSQLite(seed: UInt64) throws {
        try WalletScenarios(.sqlite).aMonthOfBankTrafficStaysExact(seed: seed)
    }
    @Test(arguments: [14] as [UInt64]) func aMonthOfBankTrafficOnPostgreSQL(seed: UInt64) throws {
        try WalletScenarios(.postgres).aMonthOfBankTrafficStaysExact(seed: seed)
    }
    @Test(arguments: StoreKind.all) func declinesAreFinalAndCountAsAttempts(_ kind: StoreKind) throws {
        try WalletScenarios(kind).aDeclineIsFinalForItsRequestAndCountsTowardsVelocity()
    }
    @Test(arguments: StoreKind.all) func corrections(_ kind: StoreKind) throws {
        try WalletScenarios(kind).aCorrectionIsANewTransferNeverAboveWhatItCorrects()
    }
    @Test(arguments: StoreKind.all) func walletEvents(_ kind: StoreKind) throws {
        try WalletScenarios(kind).walletEventsComeInOrderWithBalancesAfterEachChange()
    }
}

struct WalletScenarios {
    let store: any TransactionalLedgerStore
    var ops: WalletOperations
    let alice: Account
    let bob: Account
    let now: Int64 = 1_800_000_000_000

    init(_ kind: StoreKind) throws {
        store = try kind.make()
        ops = WalletOperations(store: store)
        alice = try store.createWallet(name: "Alice", phone: "+8613800000001", currency: .CNY, now: now)
        bob = try store.createWallet(name: "Bob", phone: "+8613800000002", currency: .CNY, now: now)
        _ = try store.deposit(requestID: "cash-alice", wallet: alice.id, amount: cny(1_000_00), source: .cash, now: now)
    }

    func cny(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: .CNY) }
    func balance(_ id: String) throws -> Int64 { try #require(try store.account(id)).balance.minorUnits }
    func available(_ id: String) throws -> Int64 { try #require(try store.account(id)).available.minorUnits }
    func expectAudit(sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try store.audit().violations == [], sourceLocation: sourceLocation)
    }

    func aTransferByPhoneWithItsFeeAppliesWholeOrNotAtAll() throws {
        let sent = try ops.transfer(requestID: "t1", from: alice.id, to: .phone("+8613800000002"), amount: cny(300_00),
                                    fee: cny(1_50), now: now + 1)
        #expect(sent.transfer?.creditAccount == bob.id)
        #expect(try balance(alice.id) == 1_000_00 - 300_00 - 1_50)
        #expect(try balance(bob.id) == 300_00)
        #expect(try balance(WalletOperations.feeAccount(.CNY)) == 1_50)
        // The retry is the same transfer; other fields under the same id are a conflict.
        let again = try ops.transfer(requestID: "t1", from: alice.id, to: .phone("+8613800000002"), amount: cny(300_00),
                                     fee: cny(1_50), now: now + 2)
        #expect(again.replayed && again.transfer == sent.transfer)
        #expect(throws: LedgerError.self) {
            try ops.transfer(requestID: "t1", from: alice.id, to: .wallet(bob.id), amount: cny(301_00), fee: cny(1_50), now: now + 3)
        }
        // The amount fits, the fee does not: neither moves.
        let tooMuch = try ops.transfer(requestID: "t2", from: alice.id, to: .wallet(bob.id), amount: cny(698_50), fee: cny(1), now: now + 4)
        #expect(tooMuch.decline == .insufficientFunds)
        #expect(try balance(alice.id) == 698_50)
        #expect(try store.transfer("t2") == nil && store.transfer("t2.fee") == nil)
        #expect(try ops.transfer(requestID: "t3", from: alice.id, to: .phone("+10000000000"), amount: cny(1), now: now + 5).decline
                == .recipientUnknown)
        try expectAudit()
    }

    func aCorrectionIsANewTransferNeverAboveWhatItCorrects() throws {
        // A cashier typed 500.00 for a cash top-up of 50.00.
        let typo = try #require(try store.deposit(requestID: "cash-typo", wallet: alice.id, amount: cny(500_00), source: .cash, now: now).transfer)
        #expect(try balance(alice.id) == 1_500_00)
        let fixed = try ops.correct(requestID: "fix-1", transfer: typo.id, amount: cny(450_00), reason: "typed 500.00 for 50.00", now: now + 1)
        let correction = try #require(fixed.transfer)
        #expect(correction.kind == .correction && correction.debitAccount == alice.id && correction.creditAccount == typo.debitAccount)
        #expect(correction.memo == "correction of cash-typo: typed 500.00 for 50.00")
        #expect(try balance(alice.id) == 1_050_00)
        #expect(try store.transfer(typo.id) == typo, "the corrected transfer itself is never edited")
        // The same request again is the same correction; with other fields, a conflict.
        #expect(try ops.correct(requestID: "fix-1", transfer: typo.id, amount: cny(450_00), reason: "typed 500.00 for 50.00", now: now + 2).replayed)
        #expect(throws: LedgerError.self) {
            try ops.correct(requestID: "fix-1", transfer: typo.id, amount: cny(400_00), reason: "typed 500.00 for 50.00", now: now + 2)
        }
        // Never more back than it moved: 450.00 and 50.01 is past 500.00; 50.00 is all of it.
        #expect(try ops.correct(requestID: "fix-2", transfer: typo.id, amount: cny(50_01), reason: "the rest", now: now + 3).decline
                == .correctionExceedsTransfer)
        #expect(try ops.correct(requestID: "fix-3", transfer: typo.id, amount: cny(50_00), reason: "the rest", now: now + 4).transfer != nil)
        #expect(try balance(alice.id) == 1_000_00)
        // A correction the account cannot take is declined: Bob spent his top-up already.
        let bobs = try #require(try store.deposit(requestID: "cash-bob", wallet: bob.id, amount: cny(100_00), source: .cash, now: now).transfer)
        #expect(try ops.transfer(requestID: "spent", from: bob.id, to: .wallet(alice.id), amount: cny(100_00), now: now + 5).transfer != nil)
        #expect(try ops.correct(requestID: "fix-4", transfer: bobs.id, amount: cny(100_00), reason: "not paid", now: now + 6).decline
                == .insufficientFunds)
        // A hold is posted or voided, not corrected; nor is a transfer that is not there.
        let hold = try #require(try ops.bankDeposit(requestID: "bank-1", wallet: alice.id, amount: cny(10_00), now: now).transfer)
        #expect(throws: LedgerError.self) { try ops.correct(requestID: "fix-5", transfer: hold.id, amount: cny(1_00), reason: "x", now: now + 7) }
        #expect(throws: LedgerError.self) { try ops.correct(requestID: "fix-6", transfer: "nope", amount: cny(1_00), reason: "x", now: now + 7) }
        #expect(throws: LedgerError.self) { try ops.correct(requestID: "fix-7", transfer: typo.id, amount: cny(1_00), reason: "  ", now: now + 7) }
        // A clock a day or more behind the transfer cannot correct it (its correction would be
        // stamped where the bound does not look).
        #expect(throws: LedgerError.self) {
            try ops.correct(requestID: "fix-10", transfer: typo.id, amount: cny(1_00), reason: "x", now: now - 86_400_001)
        }
        #expect(try ops.correct(requestID: "fix-11", transfer: typo.id, amount: cny(1_00), reason: "x", now: now - 86_400_000).decline
                == .correctionExceedsTransfer, "a day behind it still sees every correction")
        // What an operator does not correct: a payment (it is refunded), a leg of an exchange, an allowance.
        let shop = try store.createMerchant(name: "Shop", city: "Hangzhou", categoryCode: "5411", countryCode: "CN", currency: .CNY, now: now)
        let paid = try #require(try store.createTransfers([Transfer(id: "pay-1", kind: .payment, debitAccount: alice.id, creditAccount: shop.id,
                                                                    amount: cny(10_00), refundOf: nil, orderID: nil, memo: "", createdAt: now)],
                                                         now: now).first?.transfer)
        #expect(throws: LedgerError.self) { try ops.correct(requestID: "fix-8", transfer: paid.id, amount: cny(1_00), reason: "x", now: now + 7) }
        _ = try ops.reserveOfflineAllowance(serial: "0197f7d8-fa86-7000-8000-000000000001", wallet: alice.id, amount: cny(5_00),
                                            validUntil: now + 86_400_000, now: now)
        let reservation = try #require(try store.history(account: WalletOperations.offlineAllowanceAccount("0197f7d8-fa86-7000-8000-000000000001"),
                                                         limit: 1).first)
        #expect(throws: LedgerError.self) { try ops.correct(requestID: "fix-9", transfer: reservation.id, amount: cny(1_00), reason: "x", now: now + 7) }
        // Two corrections of one transfer at once: one is judged after the other, never both past it.
        let twice = try #require(try store.deposit(requestID: "cash-twice", wallet: alice.id, amount: cny(5_00), source: .cash, now: now).transfer)
        let racing = ops
        let answers = Mutex<[Outcome]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            if let outcome = try? racing.correct(requestID: "race-\(i)", transfer: twice.id, amount: cny(3_00), reason: "race", now: now + 8) {
                answers.withLock { $0.append(outcome) }
            }
        }
        let raced = answers.withLock { $0 }
        #expect(raced.count == 2 && raced.filter { $0.transfer != nil }.count == 1 && raced.filter { $0.decline == .correctionExceedsTransfer }.count == 1,
                "\(raced)")
        // Alice is told of the corrections like of any change to her wallet.
        let events = try store.events(after: 0, account: alice.id, limit: 100)
        #expect(events.filter { $0.kind.hasPrefix("correction") }.map(\.delta.minorUnits) == [-450_00, -50_00, -3_00], "\(events.map(\.kind))")
        try expectAudit()
    }

    func limitsAndVelocityDeclineWithTheirReason() throws {
        let unit: @Sendable (Currency) -> WalletLimits = { _ in
            WalletLimits(perPaymentMax: 200_00, perDayMax: 500_00, velocityCountMax: 4, velocityAmountMax: 450_00,
                         velocityWindowMillis: 60_000, utcOffsetMinutes: 480)
        }
        var ops = self.ops
        ops.limits = unit
        #expect(try ops.payBill(requestID: "b0", wallet: alice.id, biller: "biller-power", amount: cny(200_01), reference: "x", now: now).decline
                == .limitPerPayment)
        for i in 0..<3 {
            #expect(try ops.payBill(requestID: "b\(i + 1)", wallet: alice.id, biller: "biller-power", amount: cny(100_00),
                                    reference: "bill \(i)", now: now + Int64(i)).transfer != nil)
        }
        // A fifth attempt within the minute (the declined b0 counts too): too many.
        #expect(try ops.payBill(requestID: "b4", wallet: alice.id, biller: "biller-power", amount: cny(10_00), reference: "y",
                                now: now + 10).decline == .velocityCount)
        // After the window: the amount rule, then the day.
        #expect(try ops.payBill(requestID: "b5", wallet: alice.id, biller: "biller-power", amount: cny(200_00), reference: "y",
                                now: now + 61_000).transfer != nil)
        #expect(try ops.transfer(requestID: "b6", from: alice.id, to: .wallet(bob.id), amount: cny(200_00),
                                 now: now + 122_000).decline == .limitPerDay)
        // The next local day (UTC+8) starts afresh.
        let tomorrow = unit(.CNY).dayStart(now) + 86_400_000
        #expect(try ops.transfer(requestID: "b7", from: alice.id, to: .wallet(bob.id), amount: cny(200_00), now: tomorrow).transfer != nil)
        #expect(try balance("biller-power") == 500_00)
        try expectAudit()
    }

    func anExchangeAtAQuoteMovesBothCurrenciesAndTheFee() throws {
        let usd = try store.createWallet(name: "Alice USD", phone: nil, currency: .USD, now: now)
        _ = try store.deposit(requestID: "cash-usd", wallet: usd.id, amount: Money(minorUnits: 500_00, currency: .USD), source: .cash, now: now)
        let quote = try ops.quote(Money(minorUnits: 100_00, currency: .USD), into: .CNY, now: now)
        #expect(quote.target == cny(710_00))
        #expect(quote.fee == Money(minorUnits: 30, currency: .USD))
        let done = try ops.exchange(requestID: "fx1", quote: quote, from: usd.id, to: alice.id, now: now + 1_000)
        #expect(done.transfer != nil)
        #expect(try balance(usd.id) == 500_00 - 100_00 - 30)
        #expect(try balance(alice.id) == 1_000_00 + 710_00)
        #expect(try store.account(WalletOperations.exchangeAccount(.USD))?.creditsPosted == 100_00)
        #expect(try store.account(WalletOperations.exchangeAccount(.CNY))?.debitsPosted == 710_00)
        // Too late, or a quote the desk never gave.
        #expect(try ops.exchange(requestID: "fx2", quote: quote, from: usd.id, to: alice.id, now: quote.expiresAt).decline == .quoteExpired)
        let forged = ExchangeQuote(source: quote.source, target: cny(900_00), fee: quote.fee, rateNumerator: quote.rateNumerator,
                                   rateDenominator: quote.rateDenominator, expiresAt: quote.expiresAt)
        #expect(try ops.exchange(requestID: "fx3", quote: forged, from: usd.id, to: alice.id, now: now + 2).decline == .quoteInvalid)
        try expectAudit()
    }

    func aBankDepositIsHeldUntilTheBankSettlesOrReturnsIt() throws {
        let held = try ops.bankDeposit(requestID: "dep1", wallet: bob.id, amount: cny(50_00), now: now)
        #expect(held.transfer?.flags.contains(.pending) == true)
        #expect(try balance(bob.id) == 0)
        #expect(try store.account(bob.id)?.creditsPending == 50_00)
        // Settled; the same callback again changes nothing; a contradicting one is refused.
        guard case .created = try ops.bankCallback(reference: "dep1", outcome: .settled, now: now + 1) else { Issue.record("not settled"); return }
        guard case .exists = try ops.bankCallback(reference: "dep1", outcome: .settled, now: now + 2) else { Issue.record("not idempotent"); return }
        #expect(try ops.bankCallback(reference: "dep1", outcome: .returned, now: now + 3) == .refused(.pendingTransferAlreadyPosted))
        #expect(try balance(bob.id) == 50_00)
        // A withdrawal holds the money at once; returned, it comes back.
        _ = try ops.bankWithdrawal(requestID: "wd1", wallet: bob.id, amount: cny(20_00), now: now + 4)
        #expect(try available(bob.id) == 30_00)
        #expect(try ops.transfer(requestID: "t", from: bob.id, to: .wallet(alice.id), amount: cny(30_01), now: now + 5).decline
                == .insufficientFunds)
        _ = try ops.bankCallback(reference: "wd1", outcome: .returned, now: now + 6)
        #expect(try available(bob.id) == 50_00)
        #expect(try store.pendingStatus("wd1") == .voided(by: "wd1.returned"))
        // A hold made for the wallet's own bank: to another bank it does not exist; its own bank,
        // or the ledger's operator, answers it.
        _ = try ops.bankDeposit(requestID: "dep2", wallet: bob.id, amount: cny(5_00), bank: "bank-1", now: now + 7)
        _ = try ops.bankWithdrawal(requestID: "wd2", wallet: bob.id, amount: cny(1_00), bank: "bank-1", now: now + 7)
        for reference in ["dep2", "wd2"] {
            #expect(try ops.bankCallback(reference: reference, outcome: .settled, bank: "bank-2", now: now + 8) == .refused(.pendingTransferNotFound))
            #expect(try store.pendingStatus(reference) == .pending)
        }
        guard case .created = try ops.bankCallback(reference: "dep2", outcome: .settled, bank: "bank-1", now: now + 9),
              case .created = try ops.bankCallback(reference: "wd2", outcome: .returned, now: now + 9) else {
            Issue.record("the wallet's bank, or the operator, could not answer its holds")
            return
        }
        // A hold that names no bank (the wallet's is not known) is any registered bank's to answer.
        _ = try ops.bankDeposit(requestID: "dep3", wallet: bob.id, amount: cny(2_00), now: now + 10)
        guard case .created = try ops.bankCallback(reference: "dep3", outcome: .returned, bank: "bank-2", now: now + 11) else {
            Issue.record("a hold naming no bank was refused")
            return
        }
        // Unless its wallet has a linked bank now: then that bank's alone.
        _ = try ops.bankDeposit(requestID: "dep4", wallet: bob.id, amount: cny(3_00), now: now + 12)
        let linked: (String) -> String? = { $0 == bob.id ? "bank-1" : nil }
        #expect(try ops.bankCallback(reference: "dep4", outcome: .settled, bank: "bank-2", linkedBank: linked, now: now + 13)
                == .refused(.pendingTransferNotFound))
        guard case .created = try ops.bankCallback(reference: "dep4", outcome: .settled, bank: "bank-1", linkedBank: linked, now: now + 13) else {
            Issue.record("the linked bank could not answer an unlabelled hold")
            return
        }
        // A retry after the wallet's bank became known is the same request, answered as before.
        let made = try ops.bankDeposit(requestID: "dep5", wallet: bob.id, amount: cny(1_00), now: now + 14)
        let retried = try ops.bankDeposit(requestID: "dep5", wallet: bob.id, amount: cny(1_00), bank: "bank-1", now: now + 15)
        #expect(retried.replayed && retried.transfer == made.transfer && made.transfer?.memo == "bank")
        #expect(try balance(bob.id) == 58_00)
        try expectAudit()
    }

    /// A month of bank traffic through the simulated rail: deposits and withdrawals, returns,
    /// duplicate and crossing callbacks, holds expiring. The audit passes after every hour, and
    /// at the end every wallet holds exactly what the bank says it settled.
    func aMonthOfBankTrafficStaysExact(seed: UInt64) throws {
        var rail = SimulatedBankRail(seed: seed)
        var rng = SplitMix64(seed: seed)
        var wallets = [alice.id, bob.id]
        for i in 0..<4 { wallets.append(try store.createWallet(name: "w\(i)", phone: nil, currency: .CNY, now: now).id) }
        var cash: [String: Int64] = [alice.id: 1_000_00]
        var clock = now
        var refs: [String] = []
        var made = 0
        for hour in 0..<(30 * 24) {
            clock += 3_600_000
            for _ in 0..<Int(rng.next() % 3) {
                let wallet = wallets[Int(rng.next() % UInt64(wallets.count))]
                let amount = cny(Int64(1 + rng.next() % 200_00))
                made += 1
                let ref = "r\(hour)-\(made)"
                if rng.next() % 2 == 0 {
                    _ = try ops.bankDeposit(requestID: ref, wallet: wallet, amount: amount, now: clock)
                    rail.submit(reference: ref, direction: .deposit, amount: amount, now: clock)
                    refs.append(ref)
                } else if try ops.bankWithdrawal(requestID: ref, wallet: wallet, amount: amount, now: clock).transfer != nil {
                    rail.submit(reference: ref, direction: .withdrawal, amount: amount, now: clock)
                    refs.append(ref)
                }
                if rng.next() % 5 == 0 {
                    _ = try store.deposit(requestID: "cash-\(ref)", wallet: wallet, amount: amount, source: .cash, now: clock)
                    cash[wallet, default: 0] += amount.minorUnits
                }
            }
            for callback in rail.deliver(upTo: clock) {
                let result = try ops.bankCallback(reference: callback.reference, outcome: callback.settled ? .settled : .returned, now: clock)
                // A repeat is the first answer again, never a refusal (a bank would resend it forever).
                if case .refused(let why) = result, why != .pendingTransferExpired {
                    Issue.record("seed \(seed): \(callback) refused: \(why)")
                }
            }
            _ = try store.expirePending(now: clock)
            let violations = try store.audit().violations
            #expect(violations == [], "seed \(seed), hour \(hour)")
            if !violations.isEmpty { return }
        }
        // Every callback arrives, the last ones 15 days late: past a deposit hold's 14 days.
        clock += 15 * 86_400_000
        for callback in rail.deliver(upTo: clock) {
            _ = try ops.bankCallback(reference: callback.reference, outcome: callback.settled ? .settled : .returned, now: clock)
        }
        _ = try store.expirePending(now: clock)
        #expect(rail.outstanding == 0)
        var expected = cash
        var late = 0
        for ref in refs {
            let truth = try #require(rail.decided[ref])
            let status = try store.pendingStatus(ref)
            let hold = try #require(try store.transfer(ref))
            if case .expired = status {
                // Only a deposit expires; settled late, it was credited once, as a new deposit.
                #expect(hold.kind == .deposit, "seed \(seed): \(ref)")
                #expect((try store.transfer(ref + ".late") != nil) == truth.settled, "seed \(seed): \(ref)")
                late += 1
            } else {
                #expect(status == (truth.settled ? .posted(by: ref + ".settled") : .voided(by: ref + ".returned")), "seed \(seed): \(ref)")
            }
            if truth.settled {
                expected[hold.kind == .deposit ? hold.creditAccount : hold.debitAccount, default: 0]
                    += hold.kind == .deposit ? truth.amount.minorUnits : -truth.amount.minorUnits
            }
        }
        for wallet in wallets {
            #expect(try balance(wallet) == expected[wallet, default: 0], "seed \(seed): \(wallet)")
            #expect(try available(wallet) == expected[wallet, default: 0], "seed \(seed): \(wallet) still holds something")
        }
        #expect(refs.count > 300)
        #expect(late > 0, "the late deposits were exercised")
        try expectAudit()
    }

    func aDeclineIsFinalForItsRequestAndCountsTowardsVelocity() throws {
        // Bob has nothing: declined. Funded later, the same request is still declined.
        #expect(try ops.transfer(requestID: "d1", from: bob.id, to: .wallet(alice.id), amount: cny(5_00), now: now).decline == .insufficientFunds)
        _ = try store.deposit(requestID: "cash-bob", wallet: bob.id, amount: cny(50_00), source: .cash, now: now + 1)
        let again = try ops.transfer(requestID: "d1", from: bob.id, to: .wallet(alice.id), amount: cny(5_00), now: now + 2)
        #expect(again.decline == .insufficientFunds && again.replayed)
        #expect(try store.transfer("d1") == nil)
        #expect(throws: LedgerError.self) {
            try ops.transfer(requestID: "d1", from: bob.id, to: .wallet(alice.id), amount: cny(4_00), now: now + 3)
        }
        // Declined attempts count towards velocity: two declines and one payment fill a window of 4.
        var tight = self.ops
        tight.limits = { _ in
            WalletLimits(perPaymentMax: 10_00, perDayMax: 1_000_00, velocityCountMax: 4, velocityAmountMax: 1_000_00,
                         velocityWindowMillis: 60_000, utcOffsetMinutes: 480)
        }
        let t = now + 100_000
        #expect(try tight.transfer(requestID: "v1", from: bob.id, to: .wallet(alice.id), amount: cny(11_00), now: t).decline == .limitPerPayment)
        #expect(try tight.transfer(requestID: "v2", from: bob.id, to: .wallet(alice.id), amount: cny(12_00), now: t + 1).decline == .limitPerPayment)
        #expect(try tight.transfer(requestID: "v3", from: bob.id, to: .wallet(alice.id), amount: cny(1_00), now: t + 2).transfer != nil)
        // (d1 was declined 100 s earlier: outside the window.)
        #expect(try tight.transfer(requestID: "v4", from: bob.id, to: .wallet(alice.id), amount: cny(1_00), now: t + 3).transfer != nil)
        #expect(try tight.transfer(requestID: "v5", from: bob.id, to: .wallet(alice.id), amount: cny(1_00), now: t + 4).decline == .velocityCount)
        #expect(try tight.transfer(requestID: "v6", from: bob.id, to: .wallet(alice.id), amount: cny(1_00), now: t + 61_000).transfer != nil)
        try expectAudit()
    }

    func walletEventsComeInOrderWithBalancesAfterEachChange() throws {
        _ = try ops.transfer(requestID: "e1", from: alice.id, to: .wallet(bob.id), amount: cny(10_00), fee: cny(10), now: now + 1)
        _ = try ops.bankWithdrawal(requestID: "e2", wallet: bob.id, amount: cny(4_00), now: now + 2)
        _ = try ops.bankCallback(reference: "e2", outcome: .settled, now: now + 3)
        let all = try store.events(after: 0, account: nil, limit: 100)
        #expect(all.map(\.seq) == all.map(\.seq).sorted())
        let bobs = try store.events(after: 0, account: bob.id, limit: 100)
        #expect(bobs.map(\.kind) == ["transfer", "withdrawal:hold", "withdrawal:post"])
        #expect(bobs.map(\.delta.minorUnits) == [10_00, 0, -4_00])
        #expect(bobs.map(\.available) == [10_00, 6_00, 6_00])
        #expect(bobs.map(\.balance) == [10_00, 10_00, 6_00])
        // A cursor: after the first event, the rest.
        #expect(try store.events(after: bobs[0].seq, account: bob.id, limit: 100).map(\.transfer) == ["e2", "e2.settled"])
        let alices = try store.events(after: 0, account: alice.id, limit: 100)
        #expect(alices.map(\.kind) == ["deposit", "transfer", "fee"])
        #expect(alices.map(\.balance) == [1_000_00, 990_00, 989_90])
    }
}

/// Many threads writing at once (on SQLite they share commits, group commit; on PostgreSQL they
/// lock the rows they touch): each call still gets exactly its own results, linked chains stay
/// whole, retries find their first outcome, and no wallet goes past its flag.
@Suite struct ConcurrentWriterTests {
    @Test(arguments: StoreKind.all)
    func eightWritersAtOnceEachGetTheirOwnResults(_ kind: StoreKind) throws {
        let store = try kind.make()
        let now: Int64 = 1_800_000_000_000
        var wallets: [String] = []
        for i in 0..<6 {
            let w = try store.createWallet(name: "w\(i)", phone: nil, currency: .CNY, now: now).id
            _ = try store.deposit(requestID: "fund-\(i)", wallet: w, amount: Money(minorUnits: 5_000, currency: .CNY), source: .cash, now: now)
            wallets.append(w)
        }
        let walletIDs = wallets
        let outcomes = Mutex<[(batch: [Transfer], results: [TransferResult])]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { client in
            var rng = SplitMix64(seed: UInt64(client + 1))
            for call in 0..<150 {
                let from = walletIDs[Int(rng.next() % 6)], to = walletIDs[Int(rng.next() % 6)]
                let id = "c\(client)-\(call)"
                let amount = Money(minorUnits: Int64(1 + rng.next() % 400), currency: .CNY)
                var batch = [Transfer(id: id, kind: .transfer, debitAccount: from, creditAccount: to, amount: amount,
                                      refundOf: nil, orderID: nil, memo: "", createdAt: 0)]
                if rng.next() % 3 == 0 {
                    batch[0] = Transfer(id: id, kind: .transfer, debitAccount: from, creditAccount: to, amount: amount, flags: .linked,
                                        refundOf: nil, orderID: nil, memo: "", createdAt: 0)
                    batch.append(Transfer(id: id + ".b", kind: .transfer, debitAccount: to, creditAccount: from,
                                          amount: Money(minorUnits: Int64(1 + rng.next() % 400), currency: .CNY),
                                          refundOf: nil, orderID: nil, memo: "", createdAt: 0))
                }
                // Every fifth call is sent twice, as a client retrying after a timeout would.
                let repeats = call % 5 == 0 ? 2 : 1
                for _ in 0..<repeats {
                    if let results = try? store.createTransfers(batch, now: now + Int64(call)) {
                        outcomes.withLock { $0.append((batch, results)) }
                    }
                }
            }
        }
        let all = outcomes.withLock { $0 }
        #expect(all.count == 8 * 150 + 8 * 30)
        // (A call sent twice may be refused first and applied on the retry, if money arrived.)
        let appliedSomewhere = Set(all.flatMap { $0.results.compactMap(\.transfer?.id) })
        for (batch, results) in all {
            #expect(results.count == batch.count)
            // A chain is whole: all applied or none.
            let applied = results.map { $0.transfer != nil }
            #expect(applied.allSatisfy { $0 } || applied.allSatisfy { !$0 }, "\(batch.map(\.id)): \(results)")
            for (t, r) in zip(batch, results) {
                let stored = try store.transfer(t.id)
                #expect((stored != nil) == appliedSomewhere.contains(t.id), "\(t.id)")
                if let made = r.transfer { #expect(stored == made) }
            }
        }
        for w in walletIDs { #expect(try #require(try store.account(w)).balance.minorUnits >= 0) }
        #expect(try store.audit().violations == [])
    }
}
