import AsyncHTTPClient
import Foundation
import Ledger
import NIOCore
import NIOHTTP1
import Payments
import Synchronization

/// The terminal's client of a ledger server (`qrpos ledger serve`): every request signed with
/// the terminal's key (``RequestSignature``) and answered within a timeout.
///
/// Requests go through one AsyncHTTPClient client for the process (``http``: its own event
/// loop, connections kept alive), waited for from the caller's thread. FoundationNetworking's
/// URLSession, used before, kept about a third of a core busy for as long as a request was out
/// (its dispatch sources woke up over and over): on a 2-core box that was the ledger server's,
/// or the scanner's.
///
/// - `POST /v1/sync` (``OfflineSettler``): a network failure, a timeout or a 5xx throws, and the
///   ``Forwarder`` sends the batch again later with the same ids; a 4xx is thrown too, with the
///   server's reason.
/// - `POST /v1/authorize` (``OnlineAuthorizer``): no answer in time throws
///   ``OnlineAuthorizerUnreachable``, and the checkout falls back to the offline rules.
///
/// A wallet's phone uses the same client, signing as the wallet (`X-Qrpos-Wallet`), for the
/// wallet's routes (``init(server:wallet:key:timeoutSeconds:)``).
public struct LedgerClient: OfflineSettler, OnlineAuthorizer {
    public let server: URL
    /// The terminal's id, or the wallet's for a phone's client.
    public let terminalID: String
    public let key: TerminalKey
    public let timeoutSeconds: Double
    /// ``RequestSignature/terminalHeader`` or ``RequestSignature/walletHeader``.
    public let principalHeader: String

    public init(server: URL, terminalID: String, key: TerminalKey, timeoutSeconds: Double = 10) {
        self.server = server
        self.terminalID = terminalID
        self.key = key
        self.timeoutSeconds = timeoutSeconds
        principalHeader = RequestSignature.terminalHeader
    }

    /// A wallet's phone: requests signed with its device key as the wallet.
    public init(server: URL, wallet: String, key: OfflineDeviceKey, timeoutSeconds: Double = 10) {
        self.init(server: server, principal: RequestSignature.walletHeader, id: wallet, key: key, timeoutSeconds: timeoutSeconds)
    }

    /// A bank calling back (``bankCallback(_:)``): requests signed with the bank's key.
    public init(server: URL, bank: String, key: OfflineDeviceKey, timeoutSeconds: Double = 10) {
        self.init(server: server, principal: RequestSignature.bankHeader, id: bank, key: key, timeoutSeconds: timeoutSeconds)
    }

    private init(server: URL, principal: String, id: String, key: SigningKey, timeoutSeconds: Double) {
        self.server = server
        terminalID = id
        self.key = key
        self.timeoutSeconds = timeoutSeconds
        principalHeader = principal
    }

    /// A bank's answer about a held deposit or withdrawal.
    public func bankCallback(_ asked: BankCallbackWire) throws -> BankCallbackWire.Answer {
        try call("POST", "/v1/bank/callbacks", body: Array(try JSONEncoder().encode(asked)), as: BankCallbackWire.Answer.self)
    }

    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// The server answered, and refused this terminal's request for a reason an offline rule
    /// cannot mend (its clock is off): not "no answer".
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    public func settle(_ payments: [ForwardedPayment]) throws -> [String: ForwardAnswer] {
        let body = Array(try JSONEncoder().encode(SyncWire.Request(entries: payments.map(SyncWire.Entry.init))))
        let (status, data) = try send(method: "POST", path: "/v1/sync", body: body)
        guard status == 200 else {
            throw Failed(description: "the ledger server answered \(status): \(String(decoding: data, as: UTF8.self).prefix(200))")
        }
        let response = try JSONDecoder().decode(SyncWire.Response.self, from: data)
        return Dictionary(response.answers.map { ($0.id, $0.forwardAnswer) }, uniquingKeysWith: { first, _ in first })
    }

    public func authorize(id: String, merchant: String, amount: Money, code: String) throws -> OnlineAnswer {
        let body = Array(try JSONEncoder().encode(AuthorizeWire.Request(id: id, merchant: merchant, amount: amount.minorUnits,
                                                                        currency: amount.currency.code, code: code)))
        let (status, data): (Int, Data)
        do { (status, data) = try send(method: "POST", path: "/v1/authorize", body: body) } catch let refused as Refused {
            throw refused
        } catch {
            throw OnlineAuthorizerUnreachable(description: "\(error)")
        }
        guard status == 200 else {
            let text = String(decoding: data, as: UTF8.self).prefix(200)
            // A 5xx is the server's trouble, not an answer: the sale may go offline. A 4xx is
            // this terminal's mistake (or a rejected signature), and no offline rule mends it.
            if status >= 500 { throw OnlineAuthorizerUnreachable(description: "the ledger server answered \(status): \(text)") }
            throw Failed(description: "the ledger server refused the authorization (\(status)): \(text)")
        }
        let answer = try JSONDecoder().decode(AuthorizeWire.Response.self, from: data)
        guard answer.id == id else { throw Failed(description: "the ledger server answered for sale \(answer.id), not \(id)") }
        return answer.status == "approved" ? .approved(wallet: answer.wallet) : .declined(answer.reason ?? "declined by the ledger")
    }

    /// This terminal's configuration from the server (`GET /v1/terminal`).
    public func configuration() throws -> TerminalConfigWire {
        try call("GET", "/v1/terminal", as: TerminalConfigWire.self)
    }

    // MARK: Merchant-presented orders

    public func createOrder(_ order: NewOrderWire) throws -> OrderWire {
        try call("POST", "/v1/orders", body: Array(try JSONEncoder().encode(order)), as: OrderWire.self)
    }

    public func order(_ id: String) throws -> OrderWire {
        try call("GET", "/v1/orders/\(Self.escaped(id))", as: OrderWire.self)
    }

    /// Closes the order at the ledger; it comes back `paid` if a payment was first.
    public func cancelOrder(_ id: String) throws -> OrderWire {
        try call("POST", "/v1/orders/\(Self.escaped(id))/cancel", as: OrderWire.self)
    }

    /// Whether the ledger holds a payment under a sale's id (`GET /v1/payments/{id}`).
    public func payment(_ id: String) throws -> PaymentStatusWire {
        try call("GET", "/v1/payments/\(Self.escaped(id))", as: PaymentStatusWire.self)
    }

    public func refund(_ refund: RefundWire) throws -> AuthorizeWire.Response {
        try call("POST", "/v1/refunds", body: Array(try JSONEncoder().encode(refund)), as: AuthorizeWire.Response.self)
    }

    /// Follows the order's server-sent events (`GET /v1/orders/{id}/events`) until it is paid
    /// or closed, or `seconds` pass; returns the last state heard (nil if none). Throws when
    /// the stream cannot be opened or breaks before the end: the caller polls instead.
    public func watchOrder(_ id: String, seconds: Double) throws -> OrderWire? {
        let last = Mutex<OrderWire?>(nil)
        let (ended, failure) = try follow("/v1/orders/\(Self.escaped(id))/events", what: "the order's events", seconds: seconds) { data in
            guard let order = try? JSONDecoder().decode(OrderWire.self, from: data) else { return true }
            last.withLock { $0 = order }
            return order.status == "open"
        }
        let final = last.withLock { $0 }
        if ended, let failure, final?.status ?? "open" == "open" { throw Failed(description: failure) }
        return final
    }

    // MARK: A wallet's phone

    private var walletPath: String { "/v1/wallets/\(Self.escaped(terminalID))" }

    public func walletBalance() throws -> [String: String] {
        try call("GET", walletPath, as: [String: String].self)
    }

    public func walletEvents(after: Int64, limit: Int = 100) throws -> WalletEventsWire {
        try call("GET", walletPath + "/events?after=\(after)&limit=\(limit)", as: WalletEventsWire.self)
    }

    /// Follows the wallet's events as the server sends them, from after `after`, handing each
    /// to `handle` until it returns false or `seconds` pass; returns the last seq handled, and
    /// why the stream broke off if it did (the caller resumes from that seq).
    public func followWalletEvents(after: Int64, seconds: Double,
                                   _ handle: @escaping @Sendable (WalletEventWire) -> Bool) throws -> (last: Int64, broke: String?) {
        let cursor = Mutex(after)
        let (_, failure) = try follow(walletPath + "/events?after=\(after)", what: "the wallet's events", seconds: seconds) { data in
            guard let event = try? JSONDecoder().decode(WalletEventWire.self, from: data) else { return true }
            let more = handle(event)
            cursor.withLock { $0 = event.seq }
            return more
        }
        return (cursor.withLock { $0 }, failure)
    }

    /// Asks for an offline certificate for the phone's device key; the allowance is reserved at once.
    public func requestCertificate(_ asked: CertificateRequestWire) throws -> CertificateWire {
        try call("POST", walletPath + "/certificates", body: Array(try JSONEncoder().encode(asked)), as: CertificateWire.self)
    }

    /// Moves the wallet's money: `kind` is "transfers", "withdrawals", "deposits" or "bills".
    public func move(_ kind: String, _ asked: WalletMoveWire) throws -> AuthorizeWire.Response {
        try call("POST", walletPath + "/" + kind, body: Array(try JSONEncoder().encode(asked)), as: AuthorizeWire.Response.self)
    }

    /// Asks the exchange desk for a quote (good for a minute).
    public func quote(_ asked: QuoteRequestWire) throws -> QuoteWire {
        try call("POST", walletPath + "/quotes", body: Array(try JSONEncoder().encode(asked)), as: QuoteWire.self)
    }

    /// Takes a quote: pays from this wallet, the target currency into `to`.
    public func exchange(_ asked: ExchangeWire) throws -> AuthorizeWire.Response {
        try call("POST", walletPath + "/exchanges", body: Array(try JSONEncoder().encode(asked)), as: AuthorizeWire.Response.self)
    }

    /// Pays a merchant-presented order (what the phone read from its QR).
    public func pay(_ payment: WalletPaymentWire) throws -> AuthorizeWire.Response {
        try call("POST", walletPath + "/payments", body: Array(try JSONEncoder().encode(payment)), as: AuthorizeWire.Response.self)
    }

    /// Reads the server-sent events at `path`, handing each event's data to `handle` until it
    /// returns false or `seconds` pass. Whether the stream ended before then, and why, if it was
    /// not `handle` that had enough.
    private func follow(_ path: String, what: String, seconds: Double,
                        _ handle: @escaping @Sendable (Data) -> Bool) throws -> (ended: Bool, failure: String?) {
        var request = try signed(method: "GET", path: path, body: [])
        request.headers.add(name: "Accept", value: "text/event-stream")
        let stream = EventStream(what: what, handle: handle)
        let task = Self.http.execute(request: request, delegate: stream, deadline: .now() + Self.nanoseconds(seconds + 10))
        defer {
            // Closed before cancelled: an event already on its way is not handed over after
            // the caller has read where the stream got to.
            stream.close()
            task.cancel()
        }
        let ended = stream.done.wait(timeout: .now() + max(0, seconds)) == .success
        return stream.state.withLock { (ended, $0.satisfied ? nil : $0.failure) }
    }

    static func nanoseconds(_ seconds: Double) -> TimeAmount { .nanoseconds(Int64(max(0, seconds) * 1e9)) }

    /// The process's client of ledger servers. A refused or failed connection fails the request
    /// at once (AsyncHTTPClient's shared client retries connecting until the request's deadline:
    /// with the ledger down, every sale waited out its whole online timeout before going
    /// offline, and `sync push` its every attempt's). No redirects: a request is signed for its
    /// path. Never shut down; it lives as long as the process.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(10), read: .seconds(90)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    static func escaped(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? id
    }

    /// A request signed with this terminal's key.
    func signed(method: String, path: String, body: [UInt8]) throws -> HTTPClient.Request {
        guard let url = URL(string: path, relativeTo: server) else { throw Failed(description: "bad path \(path)") }
        var headers = HTTPHeaders()
        if !body.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        for (name, value) in try RequestSignature.headers(principal: principalHeader, id: terminalID, key: key, method: method, path: url.path,
                                                          body: body, time: UnixTime.nowMillis()) {
            headers.add(name: name, value: value)
        }
        do {
            return try HTTPClient.Request(url: url.absoluteString, method: HTTPMethod(rawValue: method), headers: headers,
                                          body: body.isEmpty ? nil : .bytes(body))
        } catch {
            throw Failed(description: "bad request URL \(url.absoluteString): \(error)")
        }
    }

    /// One signed request and its JSON answer; a status other than 200 throws with the server's reason.
    func call<T: Decodable>(_ method: String, _ path: String, body: [UInt8] = [], as: T.Type) throws -> T {
        let (status, data) = try send(method: method, path: path, body: body)
        guard status == 200 else {
            throw Failed(description: "the ledger server answered \(status): \(String(decoding: data, as: UTF8.self).prefix(200))")
        }
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// One signed request; the status and body of the answer.
    public func send(method: String, path: String, body: [UInt8]) throws -> (Int, Data) {
        let request = try signed(method: method, path: path, body: body)
        let response: HTTPClient.Response
        do {
            response = try Self.http.execute(request: request, deadline: .now() + Self.nanoseconds(timeoutSeconds)).wait()
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw Failed(description: "the ledger server did not answer within \(timeoutSeconds) s")
        } catch {
            throw Failed(description: "the ledger server cannot be reached: \(error)")
        }
        let status = Int(response.status.code)
        let data = response.body.map { Data($0.readableBytesView) } ?? Data()
        // A copy of this very request reached the server first (a link that duplicates, or an
        // HTTP stack that sent it again when a reused connection closed before its answer):
        // the first answer was lost, which is no answer, not a refusal.
        if status == 401, String(decoding: data, as: UTF8.self).contains("replayed request") {
            throw Failed(description: "the ledger server's answer was lost (the request was sent again and refused as a replay)")
        }
        if status == 401, String(decoding: data, as: UTF8.self).contains("request time outside") {
            throw Refused(description: "this terminal's clock is more than 5 minutes off the ledger server's clock: set it right "
                          + "(`qrpos terminal setup` shows the difference); the server refused the request")
        }
        return (status, data)
    }
}

/// Reads server-sent events as they arrive, handing each event's data to `handle`; `done` is
/// signalled when `handle` has had enough (returns false), or the stream ends or is refused.
final class EventStream: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void
    let done = DispatchSemaphore(value: 0)
    let what: String
    let handle: @Sendable (Data) -> Bool
    let state = Mutex<(buffer: [UInt8], failure: String?, satisfied: Bool, finished: Bool, closed: Bool)>(([], nil, false, false, false))

    init(what: String, handle: @escaping @Sendable (Data) -> Bool) {
        self.what = what
        self.handle = handle
    }

    /// The caller stopped following: nothing more is handed to `handle`.
    func close() {
        state.withLock { $0.closed = true }
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        if head.status != .ok {
            finish("the ledger server answered \(head.status.code) to \(what)", satisfied: false)
            task.cancel()
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ part: ByteBuffer) -> EventLoopFuture<Void> {
        let payloads = state.withLock { s -> [Data] in
            guard !s.closed else { return [] }
            s.buffer += part.readableBytesView
            return ServerSentEvents.take(&s.buffer)
        }
        for payload in payloads where state.withLock({ !$0.closed }) && !handle(payload) {
            finish(nil, satisfied: true)
            task.cancel()
            break
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        finish("\(what) broke off: \(error)", satisfied: false)
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        finish("\(what) ended", satisfied: false)
    }

    private func finish(_ failure: String?, satisfied: Bool) {
        let first = state.withLock { s -> Bool in
            defer { s.finished = true }
            if !s.finished {
                s.failure = failure
                s.satisfied = satisfied
            }
            return !s.finished
        }
        if first { done.signal() }
    }
}

/// Server-sent events as the ledger server writes them: each event ends with a blank line, and
/// its `data:` line holds one JSON object.
enum ServerSentEvents {
    /// The data of every whole event at the front of `buffer`, which keeps what is left.
    static func take(_ buffer: inout [UInt8]) -> [Data] {
        var payloads: [Data] = []
        while let end = (0..<max(0, buffer.count - 1)).first(where: { buffer[$0] == 10 && buffer[$0 + 1] == 10 }) {
            let event = String(decoding: buffer[0..<end], as: UTF8.self)
            buffer.removeFirst(end + 2)
            for line in event.split(separator: "\n") where line.hasPrefix("data:") {
                payloads.append(Data(line.dropFirst(5).utf8))
            }
        }
        return payloads
    }
}
