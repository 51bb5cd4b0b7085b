import Foundation
import Synchronization
import Payments

/// One offline payment a terminal forwards: its terminal-made id, what it was for, and the
/// code the customer showed (which the ledger checks again).
public struct ForwardedPayment: Sendable, Equatable {
    public let id: String
    public let terminal: String
    public let merchant: String
    public let amount: Money
    /// The offline code as scanned.
    public let token: String
    public let wallet: String
    public let certificate: String
    public let counter: Int64
    public let createdAt: Int64

    public init(id: String, terminal: String, merchant: String, amount: Money, token: String, wallet: String, certificate: String,
                counter: Int64, createdAt: Int64) {
        self.id = id
        self.terminal = terminal
        self.merchant = merchant
        self.amount = amount
        self.token = token
        self.wallet = wallet
        self.certificate = certificate
        self.counter = counter
        self.createdAt = createdAt
    }
}

/// What the ledger answered for one forwarded offline payment.
public enum ForwardAnswer: Sendable, Equatable {
    /// Settled now or before (a repeat is "already exists", which is done too).
    case settled(OfflineSettlement)
    /// Refused for good: the token does not verify, its certificate is unknown… The payment
    /// stays in the journal with the reason, for the merchant to follow up; it is not sent again.
    case refused(String)

    /// One line for the terminal's journal.
    public var summary: String {
        switch self {
        case .settled(let s):
            "settled: allowance \(s.fromAllowance), wallet \(s.fromWallet), debt \(s.debt)" + (s.replayed ? " (already settled)" : "")
                + (s.counterReusedBy.isEmpty ? "" : "; code also used by " + s.counterReusedBy.joined(separator: ", "))
        case .refused(let reason): "refused: " + reason
        }
    }
}

/// The ledger's side of store-and-forward: takes a terminal's batch and answers each payment.
/// Throws when the ledger cannot be reached (the batch is sent again later, with the same ids).
public protocol OfflineSettler: Sendable {
    func settle(_ payments: [ForwardedPayment]) throws -> [String: ForwardAnswer]
}

/// The ledger's own settler: the ledger server's, and a terminal's that holds the ledger itself
/// (the embedded one). It checks each token again, since the ledger trusts no terminal's word:
/// the issuer's signature, the phone's proof (the code's cryptogram when this settler holds the
/// issuer's key and it matches, else the device's signature), the certificate valid when the
/// phone made the code, and that it names the wallet whose allowance it spends. Then one ledger transaction for the
/// batch (``WalletOperations/settleOfflinePayments(_:now:)``).
public struct LedgerSettler: OfflineSettler {
    public let ops: WalletOperations
    public let issuers: [OfflinePublicKey]
    let verifier: OfflineVerifier
    public let clockSkewMillis: Int64
    public let now: @Sendable () -> Int64

    /// With `issuer` (the ledger's own issuing key), a code that carries a cryptogram is checked
    /// by it instead of by the device's signature (``OfflineVerifier``).
    public init(ops: WalletOperations, issuers: [OfflinePublicKey], issuer: OfflineIssuerKey? = nil, clockSkewMillis: Int64,
                now: @escaping @Sendable () -> Int64 = UnixTime.nowMillis) {
        self.ops = ops
        self.issuers = issuers
        verifier = OfflineVerifier(issuers: issuers, issuer: issuer)
        self.clockSkewMillis = clockSkewMillis
        self.now = now
    }

    /// Checks every entry, then settles the ones that pass in one ledger transaction.
    ///
    /// The checks run on every core: one Ed25519 verification of the phone's signature per
    /// entry (about 126 µs on this project's 2-core machine, `openssl speed ed25519`) is most of
    /// what an entry costs the server, unless the code carries a cryptogram this settler can
    /// check (about a microsecond).
    public func settle(_ entries: [ForwardedPayment]) throws -> [String: ForwardAnswer] {
        let checked = Mutex<[Int: TokenCheck]>([:])
        let lanes = min(entries.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            var mine: [Int: TokenCheck] = [:]
            for index in stride(from: lane, to: entries.count, by: lanes) {
                mine[index] = check(entries[index])
            }
            checked.withLock { $0.merge(mine) { first, _ in first } }
        }
        let results = checked.withLock { $0 }
        var answers: [String: ForwardAnswer] = [:]
        var payments: [WalletOperations.OfflinePayment] = []
        for (index, entry) in entries.enumerated() {
            switch results[index] {
            case .passed(let token)?:
                payments.append(WalletOperations.OfflinePayment(id: entry.id, serial: token.certificate.serial, counter: entry.counter,
                                                                merchant: entry.merchant, amount: entry.amount))
            case .refused(let reason)?:
                // Unless it was settled before, and this is a repeat whose first answer was lost.
                answers[entry.id] = try ops.earlierOfflineSettlement(paymentID: entry.id, merchant: entry.merchant, amount: entry.amount)
                    .map(ForwardAnswer.settled) ?? .refused(reason)
            case nil:
                answers[entry.id] = .refused("not checked")
            }
        }
        guard !payments.isEmpty else { return answers }
        for (payment, result) in zip(payments, try ops.settleOfflinePayments(payments, now: now())) {
            switch result {
            case .success(let settlement): answers[payment.id] = .settled(settlement)
            case .failure(let error) where error.code == .notFound || error.code == .idConflict || error.code == .invalidRequest:
                answers[payment.id] = .refused(error.message)
            case .failure(let error): throw error
            }
        }
        return answers
    }
}

extension LedgerSettler {
    enum TokenCheck: Sendable {
        case passed(OfflineToken)
        case refused(String)
    }

    /// One entry's token: parsed, verified as of when the phone made it, and matching the entry.
    func check(_ entry: ForwardedPayment) -> TokenCheck {
        let token: OfflineToken
        do {
            token = try OfflineToken(parsing: entry.token)
            // Judged at the time the phone made the code: a payment taken yesterday is
            // forwarded today, after its certificate may have ended.
            try verifier.verify(token, now: token.time, clockSkewMillis: clockSkewMillis)
        } catch {
            return .refused(error.message)
        }
        guard token.certificate.walletID == entry.wallet, token.certificate.serial == entry.certificate,
              token.certificate.allowance.currency == entry.amount.currency else {
            return .refused("the forwarded payment does not match its token")
        }
        guard Int64(token.counter) == entry.counter else { return .refused("the forwarded payment's counter is not its token's") }
        return .passed(token)
    }
}

/// The JSON of `POST /v1/sync` (assets/openapi.json), shared by the terminal that sends it and
/// the server that answers it.
public enum SyncWire {
    public struct Entry: Codable, Sendable, Equatable {
        public let id: String
        public let merchant: String
        /// Minor units.
        public let amount: Int64
        public let currency: String
        public let token: String
        public let wallet: String
        public let certificate: String
        public let counter: Int64
        public let createdAt: Int64

        enum CodingKeys: String, CodingKey {
            case id, merchant, amount, currency, token, wallet, certificate, counter
            case createdAt = "created_at"
        }

        public init(_ payment: ForwardedPayment) {
            id = payment.id
            merchant = payment.merchant
            amount = payment.amount.minorUnits
            currency = payment.amount.currency.code
            token = payment.token
            wallet = payment.wallet
            certificate = payment.certificate
            counter = payment.counter
            createdAt = payment.createdAt
        }

        /// The payment as the server's settler takes it, from `terminal` (the request's signer);
        /// nil for an unknown currency or an amount not above zero.
        public func payment(terminal: String) -> ForwardedPayment? {
            guard let currency = Currency(currency), amount > 0 else { return nil }
            return ForwardedPayment(id: id, terminal: terminal, merchant: merchant, amount: Money(minorUnits: amount, currency: currency),
                                    token: token, wallet: wallet, certificate: certificate, counter: counter, createdAt: createdAt)
        }
    }

    public struct Request: Codable, Sendable {
        public let entries: [Entry]
        public init(entries: [Entry]) { self.entries = entries }
    }

    public struct Answer: Codable, Sendable, Equatable {
        public let id: String
        /// "settled" or "refused".
        public let status: String
        public let fromAllowance: Int64?
        public let fromWallet: Int64?
        public let debt: Int64?
        public let replayed: Bool?
        public let reason: String?
        /// Other payments that used the same code (a copy of the phone's code was shown).
        public let counterReusedBy: [String]?

        enum CodingKeys: String, CodingKey {
            case id, status, debt, replayed, reason
            case fromAllowance = "from_allowance"
            case fromWallet = "from_wallet"
            case counterReusedBy = "counter_reused_by"
        }

        public init(id: String, _ answer: ForwardAnswer) {
            self.id = id
            switch answer {
            case .settled(let s):
                (status, fromAllowance, fromWallet, debt, replayed, reason) = ("settled", s.fromAllowance, s.fromWallet, s.debt, s.replayed, nil)
                counterReusedBy = s.counterReusedBy.isEmpty ? nil : s.counterReusedBy
            case .refused(let why):
                (status, fromAllowance, fromWallet, debt, replayed, reason) = ("refused", nil, nil, nil, nil, why)
                counterReusedBy = nil
            }
        }

        public var forwardAnswer: ForwardAnswer {
            if status == "settled" {
                return .settled(OfflineSettlement(paymentID: id, fromAllowance: fromAllowance ?? 0, fromWallet: fromWallet ?? 0,
                                                  debt: debt ?? 0, replayed: replayed ?? false, counterReusedBy: counterReusedBy ?? []))
            }
            return .refused(reason ?? "refused")
        }
    }

    public struct Response: Codable, Sendable {
        public let answers: [Answer]
        public init(answers: [Answer]) { self.answers = answers }
    }
}
