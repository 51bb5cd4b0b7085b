import Foundation
import Ledger
import Payments
import Synchronization
import Testing

/// The ledger's side of offline payments, on both stores: the allowance reserved at issue,
/// forwarded payments settled against it (then the wallet, then a debt), the rest returned after
/// the grace, each exactly once; the audit after every step.
@Suite struct OfflineAllowanceTests {
    let now: Int64 = 1_800_000_000_000
    func cny(_ minor: Int64) -> Money { Money(minorUnits: minor, currency: .CNY) }

    struct World {
        let store: any TransactionalLedgerStore
        let ops: WalletOperations
        let wallet: Account
        let shops: [String]
    }

    func world(_ kind: StoreKind, funds: Int64) throws -> World {
        let store = try kind.make()
        let wallet = try store.createWallet(name: "Wu", phone: nil, currency: .CNY, now: now)
        _ = try store.deposit(requestID: UUIDv7.make(), wallet: wallet.id, amount: cny(funds), source: .cash, now: now)
        let shops = try (0..<2).map { i in
            try store.createMerchant(name: "Shop \(i)", city: "Hangzhou", categoryCode: "5411", countryCode: "CN", currency: .CNY, now: now).id
        }
        return World(store: store, ops: WalletOperations(store: store), wallet: wallet, shops: shops)
    }

    func expectAudit(_ w: World, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let problems = try w.store.audit().violations.map { "\($0.check): \($0.detail)" }
        #expect(problems == [], sourceLocation: sourceLocation)
    }

    func available(_ w: World, _ id: String) throws -> Int64 { try #require(try w.store.account(id)).available.minorUnits }
    func balance(_ w: World, _ id: String) throws -> Int64 { try #require(try w.store.account(id)).balance.minorUnits }

    @Test(arguments: StoreKind.all)
    func allowanceThenWalletThenDebt(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        let serial = UUIDv7.make()
        let reserved = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(600), validUntil: now + 86_400_000, now: now)
        #expect(reserved.transfer != nil)
        #expect(try available(w, w.wallet.id) == 400, "the allowance cannot also be spent online")
        #expect(try balance(w, WalletOperations.offlineAllowanceAccount(serial)) == 600)
        // Issuing again with the same serial is a retry.
        #expect(try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(600), validUntil: now + 86_400_000, now: now).replayed)
        try expectAudit(w)

        // Two terminals took 500 and 300 offline: 800 of a 600 allowance.
        let a = try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: serial, merchant: w.shops[0], amount: cny(500), now: now + 1)
        #expect(a == OfflineSettlement(paymentID: a.paymentID, fromAllowance: 500, fromWallet: 0, debt: 0, replayed: false))
        let b = try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: serial, merchant: w.shops[1], amount: cny(300), now: now + 2)
        #expect(b.fromAllowance == 100 && b.fromWallet == 200 && b.debt == 0)
        #expect(try available(w, w.wallet.id) == 200)
        // The wallet spends the rest online; a third offline payment becomes a debt.
        let c = try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: serial, merchant: w.shops[0], amount: cny(250), now: now + 3)
        #expect(c.fromAllowance == 0 && c.fromWallet == 200 && c.debt == 50)
        #expect(try balance(w, w.shops[0]) == 750 && balance(w, w.shops[1]) == 300, "merchants are paid in full")
        // A settlement-kind account is debit-normal: its balance of 50 is what the wallet owes.
        #expect(try balance(w, WalletOperations.offlineDebtAccount(w.wallet.id)) == 50, "the wallet owes 50")
        #expect(try balance(w, w.wallet.id) == 0)
        try expectAudit(w)

        // Forwarded again (a retry after a lost answer): the first settlement, nothing moves.
        let again = try w.ops.settleOfflinePayment(paymentID: b.paymentID, serial: serial, merchant: w.shops[1], amount: cny(300), now: now + 9)
        #expect(again.replayed && again.fromAllowance == 100 && again.fromWallet == 200)
        #expect(throws: LedgerError.self) {
            try w.ops.settleOfflinePayment(paymentID: b.paymentID, serial: serial, merchant: w.shops[1], amount: cny(301), now: now + 9)
        }
        #expect(throws: LedgerError.self) {
            try w.ops.settleOfflinePayment(paymentID: b.paymentID, serial: serial, merchant: w.shops[0], amount: cny(300), now: now + 9)
        }
        #expect(try balance(w, w.shops[1]) == 300)
        try expectAudit(w)
    }

    @Test(arguments: StoreKind.all)
    func whatIsLeftReturnsAfterTheGrace(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        let serial = UUIDv7.make()
        let until = now + 86_400_000
        _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(600), validUntil: until, now: now)
        _ = try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: serial, merchant: w.shops[0], amount: cny(150), now: now + 1)
        #expect(try w.ops.releaseOfflineAllowance(serial: serial, now: until + WalletOperations.offlineReleaseGraceMillis - 1) == nil)
        #expect(try available(w, w.wallet.id) == 400)
        let released = try #require(try w.ops.releaseOfflineAllowance(serial: serial, now: until + WalletOperations.offlineReleaseGraceMillis))
        #expect(released.amount == cny(450))
        #expect(try available(w, w.wallet.id) == 850)
        #expect(try w.ops.releaseOfflineAllowance(serial: serial, now: until + 2 * WalletOperations.offlineReleaseGraceMillis)?.id == released.id)
        // A payment forwarded after the release is still settled, from the wallet.
        let late = try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: serial, merchant: w.shops[0], amount: cny(100), now: until + 3 * WalletOperations.offlineReleaseGraceMillis)
        #expect(late.fromAllowance == 0 && late.fromWallet == 100)
        #expect(try balance(w, w.shops[0]) == 250 && balance(w, w.wallet.id) == 750)
        try expectAudit(w)
    }

    @Test(arguments: StoreKind.all)
    func refusals(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        #expect(try w.ops.reserveOfflineAllowance(serial: UUIDv7.make(), wallet: w.wallet.id, amount: cny(1_001), validUntil: now + 1, now: now)
            .decline == .insufficientFunds)
        #expect(try w.ops.reserveOfflineAllowance(serial: UUIDv7.make(), wallet: "wal_nobody", amount: cny(1), validUntil: now + 1, now: now)
            .decline == .accountUnknown)
        #expect(throws: LedgerError.self) {
            try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: UUIDv7.make(), merchant: w.shops[0], amount: cny(1), now: now)
        }
        let serial = UUIDv7.make()
        _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(100), validUntil: now + 1, now: now)
        #expect(throws: LedgerError.self) {
            try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: serial, merchant: w.wallet.id, amount: cny(1), now: now)
        }
        #expect(try available(w, w.wallet.id) == 900)
        try expectAudit(w)
    }

    /// Terminals forward at once, some of them the same payments twice: every payment is paid
    /// exactly once, the allowance never goes below zero, and the books balance.
    @Test(arguments: StoreKind.all)
    func manyTerminalsForwardingAtOnce(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 2_000)
        let serial = UUIDv7.make()
        _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(1_000), validUntil: now + 86_400_000, now: now)
        let payments: [(id: String, amount: Int64, shop: String)] = (0..<40).map { i in
            let amount: Int64 = 50 + Int64(i % 3) * 25
            return (id: UUIDv7.make(), amount: amount, shop: w.shops[i % 2])
        }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { terminal in
            // Each payment is forwarded by two of the eight, as after a lost acknowledgement.
            for (k, p) in payments.enumerated() where k % 4 == terminal % 4 {
                do {
                    _ = try w.ops.settleOfflinePayment(paymentID: p.id, serial: serial, merchant: p.shop, amount: cny(p.amount), now: now + Int64(k))
                } catch {
                    failures.withLock { $0.append("\(p.id): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let total: Int64 = payments.reduce(0) { $0 + $1.amount }
        let paid: Int64 = try balance(w, w.shops[0]) + balance(w, w.shops[1])
        #expect(paid == total)
        #expect(try balance(w, WalletOperations.offlineAllowanceAccount(serial)) == 0)
        let debt = try w.store.account(WalletOperations.offlineDebtAccount(w.wallet.id))?.balance.minorUnits ?? 0
        #expect(try balance(w, w.wallet.id) == 2_000 - total + debt, "the wallet paid what the allowance did not, less its debt")
        try expectAudit(w)
    }

    /// Online, what an offline code takes from the wallet beyond its allowance is a payment from
    /// the wallet like any other: the wallet's limits judge it. Forwarded after being taken
    /// offline, it is settled whatever they say.
    @Test(arguments: StoreKind.all)
    func onlineSpillIsJudgedByTheWalletsLimits(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        var ops = w.ops
        ops.limits = { _ in WalletLimits(perPaymentMax: 100, perDayMax: 10_000, velocityCountMax: 20, velocityAmountMax: 10_000,
                                         velocityWindowMillis: 600_000, utcOffsetMinutes: 480) }
        let serial = UUIDv7.make()
        _ = try ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(50), validUntil: now + 86_400_000, now: now)
        func online(_ id: String, counter: Int64, _ amount: Int64) throws -> Result<OfflineSettlement, Decline> {
            try ops.authorizeOfflineCode(.init(id: id, serial: serial, counter: counter, merchant: w.shops[0], amount: cny(amount)), now: now + counter)
        }
        // 50 from the allowance and 101 from the wallet: past the wallet's 100 a payment.
        let over = UUIDv7.make()
        #expect(try online(over, counter: 1, 151) == .failure(.limitPerPayment))
        #expect(try online(UUIDv7.make(), counter: 2, 150).map { [$0.fromAllowance, $0.fromWallet] } == .success([50, 100]))
        #expect(try balance(w, w.shops[0]) == 150)
        // Taken offline after all (the terminal never heard the decline), it is settled in full.
        let forwarded = try ops.settleOfflinePayments([.init(id: over, serial: serial, counter: 1, merchant: w.shops[0], amount: cny(151))], now: now + 9)
        #expect(try forwarded[0].get().total == 151)
        try expectAudit(w)
    }

    /// Online authorization of an offline code: approved only when the allowance and the wallet
    /// cover it together and its counter is unused; every decline final for its id; the same id
    /// forwarded later (the terminal never heard the answer) is "already settled".
    @Test(arguments: StoreKind.all)
    func onlineAuthorization(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        let serial = UUIDv7.make()
        _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(300), validUntil: now + 86_400_000, now: now)
        func online(_ id: String, counter: Int64, _ amount: Int64) throws -> Result<OfflineSettlement, Decline> {
            try w.ops.authorizeOfflineCode(.init(id: id, serial: serial, counter: counter, merchant: w.shops[0], amount: cny(amount)), now: now + counter)
        }
        let first = UUIDv7.make()
        #expect(try online(first, counter: 1, 200) == .success(OfflineSettlement(paymentID: first, fromAllowance: 200, fromWallet: 0, debt: 0, replayed: false)))
        // The same id again: the first answer. The same counter under another id: the code was used.
        #expect(try online(first, counter: 1, 200).map(\.replayed) == .success(true))
        #expect(try online(UUIDv7.make(), counter: 1, 10) == .failure(.codeUsed))
        // Allowance 100 left plus the wallet's 700: 900 is too much online (no debt is made online).
        let tooMuch = UUIDv7.make()
        #expect(try online(tooMuch, counter: 2, 900) == .failure(.insufficientFunds))
        #expect(try online(tooMuch, counter: 2, 900) == .failure(.insufficientFunds), "a decline is final for its id")
        #expect(throws: LedgerError.self) { try online(tooMuch, counter: 2, 901) }
        let spill = try online(UUIDv7.make(), counter: 3, 500)
        #expect(spill.map { [$0.fromAllowance, $0.fromWallet, $0.debt] } == .success([100, 400, 0]))
        // An unknown certificate is an unknown code, not an error.
        #expect(try w.ops.authorizeOfflineCode(.init(id: UUIDv7.make(), serial: UUIDv7.make(), counter: 1, merchant: w.shops[0], amount: cny(1)),
                                               now: now) == .failure(.codeUnknown))
        try expectAudit(w)

        // The terminal never heard "declined" for tooMuch and took it offline: forwarded, it is
        // settled all the same (the merchant followed the rules), the rest a debt.
        let forwarded = try w.ops.settleOfflinePayments([.init(id: tooMuch, serial: serial, counter: 2, merchant: w.shops[0], amount: cny(900))], now: now + 9)
        let settled = try forwarded[0].get()
        #expect(settled.fromWallet + settled.debt == 900 && settled.fromAllowance == 0 && !settled.replayed)
        // Forwarding the one approved online is "already settled".
        #expect(try w.ops.settleOfflinePayments([.init(id: first, serial: serial, counter: 1, merchant: w.shops[0], amount: cny(200))], now: now + 10)[0].get().replayed)
        #expect(try balance(w, w.shops[0]) == 200 + 500 + 900)
        try expectAudit(w)
    }

    /// A terminal's batch settles in one transaction through one engine, written once at the end
    /// (``LedgerTransaction/deferringWrites(_:)``): it must come out exactly as the same payments
    /// settled one by one: the allowance, then the wallet, then a debt; a payment repeated inside
    /// the batch replayed; a changed repeat and an unknown certificate refused, the others settled.
    @Test(arguments: StoreKind.all)
    func aBatchSettlesAsOneByOne(_ kind: StoreKind) throws {
        let (batched, single) = (try world(kind, funds: 1_000), try world(kind, funds: 1_000))
        let serial = UUIDv7.make()
        for w in [batched, single] {
            _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(400), validUntil: now + 86_400_000, now: now)
        }
        let ids = (0..<6).map { _ in UUIDv7.make() }
        func payments(_ w: World) -> [WalletOperations.OfflinePayment] {
            [.init(id: ids[0], serial: serial, counter: 1, merchant: w.shops[0], amount: cny(300)),
             .init(id: ids[1], serial: serial, counter: 2, merchant: w.shops[1], amount: cny(300)),    // 100 allowance, 200 wallet
             .init(id: ids[0], serial: serial, counter: 1, merchant: w.shops[0], amount: cny(300)),    // the first again: replayed
             .init(id: ids[2], serial: serial, counter: 3, merchant: w.shops[0], amount: cny(900)),    // 400 wallet, 500 debt
             .init(id: ids[1], serial: serial, counter: 2, merchant: w.shops[1], amount: cny(301)),    // a changed repeat: refused
             .init(id: ids[3], serial: UUIDv7.make(), counter: 1, merchant: w.shops[0], amount: cny(10)),  // no such certificate
             .init(id: ids[4], serial: serial, counter: 4, merchant: w.shops[1], amount: cny(50))]     // all debt
        }
        func outcome(_ r: Result<OfflineSettlement, LedgerError>) -> String {
            switch r {
            case .success(let s): "\(s.fromAllowance)/\(s.fromWallet)/\(s.debt)\(s.replayed ? " replayed" : "")"
            case .failure(let e): "\(e.code)"
            }
        }
        let together = try batched.ops.settleOfflinePayments(payments(batched), now: now + 1).map(outcome)
        let alone = try payments(single).map { try single.ops.settleOfflinePayments([$0], now: now + 1)[0] }.map(outcome)
        #expect(together == alone)
        #expect(together == ["300/0/0", "100/200/0", "300/0/0 replayed", "0/400/500", "idConflict", "notFound", "0/0/50"], "\(together)")
        for w in [batched, single] {
            #expect(try balance(w, w.shops[0]) == 1_200 && balance(w, w.shops[1]) == 350)
            #expect(try balance(w, WalletOperations.offlineDebtAccount(w.wallet.id)) == 550)
            #expect(try balance(w, w.wallet.id) == 0)
            try expectAudit(w)
        }
        #expect(try batched.store.events(after: 0, account: batched.wallet.id, limit: 100).map(\.delta)
                == single.store.events(after: 0, account: single.wallet.id, limit: 100).map(\.delta), "the same alerts, in the same order")
    }

    /// A code shown at two terminals offline (a copy of the phone's screen): both settled, as
    /// the terminals followed their rules, and each flagged with the other.
    @Test(arguments: StoreKind.all)
    func reusedCounterFlagged(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        let serial = UUIDv7.make()
        _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(300), validUntil: now + 86_400_000, now: now)
        let (a, b) = (UUIDv7.make(), UUIDv7.make())
        let results = try w.ops.settleOfflinePayments([.init(id: a, serial: serial, counter: 7, merchant: w.shops[0], amount: cny(100)),
                                                       .init(id: b, serial: serial, counter: 7, merchant: w.shops[1], amount: cny(100))], now: now + 1)
        #expect(try results[0].get().counterReusedBy == [])
        #expect(try results[1].get().counterReusedBy == [a])
        #expect(try w.ops.settleOfflinePayments([.init(id: a, serial: serial, counter: 7, merchant: w.shops[0], amount: cny(100))], now: now + 2)[0]
            .get().counterReusedBy == [b], "a replay reports the other use too")
        #expect(try balance(w, w.shops[0]) == 100 && balance(w, w.shops[1]) == 100)
        try expectAudit(w)
    }

    /// A sale taken offline and refunded: the money goes back to the wallet, whichever of the
    /// allowance and the wallet paid it, even once the allowance was released; never more than
    /// the sale in total.
    @Test(arguments: StoreKind.all)
    func refundOfAnOfflineSale(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        let ledger = try #require(w.store as? any LedgerStore)
        let serial = UUIDv7.make(), until = now + 86_400_000
        _ = try w.ops.reserveOfflineAllowance(serial: serial, wallet: w.wallet.id, amount: cny(300), validUntil: until, now: now)
        let sale = UUIDv7.make()
        let settled = try w.ops.settleOfflinePayment(paymentID: sale, serial: serial, merchant: w.shops[0], amount: cny(500), now: now + 1)
        #expect(settled.fromAllowance == 300 && settled.fromWallet == 200)
        #expect(try balance(w, w.wallet.id) == 500)

        let first = try ledger.refund(requestID: UUIDv7.make(), payment: sale, merchant: w.shops[0], amount: cny(450), now: now + 2)
        #expect(first.transfer?.refundOf == sale + ".wallet", "the wallet's part first")
        #expect(try balance(w, w.wallet.id) == 950, "all 450 back in the wallet, none left in the allowance")
        #expect(try balance(w, WalletOperations.offlineAllowanceAccount(serial)) == 0)
        #expect(try ledger.refund(requestID: UUIDv7.make(), payment: sale, merchant: w.shops[0], amount: cny(51), now: now + 3).decline == .refundExceedsPayment)
        try expectAudit(w)

        // The allowance is released (nothing left in it), and the last 50 still reach the wallet.
        #expect(try w.ops.releaseOfflineAllowance(serial: serial, now: until + WalletOperations.offlineReleaseGraceMillis) == nil)
        let last = try ledger.refund(requestID: UUIDv7.make(), payment: sale, merchant: w.shops[0], amount: cny(50), now: until + WalletOperations.offlineReleaseGraceMillis + 1)
        #expect(last.transfer != nil)
        #expect(try balance(w, w.wallet.id) == 1_000 && balance(w, w.shops[0]) == 0)

        // A sale the wallet paid alone (its allowance spent) has no allowance part: refunded all the same.
        let walletOnly = UUIDv7.make()
        _ = try w.ops.settleOfflinePayment(paymentID: walletOnly, serial: serial, merchant: w.shops[1], amount: cny(100), now: until + 1)
        #expect(try ledger.refund(requestID: UUIDv7.make(), payment: walletOnly, merchant: w.shops[1], amount: cny(100), now: until + 2).transfer != nil)
        #expect(try balance(w, w.wallet.id) == 1_000)
        try expectAudit(w)
    }

    /// The sweep (`qrpos ledger expire`, and the server every minute) returns each ended
    /// allowance once its grace is over, and only those.
    @Test(arguments: StoreKind.all)
    func sweepReleasesEndedAllowances(_ kind: StoreKind) throws {
        let w = try world(kind, funds: 1_000)
        let (early, late) = (UUIDv7.make(), UUIDv7.make())
        _ = try w.ops.reserveOfflineAllowance(serial: early, wallet: w.wallet.id, amount: cny(200), validUntil: now + 3_600_000, now: now)
        _ = try w.ops.reserveOfflineAllowance(serial: late, wallet: w.wallet.id, amount: cny(300), validUntil: now + 7_200_000, now: now)
        _ = try w.ops.settleOfflinePayment(paymentID: UUIDv7.make(), serial: early, counter: 1, merchant: w.shops[0], amount: cny(50), now: now + 1)
        let grace = WalletOperations.offlineReleaseGraceMillis
        #expect(try LedgerSweep.run(w.store, now: now + 3_600_000 + grace - 1) == [], "not before the grace is over")
        #expect(try LedgerSweep.run(w.store, now: now + 3_600_000 + grace) == [early + ".release"])
        #expect(try available(w, w.wallet.id) == 1_000 - 50 - 300, "150 of the first allowance back")
        #expect(try LedgerSweep.run(w.store, now: now + 3_600_000 + grace + 1) == [], "once")
        #expect(try LedgerSweep.run(w.store, now: now + 7_200_000 + grace) == [late + ".release"])
        #expect(try available(w, w.wallet.id) == 950)
        try expectAudit(w)
    }
}
