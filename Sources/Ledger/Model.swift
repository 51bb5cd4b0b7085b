import Payments

/// What an account is for. The kind decides its normal side and its flags: wallets, merchants,
/// billers and the fee account hold money owed to their owner (credit-normal, never overdrawn);
/// the settlement account holds the bank and cash money behind every wallet (debit-normal, never
/// paying out more than came in); an exchange account is the currency desk's position in one
/// currency, which may go either way.
public enum AccountKind: String, Sendable, Codable, CaseIterable {
    case wallet, merchant, settlement, exchange, revenue, biller

    /// The settlement account's balance is what it has received; every other's what it owes.
    public var isDebitNormal: Bool { self == .settlement }
}

/// Balance limits an account carries, as in TigerBeetle: the ledger refuses any transfer that
/// would break one, and the database refuses it again with a CHECK constraint.
public struct AccountFlags: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// The account can never be overdrawn: wallets and merchants.
    public static let debitsMustNotExceedCredits = AccountFlags(rawValue: 1)
    /// The account can never pay out more than came in: the settlement account.
    public static let creditsMustNotExceedDebits = AccountFlags(rawValue: 2)
}

/// One ledger account in one currency, with its posted totals. Balances are never stored apart
/// from these totals, so they cannot drift from the transfers.
public struct Account: Sendable, Hashable, Codable {
    public let id: String
    public let kind: AccountKind
    public let currency: Currency
    public let name: String
    public let flags: AccountFlags
    /// Held by pending transfers, not yet posted or released.
    public internal(set) var debitsPending: Int64
    public internal(set) var debitsPosted: Int64
    public internal(set) var creditsPending: Int64
    public internal(set) var creditsPosted: Int64

    public init(id: String, kind: AccountKind, currency: Currency, name: String, flags: AccountFlags,
                debitsPending: Int64 = 0, debitsPosted: Int64, creditsPending: Int64 = 0, creditsPosted: Int64) {
        self.id = id
        self.kind = kind
        self.currency = currency
        self.name = name
        self.flags = flags
        self.debitsPending = debitsPending
        self.debitsPosted = debitsPosted
        self.creditsPending = creditsPending
        self.creditsPosted = creditsPosted
    }

    /// The posted balance on the account's normal side: what a wallet holder or merchant owns,
    /// or what the settlement account holds for everyone.
    public var balance: Money {
        Money(minorUnits: kind.isDebitNormal ? debitsPosted - creditsPosted : creditsPosted - debitsPosted,
              currency: currency)
    }

    /// What can be spent now: the posted balance less what pending transfers hold against it.
    public var available: Money {
        Money(minorUnits: kind.isDebitNormal ? debitsPosted - creditsPosted - creditsPending
                                             : creditsPosted - debitsPosted - debitsPending,
              currency: currency)
    }

    /// The flags an account of `kind` is opened with.
    public static func flags(for kind: AccountKind) -> AccountFlags {
        switch kind {
        case .settlement: .creditsMustNotExceedDebits
        case .exchange: []
        case .wallet, .merchant, .revenue, .biller: .debitsMustNotExceedCredits
        }
    }
}

/// A merchant: its account and what its QR codes say about it.
public struct Merchant: Sendable, Hashable, Codable {
    public let id: String
    public let name: String
    public let city: String
    /// ISO 18245 merchant category code, e.g. "5411" (grocery).
    public let categoryCode: String
    /// ISO 3166 alpha-2.
    public let countryCode: String
    public let currency: Currency

    public init(id: String, name: String, city: String, categoryCode: String, countryCode: String, currency: Currency) {
        self.id = id
        self.name = name
        self.city = city
        self.categoryCode = categoryCode
        self.countryCode = countryCode
        self.currency = currency
    }
}

extension Merchant {
    /// Refuses a merchant category code that is not 4 digits (ISO 18245) or a country code that
    /// is not 2 upper-case letters (ISO 3166 alpha-2): what every store checks before opening one.
    public static func check(categoryCode: String, countryCode: String) throws {
        guard categoryCode.count == 4, categoryCode.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw LedgerError(.invalidRequest, "merchant category code must be 4 digits, not '\(categoryCode)'")
        }
        guard countryCode.count == 2, countryCode.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw LedgerError(.invalidRequest, "country code must be 2 upper-case letters, not '\(countryCode)'")
        }
    }
}

/// What a transfer did.
public enum TransferKind: String, Sendable, Codable, CaseIterable {
    /// Settlement → wallet: a top-up, from a bank or cash at the counter.
    case deposit
    /// Wallet → settlement: money out to a bank.
    case withdrawal
    /// Wallet → merchant.
    case payment
    /// Merchant → wallet, against an earlier payment.
    case refund
    /// Wallet → wallet, by id or phone number.
    case transfer
    /// One leg of a currency exchange: wallet → exchange desk in one currency, desk → wallet in
    /// the other, linked.
    case exchange
    /// Wallet → the fee account, linked to what it is the fee of.
    case fee
    /// Wallet → biller.
    case bill
    /// A correction: a new transfer that undoes or adjusts an earlier one, never an edit.
    case correction

    /// The kinds of account a transfer of this kind moves money between (debit, credit), as the
    /// comments above say; nil for a correction, which may move it between any two.
    public var accountKinds: [(debit: AccountKind, credit: AccountKind)]? {
        switch self {
        case .deposit: [(.settlement, .wallet)]
        case .withdrawal: [(.wallet, .settlement)]
        case .payment: [(.wallet, .merchant)]
        case .refund: [(.merchant, .wallet)]
        case .transfer: [(.wallet, .wallet)]
        case .exchange: [(.wallet, .exchange), (.exchange, .wallet)]
        case .fee: [(.wallet, .revenue)]
        case .bill: [(.wallet, .biller)]
        case .correction: nil
        }
    }

    /// ``accountKinds`` as one SQL condition over a transfer `t` and its debit and credit
    /// accounts `d` and `c`, for the stores' audits (the same text in SQLite and PostgreSQL).
    public static var accountKindsFitSQL: String {
        allCases.map { kind -> String in
            guard let pairs = kind.accountKinds else { return "t.kind = '\(kind.rawValue)'" }
            let sides = pairs.map { "(d.kind = '\($0.debit.rawValue)' AND c.kind = '\($0.credit.rawValue)')" }.joined(separator: " OR ")
            return "(t.kind = '\(kind.rawValue)' AND (\(sides)))"
        }.joined(separator: " OR ")
    }
}

/// Where deposited money came from; both are settled through the settlement account.
public enum DepositSource: String, Sendable, Codable, CaseIterable {
    case cash, bank
}

/// An immutable, balanced movement of money from one account to another. A correction is a new
/// transfer, never an edit.
public struct Transfer: Sendable, Hashable, Codable {
    /// The request id that created it (UUIDv7 made by the caller).
    public let id: String
    public let kind: TransferKind
    public let debitAccount: String
    public let creditAccount: String
    public let amount: Money
    /// For a refund, the payment it refunds.
    public let refundOf: String?
    /// For a payment of a merchant-QR order, the order.
    public let orderID: String?
    /// Free text: the deposit source, the terminal.
    public let memo: String
    /// Unix milliseconds.
    public let createdAt: Int64

    /// Two-phase and linking flags (``TransferFlags``).
    public let flags: TransferFlags
    /// For a post or void, the pending transfer it resolves.
    public let pendingID: String?
    /// For a pending transfer, how long the hold lasts before it expires; 0: until resolved.
    public let timeoutMillis: Int64

    /// A transfer as a client asks for it. The ledger's engine validates every field (an amount
    /// that is not positive, one account on both sides: refused with a reason, never a crash).
    public init(id: String, kind: TransferKind, debitAccount: String, creditAccount: String, amount: Money,
                flags: TransferFlags = [], pendingID: String? = nil, timeoutMillis: Int64 = 0,
                refundOf: String?, orderID: String?, memo: String, createdAt: Int64) {
        self.id = id
        self.kind = kind
        self.debitAccount = debitAccount
        self.creditAccount = creditAccount
        self.amount = amount
        self.flags = flags
        self.pendingID = pendingID
        self.timeoutMillis = timeoutMillis
        self.refundOf = refundOf
        self.orderID = orderID
        self.memo = memo
        self.createdAt = createdAt
    }
}

/// Why the ledger said no. Each reason is part of the contract: a cashier sees its message, a rig
/// matches its raw value.
public enum Decline: String, Sendable, Codable, CaseIterable, Error, CustomStringConvertible {
    case insufficientFunds = "insufficient_funds"
    case codeUnknown = "code_unknown"
    case codeExpired = "code_expired"
    case codeUsed = "code_used"
    case orderUnknown = "order_unknown"
    case orderExpired = "order_expired"
    case orderPaid = "order_paid"
    case amountMismatch = "amount_mismatch"
    case currencyMismatch = "currency_mismatch"
    case merchantMismatch = "merchant_mismatch"
    case refundExceedsPayment = "refund_exceeds_payment"
    case notAPayment = "not_a_payment"
    case accountUnknown = "account_unknown"
    case merchantInsufficientFunds = "merchant_insufficient_funds"
    case recipientUnknown = "recipient_unknown"
    case limitPerPayment = "limit_per_payment"
    case limitPerDay = "limit_per_day"
    case velocityCount = "velocity_count"
    case velocityAmount = "velocity_amount"
    case quoteExpired = "quote_expired"
    case quoteInvalid = "quote_invalid"
    case correctionExceedsTransfer = "correction_exceeds_transfer"

    public var description: String {
        switch self {
        case .insufficientFunds: "insufficient funds in the wallet"
        case .codeUnknown: "payment code not recognised"
        case .codeExpired: "payment code expired: ask the customer to refresh it"
        case .codeUsed: "payment code already used: ask the customer to refresh it"
        case .orderUnknown: "order not found"
        case .orderExpired: "order expired"
        case .orderPaid: "order already paid"
        case .amountMismatch: "amount does not match the order"
        case .currencyMismatch: "currency does not match the account"
        case .merchantMismatch: "the merchant does not match the order or payment"
        case .refundExceedsPayment: "refund would exceed what is left of the payment"
        case .notAPayment: "only a payment can be refunded"
        case .accountUnknown: "account not found"
        case .merchantInsufficientFunds: "merchant balance too low for this refund"
        case .recipientUnknown: "no wallet with that id or phone number"
        case .limitPerPayment: "above the wallet's limit for one payment"
        case .limitPerDay: "above the wallet's daily limit"
        case .velocityCount: "too many payments in a short time: try again later"
        case .velocityAmount: "too much spent in a short time: try again later"
        case .quoteExpired: "the exchange quote has expired: ask for a new one"
        case .quoteInvalid: "the exchange quote is not one this desk gave"
        case .correctionExceedsTransfer: "the corrections of a transfer would move back more than it moved"
        }
    }
}

extension Outcome.Result {
    /// What the engine did with a linked chain (or one transfer), as a request's outcome: posted
    /// (the chain's first transfer, made now or before) when it applied; declined with the
    /// cashier's reason when the refusal is the customer's or the world's doing (`debitKind`
    /// reads the first transfer's debit account only then); any other refusal means the
    /// request itself was wrong, and is thrown.
    public init(chain results: [TransferResult], id: String, debitKind: () throws -> AccountKind?) throws {
        let refusals = results.compactMap(\.refusal)
        if let refusal = refusals.first(where: { $0 != .linkedEventFailed }) ?? refusals.first {
            if let decline = Decline(refusal, debitKind: try debitKind()) {
                self = .declined(decline)
                return
            }
            throw LedgerError(.invalidRequest, "transfer \(id) refused: \(refusal)")
        }
        guard let made = results.first?.transfer else { throw LedgerError(.storage, "transfer \(id) applied without its record") }
        self = .posted(made)
    }
}

extension Decline {
    /// The decline a cashier sees for an engine refusal that is the customer's or the world's
    /// doing; nil for a refusal that means the request itself was wrong.
    public init?(_ refusal: TransferRefusal, debitKind: AccountKind?) {
        switch refusal {
        case .exceedsCredits: self = debitKind == .merchant ? .merchantInsufficientFunds : .insufficientFunds
        case .currencyMismatch: self = .currencyMismatch
        case .debitAccountNotFound, .creditAccountNotFound: self = .accountUnknown
        default: return nil
        }
    }
}

/// One posted change to a wallet, for real-time alerts: read in order from a cursor (`seq`).
public struct WalletEvent: Sendable, Hashable, Codable {
    /// Increasing, gap-free within a store's order of commits.
    public let seq: Int64
    public let account: String
    public let transfer: String
    /// The transfer's kind and phase: "payment", "deposit:hold", "withdrawal:post", ….
    public let kind: String
    /// How much the posted balance moved (negative: money out).
    public let delta: Money
    /// Minor units after the change.
    public let available: Int64
    public let balance: Int64
    public let createdAt: Int64

    public init(seq: Int64, account: String, transfer: String, kind: String, delta: Money, available: Int64, balance: Int64, createdAt: Int64) {
        self.seq = seq
        self.account = account
        self.transfer = transfer
        self.kind = kind
        self.delta = delta
        self.available = available
        self.balance = balance
        self.createdAt = createdAt
    }
}

/// The result of a money-moving request. The first outcome of a request id is final: asking
/// again with the same id returns it, with `replayed` set.
public struct Outcome: Sendable, Hashable {
    public enum Result: Sendable, Hashable {
        case posted(Transfer)
        case declined(Decline)
    }
    public let requestID: String
    public let result: Result
    /// True when this is the stored outcome of an earlier request with the same id.
    public let replayed: Bool

    public init(requestID: String, result: Result, replayed: Bool) {
        self.requestID = requestID
        self.result = result
        self.replayed = replayed
    }

    public var transfer: Transfer? {
        if case .posted(let t) = result { t } else { nil }
    }

    public var decline: Decline? {
        if case .declined(let d) = result { d } else { nil }
    }
}

extension Order {
    /// Why this order cannot be paid with what the customer's QR said, nil when it can: each
    /// store checks this under its lock on the order.
    public func refusal(merchant: String, amount: Money) -> Decline? {
        switch status {
        case .paid: return .orderPaid
        case .expired: return .orderExpired
        case .open: break
        }
        guard merchantID == merchant else { return .merchantMismatch }
        guard self.amount == amount else { return .amountMismatch }
        return nil
    }
}

/// A one-time payment code issued to a wallet.
public struct IssuedCode: Sendable, Hashable {
    public let code: PaymentCode
    public let walletID: String
    /// Unix milliseconds; the code is refused from this instant on.
    public let expiresAt: Int64

    public init(code: PaymentCode, walletID: String, expiresAt: Int64) {
        self.code = code
        self.walletID = walletID
        self.expiresAt = expiresAt
    }
}

/// A merchant-presented order: what the dynamic QR asks the customer to pay.
public struct Order: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Codable {
        /// Payable now.
        case open
        case paid
        /// Past its expiry, or cancelled by the terminal: never payable again.
        case expired
    }
    public let id: String
    public let merchantID: String
    public let amount: Money
    public let terminalID: String
    public let createdAt: Int64
    public let expiresAt: Int64
    /// The payment transfer, once paid.
    public let paymentID: String?
    public let status: Status

    public init(id: String, merchantID: String, amount: Money, terminalID: String, createdAt: Int64,
                expiresAt: Int64, paymentID: String?, status: Status) {
        self.id = id
        self.merchantID = merchantID
        self.amount = amount
        self.terminalID = terminalID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.paymentID = paymentID
        self.status = status
    }
}

/// One broken invariant found by an audit.
public struct Violation: Sendable, Hashable, Codable, CustomStringConvertible {
    public let check: String
    public let detail: String
    public init(check: String, detail: String) {
        self.check = check
        self.detail = detail
    }
    public var description: String { "\(check): \(detail)" }
}

/// What an audit checked and what it found.
public struct AuditReport: Sendable, Codable {
    public let accounts: Int
    public let transfers: Int
    /// Per currency: the sum of all posted debits (equal to the credits when the ledger is sound).
    public let totals: [String: Int64]
    public let violations: [Violation]
    public var passed: Bool { violations.isEmpty }

    public init(accounts: Int, transfers: Int, totals: [String: Int64], violations: [Violation]) {
        self.accounts = accounts
        self.transfers = transfers
        self.totals = totals
        self.violations = violations
    }
}

/// Limits of the ledger itself.
public enum LedgerLimits {
    /// The largest amount of one transfer, in minor units (10^15: ten trillion yuan). Far below
    /// Int64's range, so no account total can overflow before every wallet on earth is rich.
    public static let transferAmountMax: Int64 = 1_000_000_000_000_000
    /// The most transfers in one batch (one database transaction): a terminal's journal upload
    /// sends up to this many at once.
    public static let batchCountMax = 8_190
}

/// A failure of the ledger itself (not a decline): a request the ledger cannot even consider.
public struct LedgerError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The same request id arrived with different fields: a client bug or a forgery. An alarm,
        /// never a second transfer.
        case idConflict
        case notFound
        case invalidRequest
        case storage
    }
    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
