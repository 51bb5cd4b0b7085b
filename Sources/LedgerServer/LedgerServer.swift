import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOCore
import NIOPosix
import Payments
import Synchronization

/// A terminal the server knows: its id, the merchant it acts for, and its public key (hex).
public struct TerminalRegistration: Sendable, Codable, Hashable {
    public let id: String
    public let merchant: String
    public let publicKey: String

    enum CodingKeys: String, CodingKey {
        case id, merchant
        case publicKey = "public_key"
    }

    public init(id: String, merchant: String, publicKey: String) {
        self.id = id
        self.merchant = merchant
        self.publicKey = publicKey
    }
}

/// Why a request was turned away; logged with the terminal and path, and returned as
/// `{"error": reason}` with 401 (who you are) or 403 (what you may do).
public struct Rejection: Error, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let reason: String
}

extension Rejection: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        LedgerHTTP.json(["error": reason], status: status)
    }
}

/// A wallet's phone the server knows: the wallet and the public key its requests are signed with
/// (hex; `qrpos wallet key` prints it), and the bank its linked account is at, when known (a
/// registered bank's id: only that bank may then answer its deposits and withdrawals). A bank is
/// registered in the same form, without a bank of its own.
public struct WalletRegistration: Sendable, Codable, Hashable {
    public let id: String
    public let publicKey: String
    public let bank: String?

    enum CodingKeys: String, CodingKey {
        case id, bank
        case publicKey = "public_key"
    }

    public init(id: String, publicKey: String, bank: String? = nil) {
        self.id = id
        self.publicKey = publicKey
        self.bank = bank
    }
}

/// Checks a request's signature (``RequestSignature``): a known terminal (or wallet), a time
/// within the skew allowed, a nonce not seen within it, and a valid Ed25519 signature over the
/// request.
public final class RequestAuthenticator: Sendable {
    private let terminals: [String: (registration: TerminalRegistration, key: OfflinePublicKey)]
    private let wallets: [String: OfflinePublicKey]
    private let banks: [String: OfflinePublicKey]
    /// Each wallet's linked bank, where its registration names one.
    private let walletBanks: [String: String]
    public let skewMillis: Int64
    /// Nonces seen, with when they may be forgotten (after the skew window they would be refused
    /// for their time anyway).
    private let nonces = Mutex<[String: Int64]>([:])

    /// `banks` are registered as wallets are: an id and the public key its callbacks are signed with.
    public init(terminals: [TerminalRegistration], wallets: [WalletRegistration] = [], banks: [WalletRegistration] = [],
                skewMillis: Int64 = 300_000) throws {
        func key(_ hex: String, _ who: String) throws -> OfflinePublicKey {
            guard let raw = Hex.bytes(hex), let key = try? OfflinePublicKey(raw: raw) else {
                throw Rejection(status: .internalServerError, reason: "\(who)'s public key is not 64 hex digits")
            }
            return key
        }
        var known: [String: (TerminalRegistration, OfflinePublicKey)] = [:]
        for t in terminals { known[t.id] = (t, try key(t.publicKey, "terminal \(t.id)")) }
        self.terminals = known
        var phones: [String: OfflinePublicKey] = [:]
        for w in wallets { phones[w.id] = try key(w.publicKey, "wallet \(w.id)") }
        self.wallets = phones
        var rails: [String: OfflinePublicKey] = [:]
        for b in banks {
            // Sent in a header and kept in a hold's memo: a plain name, which neither trims nor splits.
            guard (1...64).contains(b.id.count), b.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw Rejection(status: .internalServerError, reason: "bank id '\(b.id)' is not 1 to 64 letters, digits, '.', '-' or '_'")
            }
            rails[b.id] = try key(b.publicKey, "bank \(b.id)")
        }
        self.banks = rails
        var linked: [String: String] = [:]
        for w in wallets {
            guard let bank = w.bank else { continue }
            guard rails[bank] != nil else { throw Rejection(status: .internalServerError, reason: "wallet \(w.id)'s bank \(bank) is not registered") }
            linked[w.id] = bank
        }
        walletBanks = linked
        self.skewMillis = skewMillis
    }

    public func authenticate(method: String, path: String, headers: HTTPFields, body: [UInt8], now: Int64) -> Result<TerminalRegistration, Rejection> {
        check(RequestSignature.terminalHeader, "terminal", { terminals[$0]?.key }, method: method, path: path, headers: headers, body: body, now: now)
            .map { terminals[$0]!.registration }
    }

    /// The wallet that signed the request (its phone's key).
    public func authenticateWallet(method: String, path: String, headers: HTTPFields, body: [UInt8], now: Int64) -> Result<String, Rejection> {
        check(RequestSignature.walletHeader, "wallet", { wallets[$0] }, method: method, path: path, headers: headers, body: body, now: now)
    }

    /// The bank `wallet`'s registration links it to, if any.
    public func bank(ofWallet wallet: String) -> String? { walletBanks[wallet] }

    /// The bank that signed the request.
    public func authenticateBank(method: String, path: String, headers: HTTPFields, body: [UInt8], now: Int64) -> Result<String, Rejection> {
        check(RequestSignature.bankHeader, "bank", { banks[$0] }, method: method, path: path, headers: headers, body: body, now: now)
    }

    private func check(_ idHeader: String, _ what: String, _ keyOf: (String) -> OfflinePublicKey?, method: String, path: String,
                       headers: HTTPFields, body: [UInt8], now: Int64) -> Result<String, Rejection> {
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }
        guard let id = header(idHeader), let timeText = header(RequestSignature.timeHeader),
              let nonce = header(RequestSignature.nonceHeader), let signature = header(RequestSignature.signatureHeader) else {
            return .failure(Rejection(status: .unauthorized, reason: "unsigned request: the \(idHeader) and X-Qrpos-* signature headers are missing"))
        }
        guard let key = keyOf(id) else { return .failure(Rejection(status: .unauthorized, reason: "unknown \(what) \(id)")) }
        guard let time = Int64(timeText), time >= now - skewMillis, time <= now + skewMillis else {
            return .failure(Rejection(status: .unauthorized, reason: "request time outside ±\(skewMillis / 1000) s of the server's clock"))
        }
        guard (16...64).contains(nonce.count) else { return .failure(Rejection(status: .unauthorized, reason: "a nonce is 16 to 64 characters")) }
        guard RequestSignature.isValid(signature: signature, key: key, method: method, path: path, time: time, nonce: nonce, body: body) else {
            return .failure(Rejection(status: .unauthorized, reason: "bad signature for \(what) \(id)"))
        }
        let fresh = nonces.withLock { seen -> Bool in
            if seen.count > 100_000 { seen = seen.filter { $0.value > now } }
            guard seen[idHeader + "/" + id + "/" + nonce] == nil else { return false }
            seen[idHeader + "/" + id + "/" + nonce] = now + 2 * skewMillis
            return true
        }
        guard fresh else { return .failure(Rejection(status: .unauthorized, reason: "replayed request (nonce already used)")) }
        return .success(id)
    }
}

/// The server's side of `POST /v1/authorize`: a customer's code charged while the terminal is
/// online. An offline code is checked as a terminal would (signatures, validity at the server's
/// clock) and then by the ledger (its counter never used, the allowance and the wallet covering
/// the amount: ``WalletOperations/authorizeOfflineCode(_:now:)``); a one-time code is charged by
/// a ledger that issues them (the embedded SQLite one).
public struct OnlineAuthorization: Sendable {
    public let store: any TransactionalLedgerStore
    private let ops: WalletOperations
    private let verifier: OfflineVerifier
    public let clockSkewMillis: Int64

    /// The device's signature is checked here, not a cryptogram (``OfflineVerifier``): a code
    /// comes online from any terminal, not only from one that checked it, and one verification
    /// per sale costs little; the cryptogram spares the ledger that cost on the bulk of forwarded payments.
    public init(store: any TransactionalLedgerStore, issuers: [OfflinePublicKey], clockSkewMillis: Int64) {
        self.store = store
        ops = WalletOperations(store: store)
        verifier = OfflineVerifier(issuers: issuers)
        self.clockSkewMillis = clockSkewMillis
    }

    public func authorize(_ asked: AuthorizeWire.Request, amount: Money, terminal: String, now: Int64 = UnixTime.nowMillis()) throws -> AuthorizeWire.Response {
        if OfflineToken.looksLikeToken(asked.code) {
            let token: OfflineToken
            do {
                token = try OfflineToken(parsing: asked.code)
                try verifier.verify(token, now: now, clockSkewMillis: clockSkewMillis)
            } catch {
                return .declined(asked.id, error.message)
            }
            guard token.certificate.allowance.currency == amount.currency else {
                return .declined(asked.id, "the code is for \(token.certificate.allowance.currency), the sale is in \(amount.currency)", .currencyMismatch)
            }
            let payment = WalletOperations.OfflinePayment(id: asked.id, serial: token.certificate.serial, counter: Int64(token.counter),
                                                          merchant: asked.merchant, amount: amount)
            switch try ops.authorizeOfflineCode(payment, now: now) {
            case .success(let s):
                return AuthorizeWire.Response(id: asked.id, status: "approved", wallet: token.certificate.walletID,
                                              fromAllowance: s.fromAllowance, fromWallet: s.fromWallet, replayed: s.replayed)
            case .failure(let decline):
                return .declined(asked.id, decline.description, decline)
            }
        }
        guard let code = try? PaymentCode(asked.code) else { return .declined(asked.id, "not a payment code", .codeUnknown) }
        guard let codes = store as? any LedgerStore else {
            return .declined(asked.id, "this ledger does not issue one-time codes: ask the customer for an offline code")
        }
        let outcome = try codes.charge(requestID: asked.id, code: code, merchant: asked.merchant, amount: amount, memo: "terminal \(terminal)", now: now)
        return AuthorizeWire.Response(id: asked.id, outcome: outcome, wallet: \.debitAccount)
    }
}

extension LedgerSweep {
    /// Runs the sweep every `interval` until the task is cancelled; a failure is logged and
    /// the next round tries again.
    public static func every(_ interval: Duration, store: any TransactionalLedgerStore, logger: Logger) async {
        while !Task.isCancelled {
            do {
                let released = try await NIOThreadPool.singleton.runIfActive { try run(store, now: UnixTime.nowMillis()) }
                if !released.isEmpty { logger.info("sweep released \(released.count) holds and allowances") }
            } catch {
                logger.error("sweep failed: \(error)")
            }
            try? await Task.sleep(for: interval)
        }
    }
}

/// The wallet ledger on HTTP (Hummingbird): `qrpos ledger serve`. The routes and their JSON are
/// described in assets/openapi.json. The ledger's calls block (SQLite, or PostgreSQL waited on),
/// so they run on NIO's blocking thread pool, never on the cooperative pool.
public enum LedgerHTTP {
    /// The largest request body taken (a sync batch of 500 entries is about 250 KB).
    public static let bodyBytesMax = 4 << 20

    /// `issuer` (the offline issuer's private key) lets phones ask for offline certificates;
    /// its public key is among `issuers`.
    public static func router(store: any TransactionalLedgerStore, authenticator: RequestAuthenticator, issuers: [OfflinePublicKey],
                              issuer: OfflineIssuerKey? = nil, clockSkewMillis: Int64, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        // Before every route, so that none is answered with an error nobody logged.
        router.add(middleware: RejectionLog(logger: logger))
        let settler = LedgerSettler(ops: WalletOperations(store: store), issuers: issuers, issuer: issuer, clockSkewMillis: clockSkewMillis)

        router.get("v1/health") { _, _ in
            json(["status": "ok"])
        }

        router.post("v1/sync") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: bodyBytesMax))
            let terminal = try signer(request, body: body, authenticator: authenticator)
            let batch = try decoded(SyncWire.Request.self, body, what: "not a sync batch")
            guard batch.entries.count <= 1_000 else {
                throw Rejection(status: .badRequest, reason: "a sync batch holds at most 1000 entries")
            }
            var answers: [SyncWire.Answer] = []
            var toSettle: [ForwardedPayment] = []
            for entry in batch.entries {
                // A terminal acts only for its own merchant.
                guard entry.merchant == terminal.merchant else {
                    logger.notice("refused a sync entry", metadata: ["terminal": "\(terminal.id)", "entry": "\(entry.id)",
                                                                     "reason": "merchant \(entry.merchant) is not this terminal's"])
                    answers.append(SyncWire.Answer(id: entry.id, .refused("terminal \(terminal.id) does not act for merchant \(entry.merchant)")))
                    continue
                }
                guard let payment = entry.payment(terminal: terminal.id) else {
                    logger.notice("refused a sync entry", metadata: ["terminal": "\(terminal.id)", "entry": "\(entry.id)",
                                                                     "reason": "unknown currency or a non-positive amount"])
                    answers.append(SyncWire.Answer(id: entry.id, .refused("unknown currency or a non-positive amount")))
                    continue
                }
                toSettle.append(payment)
            }
            let pending = toSettle
            let settled = try await NIOThreadPool.singleton.runIfActive { try settler.settle(pending) }
            for entry in pending {
                guard let answer = settled[entry.id] else { continue }
                if case .refused(let reason) = answer {
                    logger.notice("refused an offline payment", metadata: ["terminal": "\(terminal.id)", "entry": "\(entry.id)", "reason": "\(reason)"])
                }
                answers.append(SyncWire.Answer(id: entry.id, answer))
            }
            return try encode(SyncWire.Response(answers: answers))
        }

        let authorizer = OnlineAuthorization(store: store, issuers: issuers, clockSkewMillis: clockSkewMillis)
        router.post("v1/authorize") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 64 << 10))
            let terminal = try signer(request, body: body, authenticator: authenticator)
            let asked = try decoded(AuthorizeWire.Request.self, body, what: "not an authorization request")
            guard asked.merchant == terminal.merchant else {
                throw Rejection(status: .forbidden, reason: "terminal \(terminal.id) does not act for merchant \(asked.merchant)")
            }
            guard let currency = Currency(asked.currency), asked.amount > 0, !asked.id.isEmpty, asked.id.count <= 56 else {
                throw Rejection(status: .badRequest, reason: "an id of 1 to 56 characters, a known currency and an amount above zero")
            }
            let answer = try await onLedger {
                try authorizer.authorize(asked, amount: Money(minorUnits: asked.amount, currency: currency), terminal: terminal.id)
            }
            if answer.status != "approved" {
                logger.notice("declined an authorization", metadata: ["terminal": "\(terminal.id)", "sale": "\(asked.id)",
                                                                      "reason": "\(answer.reason ?? "?")"])
            }
            return try encode(answer)
        }

        router.get("v1/terminal") { request, context in
            let terminal = try signer(request, body: [], authenticator: authenticator)
            guard let merchant = try await NIOThreadPool.singleton.runIfActive({ try store.merchant(terminal.merchant) }) else {
                throw Rejection(status: .notFound, reason: "terminal \(terminal.id)'s merchant \(terminal.merchant) is not in the ledger")
            }
            return try encode(TerminalConfigWire(terminal: terminal.id, merchant: MerchantWire(merchant), issuerKeys: issuers.map(\.hex),
                                                 time: UnixTime.nowMillis(), requestWindowMillis: authenticator.skewMillis))
        }

        addOrderRoutes(router, store: store, authenticator: authenticator, logger: logger)
        addWalletRoutes(router, store: store, issuer: issuer, authenticator: authenticator)

        // What became of a sale the terminal never heard back about: its payment (the sale's id,
        // or the wallet's part of one taken offline) to this terminal's merchant, if any.
        router.get("v1/payments/:id") { request, context in
            let terminal = try signer(request, body: [], authenticator: authenticator)
            let id = try context.parameters.require("id")
            let status = try await NIOThreadPool.singleton.runIfActive { () -> PaymentStatusWire in
                let parts = try WalletOperations.paymentParts(id).compactMap { try store.transfer($0) }
                    .filter { $0.kind == .payment && $0.creditAccount == terminal.merchant }
                guard let first = parts.first else { return PaymentStatusWire(id: id, status: "none") }
                let paid = parts.reduce(Int64(0)) { $0 + $1.amount.minorUnits }
                return PaymentStatusWire(id: id, status: "paid", amount: paid, currency: first.amount.currency.code)
            }
            return try encode(status)
        }

        // A bank's answer about a held deposit or withdrawal (its webhook): the first answer
        // decides, the same one again changes nothing, a contradicting one is refused; answers
        // may come twice and in any order (``SimulatedBankRail`` sends them so).
        router.post("v1/bank/callbacks") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 4 << 10))
            let bank = try authenticator.authenticateBank(method: request.method.rawValue, path: request.uri.path, headers: request.headers, body: body,
                                                          now: UnixTime.nowMillis()).get()
            let asked = try decoded(BankCallbackWire.self, body, what: "not a bank callback")
            guard let outcome = BankOutcome(rawValue: asked.outcome), !asked.reference.isEmpty, asked.reference.count <= 64 else {
                throw Rejection(status: .badRequest, reason: "a reference of 1 to 64 characters and an outcome, settled or returned")
            }
            let result = try await onLedger {
                try WalletOperations(store: store).bankCallback(reference: asked.reference, outcome: outcome, bank: bank,
                                                                linkedBank: authenticator.bank(ofWallet:), now: UnixTime.nowMillis())
            }
            switch result {
            case .created(let t), .exists(let t):
                let replayed = { if case .exists = result { true } else { false } }()
                return try encode(BankCallbackWire.Answer(status: "applied", transfer: t.id, replayed: replayed, reason: nil))
            case .refused(let refusal):
                logger.notice("refused a bank callback", metadata: ["bank": "\(bank)", "reference": "\(asked.reference)",
                                                                    "outcome": "\(asked.outcome)", "reason": "\(refusal)"])
                return try encode(BankCallbackWire.Answer(status: "refused", transfer: nil, replayed: nil, reason: "\(refusal)"))
            }
        }

        // The balance of the terminal's own merchant; a wallet's is its owner's business (the
        // wallet routes, signed by its phone), and another merchant's is no terminal's.
        router.get("v1/accounts/:id") { request, context in
            let terminal = try signer(request, body: [], authenticator: authenticator)
            let id = try context.parameters.require("id")
            guard id == terminal.merchant else {
                throw Rejection(status: .forbidden, reason: "terminal \(terminal.id) may read only its merchant's account, not \(id)")
            }
            guard let account = try await NIOThreadPool.singleton.runIfActive({ try store.account(id) }) else {
                throw Rejection(status: .notFound, reason: "no account \(id)")
            }
            return json(["id": account.id, "kind": account.kind.rawValue, "currency": account.currency.code,
                         "balance": account.balance.decimalString, "available": account.available.decimalString])
        }
        return router
    }

    /// The application on `host:port`; `onRunning` gets the port actually bound (port 0 picks one).
    public static func application(router: Router<BasicRequestContext>, host: String, port: Int, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "qrpos-ledger"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Merchant-presented orders and refunds, on a ledger that holds them (the SQLite one).
    static func addOrderRoutes(_ router: Router<BasicRequestContext>, store: any TransactionalLedgerStore,
                               authenticator: RequestAuthenticator, logger: Logger) {
        /// The ledger's orders, or 501 on a store that has none.
        @Sendable func orders() throws(Rejection) -> any LedgerStore {
            guard let orders = store as? any LedgerStore else {
                throw Rejection(status: .notImplemented, reason: "this ledger store holds no merchant-presented orders")
            }
            return orders
        }
        /// The order, if it is the terminal's merchant's.
        @Sendable func order(_ id: String, of terminal: TerminalRegistration, in ledger: any LedgerStore) async throws -> OrderWire {
            let found = try await NIOThreadPool.singleton.runIfActive { () -> OrderWire? in
                guard let order = try ledger.order(id, now: UnixTime.nowMillis()) else { return nil }
                return OrderWire(order, wallet: try order.paymentID.flatMap { try ledger.transfer($0)?.debitAccount })
            }
            guard let found else { throw Rejection(status: .notFound, reason: "no order \(id)") }
            guard found.merchant == terminal.merchant else {
                throw Rejection(status: .forbidden, reason: "terminal \(terminal.id) does not act for order \(id)'s merchant")
            }
            return found
        }

        router.post("v1/orders") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 64 << 10))
            let terminal = try signer(request, body: body, authenticator: authenticator)
            let ledger = try orders()
            let asked = try decoded(NewOrderWire.self, body, what: "not an order")
            guard let currency = Currency(asked.currency), asked.amount > 0, (1...25).contains(asked.id.unicodeScalars.count) else {
                throw Rejection(status: .badRequest, reason: "an id of 1 to 25 characters, a known currency and an amount above zero")
            }
            let made = try await onLedger {
                try ledger.createOrder(id: asked.id, merchant: terminal.merchant, amount: Money(minorUnits: asked.amount, currency: currency),
                                       terminalID: terminal.id, expiresAt: asked.expiresAt, now: UnixTime.nowMillis())
            }
            return try encode(OrderWire(made, wallet: nil))
        }

        router.get("v1/orders/:id") { request, context in
            let terminal = try signer(request, body: [], authenticator: authenticator)
            return try encode(try await order(try context.parameters.require("id"), of: terminal, in: try orders()))
        }

        router.post("v1/orders/:id/cancel") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 4 << 10))
            let terminal = try signer(request, body: body, authenticator: authenticator)
            let ledger = try orders()
            let id = try context.parameters.require("id")
            _ = try await order(id, of: terminal, in: ledger)
            let closed = try await NIOThreadPool.singleton.runIfActive { () -> OrderWire in
                let order = try ledger.cancelOrder(id, now: UnixTime.nowMillis())
                return OrderWire(order, wallet: try order.paymentID.flatMap { try ledger.transfer($0)?.debitAccount })
            }
            return try encode(closed)
        }

        // Server-sent events: the order now, then each change, until it is paid or closed. The
        // ledger is looked at every 50 ms (a payment may come from another process writing the
        // same ledger); a comment line every 5 s keeps idle links open.
        router.get("v1/orders/:id/events") { request, context in
            let terminal = try signer(request, body: [], authenticator: authenticator)
            let ledger = try orders()
            let id = try context.parameters.require("id")
            let first = try await order(id, of: terminal, in: ledger)
            let body = ResponseBody { writer in
                var last = first
                var sent = ContinuousClock.now
                try await writer.write(try serverSentEvent("order", first))
                while last.status == "open" {
                    try await Task.sleep(for: .milliseconds(50))
                    let now = try await order(id, of: terminal, in: ledger)
                    if now != last {
                        last = now
                        sent = ContinuousClock.now
                        try await writer.write(try serverSentEvent("order", now))
                    } else if ContinuousClock.now - sent > .seconds(5) {
                        sent = ContinuousClock.now
                        try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                    }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }

        router.post("v1/refunds") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 64 << 10))
            let terminal = try signer(request, body: body, authenticator: authenticator)
            let ledger = try orders()
            let asked = try decoded(RefundWire.self, body, what: "not a refund")
            guard let currency = Currency(asked.currency), asked.amount > 0 else {
                throw Rejection(status: .badRequest, reason: "a known currency and an amount above zero")
            }
            let outcome = try await onLedger {
                try ledger.refund(requestID: asked.id, payment: asked.payment, merchant: terminal.merchant,
                                  amount: Money(minorUnits: asked.amount, currency: currency), now: UnixTime.nowMillis())
            }
            if let decline = outcome.decline {
                logger.notice("declined a refund", metadata: ["terminal": "\(terminal.id)", "refund": "\(asked.id)", "reason": "\(decline)"])
            }
            return try encode(AuthorizeWire.Response(id: asked.id, outcome: outcome, wallet: \.creditAccount))
        }
    }

    /// The request's JSON body, or a 400 saying what it should have been.
    static func decoded<T: Decodable>(_ type: T.Type, _ body: [UInt8], what: String) throws(Rejection) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(body)) } catch {
            throw Rejection(status: .badRequest, reason: "\(what): \(error)")
        }
    }

    /// Runs a ledger call on the blocking pool; a refusal of the request itself (an id reused
    /// with other fields, something unknown, a bad request) is answered 422 with its reason, and
    /// a storage failure stays an error (500).
    static func onLedger<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let result = try await NIOThreadPool.singleton.runIfActive { () throws -> Result<T, Rejection> in
            do { return .success(try body()) } catch let error as LedgerError where error.code != .storage {
                return .failure(Rejection(status: .unprocessableContent, reason: error.message))
            }
        }
        return try result.get()
    }

    /// One server-sent event: its name, its id when it has one, and `value` as JSON on its data line.
    static func serverSentEvent(_ name: String, id: Int64? = nil, _ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: Array("\(id.map { "id: \($0)\n" } ?? "")event: \(name)\ndata: ".utf8) + Array(try JSONEncoder().encode(value)) + Array("\n\n".utf8))
    }

    /// The terminal that signed the request; a request that fails ``RequestAuthenticator`` is
    /// answered 401 (and logged with its reason, as every rejection is, by ``RejectionLog``).
    static func signer(_ request: Request, body: [UInt8], authenticator: RequestAuthenticator) throws(Rejection) -> TerminalRegistration {
        try authenticator.authenticate(method: request.method.rawValue, path: request.uri.path, headers: request.headers, body: body,
                                       now: UnixTime.nowMillis()).get()
    }

    static func json(_ object: [String: String], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func encode(_ value: some Encodable) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Logs every request answered with an error, with its path, status and reason: a route's
/// ``Rejection`` (unsigned, forbidden, unknown, malformed), a path that is not the API's, a body
/// too large, a storage failure. The one place rejections are logged, so no route can forget to.
struct RejectionLog<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            let reason = (error as? Rejection)?.reason ?? "\(error)"
            logger.notice("rejected a request", metadata: ["path": "\(request.uri.path)", "status": "\(error.status.code)", "reason": "\(reason)"])
            throw error
        } catch {
            logger.error("failed a request", metadata: ["path": "\(request.uri.path)", "status": "500", "reason": "\(error)"])
            throw error
        }
    }
}
