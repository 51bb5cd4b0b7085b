import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOCore
import NIOPosix
import Payments

/// The wallet's side of the server: requests signed by the wallet's phone (`X-Qrpos-Wallet`),
/// each for its own wallet only. The balance, the alert stream (the wallet's events, as a list
/// from a cursor or as server-sent events), an offline certificate for the phone's device key
/// (its allowance reserved at once), one-time codes, and paying a merchant's QR.
extension LedgerHTTP {
    static func addWalletRoutes(_ router: Router<BasicRequestContext>, store: any TransactionalLedgerStore, issuer: OfflineIssuerKey?,
                                authenticator: RequestAuthenticator) {
        /// The wallet the request is for, which must be the one that signed it.
        @Sendable func owner(_ request: Request, _ context: BasicRequestContext, body: [UInt8]) throws -> String {
            let id = try context.parameters.require("id")
            let wallet = try authenticator.authenticateWallet(method: request.method.rawValue, path: request.uri.path, headers: request.headers,
                                                              body: body, now: UnixTime.nowMillis()).get()
            guard wallet == id else { throw Rejection(status: .forbidden, reason: "wallet \(wallet) may act only for itself, not \(id)") }
            return id
        }
        @Sendable func codes() throws(Rejection) -> any LedgerStore {
            guard let codes = store as? any LedgerStore else {
                throw Rejection(status: .notImplemented, reason: "this ledger store holds no one-time codes or orders")
            }
            return codes
        }

        router.get("v1/wallets/:id") { request, context in
            let wallet = try owner(request, context, body: [])
            guard let account = try await NIOThreadPool.singleton.runIfActive({ try store.account(wallet) }), account.kind == .wallet else {
                throw Rejection(status: .notFound, reason: "no wallet \(wallet)")
            }
            return json(["id": account.id, "kind": account.kind.rawValue, "currency": account.currency.code,
                         "balance": account.balance.decimalString, "available": account.available.decimalString])
        }

        // The alert stream: events after `after` (or Last-Event-ID). As JSON, one page; with
        // `Accept: text/event-stream`, every event as it is posted, each with its seq as the
        // event id, so a client that reconnects resumes where it was. The ledger is looked at
        // every 100 ms (another process may write it); a comment every 5 s keeps idle links open.
        router.get("v1/wallets/:id/events") { request, context in
            let wallet = try owner(request, context, body: [])
            let resumed: Int64? = HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] }.flatMap { Int64($0) }
            let asked: Int64? = request.uri.queryParameters.get("after").flatMap { Int64($0) }
            let after: Int64 = resumed ?? asked ?? 0
            let pageSize: Int = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 100
            let limit = min(1_000, max(1, pageSize))
            let page = { @Sendable (from: Int64) async throws -> [WalletEventWire] in
                try await NIOThreadPool.singleton.runIfActive { try store.events(after: from, account: wallet, limit: limit).map(WalletEventWire.init) }
            }
            guard request.headers[.accept]?.contains("text/event-stream") == true else {
                let events = try await page(after)
                return try encode(WalletEventsWire(events: events, next: events.last?.seq ?? after))
            }
            let body = ResponseBody { writer in
                var cursor = after
                var quiet = ContinuousClock.now
                while !Task.isCancelled {
                    let events = try await page(cursor)
                    for event in events {
                        try await writer.write(try serverSentEvent("wallet", id: event.seq, event))
                        cursor = event.seq
                        quiet = ContinuousClock.now
                    }
                    if events.isEmpty {
                        if ContinuousClock.now - quiet > .seconds(5) {
                            quiet = ContinuousClock.now
                            try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                        }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }

        router.post("v1/wallets/:id/certificates") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 16 << 10))
            let wallet = try owner(request, context, body: body)
            guard let issuer else {
                throw Rejection(status: .notImplemented, reason: "this server has no offline issuer key")
            }
            let asked = try decoded(CertificateRequestWire.self, body, what: "not a certificate request")
            guard let currency = Currency(asked.currency), let raw = Hex.bytes(asked.deviceKey), let device = try? OfflinePublicKey(raw: raw),
                  OfflineCertificate.isValidSerial(asked.serial) else {
                throw Rejection(status: .badRequest, reason: "a lower-case UUIDv7 serial, a 64-hex-digit device key and a known currency")
            }
            let agreementKey = try asked.agreementKey.map { hex in
                guard let raw = Hex.bytes(hex), raw.count == 32 else {
                    throw Rejection(status: .badRequest, reason: "an agreement key is an X25519 public key, 64 hex digits")
                }
                return raw
            }
            let now = UnixTime.nowMillis()
            guard asked.validUntil > now, asked.validUntil <= now + 30 * 86_400_000 else {
                throw Rejection(status: .unprocessableContent, reason: "a certificate is valid for up to 30 days from now")
            }
            let outcome = try await onLedger {
                try WalletOperations(store: store).reserveOfflineAllowance(
                    serial: asked.serial, wallet: wallet, amount: Money(minorUnits: asked.allowance, currency: currency),
                    validUntil: asked.validUntil, now: now)
            }
            let answer: CertificateWire
            switch outcome.result {
            case .declined(let decline):
                answer = CertificateWire(status: "declined", reason: decline.description)
            case .posted(let reservation):
                // From the reservation's own time: asking again gives the same certificate.
                let certificate = try OfflineCertificate.issue(serial: asked.serial, walletID: wallet, device: device,
                                                               allowance: reservation.amount, validFrom: reservation.createdAt,
                                                               validUntil: asked.validUntil, issuer: issuer)
                answer = CertificateWire(status: "issued", certificate: Base45.encode(certificate.bytes),
                                         sealedCryptogramKey: try agreementKey.map { Hex.string(try issuer.sealedCryptogramKey(for: certificate, to: $0)) })
            }
            return try encode(answer)
        }

        // Transfers, withdrawals to the linked bank and deposits from it: the wallet operations,
        // on either store. A bank's answer comes later (its callback); until then the money is held.
        // A bill names its biller in `to` and its reference in `memo`.
        for kind in ["transfers", "withdrawals", "deposits", "bills"] {
            router.post("v1/wallets/:id/\(kind)") { request, context in
                let body = Array(buffer: try await request.body.collect(upTo: 16 << 10))
                let wallet = try owner(request, context, body: body)
                let asked = try decoded(WalletMoveWire.self, body, what: "not a wallet request")
                guard let currency = Currency(asked.currency), asked.amount > 0, !asked.id.isEmpty, asked.id.count <= 64 else {
                    throw Rejection(status: .badRequest, reason: "an id of 1 to 64 characters, a known currency and an amount above zero")
                }
                let recipient: WalletOperations.Recipient? = asked.to.map { .wallet($0) } ?? asked.toPhone.map { .phone($0) }
                if kind == "transfers" && recipient == nil {
                    throw Rejection(status: .badRequest, reason: "a transfer names its recipient: to (a wallet id) or to_phone")
                }
                if kind == "bills" && (asked.to ?? "").isEmpty {
                    throw Rejection(status: .badRequest, reason: "a bill names its biller: to")
                }
                let amount = Money(minorUnits: asked.amount, currency: currency)
                let outcome = try await onLedger {
                    let ops = WalletOperations(store: store), now = UnixTime.nowMillis()
                    switch kind {
                    case "transfers": return try ops.transfer(requestID: asked.id, from: wallet, to: recipient!, amount: amount, memo: asked.memo ?? "", now: now)
                    case "withdrawals": return try ops.bankWithdrawal(requestID: asked.id, wallet: wallet, amount: amount,
                                                                      bank: authenticator.bank(ofWallet: wallet), now: now)
                    case "bills": return try ops.payBill(requestID: asked.id, wallet: wallet, biller: asked.to!, amount: amount,
                                                         reference: asked.memo ?? "", now: now)
                    default: return try ops.bankDeposit(requestID: asked.id, wallet: wallet, amount: amount,
                                                        bank: authenticator.bank(ofWallet: wallet), now: now)
                    }
                }
                return try encode(AuthorizeWire.Response(id: asked.id, outcome: outcome, wallet: { _ in wallet }))
            }
        }

        // The exchange desk: a quote (good for a minute), then the exchange at it, across two
        // currency ledgers through the desk's accounts, with its fee.
        router.post("v1/wallets/:id/quotes") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 4 << 10))
            _ = try owner(request, context, body: body)
            let asked = try decoded(QuoteRequestWire.self, body, what: "not a quote request")
            guard let from = Currency(asked.currency), let into = Currency(asked.toCurrency), asked.amount > 0 else {
                throw Rejection(status: .badRequest, reason: "two known currencies and an amount above zero")
            }
            let quote = try await onLedger {
                try WalletOperations(store: store).quote(Money(minorUnits: asked.amount, currency: from), into: into, now: UnixTime.nowMillis())
            }
            return try encode(QuoteWire(quote))
        }

        router.post("v1/wallets/:id/exchanges") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 8 << 10))
            let wallet = try owner(request, context, body: body)
            let asked = try decoded(ExchangeWire.self, body, what: "not an exchange")
            guard let quote = asked.quote.quote, !asked.id.isEmpty, asked.id.count <= 64, !asked.to.isEmpty else {
                throw Rejection(status: .badRequest, reason: "an id of 1 to 64 characters, a recipient and a quote in known currencies")
            }
            let outcome = try await onLedger {
                try WalletOperations(store: store).exchange(requestID: asked.id, quote: quote, from: wallet, to: asked.to, now: UnixTime.nowMillis())
            }
            return try encode(AuthorizeWire.Response(id: asked.id, outcome: outcome, wallet: { _ in wallet }))
        }

        router.post("v1/wallets/:id/codes") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 4 << 10))
            let wallet = try owner(request, context, body: body)
            let ledger = try codes()
            let issued = try await NIOThreadPool.singleton.runIfActive {
                try ledger.issueCode(wallet: wallet, validityMillis: 60_000, now: UnixTime.nowMillis())
            }
            return json(["code": issued.code.digits, "expires_at": String(issued.expiresAt)])
        }

        router.post("v1/wallets/:id/payments") { request, context in
            let body = Array(buffer: try await request.body.collect(upTo: 16 << 10))
            let wallet = try owner(request, context, body: body)
            let ledger = try codes()
            let asked = try decoded(WalletPaymentWire.self, body, what: "not a payment")
            guard let currency = Currency(asked.currency), asked.amount > 0, !asked.id.isEmpty, asked.id.count <= 64 else {
                throw Rejection(status: .badRequest, reason: "an id of 1 to 64 characters, a known currency and an amount above zero")
            }
            let outcome = try await onLedger {
                try ledger.payOrder(requestID: asked.id, orderID: asked.order, wallet: wallet, merchant: asked.merchant,
                                    amount: Money(minorUnits: asked.amount, currency: currency), now: UnixTime.nowMillis())
            }
            return try encode(AuthorizeWire.Response(id: asked.id, outcome: outcome, wallet: { _ in wallet }))
        }
    }
}
