import Payments

/// Spending limits and velocity rules of a wallet, in its currency's minor units. A payment,
/// transfer, bill, exchange or withdrawal that would break one is declined with its reason.
public struct WalletLimits: Sendable, Hashable, Codable {
    /// The most one debit may move.
    public var perPaymentMax: Int64
    /// The most all debits of one local day may move.
    public var perDayMax: Int64
    /// The most attempts to debit in one velocity window: approved debits and holds, and
    /// declined requests.
    public var velocityCountMax: Int
    /// The most money debits may move in one velocity window.
    public var velocityAmountMax: Int64
    public var velocityWindowMillis: Int64
    /// Where the local day begins, in minutes east of UTC (China: +480).
    public var utcOffsetMinutes: Int

    public init(perPaymentMax: Int64, perDayMax: Int64, velocityCountMax: Int, velocityAmountMax: Int64,
                velocityWindowMillis: Int64, utcOffsetMinutes: Int) {
        self.perPaymentMax = perPaymentMax
        self.perDayMax = perDayMax
        self.velocityCountMax = velocityCountMax
        self.velocityAmountMax = velocityAmountMax
        self.velocityWindowMillis = velocityWindowMillis
        self.utcOffsetMinutes = utcOffsetMinutes
    }

    /// Defaults in the spirit of a mobile wallet's: 50,000 a payment, 200,000 a day, at most 20
    /// debits or 100,000 in ten minutes, days in China's time zone.
    public static func standard(for currency: Currency) -> WalletLimits {
        var unit: Int64 = 1
        for _ in 0..<currency.exponent { unit *= 10 }
        return WalletLimits(perPaymentMax: 50_000 * unit, perDayMax: 200_000 * unit, velocityCountMax: 20,
                            velocityAmountMax: 100_000 * unit, velocityWindowMillis: 10 * 60_000, utcOffsetMinutes: 480)
    }

    /// The start of the local day holding `now` (Unix milliseconds).
    public func dayStart(_ now: Int64) -> Int64 {
        let offset = Int64(utcOffsetMinutes) * 60_000
        let day: Int64 = 86_400_000
        let local = now + offset
        return local - ((local % day) + day) % day - offset
    }
}

/// A quoted exchange rate: `targetAmount` of the target currency for `sourceAmount` of the
/// source, plus `fee` in the source currency, good until `expiresAt`. Rates are exact ratios of
/// integers (`rateNumerator / rateDenominator` target minor units per source minor unit).
public struct ExchangeQuote: Sendable, Hashable, Codable {
    public let source: Money
    public let target: Money
    public let fee: Money
    public let rateNumerator: Int64
    public let rateDenominator: Int64
    public let expiresAt: Int64

    public init(source: Money, target: Money, fee: Money, rateNumerator: Int64, rateDenominator: Int64, expiresAt: Int64) {
        self.source = source
        self.target = target
        self.fee = fee
        self.rateNumerator = rateNumerator
        self.rateDenominator = rateDenominator
        self.expiresAt = expiresAt
    }
}

/// The rates the desk quotes from: for each pair, target minor units per source minor unit as a
/// ratio, and the fee in basis points of the source amount.
public struct ExchangeRates: Sendable {
    public struct Rate: Sendable, Hashable {
        public let numerator: Int64
        public let denominator: Int64
        public let feeBasisPoints: Int64
        public init(numerator: Int64, denominator: Int64, feeBasisPoints: Int64) {
            precondition(numerator > 0 && denominator > 0 && feeBasisPoints >= 0, "a rate is positive")
            self.numerator = numerator
            self.denominator = denominator
            self.feeBasisPoints = feeBasisPoints
        }
    }
    public var rates: [String: Rate]
    /// How long a quote holds.
    public var quoteValidityMillis: Int64

    public init(rates: [String: Rate], quoteValidityMillis: Int64 = 60_000) {
        self.rates = rates
        self.quoteValidityMillis = quoteValidityMillis
    }

    static func key(_ from: Currency, _ to: Currency) -> String { from.code + "/" + to.code }

    public func rate(from: Currency, to: Currency) -> Rate? { rates[Self.key(from, to)] }

    /// A demonstration table (not market data): CNY, USD, HKD, EUR with a 0.3% fee.
    public static let demonstration = ExchangeRates(rates: [
        key(.USD, .CNY): Rate(numerator: 7_1000, denominator: 1_0000, feeBasisPoints: 30),
        key(.CNY, .USD): Rate(numerator: 1_0000, denominator: 7_1500, feeBasisPoints: 30),
        key(.HKD, .CNY): Rate(numerator: 9100, denominator: 1_0000, feeBasisPoints: 30),
        key(.CNY, .HKD): Rate(numerator: 1_0000, denominator: 9200, feeBasisPoints: 30),
        key(.EUR, .CNY): Rate(numerator: 7_7000, denominator: 1_0000, feeBasisPoints: 30),
        key(.CNY, .EUR): Rate(numerator: 1_0000, denominator: 7_7600, feeBasisPoints: 30),
    ])
}

/// Quotes from a rate table. Target amounts round down (the customer never receives a fraction
/// the desk did not buy) and fees round up.
public struct QuoteDesk: Sendable {
    public let rates: ExchangeRates
    public init(rates: ExchangeRates) { self.rates = rates }

    public func quote(_ amount: Money, into target: Currency, now: Int64) throws -> ExchangeQuote {
        guard amount.minorUnits > 0, amount.minorUnits <= LedgerLimits.transferAmountMax else {
            throw LedgerError(.invalidRequest, "an exchange needs a positive amount within the ledger's limit")
        }
        guard let rate = rates.rate(from: amount.currency, to: target) else {
            throw LedgerError(.invalidRequest, "no rate from \(amount.currency.code) to \(target.code)")
        }
        let (product, overflow) = amount.minorUnits.multipliedReportingOverflow(by: rate.numerator)
        guard !overflow, product / rate.denominator > 0 else { throw LedgerError(.invalidRequest, "\(amount) cannot be exchanged into \(target.code)") }
        let fee = (amount.minorUnits * rate.feeBasisPoints + 9_999) / 10_000
        return ExchangeQuote(source: amount, target: Money(minorUnits: product / rate.denominator, currency: target),
                             fee: Money(minorUnits: fee, currency: amount.currency), rateNumerator: rate.numerator,
                             rateDenominator: rate.denominator, expiresAt: now + rates.quoteValidityMillis)
    }
}

/// A bank's word on a deposit or withdrawal it was sent: what its callback says.
public enum BankOutcome: String, Sendable, Hashable, Codable {
    /// The money moved: a deposit is posted to the wallet, a withdrawal leaves it.
    case settled
    /// It did not: a deposit is never credited, a withdrawal's hold returns to the wallet.
    case returned
}

/// The wallet operations of an Alipay-like wallet, on any store, each one transaction of
/// engine transfers: deposits (cash at once, or from a bank: held until the bank settles or
/// returns it), withdrawals (held at once, settled after the bank's delay or returned),
/// transfers by wallet id or phone number with an optional fee, bill payments, and currency
/// exchange at a quoted rate. Spending limits and velocity rules decline with a reason.
///
/// Every operation takes a request id from the caller; the transfers it makes have ids derived
/// from it, so a retry finds them and returns the first outcome, and the same id with other
/// fields is an ``LedgerError/Code/idConflict``.
public struct WalletOperations: Sendable {
    public let store: any TransactionalLedgerStore
    public var limits: @Sendable (Currency) -> WalletLimits
    public var rates: ExchangeRates
    /// How long a bank deposit's hold lasts without a callback before the ledger lets it expire
    /// (a bank that never answers must not show money coming forever; a late settlement is
    /// still credited, see ``bankCallback(reference:outcome:now:)``).
    public var bankHoldMillis: Int64 = 14 * 86_400_000

    public init(store: any TransactionalLedgerStore, limits: @escaping @Sendable (Currency) -> WalletLimits = WalletLimits.standard(for:),
                rates: ExchangeRates = .demonstration) {
        self.store = store
        self.limits = limits
        self.rates = rates
    }

    /// The fee account of a currency, made on first use.
    public static func feeAccount(_ currency: Currency) -> String { "fees-" + currency.code }
    /// The exchange desk's account in a currency.
    public static func exchangeAccount(_ currency: Currency) -> String { "fx-" + currency.code }
    /// The settlement account of a currency (bank and cash).
    public static func settlementAccount(_ currency: Currency) -> String { "settlement-" + currency.code }

    // MARK: Deposits and withdrawals through a bank

    /// The memo of a deposit's or withdrawal's hold: "bank", or "bank <id>" when the wallet's
    /// linked bank is known, and then only that bank's callback may answer it.
    static func holdMemo(bank: String?) -> String { bank.map { "bank " + $0 } ?? "bank" }

    /// The bank a hold's memo names; nil for "bank" (unlabelled).
    static func holdBank(_ memo: String) -> String? { memo.hasPrefix("bank ") ? String(memo.dropFirst(5)) : nil }

    /// The memo for request `requestID`'s hold: the one it was made with, if it was (a retry
    /// after the wallet's linked bank was set or changed is still the same request, and is
    /// answered as it was), else the one `bank` gives.
    private func holdMemo(_ tx: any LedgerTransaction, _ requestID: String, bank: String?) throws -> String {
        if let made = try tx.transfer(requestID), made.memo == "bank" || Self.holdBank(made.memo) != nil { return made.memo }
        return Self.holdMemo(bank: bank)
    }

    /// A deposit from the wallet's linked bank (`bank`, when known): held (pending) until the
    /// bank's callback.
    public func bankDeposit(requestID: String, wallet: String, amount: Money, bank: String? = nil, now: Int64) throws -> Outcome {
        try run(requestID, "bank-deposit|\(wallet)|\(amount)", wallet: wallet, now: now) { tx in
            try tx.ensureAccount(id: Self.settlementAccount(amount.currency), kind: .settlement, currency: amount.currency,
                                 name: "Settlement (bank and cash) \(amount.currency.code)")
            guard let w = try tx.account(wallet), w.kind == .wallet else { return try declined(tx, requestID, .accountUnknown) }
            return try one(tx, requestID, Transfer(id: requestID, kind: .deposit, debitAccount: Self.settlementAccount(amount.currency),
                                                   creditAccount: wallet, amount: amount, flags: .pending, timeoutMillis: bankHoldMillis,
                                                   refundOf: nil, orderID: nil, memo: try holdMemo(tx, requestID, bank: bank), createdAt: now))
        }
    }

    /// A withdrawal to the wallet's bank (`bank`, when known): the money is held at once and
    /// leaves when the bank settles, or returns to the wallet when the bank returns it.
    public func bankWithdrawal(requestID: String, wallet: String, amount: Money, bank: String? = nil, now: Int64) throws -> Outcome {
        try run(requestID, "bank-withdrawal|\(wallet)|\(amount)", wallet: wallet, now: now) { tx in
            guard let w = try tx.account(wallet), w.kind == .wallet else { return try declined(tx, requestID, .accountUnknown) }
            if let decline = try checkLimits(tx, wallet: w, amount: amount, requestID: requestID) { return try declined(tx, requestID, decline) }
            try tx.ensureAccount(id: Self.settlementAccount(amount.currency), kind: .settlement, currency: amount.currency,
                                 name: "Settlement (bank and cash) \(amount.currency.code)")
            return try one(tx, requestID, Transfer(id: requestID, kind: .withdrawal, debitAccount: wallet,
                                                   creditAccount: Self.settlementAccount(amount.currency), amount: amount,
                                                   flags: .pending,
                                                   refundOf: nil, orderID: nil, memo: try holdMemo(tx, requestID, bank: bank), createdAt: now))
        }
    }

    /// Applies a bank's callback for the deposit or withdrawal `reference` (its request id).
    /// Callbacks may come twice or out of order: the first decides, a repeat of it returns the
    /// same transfer, and a contradicting later one is refused and changes nothing.
    ///
    /// A deposit the bank settles after its hold expired is still the customer's money: it is
    /// credited then, as a new deposit (`<reference>.late`), once. A withdrawal's hold has no
    /// timeout: the money stays held until the bank answers, since it may already have left.
    ///
    /// `bank` is the bank that calls back (the ledger server's authenticated caller; nil for the
    /// ledger's own operator): a hold made for one bank is, to any other, not found. A hold that
    /// names no bank (made before its wallet's was known, or by the operator) is its wallet's
    /// linked bank's now (`linkedBank`, wallet id to bank id), or any bank's if it has none.
    public func bankCallback(reference: String, outcome: BankOutcome, bank: String? = nil,
                             linkedBank: (String) -> String? = { _ in nil }, now: Int64) throws -> TransferResult {
        try store.transaction(now: now) { tx in
            guard let hold = try tx.transfer(reference), hold.flags.contains(.pending),
                  hold.kind == .deposit || hold.kind == .withdrawal else {
                return .refused(.pendingTransferNotFound)
            }
            if let bank {
                let wallet = hold.kind == .deposit ? hold.creditAccount : hold.debitAccount
                guard (Self.holdBank(hold.memo) ?? linkedBank(wallet) ?? bank) == bank else { return .refused(.pendingTransferNotFound) }
            }
            // A hold past its timeout is released first, so the ledger never shows money both
            // held and credited.
            _ = try tx.expire([reference])
            if case .expired = try tx.pendingStatus(reference) {
                guard outcome == .settled, hold.kind == .deposit else { return .refused(.pendingTransferExpired) }
                let late = Transfer(id: reference + ".late", kind: .deposit, debitAccount: hold.debitAccount,
                                    creditAccount: hold.creditAccount, amount: hold.amount, refundOf: nil, orderID: nil,
                                    memo: "bank settled after the hold expired", createdAt: now)
                return try tx.apply([late])[0]
            }
            let resolution = Transfer(id: reference + (outcome == .settled ? ".settled" : ".returned"), kind: hold.kind,
                                      debitAccount: hold.debitAccount, creditAccount: hold.creditAccount,
                                      amount: Money(minorUnits: 0, currency: hold.amount.currency),
                                      flags: outcome == .settled ? .postPending : .voidPending, pendingID: reference,
                                      refundOf: nil, orderID: nil, memo: "bank " + outcome.rawValue, createdAt: now)
            return try tx.apply([resolution])[0]
        }
    }

    // MARK: Transfers, bills, exchange

    /// Who a domestic transfer goes to.
    public enum Recipient: Sendable, Hashable {
        case wallet(String)
        case phone(String)
    }

    /// Sends money from one wallet to another of the same currency, with `fee` (possibly zero)
    /// to the fee account, all or nothing.
    public func transfer(requestID: String, from: String, to recipient: Recipient, amount: Money,
                         fee: Money? = nil, memo: String = "", now: Int64) throws -> Outcome {
        try run(requestID, "transfer|\(from)|\(recipient)|\(amount)|\(fee.map(\.description) ?? "-")|\(memo)", wallet: from, now: now) { tx in
            let toID: String?
            switch recipient {
            case .wallet(let id): toID = id
            case .phone(let phone): toID = try tx.walletID(phone: phone)
            }
            guard let toID, let payee = try tx.account(toID), payee.kind == .wallet else { return try declined(tx, requestID, .recipientUnknown) }
            guard let payer = try tx.account(from), payer.kind == .wallet else { return try declined(tx, requestID, .accountUnknown) }
            let charged = Money(minorUnits: amount.minorUnits + (fee?.minorUnits ?? 0), currency: amount.currency)
            if let decline = try checkLimits(tx, wallet: payer, amount: charged, requestID: requestID) { return try declined(tx, requestID, decline) }
            var batch = [Transfer(id: requestID, kind: .transfer, debitAccount: from, creditAccount: toID, amount: amount,
                                  refundOf: nil, orderID: nil, memo: memo, createdAt: now)]
            if let fee, fee.minorUnits > 0 {
                try tx.ensureAccount(id: Self.feeAccount(fee.currency), kind: .revenue, currency: fee.currency, name: "Fees \(fee.currency.code)")
                batch = [batch[0].linking()] + [Transfer(id: requestID + ".fee", kind: .fee, debitAccount: from,
                                                         creditAccount: Self.feeAccount(fee.currency), amount: fee,
                                                         refundOf: nil, orderID: nil, memo: "fee of \(requestID)", createdAt: now)]
            }
            return try chain(tx, requestID, batch)
        }
    }

    /// Whether `id` names a biller: `biller-` and 1 to 48 lower-case letters, digits and hyphens.
    /// A bill can make its biller's account, so a name outside this space (a debt, allowance,
    /// fee, exchange or settlement account's) is refused before anything is made.
    public static func isBillerID(_ id: String) -> Bool {
        let name = id.dropFirst(7)
        return id.hasPrefix("biller-") && (1...48).contains(name.count)
            && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }

    /// Pays a bill to `biller` (made on first use), with the bill's reference as the memo.
    public func payBill(requestID: String, wallet: String, biller: String, amount: Money, reference: String, now: Int64) throws -> Outcome {
        guard Self.isBillerID(biller) else {
            throw LedgerError(.invalidRequest, "a biller is named biller- and 1 to 48 lower-case letters, digits or hyphens, not '\(biller)'")
        }
        return try run(requestID, "bill|\(wallet)|\(biller)|\(amount)|\(reference)", wallet: wallet, now: now) { tx in
            guard let payer = try tx.account(wallet), payer.kind == .wallet else { return try declined(tx, requestID, .accountUnknown) }
            if let decline = try checkLimits(tx, wallet: payer, amount: amount, requestID: requestID) { return try declined(tx, requestID, decline) }
            try tx.ensureAccount(id: biller, kind: .biller, currency: amount.currency, name: biller)
            return try one(tx, requestID, Transfer(id: requestID, kind: .bill, debitAccount: wallet, creditAccount: biller, amount: amount,
                                                   refundOf: nil, orderID: nil, memo: reference, createdAt: now))
        }
    }

    /// A quote for exchanging `amount` into `target`: the rate, the fee and how long it holds.
    public func quote(_ amount: Money, into target: Currency, now: Int64) throws -> ExchangeQuote {
        try QuoteDesk(rates: rates).quote(amount, into: target, now: now)
    }

    /// Exchanges at a quote while it holds: the source wallet pays the desk and the fee, the
    /// desk pays the target wallet, three linked transfers across two currency ledgers. The
    /// quote must be one this desk would give (its rate, its fee).
    public func exchange(requestID: String, quote: ExchangeQuote, from: String, to: String, now: Int64) throws -> Outcome {
        try run(requestID, "exchange|\(from)|\(to)|\(quote.source)|\(quote.target)|\(quote.fee)|\(quote.expiresAt)", wallet: from, now: now) { tx in
            guard now < quote.expiresAt else { return try declined(tx, requestID, .quoteExpired) }
            guard let rate = rates.rate(from: quote.source.currency, to: quote.target.currency),
                  rate.numerator == quote.rateNumerator, rate.denominator == quote.rateDenominator,
                  let fresh = try? QuoteDesk(rates: rates).quote(quote.source, into: quote.target.currency, now: now),
                  fresh.target == quote.target, fresh.fee == quote.fee else {
                return try declined(tx, requestID, .quoteInvalid)
            }
            guard let payer = try tx.account(from), payer.kind == .wallet, payer.currency == quote.source.currency,
                  let payee = try tx.account(to), payee.kind == .wallet, payee.currency == quote.target.currency else {
                return try declined(tx, requestID, .accountUnknown)
            }
            let charged = Money(minorUnits: quote.source.minorUnits + quote.fee.minorUnits, currency: quote.source.currency)
            if let decline = try checkLimits(tx, wallet: payer, amount: charged, requestID: requestID) { return try declined(tx, requestID, decline) }
            for c in [quote.source.currency, quote.target.currency] {
                try tx.ensureAccount(id: Self.exchangeAccount(c), kind: .exchange, currency: c, name: "Exchange desk \(c.code)")
            }
            var batch = [Transfer(id: requestID, kind: .exchange, debitAccount: from, creditAccount: Self.exchangeAccount(quote.source.currency),
                                  amount: quote.source, flags: .linked, refundOf: nil, orderID: nil,
                                  memo: "\(quote.source) -> \(quote.target)", createdAt: now),
                         Transfer(id: requestID + ".out", kind: .exchange, debitAccount: Self.exchangeAccount(quote.target.currency),
                                  creditAccount: to, amount: quote.target, refundOf: nil, orderID: nil,
                                  memo: "\(quote.source) -> \(quote.target)", createdAt: now)]
            if quote.fee.minorUnits > 0 {
                try tx.ensureAccount(id: Self.feeAccount(quote.fee.currency), kind: .revenue, currency: quote.fee.currency,
                                     name: "Fees \(quote.fee.currency.code)")
                batch[1] = batch[1].linking()
                batch.append(Transfer(id: requestID + ".fee", kind: .fee, debitAccount: from, creditAccount: Self.feeAccount(quote.fee.currency),
                                      amount: quote.fee, refundOf: nil, orderID: nil, memo: "fee of \(requestID)", createdAt: now))
            }
            return try chain(tx, requestID, batch)
        }
    }

    // MARK: Corrections

    /// The memo every correction of `transferID` begins with, which ties it to what it corrects.
    public static func correctionMemoPrefix(_ transferID: String) -> String { "correction of \(transferID): " }

    /// How much earlier than the transfer it corrects a correction's clock may say it is: a
    /// correction is refused below that, so the corrections of a transfer are all found among
    /// the transfers from then on (a bounded read, not every debit of a busy account).
    public static let correctionClockSlackMillis: Int64 = 86_400_000

    /// Corrects an earlier transfer by a new one, never by an edit (TigerBeetle's rule): `amount`
    /// of it moved back, from the account it credited to the one it debited, with the
    /// operator's `reason` in the memo. The corrections of one transfer never move back more
    /// than it moved; one the accounts cannot take (the money spent since) is declined with the
    /// reason, as any transfer is. A hold is posted or voided, not corrected, and a void moved
    /// nothing to correct.
    public func correct(requestID: String, transfer original: String, amount: Money, reason: String, now: Int64) throws -> Outcome {
        let reason = String(reason.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard !reason.isEmpty, reason.count <= 200 else { throw LedgerError(.invalidRequest, "a correction says why, in 1 to 200 characters") }
        guard amount.minorUnits > 0 else { throw LedgerError(.invalidRequest, "a correction moves an amount above zero, not \(amount)") }
        return try run(requestID, "correct|\(original)|\(amount)|\(reason)", wallet: nil, now: now) { tx in
            guard let t = try tx.transfer(original) else { throw LedgerError(.notFound, "no transfer \(original)") }
            guard t.flags.isDisjoint(with: [.pending, .voidPending]) else {
                throw LedgerError(.invalidRequest, "transfer \(original) is a hold or a void: a hold is posted or voided, not corrected")
            }
            // A payment goes back by a refund, whose bound counts every refund of it; the legs of
            // an exchange go together; an offline allowance or debt is the settlement's own.
            // Corrections are for what an operator keyed wrong: a top-up, a withdrawal, a
            // transfer or a bill, or a correction itself.
            guard [.deposit, .withdrawal, .transfer, .bill, .correction].contains(t.kind) else {
                throw LedgerError(.invalidRequest, "transfer \(original) is a \(t.kind.rawValue): "
                                  + (t.kind == .payment || t.kind == .refund ? "a payment is refunded (qrpos refund), not corrected"
                                                                             : "it is not one an operator corrects"))
            }
            let offline = [Self.offlineAllowanceAccount(""), Self.offlineDebtAccount("")]
            guard ![t.debitAccount, t.creditAccount].contains(where: { id in offline.contains { id.hasPrefix($0) } }) else {
                throw LedgerError(.invalidRequest, "transfer \(original) moves an offline allowance or debt: the settlement's own, not corrected")
            }
            guard now >= t.createdAt - Self.correctionClockSlackMillis else {
                throw LedgerError(.invalidRequest, "this clock says the correction comes a day or more before transfer \(original): set the clock right")
            }
            guard amount.currency == t.amount.currency else { return try declined(tx, requestID, .currencyMismatch) }
            // An exact retry is answered by its first outcome, whatever was corrected since.
            if try tx.transfer(requestID) == nil, try tx.corrected(t) + amount.minorUnits > t.amount.minorUnits {
                return try declined(tx, requestID, .correctionExceedsTransfer)
            }
            return try one(tx, requestID, Transfer(id: requestID, kind: .correction, debitAccount: t.creditAccount, creditAccount: t.debitAccount,
                                                   amount: amount, refundOf: nil, orderID: nil,
                                                   memo: Self.correctionMemoPrefix(original) + reason, createdAt: now))
        }
    }

    // MARK: Requests and rules

    /// Runs one wallet request in one transaction. A decline is final like an approval: it is
    /// stored, a retry with the same id gets it back (with other fields: an id conflict), and it
    /// counts towards the wallet's velocity, as an attempt.
    func run(_ requestID: String, _ fingerprint: String, wallet: String?, now: Int64,
                     _ body: (any LedgerTransaction) throws -> Outcome) throws -> Outcome {
        guard !requestID.isEmpty, requestID.count <= 64 else { throw LedgerError(.invalidRequest, "a request id is 1 to 64 characters") }
        return try store.transaction(now: now) { tx in
            if let earlier = try tx.storedDecline(requestID) {
                guard earlier.fingerprint == fingerprint else {
                    throw LedgerError(.idConflict, "request \(requestID) was already made with other fields")
                }
                return Outcome(requestID: requestID, result: .declined(earlier.decline), replayed: true)
            }
            let outcome = try body(tx)
            if case .declined(let decline) = outcome.result, !outcome.replayed {
                try tx.recordDecline(requestID: requestID, fingerprint: fingerprint, wallet: wallet, decline: decline)
            }
            return outcome
        }
    }

    /// The limit or velocity rule a debit of `amount` from `wallet` would break, if any.
    private func checkLimits(_ tx: any LedgerTransaction, wallet: Account, amount: Money, requestID: String) throws -> Decline? {
        try Self.limitDecline(tx, wallet: wallet, amount: amount, requestID: requestID, limits: limits(wallet.currency))
    }

    /// The limit or velocity rule a debit of `amount` from `wallet` under `limits` would break,
    /// if any: every debit of a wallet is judged by it, the stores' payments to a merchant (a
    /// scanned code, a paid order) as much as the operations here.
    public static func limitDecline(_ tx: any LedgerTransaction, wallet: Account, amount: Money, requestID: String,
                                    limits: WalletLimits) throws -> Decline? {
        guard amount.currency == wallet.currency else { return .currencyMismatch }
        let debitKinds: Set<TransferKind> = [.payment, .transfer, .bill, .exchange, .withdrawal, .fee]
        // An exact retry is judged by the first outcome, not by the limits as they stand now.
        if try tx.transfer(requestID) != nil { return nil }
        if amount.minorUnits > limits.perPaymentMax { return .limitPerPayment }
        let recent = try tx.debits(of: wallet.id, kinds: debitKinds, since: tx.now - limits.velocityWindowMillis)
        let declinedLately = try tx.declineCount(of: wallet.id, since: tx.now - limits.velocityWindowMillis)
        if recent.count + declinedLately + 1 > limits.velocityCountMax { return .velocityCount }
        if recent.sum + amount.minorUnits > limits.velocityAmountMax { return .velocityAmount }
        let today = try tx.debits(of: wallet.id, kinds: debitKinds, since: limits.dayStart(tx.now))
        if today.sum + amount.minorUnits > limits.perDayMax { return .limitPerDay }
        return nil
    }

    /// A store's payment from a wallet to a merchant (a scanned code, a paid order), in the
    /// request's transaction: judged first by the wallet's limits and velocity rules, then posted
    /// by `post`. A decline (a limit, or the money not there) is also kept as one of the wallet's
    /// attempts, which the velocity rule counts, as a wallet operation's is.
    public static func payment(_ tx: any LedgerTransaction, _ payment: Transfer, fingerprint: String, limits: WalletLimits,
                               post: () throws -> Outcome.Result) throws -> Outcome.Result {
        let result: Outcome.Result
        if let wallet = try tx.account(payment.debitAccount),
           let decline = try limitDecline(tx, wallet: wallet, amount: payment.amount, requestID: payment.id, limits: limits) {
            result = .declined(decline)
        } else {
            result = try post()
        }
        if case .declined(let decline) = result {
            try tx.recordDecline(requestID: payment.id, fingerprint: fingerprint, wallet: payment.debitAccount, decline: decline)
        }
        return result
    }

    func declined(_ tx: any LedgerTransaction, _ requestID: String, _ decline: Decline) throws -> Outcome {
        // A request that was approved before stays approved: its transfer answers.
        if let earlier = try tx.transfer(requestID) { return Outcome(requestID: requestID, result: .posted(earlier), replayed: true) }
        return Outcome(requestID: requestID, result: .declined(decline), replayed: false)
    }

    func one(_ tx: any LedgerTransaction, _ requestID: String, _ transfer: Transfer) throws -> Outcome {
        try chain(tx, requestID, [transfer])
    }

    /// Applies a chain whose first transfer carries the request id, and maps the engine's
    /// answer to an outcome: created, existing (a retry), or declined with the cashier's reason.
    private func chain(_ tx: any LedgerTransaction, _ requestID: String, _ batch: [Transfer]) throws -> Outcome {
        let results = try tx.apply(batch)
        if results.allSatisfy({ if case .created = $0 { true } else { false } }) {
            return Outcome(requestID: requestID, result: .posted(results[0].transfer!), replayed: false)
        }
        if results.allSatisfy({ if case .exists = $0 { true } else { false } }) {
            return Outcome(requestID: requestID, result: .posted(results[0].transfer!), replayed: true)
        }
        let refusal = results.compactMap(\.refusal).first { $0 != .linkedEventFailed } ?? .linkedEventFailed
        if refusal == .existsWithDifferentFields {
            throw LedgerError(.idConflict, "request \(requestID) was already made with other fields")
        }
        let failed = zip(batch, results).first { $0.1.refusal == refusal }?.0
        let debitKind = try failed.flatMap { try tx.account($0.debitAccount) }?.kind
        if let decline = Decline(refusal, debitKind: debitKind) {
            return Outcome(requestID: requestID, result: .declined(decline), replayed: false)
        }
        throw LedgerError(.invalidRequest, "request \(requestID) refused: \(refusal)")
    }
}

extension Transfer {
    /// The same transfer, linked to the next in its batch.
    public func linking() -> Transfer {
        Transfer(id: id, kind: kind, debitAccount: debitAccount, creditAccount: creditAccount, amount: amount,
                 flags: flags.union(.linked), pendingID: pendingID, timeoutMillis: timeoutMillis, refundOf: refundOf,
                 orderID: orderID, memo: memo, createdAt: createdAt)
    }
}
