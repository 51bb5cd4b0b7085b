import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Ledger
import Payments
import Synchronization

/// The terminal's client of a ledger server (`qrpos ledger serve`): every request signed with
/// the terminal's key (``RequestSignature``) and answered within a timeout.
///
/// - `POST /v1/sync` (``OfflineSettler``): a network failure, a timeout or a 5xx throws, and the
///   ``Forwarder`` sends the batch again later with the same ids; a 4xx is thrown too, with the
///   server's reason.
/// - `POST /v1/authorize` (``OnlineAuthorizer``): no answer in time throws
///   ``OnlineAuthorizerUnreachable``, and the checkout falls back to the offline rules.
public struct LedgerClient: OfflineSettler, OnlineAuthorizer {
    public let server: URL
    public let terminalID: String
    public let key: TerminalKey
    public let timeoutSeconds: Double

    public init(server: URL, terminalID: String, key: TerminalKey, timeoutSeconds: Double = 10) {
        self.server = server
        self.terminalID = terminalID
        self.key = key
        self.timeoutSeconds = timeoutSeconds
    }

    public struct Failed: Error, CustomStringConvertible {
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
        do { (status, data) = try send(method: "POST", path: "/v1/authorize", body: body) } catch {
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
        let (status, data) = try send(method: "GET", path: "/v1/terminal", body: [])
        guard status == 200 else {
            throw Failed(description: "the ledger server answered \(status): \(String(decoding: data, as: UTF8.self).prefix(200))")
        }
        return try JSONDecoder().decode(TerminalConfigWire.self, from: data)
    }

    /// One signed request; the status and body of the answer.
    public func send(method: String, path: String, body: [UInt8]) throws -> (Int, Data) {
        guard let url = URL(string: path, relativeTo: server) else { throw Failed(description: "bad path \(path)") }
        var request = URLRequest(url: url, timeoutInterval: timeoutSeconds)
        request.httpMethod = method
        if !body.isEmpty {
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in try RequestSignature.headers(terminal: terminalID, key: key, method: method, path: url.path, body: body,
                                                          time: UnixTime.nowMillis()) {
            request.setValue(value, forHTTPHeaderField: name)
        }
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<(Int, Data), any Error>?>(nil)
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.withLock { o in
                if let error {
                    o = .failure(Failed(description: "the ledger server cannot be reached: \(error.localizedDescription)"))
                } else if let http = response as? HTTPURLResponse {
                    o = .success((http.statusCode, data ?? Data()))
                } else {
                    o = .failure(Failed(description: "the ledger server gave no HTTP answer"))
                }
            }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            task.cancel()
            throw Failed(description: "the ledger server did not answer within \(timeoutSeconds) s")
        }
        return try outcome.withLock { $0! }.get()
    }
}
