import Payments

/// The JSON of `POST /v1/authorize` (assets/openapi.json): a terminal asks the ledger, online,
/// to charge the code its customer shows, a one-time code or an offline code. Shared by the
/// terminal that sends it and the server that answers it.
public enum AuthorizeWire {
    public struct Request: Codable, Sendable, Equatable {
        /// The terminal-made sale id (UUIDv7), written to the terminal's journal before this
        /// request: the idempotency key, the same if the terminal later takes the sale offline.
        public let id: String
        public let merchant: String
        /// Minor units.
        public let amount: Int64
        public let currency: String
        /// The code as scanned: 18 digits, or an offline code (QRPOS:OFF1:… or QRPOS:OFF2:…).
        public let code: String

        public init(id: String, merchant: String, amount: Int64, currency: String, code: String) {
            self.id = id
            self.merchant = merchant
            self.amount = amount
            self.currency = currency
            self.code = code
        }
    }

    public struct Response: Codable, Sendable, Equatable {
        public let id: String
        /// "approved" or "declined".
        public let status: String
        /// Why it was declined (the cashier reads it out).
        public let reason: String?
        /// The decline's code (``Decline``'s raw value) when the ledger declined.
        public let decline: String?
        /// The wallet charged.
        public let wallet: String?
        /// For an offline code: how much came from its reserved allowance and from the wallet.
        public let fromAllowance: Int64?
        public let fromWallet: Int64?
        /// The same id was answered before: this is that answer.
        public let replayed: Bool?

        enum CodingKeys: String, CodingKey {
            case id, status, reason, decline, wallet, replayed
            case fromAllowance = "from_allowance"
            case fromWallet = "from_wallet"
        }

        public init(id: String, status: String, reason: String? = nil, decline: String? = nil, wallet: String? = nil,
                    fromAllowance: Int64? = nil, fromWallet: Int64? = nil, replayed: Bool? = nil) {
            self.id = id
            self.status = status
            self.reason = reason
            self.decline = decline
            self.wallet = wallet
            self.fromAllowance = fromAllowance
            self.fromWallet = fromWallet
            self.replayed = replayed
        }

        public static func declined(_ id: String, _ reason: String, _ decline: Decline? = nil) -> Response {
            Response(id: id, status: "declined", reason: reason, decline: decline?.rawValue)
        }

        /// A wallet request's outcome: approved (or "held", for a hold that waits on the bank),
        /// or declined with the reason; `wallet` names the wallet from the posted transfer.
        public init(id: String, outcome: Outcome, wallet: (Transfer) -> String?) {
            switch outcome.result {
            case .posted(let t):
                self.init(id: id, status: t.flags.contains(.pending) ? "held" : "approved", wallet: wallet(t), replayed: outcome.replayed)
            case .declined(let decline):
                self.init(id: id, status: "declined", reason: decline.description, decline: decline.rawValue, replayed: outcome.replayed)
            }
        }
    }
}

/// The JSON of `GET /v1/terminal`: what a terminal needs from its ledger server, fetched when
/// it can be and kept for when it cannot: its merchant (for receipts and merchant QR codes),
/// the issuer keys offline codes are checked with, and the server's clock.
public struct TerminalConfigWire: Codable, Sendable, Equatable {
    public let terminal: String
    public let merchant: MerchantWire
    /// Hex Ed25519 public keys.
    public let issuerKeys: [String]
    /// The server's clock (Unix ms) when it answered.
    public let time: Int64
    /// How far a request's signed time may be from the server's clock (ms): a request not
    /// answered within it can never be taken afterwards.
    public let requestWindowMillis: Int64?

    enum CodingKeys: String, CodingKey {
        case terminal, merchant, time
        case issuerKeys = "issuer_keys"
        case requestWindowMillis = "request_window_ms"
    }

    public init(terminal: String, merchant: MerchantWire, issuerKeys: [String], time: Int64, requestWindowMillis: Int64? = nil) {
        self.terminal = terminal
        self.merchant = merchant
        self.issuerKeys = issuerKeys
        self.time = time
        self.requestWindowMillis = requestWindowMillis
    }
}

/// A merchant as the ledger server describes it.
public struct MerchantWire: Codable, Sendable, Equatable {
    public let id: String
    public let name: String
    public let city: String
    public let categoryCode: String
    public let countryCode: String
    public let currency: String

    enum CodingKeys: String, CodingKey {
        case id, name, city, currency
        case categoryCode = "category_code"
        case countryCode = "country_code"
    }

    public init(_ m: Merchant) {
        (id, name, city, categoryCode, countryCode, currency) = (m.id, m.name, m.city, m.categoryCode, m.countryCode, m.currency.code)
    }

    /// The merchant, or nil when a field is not valid (an unknown currency, a bad code).
    public var merchant: Merchant? {
        guard let currency = Currency(currency), (try? Merchant.check(categoryCode: categoryCode, countryCode: countryCode)) != nil else {
            return nil
        }
        return Merchant(id: id, name: name, city: city, categoryCode: categoryCode, countryCode: countryCode, currency: currency)
    }
}

/// An order as the ledger server describes it (`/v1/orders…`, and each server-sent event).
public struct OrderWire: Codable, Sendable, Equatable {
    public let id: String
    public let merchant: String
    /// Minor units.
    public let amount: Int64
    public let currency: String
    public let terminal: String
    public let createdAt: Int64
    public let expiresAt: Int64
    /// "open", "paid" or "expired" (past its time, or cancelled).
    public let status: String
    /// The payment, once paid, and the wallet that paid it.
    public let payment: String?
    public let wallet: String?

    enum CodingKeys: String, CodingKey {
        case id, merchant, amount, currency, terminal, status, payment, wallet
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }

    public init(_ order: Order, wallet: String?) {
        id = order.id
        merchant = order.merchantID
        amount = order.amount.minorUnits
        currency = order.amount.currency.code
        terminal = order.terminalID
        createdAt = order.createdAt
        expiresAt = order.expiresAt
        status = order.status.rawValue
        payment = order.paymentID
        self.wallet = wallet
    }

    /// The order, or nil when a field is not valid.
    public var order: Order? {
        guard let currency = Currency(currency), let status = Order.Status(rawValue: status) else { return nil }
        return Order(id: id, merchantID: merchant, amount: Money(minorUnits: amount, currency: currency), terminalID: terminal,
                     createdAt: createdAt, expiresAt: expiresAt, paymentID: payment, status: status)
    }
}

/// `POST /v1/orders`: a merchant-presented order, for the terminal's own merchant.
public struct NewOrderWire: Codable, Sendable, Equatable {
    /// At most 25 characters (EMVCo 62-01); the terminal's sale id.
    public let id: String
    public let amount: Int64
    public let currency: String
    public let expiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case id, amount, currency
        case expiresAt = "expires_at"
    }

    public init(id: String, amount: Int64, currency: String, expiresAt: Int64) {
        self.id = id
        self.amount = amount
        self.currency = currency
        self.expiresAt = expiresAt
    }
}

/// `POST /v1/refunds`: part or all of a payment to the terminal's merchant, back to the wallet.
public struct RefundWire: Codable, Sendable, Equatable {
    /// The refund's own id (the idempotency key).
    public let id: String
    public let payment: String
    public let amount: Int64
    public let currency: String

    public init(id: String, payment: String, amount: Int64, currency: String) {
        self.id = id
        self.payment = payment
        self.amount = amount
        self.currency = currency
    }
}

/// `POST /v1/wallets/{id}/certificates`: a phone asks for an offline certificate for its device
/// key; the allowance is reserved on the wallet at once.
public struct CertificateRequestWire: Codable, Sendable, Equatable {
    /// The certificate's serial (UUIDv7, made by the phone): the idempotency key.
    public let serial: String
    /// The phone's device public key (hex), which signs each offline code.
    public let deviceKey: String
    public let allowance: Int64
    public let currency: String
    public let validUntil: Int64
    /// A one-time X25519 public key of the phone's (hex), when it wants the certificate's
    /// cryptogram key: the answer carries it sealed to this key (``CryptogramKeyReceiver``).
    public let agreementKey: String?

    enum CodingKeys: String, CodingKey {
        case serial, allowance, currency
        case deviceKey = "device_key"
        case validUntil = "valid_until"
        case agreementKey = "agreement_key"
    }

    public init(serial: String, deviceKey: String, allowance: Int64, currency: String, validUntil: Int64, agreementKey: String? = nil) {
        self.serial = serial
        self.deviceKey = deviceKey
        self.allowance = allowance
        self.currency = currency
        self.validUntil = validUntil
        self.agreementKey = agreementKey
    }
}

/// The answer: the certificate (Base45 of its bytes) and, when asked for, its cryptogram key
/// sealed to the phone; or why not.
public struct CertificateWire: Codable, Sendable, Equatable {
    /// "issued" or "declined".
    public let status: String
    public let certificate: String?
    /// The key the phone makes each code's cryptogram with, for the ledger's eyes
    /// (``OfflineToken/cryptogram``), sealed to the request's agreement key (hex, 80 bytes:
    /// ``SigningKey/sealedCryptogramKey(for:to:)``). The phone keeps what it opens as secret as
    /// its device key.
    public let sealedCryptogramKey: String?
    public let reason: String?

    enum CodingKeys: String, CodingKey {
        case status, certificate, reason
        case sealedCryptogramKey = "sealed_cryptogram_key"
    }

    public init(status: String, certificate: String? = nil, sealedCryptogramKey: String? = nil, reason: String? = nil) {
        self.status = status
        self.certificate = certificate
        self.sealedCryptogramKey = sealedCryptogramKey
        self.reason = reason
    }
}

/// `POST /v1/wallets/{id}/payments`: the wallet pays a merchant-presented order it scanned.
public struct WalletPaymentWire: Codable, Sendable, Equatable {
    /// The phone-made payment id: the idempotency key.
    public let id: String
    public let order: String
    public let merchant: String
    public let amount: Int64
    public let currency: String

    public init(id: String, order: String, merchant: String, amount: Int64, currency: String) {
        self.id = id
        self.order = order
        self.merchant = merchant
        self.amount = amount
        self.currency = currency
    }
}

/// One wallet event (`GET /v1/wallets/{id}/events`): a posted change or a hold, with the
/// balances after it.
public struct WalletEventWire: Codable, Sendable, Equatable {
    public let seq: Int64
    public let transfer: String
    public let kind: String
    /// Minor units; negative for money out.
    public let delta: Int64
    public let available: Int64
    public let balance: Int64
    public let currency: String
    public let createdAt: Int64

    enum CodingKeys: String, CodingKey {
        case seq, transfer, kind, delta, available, balance, currency
        case createdAt = "created_at"
    }

    public init(_ e: WalletEvent) {
        (seq, transfer, kind, delta, available, balance, currency, createdAt) =
            (e.seq, e.transfer, e.kind, e.delta.minorUnits, e.available, e.balance, e.delta.currency.code, e.createdAt)
    }
}

public struct WalletEventsWire: Codable, Sendable, Equatable {
    public let events: [WalletEventWire]
    /// The cursor to ask from next.
    public let next: Int64

    public init(events: [WalletEventWire], next: Int64) {
        self.events = events
        self.next = next
    }
}

/// `POST /v1/wallets/{id}/transfers`, `…/withdrawals` and `…/deposits`: money the wallet moves.
/// A transfer names its recipient by wallet id (`to`) or phone number (`to_phone`); a
/// withdrawal goes to the wallet's linked bank, a deposit comes from it (both held until the
/// bank answers).
public struct WalletMoveWire: Codable, Sendable, Equatable {
    /// The phone-made request id: the idempotency key.
    public let id: String
    public let amount: Int64
    public let currency: String
    public let to: String?
    public let toPhone: String?
    public let memo: String?

    enum CodingKeys: String, CodingKey {
        case id, amount, currency, to, memo
        case toPhone = "to_phone"
    }

    public init(id: String, amount: Int64, currency: String, to: String? = nil, toPhone: String? = nil, memo: String? = nil) {
        self.id = id
        self.amount = amount
        self.currency = currency
        self.to = to
        self.toPhone = toPhone
        self.memo = memo
    }
}

/// `POST /v1/bank/callbacks`: a bank's answer about an instruction, by the hold's reference
/// (the deposit's or withdrawal's request id).
public struct BankCallbackWire: Codable, Sendable, Equatable {
    public let reference: String
    /// "settled" or "returned".
    public let outcome: String

    public init(reference: String, outcome: String) {
        self.reference = reference
        self.outcome = outcome
    }

    /// "applied" (the first answer, or the same again: `replayed`) or "refused" (no such hold,
    /// or an answer contradicting the first), with the ledger's reason.
    public struct Answer: Codable, Sendable, Equatable {
        public let status: String
        public let transfer: String?
        public let replayed: Bool?
        public let reason: String?

        public init(status: String, transfer: String?, replayed: Bool?, reason: String?) {
            self.status = status
            self.transfer = transfer
            self.replayed = replayed
            self.reason = reason
        }
    }
}

/// `POST /v1/wallets/{id}/quotes`: what the exchange desk gives for an amount, until when.
public struct QuoteRequestWire: Codable, Sendable, Equatable {
    public let amount: Int64
    public let currency: String
    public let toCurrency: String

    enum CodingKeys: String, CodingKey {
        case amount, currency
        case toCurrency = "to_currency"
    }

    public init(amount: Int64, currency: String, toCurrency: String) {
        self.amount = amount
        self.currency = currency
        self.toCurrency = toCurrency
    }
}

/// An exchange quote on the wire, in minor units: the answer to a quote request, and what an
/// exchange takes back (`POST /v1/wallets/{id}/exchanges`).
public struct QuoteWire: Codable, Sendable, Equatable {
    public let source: Int64
    public let sourceCurrency: String
    public let target: Int64
    public let targetCurrency: String
    public let fee: Int64
    public let rateNumerator: Int64
    public let rateDenominator: Int64
    public let expiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case source, target, fee
        case sourceCurrency = "source_currency"
        case targetCurrency = "target_currency"
        case rateNumerator = "rate_numerator"
        case rateDenominator = "rate_denominator"
        case expiresAt = "expires_at"
    }

    public init(_ q: ExchangeQuote) {
        source = q.source.minorUnits
        sourceCurrency = q.source.currency.code
        target = q.target.minorUnits
        targetCurrency = q.target.currency.code
        fee = q.fee.minorUnits
        rateNumerator = q.rateNumerator
        rateDenominator = q.rateDenominator
        expiresAt = q.expiresAt
    }

    /// The quote, if its currencies are known.
    public var quote: ExchangeQuote? {
        guard let from = Currency(sourceCurrency), let into = Currency(targetCurrency) else { return nil }
        return ExchangeQuote(source: Money(minorUnits: source, currency: from), target: Money(minorUnits: target, currency: into),
                             fee: Money(minorUnits: fee, currency: from), rateNumerator: rateNumerator, rateDenominator: rateDenominator,
                             expiresAt: expiresAt)
    }
}

/// `POST /v1/wallets/{id}/exchanges`: take a quote, paying from this wallet into `to` (a wallet
/// of the quote's target currency: the owner's own, or someone's abroad).
public struct ExchangeWire: Codable, Sendable, Equatable {
    public let id: String
    public let to: String
    public let quote: QuoteWire

    public init(id: String, to: String, quote: QuoteWire) {
        self.id = id
        self.to = to
        self.quote = quote
    }
}

/// `GET /v1/payments/{id}`: whether the ledger holds a payment (a sale's id) to the terminal's
/// merchant, and how much.
public struct PaymentStatusWire: Codable, Sendable, Equatable {
    public let id: String
    /// "paid" or "none".
    public let status: String
    /// What was paid (minor units), all parts together.
    public let amount: Int64?
    public let currency: String?

    public init(id: String, status: String, amount: Int64? = nil, currency: String? = nil) {
        self.id = id
        self.status = status
        self.amount = amount
        self.currency = currency
    }
}
