import Ledger
import Payments
import SeededRandom
import Testing

/// The ledger's rules on an in-memory ledger: every store runs its changes through this engine.
@Suite struct EngineTests {
    static let t0: Int64 = 1_800_000_000_000

    /// A settlement account, two wallets, a merchant and the fee account, in CNY; a USD wallet.
    static func ledger(aliceFunds: Int64 = 10_000) -> MemoryLedger {
        var l = MemoryLedger()
        for (id, kind, currency) in [("set", AccountKind.settlement, Currency.CNY), ("alice", .wallet, .CNY), ("bob", .wallet, .CNY),
                                     ("shop", .merchant, .CNY), ("fees", .revenue, .CNY), ("desk", .exchange, .CNY),
                                     ("usd", .wallet, .USD)] {
            l.accounts[id] = Account(id: id, kind: kind, currency: currency, name: id, flags: Account.flags(for: kind),
                                     debitsPosted: 0, creditsPosted: 0)
        }
        if aliceFunds > 0 {
            let r = l.apply([t("fund", .deposit, "set", "alice", aliceFunds)], now: t0)
            precondition(r.first?.transfer != nil)
        }
        return l
    }

    static func t(_ id: String, _ kind: TransferKind, _ debit: String, _ credit: String, _ amount: Int64,
                  _ flags: TransferFlags = [], pending: String? = nil, timeout: Int64 = 0, currency: Currency = .CNY) -> Transfer {
        Transfer(id: id, kind: kind, debitAccount: debit, creditAccount: credit, amount: Money(minorUnits: amount, currency: currency),
                 flags: flags, pendingID: pending, timeoutMillis: timeout, refundOf: nil, orderID: nil, memo: "", createdAt: 0)
    }

    @Test func aTransferMovesPostedTotalsAndARetryIsTheSameTransfer() {
        var l = Self.ledger()
        let pay = Self.t("p1", .payment, "alice", "shop", 1_250)
        let first = l.apply([pay], now: Self.t0 + 1)
        guard case .created(let made) = first[0] else { Issue.record("not created: \(first)"); return }
        #expect(made.createdAt == Self.t0 + 1)
        #expect(l.accounts["alice"]!.balance.minorUnits == 8_750)
        #expect(l.accounts["shop"]!.balance.minorUnits == 1_250)
        // Again, later: the original, unchanged, and nothing moves twice.
        let again = l.apply([pay], now: Self.t0 + 99)
        #expect(again == [.exists(made)])
        #expect(l.accounts["alice"]!.balance.minorUnits == 8_750)
        // The same id with another amount is an alarm, not a transfer.
        #expect(l.apply([Self.t("p1", .payment, "alice", "shop", 1_251)], now: Self.t0 + 2) == [.refused(.existsWithDifferentFields)])
        #expect(l.violations() == [])
    }

    @Test func refusalsNameTheirReasonAndLeaveNoTrace() {
        var l = Self.ledger()
        let cases: [(Transfer, TransferRefusal)] = [
            (Self.t("", .payment, "alice", "shop", 1), .idMustNotBeEmpty),
            (Self.t("a", .payment, "alice", "alice", 1), .accountsMustBeDifferent),
            (Self.t("b", .payment, "alice", "shop", 0), .amountMustBePositive),
            (Self.t("c", .payment, "alice", "shop", -5), .amountMustBePositive),
            (Self.t("d", .payment, "alice", "shop", LedgerLimits.transferAmountMax + 1), .amountAboveLimit),
            (Self.t("e", .payment, "nobody", "shop", 1), .debitAccountNotFound),
            (Self.t("f", .payment, "alice", "nobody", 1), .creditAccountNotFound),
            (Self.t("g", .payment, "alice", "usd", 1), .currencyMismatch),
            (Self.t("h", .payment, "alice", "shop", 10_001), .exceedsCredits),
            (Self.t("i", .withdrawal, "alice", "set", 20_000), .exceedsCredits),
            (Self.t("j", .payment, "alice", "shop", 1, timeout: 5), .timeoutReservedForPendingTransfer),
            (Self.t("k", .payment, "alice", "shop", 1, [.pending, .postPending]), .flagsAreMutuallyExclusive),
            (Self.t("l", .payment, "alice", "shop", 1, [.postPending, .voidPending], pending: "x"), .flagsAreMutuallyExclusive),
            (Self.t("m", .payment, "alice", "shop", 1, pending: "x"), .pendingIDReservedForResolving),
            (Self.t("n", .payment, "alice", "shop", 1, [.postPending]), .pendingIDRequired),
            (Self.t("o", .payment, "alice", "shop", 1, [.postPending], pending: "fund"), .pendingTransferNotPending),
            (Self.t("p", .payment, "alice", "shop", 1, [.voidPending], pending: "nope"), .pendingTransferNotFound),
            (Self.t("q", .withdrawal, "bob", "set", 1), .exceedsCredits),
            // The settlement account pays out only what came in.
            (Self.t("r", .exchange, "desk", "set", 10_001), .exceedsDebits),
        ]
        let before = l
        for (transfer, reason) in cases {
            #expect(l.apply([transfer], now: Self.t0 + 1) == [.refused(reason)], "\(transfer.id)")
        }
        #expect(l.accounts == before.accounts)
        #expect(l.order == before.order)
        #expect(l.violations() == [])
    }

    @Test func aHoldReservesFundsThenPostsForLessAndReleasesTheRest() {
        var l = Self.ledger()
        let hold = Self.t("hold", .payment, "alice", "shop", 6_000, [.pending], timeout: 60_000)
        #expect(l.apply([hold], now: Self.t0 + 10).first?.transfer != nil)
        let alice = l.accounts["alice"]!
        #expect(alice.balance.minorUnits == 10_000)
        #expect(alice.available.minorUnits == 4_000)
        #expect(l.accounts["shop"]!.creditsPending == 6_000)
        // The held money cannot be spent twice.
        #expect(l.apply([Self.t("p2", .payment, "alice", "shop", 4_001)], now: Self.t0 + 11) == [.refused(.exceedsCredits)])
        #expect(l.apply([Self.t("p3", .payment, "alice", "shop", 4_000)], now: Self.t0 + 11).first?.transfer != nil)
        // Posting more than held is refused; posting less settles that and frees the rest.
        #expect(l.apply([Self.t("post", .payment, "alice", "shop", 6_001, [.postPending], pending: "hold")], now: Self.t0 + 12)
                == [.refused(.exceedsPendingTransferAmount)])
        let post = Self.t("post", .payment, "alice", "shop", 5_500, [.postPending], pending: "hold")
        #expect(l.apply([post], now: Self.t0 + 12).first?.transfer?.amount.minorUnits == 5_500)
        #expect(l.accounts["alice"]!.balance.minorUnits == 500)
        #expect(l.accounts["alice"]!.available.minorUnits == 500)
        #expect(l.accounts["shop"]!.balance.minorUnits == 9_500)
        #expect(l.accounts["shop"]!.creditsPending == 0)
        #expect(l.pending["hold"] == .posted(by: "post"))
        // Resolving it again: the same post is the same transfer; anything else is refused.
        #expect(l.apply([post], now: Self.t0 + 13).first.map { if case .exists = $0 { true } else { false } } == true)
        #expect(l.apply([Self.t("post2", .payment, "alice", "shop", 0, [.postPending], pending: "hold")], now: Self.t0 + 13)
                == [.refused(.pendingTransferAlreadyPosted)])
        #expect(l.apply([Self.t("void", .payment, "alice", "shop", 0, [.voidPending], pending: "hold")], now: Self.t0 + 13)
                == [.refused(.pendingTransferAlreadyPosted)])
        #expect(l.violations() == [])
    }

    @Test func aVoidReleasesTheWholeHoldAndMovesNothing() {
        var l = Self.ledger()
        _ = l.apply([Self.t("hold", .withdrawal, "alice", "set", 3_000, [.pending])], now: Self.t0)
        #expect(l.apply([Self.t("v", .withdrawal, "alice", "set", 2_000, [.voidPending], pending: "hold")], now: Self.t0 + 1)
                == [.refused(.voidMustBeWholeAmount)])
        #expect(l.apply([Self.t("v", .withdrawal, "alice", "shop", 0, [.voidPending], pending: "hold")], now: Self.t0 + 1)
                == [.refused(.pendingTransferHasDifferentAccounts)])
        #expect(l.apply([Self.t("v", .withdrawal, "alice", "set", 0, [.voidPending], pending: "hold")], now: Self.t0 + 1).first?.transfer != nil)
        #expect(l.accounts["alice"]!.available.minorUnits == 10_000)
        #expect(l.accounts["alice"]!.balance.minorUnits == 10_000)
        #expect(l.pending["hold"] == .voided(by: "v"))
        #expect(l.apply([Self.t("v2", .withdrawal, "alice", "set", 0, [.postPending], pending: "hold")], now: Self.t0 + 2)
                == [.refused(.pendingTransferAlreadyVoided)])
        #expect(l.violations() == [])
    }

    @Test func aHoldExpiresAfterItsTimeoutExactlyOnce() {
        var l = Self.ledger()
        _ = l.apply([Self.t("hold", .payment, "alice", "shop", 7_000, [.pending], timeout: 1_000)], now: Self.t0)
        #expect(l.expire(now: Self.t0 + 999) == [])
        // At the timeout it can no longer be posted, even before the sweep releases it.
        #expect(l.apply([Self.t("late", .payment, "alice", "shop", 0, [.postPending], pending: "hold")], now: Self.t0 + 1_000)
                == [.refused(.pendingTransferExpired)])
        #expect(l.expire(now: Self.t0 + 1_000) == ["hold"])
        #expect(l.expire(now: Self.t0 + 5_000) == [])
        #expect(l.pending["hold"] == .expired(at: Self.t0 + 1_000))
        #expect(l.accounts["alice"]!.available.minorUnits == 10_000)
        #expect(l.accounts["shop"]!.creditsPending == 0)
        #expect(l.apply([Self.t("late2", .payment, "alice", "shop", 0, [.voidPending], pending: "hold")], now: Self.t0 + 5_000)
                == [.refused(.pendingTransferExpired)])
        // A hold without a timeout never expires.
        _ = l.apply([Self.t("forever", .payment, "alice", "shop", 1_000, [.pending])], now: Self.t0)
        #expect(l.expire(now: Int64.max / 2) == [])
        #expect(l.violations() == [])
    }

    @Test func aLinkedChainAppliesWholeOrNotAtAll() {
        var l = Self.ledger(aliceFunds: 1_000)
        // A payment and its fee: the fee does not fit, so the payment does not happen either.
        let pay = Self.t("pay", .transfer, "alice", "bob", 990, [.linked])
        let fee = Self.t("fee", .fee, "alice", "fees", 20)
        #expect(l.apply([pay, fee], now: Self.t0) == [.refused(.linkedEventFailed), .refused(.exceedsCredits)])
        #expect(l.accounts["alice"]!.balance.minorUnits == 1_000)
        #expect(l.transfers["pay"] == nil)
        // The transfers around a failed chain still apply; the batch goes on after it.
        let before = Self.t("before", .transfer, "alice", "bob", 10)
        let after = Self.t("after", .transfer, "alice", "bob", 10)
        let results = l.apply([before, pay, fee, after], now: Self.t0 + 1)
        #expect(results.map { $0.transfer != nil } == [true, false, false, true])
        // A smaller payment fits with its fee; retrying the chain reports both as existing.
        let pay2 = Self.t("pay2", .transfer, "alice", "bob", 900, [.linked])
        let fee2 = Self.t("fee2", .fee, "alice", "fees", 20)
        let made = l.apply([pay2, fee2], now: Self.t0 + 2)
        #expect(made.allSatisfy { if case .created = $0 { true } else { false } })
        #expect(l.apply([pay2, fee2], now: Self.t0 + 3).allSatisfy { if case .exists = $0 { true } else { false } })
        #expect(l.accounts["alice"]!.balance.minorUnits == 1_000 - 20 - 920)
        // Half a known chain with a new partner is not the same request.
        let fee3 = Self.t("fee3", .fee, "alice", "fees", 1)
        #expect(l.apply([pay2, fee3], now: Self.t0 + 4) == [.refused(.existsWithDifferentFields), .refused(.linkedEventFailed)])
        #expect(l.transfers["fee3"] == nil)
        // A batch that ends inside a chain is refused whole.
        #expect(l.apply([Self.t("x", .transfer, "alice", "bob", 1, [.linked])], now: Self.t0 + 5) == [.refused(.linkedEventChainOpen)])
        #expect(l.violations() == [])
    }

    /// A reader over fixed accounts that fails (as a storage error would) when asked for one.
    struct FailingReader: LedgerReading {
        var accounts: [String: Account]
        let failing: String
        mutating func account(_ id: String) throws -> Account? {
            if id == failing { throw LedgerError(.storage, "disk error reading \(id)") }
            return accounts[id]
        }
        mutating func transfer(_ id: String) throws -> Transfer? { nil }
        mutating func pendingStatus(_ id: String) throws -> PendingStatus? { nil }
    }

    /// An engine that lives across many applies (a batch of offline settlements) must be whole
    /// after a chain that threw halfway: the chain's first transfer is put back, what came before
    /// stays, and the engine goes on.
    @Test func aChainThatThrowsHalfwayLeavesNoTrace() throws {
        let accounts = Self.ledger(aliceFunds: 0).accounts.merging(["gone": Account(id: "gone", kind: .merchant, currency: .CNY, name: "gone",
                                                                        flags: [], debitsPosted: 0, creditsPosted: 0)]) { a, _ in a }
        var engine = LedgerEngine(reader: FailingReader(accounts: accounts, failing: "gone"))
        _ = try engine.apply([Self.t("fund", .deposit, "set", "alice", 1_000)], now: Self.t0)
        _ = try engine.apply([Self.t("first", .payment, "alice", "shop", 100)], now: Self.t0)
        let (accountsBefore, transfersBefore, postingsBefore) = (engine.changes.accounts, engine.changes.transfers, engine.changes.postings)
        #expect(throws: LedgerError.self) {
            try engine.apply([Self.t("pay", .payment, "alice", "shop", 200, [.linked]), Self.t("fee", .fee, "alice", "gone", 5)], now: Self.t0)
        }
        #expect(engine.changes.accounts == accountsBefore && engine.changes.transfers == transfersBefore
                && engine.changes.postings == postingsBefore)
        #expect(try engine.transfer("pay") == nil, "the chain's first transfer is gone from the overlay too")
        let again = try engine.apply([Self.t("pay", .payment, "alice", "shop", 200, [.linked]), Self.t("fee", .fee, "alice", "fees", 5)],
                                     now: Self.t0)
        #expect(again.allSatisfy { if case .created = $0 { true } else { false } }, "\(again)")
        #expect(try engine.account("alice")?.balance.minorUnits == 1_000 - 100 - 205)
    }

    @Test func aChainSeesItsOwnEarlierTransfers() {
        var l = Self.ledger(aliceFunds: 0)
        // A deposit and a payment of the same money in one chain: the second needs the first.
        let chain = [Self.t("in", .deposit, "set", "alice", 500, [.linked]), Self.t("out", .payment, "alice", "shop", 500)]
        #expect(l.apply(chain, now: Self.t0).allSatisfy { $0.transfer != nil })
        #expect(l.accounts["alice"]!.balance.minorUnits == 0)
        #expect(l.accounts["shop"]!.balance.minorUnits == 500)
        // A hold and its post in one batch.
        _ = l.apply([Self.t("in2", .deposit, "set", "alice", 100)], now: Self.t0)
        let twoPhase = [Self.t("h", .payment, "alice", "shop", 100, [.pending]),
                        Self.t("hp", .payment, "alice", "shop", 0, [.postPending], pending: "h")]
        #expect(l.apply(twoPhase, now: Self.t0 + 1).allSatisfy { $0.transfer != nil })
        #expect(l.pending["h"] == .posted(by: "hp"))
        #expect(l.violations() == [])
    }

    /// Seeded random batches of every kind of transfer (valid and not, retries, holds, posts,
    /// voids, expiry, chains): after each batch every invariant holds and no refused transfer
    /// left a trace. The seed is printed on failure.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomBatchesKeepEveryInvariant(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var l = Self.ledger(aliceFunds: 50_000)
        _ = l.apply([Self.t("fundbob", .deposit, "set", "bob", 20_000)], now: Self.t0)
        let wallets = ["alice", "bob", "shop", "fees"]
        var sent: [Transfer] = []
        var now = Self.t0
        for round in 0..<300 {
            now += Int64(rng.next() % 400)
            var batch: [Transfer] = []
            for i in 0..<Int(1 + rng.next() % 6) {
                let id = "r\(round)-\(i)"
                let from = wallets[Int(rng.next() % 4)], to = wallets[Int(rng.next() % 4)]
                let amount = Int64(rng.next() % 3_000) - 100
                var flags: TransferFlags = rng.next() % 5 == 0 ? [.linked] : []
                switch rng.next() % 10 {
                case 0, 1:
                    flags.insert(.pending)
                    batch.append(Self.t(id, .payment, from, to, amount, flags, timeout: rng.next() % 2 == 0 ? Int64(rng.next() % 2_000) : 0))
                case 2, 3:
                    let holds = l.transfers.values.filter { $0.flags.contains(.pending) }.sorted { $0.id < $1.id }
                    if let h = holds.isEmpty ? nil : holds[Int(rng.next() % UInt64(holds.count))] {
                        flags.insert(rng.next() % 2 == 0 ? .postPending : .voidPending)
                        let amt = rng.next() % 3 == 0 ? 0 : h.amount.minorUnits - Int64(rng.next() % 50)
                        batch.append(Self.t(id, .payment, h.debitAccount, h.creditAccount, amt, flags, pending: h.id))
                    }
                case 4:
                    if !sent.isEmpty { batch.append(sent[Int(rng.next() % UInt64(sent.count))]) }
                case 5:
                    batch.append(Self.t(id, .deposit, "set", wallets[Int(rng.next() % 2)], abs(amount) + 1, flags))
                default:
                    batch.append(Self.t(id, .transfer, from, to, amount, flags))
                }
            }
            let before = l
            let results = l.apply(batch, now: now)
            #expect(results.count == batch.count)
            for (request, result) in zip(batch, results) {
                switch result {
                case .created(let made):
                    #expect(before.transfers[made.id] == nil, "seed \(seed): \(made.id) created twice")
                case .exists(let original):
                    #expect(before.transfers[original.id] == original, "seed \(seed)")
                case .refused:
                    // (A replay may carry the same id twice in one batch, one of them applied.)
                    let appliedHere = results.contains { if case .created(let m) = $0 { m.id == request.id } else { false } }
                    if before.transfers[request.id] == nil && !appliedHere {
                        #expect(l.transfers[request.id] == nil, "seed \(seed): refused \(request.id) left a trace in \(batch.map { ($0.id, $0.flags.rawValue) }) -> \(results.map { $0.refusal?.rawValue ?? "ok" })")
                    }
                }
            }
            sent += batch
            if rng.next() % 4 == 0 { _ = l.expire(now: now) }
            let found = l.violations()
            #expect(found == [], "seed \(seed), round \(round)")
            if !found.isEmpty { return }
        }
        #expect(l.transfers.count > 300)
    }
}
