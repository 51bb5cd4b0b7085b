import Foundation
import GRDB
import Ledger
import LedgerPostgres
import LedgerSQLite
import Payments
import QrposTestSupport
import Testing
import Crypto

@Suite("Wallet ledger: the checkout's operations on both stores, and the SQLite file")
struct SQLiteLedgerTests {
    @Test("a deposit is one balanced transfer from the settlement account", arguments: StoreKind.all)
    func deposit(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        #expect(try f.balance(f.alice.id) == 10_000)
        #expect(try f.balance("settlement-CNY") == 10_000)
        let history = try f.ledger.history(account: f.alice.id, limit: 10)
        #expect(history.count == 1)
        #expect(history[0].kind == .deposit && history[0].debitAccount == "settlement-CNY")
        try f.expectAuditPasses()
    }

    @Test("the ledger file is in WAL mode with synchronous=FULL")
    func durability() throws {
        let f = try Fixture()
        let settings = try f.sqlite.durability()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)   // FULL
    }

    @Test("a withdrawal never takes a wallet below zero", arguments: StoreKind.all)
    func withdrawal(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let ok = try f.ledger.withdraw(requestID: UUIDv7.make(), wallet: f.alice.id, amount: cny("40.00"), now: f.now)
        #expect(ok.transfer != nil)
        let tooMuch = try f.ledger.withdraw(requestID: UUIDv7.make(), wallet: f.alice.id, amount: cny("60.01"), now: f.now)
        #expect(tooMuch.decline == .insufficientFunds)
        #expect(try f.balance(f.alice.id) == 6_000)
        try f.expectAuditPasses()
    }

    @Test("a repeated request id returns the first outcome and applies once", arguments: StoreKind.all)
    func idempotent(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let id = UUIDv7.make()
        let first = try f.ledger.withdraw(requestID: id, wallet: f.alice.id, amount: cny("10.00"), now: f.now)
        let again = try f.ledger.withdraw(requestID: id, wallet: f.alice.id, amount: cny("10.00"), now: f.now + 5)
        #expect(!first.replayed && again.replayed)
        #expect(first.transfer == again.transfer)
        #expect(try f.balance(f.alice.id) == 9_000)
        // A declined request is final too: its retry is the same decline, even after a top-up.
        let declinedID = UUIDv7.make()
        #expect(try f.ledger.withdraw(requestID: declinedID, wallet: f.bob.id, amount: cny("1.00"), now: f.now).decline == .insufficientFunds)
        _ = try f.ledger.deposit(requestID: UUIDv7.make(), wallet: f.bob.id, amount: cny("5.00"), source: .cash, now: f.now)
        let retried = try f.ledger.withdraw(requestID: declinedID, wallet: f.bob.id, amount: cny("1.00"), now: f.now)
        #expect(retried.decline == .insufficientFunds && retried.replayed)
        try f.expectAuditPasses()
    }

    @Test("the same request id with other fields is an id conflict, not a second transfer", arguments: StoreKind.all)
    func idConflict(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let id = UUIDv7.make()
        _ = try f.ledger.withdraw(requestID: id, wallet: f.alice.id, amount: cny("10.00"), now: f.now)
        #expect(throws: LedgerError.self) {
            try f.ledger.withdraw(requestID: id, wallet: f.alice.id, amount: cny("11.00"), now: f.now)
        }
        #expect(try f.balance(f.alice.id) == 9_000)
        try f.expectAuditPasses()
    }

    @Test("a one-time code pays once, then is refused as used", arguments: StoreKind.all)
    func codeOnce(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let issued = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now)
        #expect(issued.code.digits.count == 18)
        // The ledger keeps only a keyed digest: neither the code nor its plain SHA-256 is stored.
        if kind == .sqlite {
            let stored = try DatabaseQueue(path: f.sqlite.path).read { try String.fetchAll($0, sql: "SELECT digest FROM payment_code") }
            #expect(stored.count == 1 && !stored[0].contains(issued.code.digits))
            #expect(stored[0] != SHA256.hash(data: Array(issued.code.digits.utf8)).map { String(format: "%02x", $0) }.joined())
        }
        let paid = try f.ledger.charge(requestID: UUIDv7.make(), code: issued.code, merchant: f.merchant.id,
                                       amount: cny("12.50"), memo: "T1", now: f.now + 1_000)
        let t = try #require(paid.transfer)
        #expect(t.debitAccount == f.alice.id && t.creditAccount == f.merchant.id && t.amount == cny("12.50"))
        let replay = try f.ledger.charge(requestID: UUIDv7.make(), code: issued.code, merchant: f.merchant.id,
                                         amount: cny("12.50"), memo: "T1", now: f.now + 2_000)
        #expect(replay.decline == .codeUsed)
        #expect(try f.balance(f.alice.id) == 10_000 - 1_250)
        #expect(try f.balance(f.merchant.id) == 1_250)
        try f.expectAuditPasses()
    }

    @Test("a code is refused when expired or unknown", arguments: StoreKind.all)
    func codeExpiredUnknown(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let issued = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now)
        let late = try f.ledger.charge(requestID: UUIDv7.make(), code: issued.code, merchant: f.merchant.id,
                                       amount: cny("1.00"), memo: "", now: f.now + 60_000)
        #expect(late.decline == .codeExpired)
        var rng = SystemRandomNumberGenerator()
        let unknown = try f.ledger.charge(requestID: UUIDv7.make(), code: PaymentCode.random(using: &rng),
                                          merchant: f.merchant.id, amount: cny("1.00"), memo: "", now: f.now)
        #expect(unknown.decline == .codeUnknown)
        #expect(try f.balance(f.alice.id) == 10_000)
        try f.expectAuditPasses()
    }

    @Test("a code is spent by a declined charge too, as Alipay's are", arguments: StoreKind.all)
    func codeSpentByDecline(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let issued = try f.ledger.issueCode(wallet: f.bob.id, validityMillis: 60_000, now: f.now)
        let poor = try f.ledger.charge(requestID: UUIDv7.make(), code: issued.code, merchant: f.merchant.id,
                                       amount: cny("5.00"), memo: "", now: f.now)
        #expect(poor.decline == .insufficientFunds)
        _ = try f.ledger.deposit(requestID: UUIDv7.make(), wallet: f.bob.id, amount: cny("50.00"), source: .cash, now: f.now)
        let again = try f.ledger.charge(requestID: UUIDv7.make(), code: issued.code, merchant: f.merchant.id,
                                        amount: cny("5.00"), memo: "", now: f.now)
        #expect(again.decline == .codeUsed)
        try f.expectAuditPasses()
    }

    @Test("a merchant-QR order is paid exactly once, and only before it expires", arguments: StoreKind.all)
    func orders(_ kind: StoreKind) throws {
        let f = try Fixture(kind, bobCash: "50.00")
        let order = try f.ledger.createOrder(id: "ord-1", merchant: f.merchant.id, amount: cny("20.00"),
                                             terminalID: "T1", expiresAt: f.now + 120_000, now: f.now)
        #expect(order.status == .open)
        #expect(try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "ord-1", wallet: f.alice.id,
                                      merchant: f.merchant.id, amount: cny("19.99"), now: f.now).decline == .amountMismatch)
        let paid = try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "ord-1", wallet: f.alice.id,
                                         merchant: f.merchant.id, amount: cny("20.00"), now: f.now + 1)
        #expect(paid.transfer?.orderID == "ord-1")
        let twice = try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "ord-1", wallet: f.bob.id,
                                          merchant: f.merchant.id, amount: cny("20.00"), now: f.now + 2)
        #expect(twice.decline == .orderPaid)
        let status = try #require(try f.ledger.order("ord-1", now: f.now + 3))
        #expect(status.status == .paid && status.paymentID == paid.transfer?.id)

        _ = try f.ledger.createOrder(id: "ord-2", merchant: f.merchant.id, amount: cny("1.00"),
                                     terminalID: "T1", expiresAt: f.now + 1_000, now: f.now)
        #expect(try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "ord-2", wallet: f.bob.id,
                                      merchant: f.merchant.id, amount: cny("1.00"), now: f.now + 1_000).decline == .orderExpired)
        #expect(try f.ledger.order("ord-2", now: f.now + 1_000)?.status == .expired)
        #expect(try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "nope", wallet: f.bob.id,
                                      merchant: f.merchant.id, amount: cny("1.00"), now: f.now).decline == .orderUnknown)
        #expect(try f.balance(f.bob.id) == 5_000)
        try f.expectAuditPasses()
    }

    @Test("a payment to a merchant, by code or by order, is judged by the wallet's limits and velocity, and a decline counts as an attempt",
          arguments: StoreKind.all)
    func paymentLimits(_ kind: StoreKind) throws {
        let limits: @Sendable (Currency) -> WalletLimits = { _ in
            WalletLimits(perPaymentMax: 100_00, perDayMax: 250_00, velocityCountMax: 4, velocityAmountMax: 150_00,
                         velocityWindowMillis: 10 * 60_000, utcOffsetMinutes: 480)
        }
        let f = try Fixture(kind, aliceCash: "1000.00", walletLimits: limits)
        let ledger = f.ledger, merchant = f.merchant.id, alice = f.alice.id
        var t = f.now
        func charge(_ amount: String, code: PaymentCode? = nil, id: String = UUIDv7.make()) throws -> Outcome {
            let code = try code ?? ledger.issueCode(wallet: alice, validityMillis: 60_000, now: t).code
            return try ledger.charge(requestID: id, code: code, merchant: merchant, amount: cny(amount), memo: "", now: t)
        }
        var orders = 0
        func payOrder(_ amount: String) throws -> Outcome {
            orders += 1
            _ = try ledger.createOrder(id: "ord-\(orders)", merchant: merchant, amount: cny(amount), terminalID: "T1",
                                       expiresAt: t + 60_000, now: t)
            return try ledger.payOrder(requestID: UUIDv7.make(), orderID: "ord-\(orders)", wallet: alice, merchant: merchant,
                                       amount: cny(amount), now: t)
        }
        let first = try ledger.issueCode(wallet: alice, validityMillis: 60_000, now: t).code
        #expect(try charge("100.01", code: first, id: "too-much").decline == .limitPerPayment)
        t += 1
        #expect(try charge("80.00").transfer != nil)
        t += 1
        // 80 and 80 in ten minutes: more than 150.
        #expect(try payOrder("80.00").decline == .velocityAmount)
        t += 1
        #expect(try payOrder("60.00").transfer != nil)
        t += 1
        // The fifth attempt in the window, the two declined ones counted: too many.
        #expect(try charge("1.00").decline == .velocityCount)
        // The declined request retried with its id gets its decline back and moves nothing.
        let retried = try charge("100.01", code: first, id: "too-much")
        #expect(retried.decline == .limitPerPayment && retried.replayed)
        // After the window: 80 + 60 + 60 is 200 of the day's 250; 60 more is past it.
        t = f.now + 11 * 60_000
        #expect(try charge("60.00").transfer != nil)
        t += 1
        #expect(try payOrder("60.00").decline == .limitPerDay)
        // The next local day (UTC+8) starts afresh.
        t = f.now + 86_400_000
        #expect(try payOrder("60.00").transfer != nil)
        #expect(try f.balance(alice) == 1000_00 - 80_00 - 60_00 - 60_00 - 60_00)
        #expect(try f.balance(merchant) == 80_00 + 60_00 + 60_00 + 60_00)
        try f.expectAuditPasses()
    }

    @Test("refunds, whole or partial, never sum above the original payment", arguments: StoreKind.all)
    func refunds(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let code = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now).code
        let payment = try #require(try f.ledger.charge(requestID: UUIDv7.make(), code: code, merchant: f.merchant.id,
                                                       amount: cny("30.00"), memo: "", now: f.now).transfer)
        let r1 = try f.ledger.refund(requestID: UUIDv7.make(), payment: payment.id, merchant: f.merchant.id, amount: cny("10.00"), now: f.now)
        #expect(r1.transfer?.refundOf == payment.id)
        #expect(try f.ledger.refund(requestID: UUIDv7.make(), payment: payment.id, merchant: f.merchant.id, amount: cny("20.01"), now: f.now).decline == .refundExceedsPayment)
        #expect(try f.ledger.refund(requestID: UUIDv7.make(), payment: payment.id, merchant: f.merchant.id, amount: cny("20.00"), now: f.now).transfer != nil)
        #expect(try f.ledger.refund(requestID: UUIDv7.make(), payment: payment.id, merchant: f.merchant.id, amount: cny("0.01"), now: f.now).decline == .refundExceedsPayment)
        #expect(try f.ledger.refund(requestID: UUIDv7.make(), payment: r1.transfer!.id, merchant: f.merchant.id, amount: cny("1.00"), now: f.now).decline == .notAPayment)
        #expect(try f.balance(f.alice.id) == 10_000)
        #expect(try f.balance(f.merchant.id) == 0)
        try f.expectAuditPasses()
    }

    @Test("a wrong currency is declined and moves nothing", arguments: StoreKind.all)
    func currency(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let usd = try Money(parsing: "1.00", currency: .USD)
        #expect(try f.ledger.withdraw(requestID: UUIDv7.make(), wallet: f.alice.id, amount: usd, now: f.now).decline == .currencyMismatch)
        try f.expectAuditPasses()
    }

    @Test("concurrent payments from one wallet never overdraw it", arguments: StoreKind.all)
    func concurrentWriters(_ kind: StoreKind) async throws {
        let f = try Fixture(kind, aliceCash: "10.00")
        let ledger = f.ledger, merchant = f.merchant.id, wallet = f.alice.id, now = f.now
        let approved = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    let code = try ledger.issueCode(wallet: wallet, validityMillis: 60_000, now: now).code
                    return try ledger.charge(requestID: UUIDv7.make(), code: code, merchant: merchant,
                                             amount: cny("1.00"), memo: "", now: now).transfer != nil
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(approved == 10)
        #expect(try f.balance(wallet) == 0)
        try f.expectAuditPasses()
    }

    @Test("the audit finds a balance edited behind the ledger's back")
    func auditDetectsTampering() throws {
        let f = try Fixture()
        let queue = try DatabaseQueue(path: f.sqlite.path)
        try queue.write { db in
            try db.execute(sql: "UPDATE account SET credits_posted = credits_posted + 500 WHERE id = ?", arguments: [f.alice.id])
        }
        let report = try f.ledger.audit()
        #expect(report.violations.map(\.check).contains("debits equal credits"))
        #expect(report.violations.map(\.check).contains("balances match transfers"))
    }

    @Test("the audit finds a transfer whose kind does not fit its accounts")
    func auditDetectsWrongKind() throws {
        let f = try Fixture()
        let queue = try DatabaseQueue(path: f.sqlite.path)
        try f.expectAuditPasses()
        try queue.write { db in try db.execute(sql: "UPDATE transfer SET kind = 'bill' WHERE kind = 'deposit'") }
        #expect(try f.ledger.audit().violations.map(\.check).contains("transfer kinds fit their accounts"))
    }

    @Test("the audit finds a balance past its flag, a refund above its payment and a hold with no status, on both stores",
          arguments: StoreKind.all)
    func auditDetectsEveryKindOfDamage(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let code = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now).code
        let paid = try #require(try f.ledger.charge(requestID: "pay-1", code: code, merchant: f.merchant.id, amount: cny("20.00"),
                                                    memo: "", now: f.now).transfer)
        #expect(try f.ledger.refund(requestID: "refund-1", payment: paid.id, merchant: f.merchant.id, amount: cny("5.00"), now: f.now).transfer != nil)
        let ops = WalletOperations(store: try #require(f.ledger as? any TransactionalLedgerStore))
        #expect(try ops.bankDeposit(requestID: "bank-1", wallet: f.bob.id, amount: cny("30.00"), now: f.now).transfer != nil)
        try f.expectAuditPasses()
        // Edits behind the ledger's back, each past what the schema itself refuses (its CHECKs
        // are taken off for the first), each found by the audit under its own name.
        func damaged(_ sqlite: String, postgres: String? = nil) throws -> Set<String> {
            switch kind {
            case .sqlite:
                try DatabaseQueue(path: try f.sqlite.path).writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
                    try db.execute(sql: sqlite)
                }
            case .postgres:
                let schema = (f.ledger as? PostgresLedger)?.schema ?? "missing"
                try TestPostgres.psql("SET search_path TO \(schema); " + (postgres ?? sqlite))
            }
            return Set(try f.ledger.audit().violations.map(\.check))
        }
        #expect(try damaged("DELETE FROM pending_transfer").contains("pending transfers resolved exactly once"))
        #expect(try damaged("UPDATE transfer SET amount = 2500 WHERE id = 'refund-1'").contains("refunds within their payment"))
        let dropChecks = """
            DO $$ DECLARE c text; BEGIN
              FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'account'::regclass AND contype = 'c' LOOP
                EXECUTE 'ALTER TABLE account DROP CONSTRAINT ' || quote_ident(c);
              END LOOP;
            END $$;
            """
        let overdrawn = "UPDATE account SET debits_posted = credits_posted + 1 WHERE id = '\(f.alice.id)'"
        #expect(try damaged(overdrawn, postgres: dropChecks + overdrawn).contains("no balance past its flag"))
    }

    @Test("the schema itself refuses an overdrawn wallet")
    func schemaBackstop() throws {
        let f = try Fixture()
        let queue = try DatabaseQueue(path: f.sqlite.path)
        #expect(throws: DatabaseError.self) {
            try queue.write { db in
                try db.execute(sql: "UPDATE account SET debits_posted = credits_posted + 1 WHERE id = ?", arguments: [f.alice.id])
            }
        }
    }
}

@Suite("Wallet ledger: retries, races and limits, on both stores")
struct SQLiteLedgerRaceTests {
    @Test("a refund retried with its id applies once; with another amount it is an id conflict", arguments: StoreKind.all)
    func refundRetry(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let code = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now).code
        let payment = try #require(try f.ledger.charge(requestID: UUIDv7.make(), code: code, merchant: f.merchant.id,
                                                       amount: cny("10.00"), memo: "", now: f.now).transfer)
        let id = UUIDv7.make()
        let first = try f.ledger.refund(requestID: id, payment: payment.id, merchant: f.merchant.id, amount: cny("4.00"), now: f.now)
        let again = try f.ledger.refund(requestID: id, payment: payment.id, merchant: f.merchant.id, amount: cny("4.00"), now: f.now)
        #expect(first.transfer != nil && again.replayed && again.transfer == first.transfer)
        #expect(throws: LedgerError.self) {
            try f.ledger.refund(requestID: id, payment: payment.id, merchant: f.merchant.id, amount: cny("5.00"), now: f.now)
        }
        #expect(try f.balance(f.alice.id) == 9_400)
        try f.expectAuditPasses()
    }

    @Test("a refund asked by another merchant is declined", arguments: StoreKind.all)
    func refundOtherMerchant(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let other = try f.ledger.createMerchant(name: "Other", city: "Beijing", categoryCode: "5411", countryCode: "CN", currency: .CNY, now: f.now)
        let code = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now).code
        let payment = try #require(try f.ledger.charge(requestID: UUIDv7.make(), code: code, merchant: f.merchant.id,
                                                       amount: cny("10.00"), memo: "", now: f.now).transfer)
        #expect(try f.ledger.refund(requestID: UUIDv7.make(), payment: payment.id, merchant: other.id, amount: cny("1.00"), now: f.now).decline == .merchantMismatch)
        try f.expectAuditPasses()
    }

    @Test("paying an order retried with the same request id returns the same payment", arguments: StoreKind.all)
    func payOrderRetry(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        _ = try f.ledger.createOrder(id: "o-r", merchant: f.merchant.id, amount: cny("3.00"), terminalID: "T", expiresAt: f.now + 60_000, now: f.now)
        let id = UUIDv7.make()
        let first = try f.ledger.payOrder(requestID: id, orderID: "o-r", wallet: f.alice.id, merchant: f.merchant.id, amount: cny("3.00"), now: f.now)
        let again = try f.ledger.payOrder(requestID: id, orderID: "o-r", wallet: f.alice.id, merchant: f.merchant.id, amount: cny("3.00"), now: f.now + 1)
        #expect(first.transfer != nil && again.replayed && again.transfer == first.transfer)
        #expect(try f.balance(f.alice.id) == 9_700)
        try f.expectAuditPasses()
    }

    @Test("many wallets racing to pay one order: exactly one pays", arguments: StoreKind.all)
    func concurrentOrderPayers(_ kind: StoreKind) async throws {
        let f = try Fixture(kind)
        let ledger = f.ledger, merchant = f.merchant.id, now = f.now
        var wallets: [String] = []
        for i in 0..<12 {
            let w = try ledger.createWallet(name: "W\(i)", phone: nil, currency: .CNY, now: now)
            _ = try ledger.deposit(requestID: UUIDv7.make(), wallet: w.id, amount: cny("10.00"), source: .cash, now: now)
            wallets.append(w.id)
        }
        _ = try ledger.createOrder(id: "o-race", merchant: merchant, amount: cny("7.00"), terminalID: "T", expiresAt: now + 60_000, now: now)
        let paid = try await withThrowingTaskGroup(of: Bool.self) { group in
            for w in wallets {
                group.addTask {
                    try ledger.payOrder(requestID: UUIDv7.make(), orderID: "o-race", wallet: w, merchant: merchant,
                                        amount: cny("7.00"), now: now).transfer != nil
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(paid == 1)
        #expect(try f.balance(merchant) == 700)
        try f.expectAuditPasses()
    }

    @Test("a terminal's cancel and a late payment: whichever commits first wins, never both", arguments: StoreKind.all)
    func cancelRace(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        _ = try f.ledger.createOrder(id: "o-c1", merchant: f.merchant.id, amount: cny("2.00"), terminalID: "T", expiresAt: f.now + 60_000, now: f.now)
        let cancelled = try f.ledger.cancelOrder("o-c1", now: f.now + 1_000)
        #expect(cancelled.status == .expired)
        let late = try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "o-c1", wallet: f.alice.id, merchant: f.merchant.id,
                                         amount: cny("2.00"), now: f.now + 2_000)
        #expect(late.decline == .orderExpired)

        _ = try f.ledger.createOrder(id: "o-c2", merchant: f.merchant.id, amount: cny("2.00"), terminalID: "T", expiresAt: f.now + 60_000, now: f.now)
        let paid = try f.ledger.payOrder(requestID: UUIDv7.make(), orderID: "o-c2", wallet: f.alice.id, merchant: f.merchant.id,
                                         amount: cny("2.00"), now: f.now + 1_000)
        let afterPay = try f.ledger.cancelOrder("o-c2", now: f.now + 2_000)
        #expect(afterPay.status == .paid && afterPay.paymentID == paid.transfer?.id)
        #expect(try f.balance(f.alice.id) == 9_800)
        try f.expectAuditPasses()
    }

    @Test("a charge to an unknown merchant leaves the customer's code unspent", arguments: StoreKind.all)
    func terminalMistakeKeepsCode(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let code = try f.ledger.issueCode(wallet: f.alice.id, validityMillis: 60_000, now: f.now).code
        #expect(try f.ledger.charge(requestID: UUIDv7.make(), code: code, merchant: "mer_nope", amount: cny("1.00"), memo: "", now: f.now).decline == .accountUnknown)
        #expect(try f.ledger.charge(requestID: UUIDv7.make(), code: code, merchant: f.merchant.id, amount: cny("1.00"), memo: "", now: f.now).transfer != nil)
        try f.expectAuditPasses()
    }

    @Test("an amount above the transfer limit is refused and nothing overflows", arguments: StoreKind.all)
    func transferLimit(_ kind: StoreKind) throws {
        let f = try Fixture(kind)
        let huge = Money(minorUnits: LedgerLimits.transferAmountMax + 1, currency: .CNY)
        #expect(throws: LedgerError.self) {
            try f.ledger.deposit(requestID: UUIDv7.make(), wallet: f.alice.id, amount: huge, source: .cash, now: f.now)
        }
        let max = Money(minorUnits: LedgerLimits.transferAmountMax, currency: .CNY)
        #expect(try f.ledger.deposit(requestID: UUIDv7.make(), wallet: f.alice.id, amount: max, source: .cash, now: f.now).transfer != nil)
        try f.expectAuditPasses()
    }

    @Test("opening an existing-only ledger refuses a missing file and a file that is not a ledger")
    func existingOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-eo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        #expect(throws: LedgerError.self) { try SQLiteLedger(path: dir.appendingPathComponent("none.sqlite").path, existingOnly: true) }
        let other = dir.appendingPathComponent("other.sqlite").path
        try DatabaseQueue(path: other).write { try $0.execute(sql: "CREATE TABLE t (x)") }
        #expect(throws: LedgerError.self) { try SQLiteLedger(path: other, existingOnly: true) }
        let tables = try DatabaseQueue(path: other).read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        #expect(tables == ["t"], "nothing was written into the foreign file")
    }
}
