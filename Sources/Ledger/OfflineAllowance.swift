import Payments

/// How an offline payment was paid for when its terminal forwarded it.
public struct OfflineSettlement: Sendable, Equatable {
    public let paymentID: String
    /// Taken from the certificate's reserved allowance.
    public let fromAllowance: Int64
    /// Taken from the wallet's own balance: the allowance was spent (by other terminals, most
    /// likely), and the wallet could cover the rest.
    public let fromWallet: Int64
    /// What neither could cover: the merchant is paid it all the same, and the wallet owes it:
    /// its debt account (``WalletOperations/offlineDebtAccount(_:)``) lends it to the wallet,
    /// which pays it on. Reported to the merchant.
    public let debt: Int64
    /// The same payment forwarded again: this is the first settlement, unchanged.
    public let replayed: Bool
    /// Other payments that used the same code (certificate and counter): the phone's code was
    /// shown twice, a copy most likely. Settled all the same when a terminal took it offline
    /// (it could not know), and reported to the merchant with this list.
    public let counterReusedBy: [String]

    public var total: Int64 { fromAllowance + fromWallet + debt }

    public init(paymentID: String, fromAllowance: Int64, fromWallet: Int64, debt: Int64, replayed: Bool, counterReusedBy: [String] = []) {
        self.paymentID = paymentID
        self.fromAllowance = fromAllowance
        self.fromWallet = fromWallet
        self.debt = debt
        self.replayed = replayed
        self.counterReusedBy = counterReusedBy
    }
}

extension WalletOperations {
    /// The account a certificate's allowance is reserved in: a wallet-kind account, so it can
    /// never go below zero.
    public static func offlineAllowanceAccount(_ serial: String) -> String {
        // Byte by byte: "-" is ASCII, never part of a longer UTF-8 sequence. (Foundation's
        // replacingOccurrences, then a filtered UnicodeScalarView, were each most of a sync
        // upload's settlement time in a profile.)
        var bytes = Array("off_".utf8)
        bytes.reserveCapacity(4 + serial.utf8.count)
        for byte in serial.utf8 where byte != UInt8(ascii: "-") { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The transfers an offline payment is settled in, by their ids: from the certificate's
    /// allowance (the payment's own id), from the wallet, and the debt lent to the wallet.
    public static func offlineSettlementIDs(_ paymentID: String) -> (allowance: String, wallet: String, debt: String) {
        (paymentID, paymentID + ".wallet", paymentID + ".debt")
    }

    /// The transfers that paid the merchant for the sale `paymentID`, in the order a refund
    /// takes them back: an offline payment's wallet part first, then the payment itself (an
    /// online payment has only the latter).
    public static func paymentParts(_ paymentID: String) -> [String] {
        let ids = offlineSettlementIDs(paymentID)
        return [ids.wallet, ids.allowance]
    }

    /// What a wallet owes for offline payments nobody's money covered: an account with no
    /// balance rule, whose debit balance is the debt.
    public static func offlineDebtAccount(_ wallet: String) -> String { "debt_" + wallet }

    /// How long after a certificate's end its allowance stays reserved, for terminals to forward
    /// what they took (they refuse offline payments once their oldest unsynced one is 24 hours
    /// old, and allow five minutes of clock skew).
    public static let offlineReleaseGraceMillis: Int64 = 25 * 3_600_000

    /// The reservation's memo carries the certificate's end, for the release to find.
    static func reservationMemo(validUntil: Int64) -> String { reservationMemoPrefix + String(validUntil) }

    static func validUntil(reservationMemo memo: String) -> Int64? {
        memo.hasPrefix(reservationMemoPrefix) ? Int64(memo.dropFirst(reservationMemoPrefix.count)) : nil
    }

    private static let reservationMemoPrefix = "offline allowance until "

    /// Reserves `amount` of `wallet` for an offline certificate (`serial`, its id): moved into the
    /// certificate's own account, so it cannot also be spent online. The transfer's id is the
    /// serial, so issuing again with the same serial is a retry. At most the wallet's daily limit.
    public func reserveOfflineAllowance(serial: String, wallet: String, amount: Money, validUntil: Int64, now: Int64) throws -> Outcome {
        try run(serial, "offline-reserve|\(wallet)|\(amount)|\(validUntil)", wallet: wallet, now: now) { tx in
            guard let w = try tx.account(wallet), w.kind == .wallet else { return try declined(tx, serial, .accountUnknown) }
            guard w.currency == amount.currency else { return try declined(tx, serial, .currencyMismatch) }
            guard amount.minorUnits > 0 else { throw LedgerError(.invalidRequest, "an offline allowance is more than zero") }
            if amount.minorUnits > limits(amount.currency).perDayMax, try tx.transfer(serial) == nil {
                return try declined(tx, serial, .limitPerDay)
            }
            let reserve = Self.offlineAllowanceAccount(serial)
            try tx.ensureAccount(id: reserve, kind: .wallet, currency: amount.currency, name: "Offline allowance \(serial) of \(wallet)")
            return try one(tx, serial, Transfer(id: serial, kind: .transfer, debitAccount: wallet, creditAccount: reserve, amount: amount,
                                                refundOf: nil, orderID: nil, memo: Self.reservationMemo(validUntil: validUntil), createdAt: now))
        }
    }

    /// Settles an offline payment a terminal took under certificate `serial` and forwarded with
    /// its own id (`paymentID`): paid to `merchant` from the certificate's allowance first, then,
    /// if that is spent (an overspend across terminals), from the wallet's balance, and what
    /// neither covers as the wallet's debt. The merchant is always paid in full: the terminal
    /// followed the rules it was given. Never twice: the same id returns the first settlement,
    /// and the same id with another amount or merchant is an id conflict.
    ///
    /// The caller (the ledger server) has checked the payment's token: the issuer's signature,
    /// the phone's (or its cryptogram), and that the certificate is `serial`.
    public func settleOfflinePayment(paymentID: String, serial: String, counter: Int64? = nil, merchant: String, amount: Money,
                                     now: Int64) throws -> OfflineSettlement {
        try store.transaction(now: now) { tx in
            try Self.settle(tx, OfflinePayment(id: paymentID, serial: serial, counter: counter, merchant: merchant, amount: amount),
                            online: false, now: now, limits: limits).get()
        }
    }

    /// Authorizes an offline code shown while the ledger can be reached (a terminal goes online
    /// first): approved only if the code's counter was never used and the allowance and the
    /// wallet's balance cover the amount together, then settled at once with the transfers a
    /// forwarded payment makes (so forwarding the same id later is "already settled"). A
    /// decline is final for the id, like any wallet request's. The caller (the ledger server)
    /// has checked the code's signatures and times.
    public func authorizeOfflineCode(_ payment: OfflinePayment, now: Int64) throws -> Result<OfflineSettlement, Decline> {
        let fingerprint = "offline-online|\(payment.serial)|\(payment.counter ?? -1)|\(payment.merchant)|\(payment.amount)"
        return try store.transaction(now: now) { tx in
            if let earlier = try tx.storedDecline(payment.id) {
                guard earlier.fingerprint == fingerprint else {
                    throw LedgerError(.idConflict, "request \(payment.id) was already made with other fields")
                }
                return .failure(earlier.decline)
            }
            let result = try Self.settle(tx, payment, online: true, now: now, limits: limits)
            if case .failure(let decline) = result {
                let wallet = try tx.transfer(payment.serial)?.debitAccount
                try tx.recordDecline(requestID: payment.id, fingerprint: fingerprint, wallet: wallet, decline: decline)
            }
            return result
        }
    }

    /// One offline payment: what ``settleOfflinePayments(_:now:)`` settles and
    /// ``authorizeOfflineCode(_:now:)`` authorizes.
    public struct OfflinePayment: Sendable {
        public let id: String
        public let serial: String
        /// The code's counter, for the registry; nil when the caller does not know it.
        public let counter: Int64?
        public let merchant: String
        public let amount: Money
        public init(id: String, serial: String, counter: Int64? = nil, merchant: String, amount: Money) {
            self.id = id
            self.serial = serial
            self.counter = counter
            self.merchant = merchant
            self.amount = amount
        }
    }

    /// The settlement already made of the forwarded payment `paymentID` to `merchant` for
    /// `amount`, if there is one; reads only. A payment settled once is answered so when it is
    /// sent again, even if its code no longer passes the ledger's checks (the issuer keys
    /// changed since): the terminal lost only the first answer. Nil when none, or when what
    /// was settled under that id is another payment (the caller's refusal then stands).
    public func earlierOfflineSettlement(paymentID: String, merchant: String, amount: Money) throws -> OfflineSettlement? {
        do {
            return try Self.settled(paymentID, merchant: merchant, amount: amount, transfer: store.transfer) { [] }
        } catch let error as LedgerError where error.code == .idConflict {
            return nil
        }
    }

    /// The settlement already made of `paymentID` (its transfers looked up with `transfer`), or
    /// nil; an id conflict when what was settled under that id is another payment.
    private static func settled(_ paymentID: String, merchant: String, amount: Money, transfer: (String) throws -> Transfer?,
                                counterReusedBy: () throws -> [String]) throws -> OfflineSettlement? {
        let ids = offlineSettlementIDs(paymentID)
        // The debt part is made only with the wallet part, in one linked chain: with neither of
        // the paying parts there, nothing of this payment is.
        let paying = [try transfer(ids.allowance), try transfer(ids.wallet)]
        guard paying.contains(where: { $0 != nil }) else { return nil }
        let (fromAllowance, byWallet) = (paying[0]?.amount.minorUnits ?? 0, paying[1]?.amount.minorUnits ?? 0)
        let lent = try transfer(ids.debt)?.amount.minorUnits ?? 0
        guard paying.compactMap({ $0 }).allSatisfy({ $0.creditAccount == merchant && $0.amount.currency == amount.currency }),
              fromAllowance + byWallet == amount.minorUnits, lent <= byWallet else {
            throw LedgerError(.idConflict, "offline payment \(paymentID) was already settled with other fields")
        }
        return OfflineSettlement(paymentID: paymentID, fromAllowance: fromAllowance, fromWallet: byWallet - lent, debt: lent,
                                 replayed: true, counterReusedBy: try counterReusedBy())
    }

    /// A terminal's batch in one transaction (one disk sync for all of it), each payment as
    /// ``settleOfflinePayment(paymentID:serial:merchant:amount:now:)`` settles it alone, in
    /// order; one that cannot be settled gets its error and leaves the others be.
    public func settleOfflinePayments(_ payments: [OfflinePayment], now: Int64) throws -> [Result<OfflineSettlement, LedgerError>] {
        try store.transaction(now: now) { tx in
            // One engine for the batch: a merchant's account, and each allowance, is written
            // once for all its payments here, not once per payment.
            try tx.deferringWrites {
                payments.map { p in
                    Result { () throws(LedgerError) -> OfflineSettlement in
                        do { return try Self.settle(tx, p, online: false, now: now, limits: limits).get() } catch let error as LedgerError {
                            throw error
                        } catch {
                            throw LedgerError(.storage, "\(error)")
                        }
                    }
                }
            }
        }
    }

    /// Settles `p`; `online` (an authorization, not a forwarded payment) declines instead of
    /// lending, and declines a code already used. A forwarded payment is never declined.
    /// Online, the part the wallet pays beyond the allowance is a payment from the wallet like
    /// any other, judged by its `limits` and velocity rules; what a terminal took offline is
    /// settled whatever they say (the merchant handed the goods over on the offline rules).
    private static func settle(_ tx: any LedgerTransaction, _ p: OfflinePayment, online: Bool,
                               now: Int64, limits: (Currency) -> WalletLimits) throws -> Result<OfflineSettlement, Decline> {
        let (paymentID, serial, merchant, amount) = (p.id, p.serial, p.merchant, p.amount)
        guard !paymentID.isEmpty, paymentID.count <= 56 else { throw LedgerError(.invalidRequest, "an offline payment id is 1 to 56 characters") }
        guard amount.minorUnits > 0, amount.minorUnits <= LedgerLimits.transferAmountMax else {
            throw LedgerError(.invalidRequest, "an offline payment is more than zero and within the ledger's limit, not \(amount)")
        }
        let ids = Self.offlineSettlementIDs(paymentID)
        let allowanceAccount = Self.offlineAllowanceAccount(serial)
        /// The settlement already made, if any (by an earlier call, or by one that committed
        /// while this one ran: the engine then finds its transfers).
        func earlier(_ tx: any LedgerTransaction) throws -> OfflineSettlement? {
            try settled(paymentID, merchant: merchant, amount: amount, transfer: tx.transfer) { try reusers(tx) }
        }
        /// Other payments that used this payment's code.
        func reusers(_ tx: any LedgerTransaction) throws -> [String] {
            guard let counter = p.counter else { return [] }
            return try tx.offlineCounterUses(serial: serial, counter: counter).filter { $0 != paymentID }
        }
        if let settled = try earlier(tx) { return .success(settled) }
        guard let reservation = try tx.transfer(serial), reservation.kind == .transfer,
              reservation.creditAccount == allowanceAccount,
              let wallet = try tx.account(reservation.debitAccount) else {
            if online { return .failure(.codeUnknown) }
            throw LedgerError(.notFound, "no offline allowance was reserved for certificate \(serial)")
        }
        guard let payee = try tx.account(merchant), payee.kind == .merchant else {
            throw LedgerError(.notFound, "merchant \(merchant) is not in the ledger")
        }
        guard payee.currency == amount.currency, wallet.currency == amount.currency else {
            throw LedgerError(.invalidRequest, "offline payment \(paymentID) is in \(amount.currency), the wallet and merchant in \(wallet.currency)")
        }
        // The wallet's account is locked now (read for update on PostgreSQL; SQLite has one
        // writer): no other settlement of this wallet's codes runs until this one commits.
        let reused = try reusers(tx)
        if online && !reused.isEmpty { return .failure(.codeUsed) }
        let reserve = try tx.account(allowanceAccount)?.available.minorUnits ?? 0
        let fromAllowance = min(amount.minorUnits, max(0, reserve))
        let fromWallet = min(amount.minorUnits - fromAllowance, max(0, wallet.available.minorUnits))
        let debt = amount.minorUnits - fromAllowance - fromWallet
        if online && debt > 0 { return .failure(.insufficientFunds) }
        if online, fromWallet > 0,
           let decline = try WalletOperations.limitDecline(tx, wallet: wallet, amount: Money(minorUnits: fromWallet, currency: amount.currency),
                                                           requestID: ids.wallet, limits: limits(amount.currency)) {
            return .failure(decline)
        }
        // Allowance → merchant; then the debt account lends the wallet what it lacks; then the
        // wallet → merchant for the rest. Every transfer's kind fits its accounts.
        var batch: [Transfer] = []
        func add(_ id: String, _ kind: TransferKind, from debit: String, to credit: String, _ minor: Int64, _ memo: String) {
            guard minor > 0 else { return }
            batch.append(Transfer(id: id, kind: kind, debitAccount: debit, creditAccount: credit,
                                  amount: Money(minorUnits: minor, currency: amount.currency), refundOf: nil, orderID: nil,
                                  memo: memo, createdAt: now))
        }
        add(ids.allowance, .payment, from: allowanceAccount, to: merchant, fromAllowance, "offline, certificate \(serial)")
        if debt > 0 {
            try tx.ensureAccount(id: Self.offlineDebtAccount(wallet.id), kind: .settlement, currency: amount.currency,
                                 name: "Offline debt of \(wallet.id)")
        }
        add(ids.debt, .deposit, from: Self.offlineDebtAccount(wallet.id), to: wallet.id, debt, "offline \(paymentID): owed by the wallet")
        add(ids.wallet, .payment, from: wallet.id, to: merchant, fromWallet + debt, "offline \(paymentID), past the allowance")
        batch = batch.enumerated().map { $0.offset < batch.count - 1 ? $0.element.linking() : $0.element }
        let results = try tx.apply(batch)
        guard results.allSatisfy({ if case .created = $0 { true } else { false } }) else {
            // Linked: nothing of this chain was applied. Settled meanwhile by another call?
            if let settled = try earlier(tx) { return .success(settled) }
            throw LedgerError(.storage, "offline payment \(paymentID) could not be settled: \(results)")
        }
        if let counter = p.counter { try tx.recordOfflineCounter(serial: serial, counter: counter, payment: paymentID) }
        return .success(OfflineSettlement(paymentID: paymentID, fromAllowance: fromAllowance, fromWallet: fromWallet, debt: debt,
                                          replayed: false, counterReusedBy: reused))
    }

    /// Releases every allowance whose certificate ended, with its grace, by `now`
    /// (``releaseOfflineAllowance(serial:now:)`` for each): what `qrpos ledger expire` and the
    /// ledger server's sweep do. Returns the releases made.
    public func releaseDueOfflineAllowances(now: Int64) throws -> [Transfer] {
        let held = try store.transaction(now: now) { tx in try tx.heldOfflineReservations(limit: 10_000) }
        var released: [Transfer] = []
        for reservation in held {
            guard let until = Self.validUntil(reservationMemo: reservation.memo), now >= until + Self.offlineReleaseGraceMillis else { continue }
            if let made = try releaseOfflineAllowance(serial: reservation.id, now: now) { released.append(made) }
        }
        return released
    }

    /// Returns what is left of certificate `serial`'s allowance to its wallet, once its validity
    /// and the grace for forwarding (``offlineReleaseGraceMillis``) are over. Nil before then,
    /// and when nothing is left; a second call returns the first release.
    public func releaseOfflineAllowance(serial: String, now: Int64) throws -> Transfer? {
        try store.transaction(now: now) { tx in
            if let done = try tx.transfer(serial + ".release") { return done }
            guard let reservation = try tx.transfer(serial), reservation.creditAccount == Self.offlineAllowanceAccount(serial),
                  let until = Self.validUntil(reservationMemo: reservation.memo) else {
                throw LedgerError(.notFound, "no offline allowance was reserved for certificate \(serial)")
            }
            guard now >= until + Self.offlineReleaseGraceMillis,
                  let left = try tx.account(reservation.creditAccount)?.available, left.minorUnits > 0 else { return nil }
            let results = try tx.apply([Transfer(id: serial + ".release", kind: .transfer, debitAccount: reservation.creditAccount,
                                                 creditAccount: reservation.debitAccount, amount: left, refundOf: nil, orderID: nil,
                                                 memo: "offline allowance returned", createdAt: now)])
            return results[0].transfer
        }
    }
}

/// What time alone changes in the ledger: holds past their timeout are released, and offline
/// allowances past their certificate's end and the grace go back to their wallets. `qrpos ledger
/// expire` runs it once; the ledger server every minute.
public enum LedgerSweep {
    /// The ids released: expired holds, then allowance releases.
    public static func run(_ store: any TransactionalLedgerStore, now: Int64) throws -> [String] {
        var ids: [String] = []
        while true {
            let expired = try store.expirePending(now: now)
            ids += expired
            if expired.count < LedgerLimits.batchCountMax { break }
        }
        return ids + (try WalletOperations(store: store).releaseDueOfflineAllowances(now: now).map(\.id))
    }
}

extension WalletOperations {
    /// The transfers of a refund of `amount` of `payment` to `merchant`, as both stores make
    /// it. `parts` are the payment's transfers: `payment` alone, or for a sale taken offline its
    /// wallet part (`payment.wallet`) and its allowance part (`payment`), the wallet's part
    /// first. Each part is refunded up to what is left of it (`refunded` says how much already
    /// was); an allowance's part goes on to the wallet in the same chain (`allowanceOwner` names
    /// the wallet of an `off_…` account), since the money is the customer's, not the
    /// certificate's. Nil when the parts do not cover `amount`. The first transfer's id is
    /// `requestID`; the chain is linked.
    public static func refundLegs(requestID: String, payment: String, parts: [Transfer], merchant: String, amount: Money,
                                  refunded: (String) throws -> Int64, allowanceOwner: (String) throws -> String?,
                                  now: Int64) throws -> [Transfer]? {
        var legs: [Transfer] = []
        var rest = amount.minorUnits
        for part in parts where rest > 0 {
            let take = min(rest, part.amount.minorUnits - (try refunded(part.id)))
            guard take > 0 else { continue }
            let money = Money(minorUnits: take, currency: amount.currency)
            func leg() -> String { legs.isEmpty ? requestID : requestID + ".\(legs.count + 1)" }
            legs.append(Transfer(id: leg(), kind: .refund, debitAccount: merchant, creditAccount: part.debitAccount, amount: money,
                                 refundOf: part.id, orderID: nil, memo: "refund of \(payment)", createdAt: now))
            if part.debitAccount.hasPrefix("off_"), let wallet = try allowanceOwner(part.debitAccount) {
                legs.append(Transfer(id: leg(), kind: .transfer, debitAccount: part.debitAccount, creditAccount: wallet, amount: money,
                                     refundOf: nil, orderID: nil, memo: "refund of offline \(payment), to the wallet", createdAt: now))
            }
            rest -= take
        }
        guard rest == 0, !legs.isEmpty else { return nil }
        return legs.enumerated().map { $0.offset < legs.count - 1 ? $0.element.linking() : $0.element }
    }
}
