import Barcodes
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Terminal

/// The till's control API, on loopback, for hardware-in-the-loop rigs and anything else that
/// drives a till by program: start a sale, present a code or a camera frame, show the merchant
/// QR, cancel, refund, read the state, and follow the events as JSON lines.
///
///     GET  /v1/state                       the till now (TillSession.Snapshot)
///     POST /v1/sales                       {"amount": "12.50"} or {"items": [{"sku": "SOY-500", "quantity": 2}]}
///     POST /v1/sales/current/code          {"code": "28…"}: charged; the answer is the state
///     POST /v1/sales/current/frame         an image (PNG or PGM) as the body: scanned with zbar, then charged
///     POST /v1/sales/current/qr            show the merchant QR instead (the state carries its payload)
///     POST /v1/sales/current/cancel
///     POST /v1/refunds                     {"receipt": "T1-000001", "amount": "1.00"}
///     POST /v1/sync                        a round with the ledger server now (forward, settle); the state after
///     GET  /v1/events?after=N&wait=S       events after N as JSON lines, waiting up to S seconds (≤ 30) for one
///     GET  /display                        the customer display (``CustomerDisplay``)
///
/// A command the till's state does not allow is 409 with `{"error": reason}` and changes
/// nothing; a body that is not what the route takes is 400.
public enum ControlServer {
    static let bodyBytesMax = 8 << 20

    struct SaleRequest: Decodable {
        struct Item: Decodable { let sku: String; let quantity: Int }
        let amount: String?
        let items: [Item]?
    }

    struct CodeRequest: Decodable { let code: String }
    struct RefundRequest: Decodable { let receipt: String; let amount: String }

    /// An answer with a status: `{"error": …}` bodies for refusals.
    struct Failure: Error, HTTPResponseError {
        let status: HTTPResponse.Status
        let reason: String

        func response(from request: Request, context: some RequestContext) throws -> Response {
            reply(["error": reason], status: status)
        }
    }

    public static func router(session: TillSession, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)

        router.get("v1/state") { _, _ in reply(session.snapshot) }

        router.post("v1/sales") { request, _ in
            let sale = try await decode(SaleRequest.self, request)
            return try await command(logger) {
                try session.startSale(amount: sale.amount, items: (sale.items ?? []).map { ($0.sku, $0.quantity) })
            }
        }

        router.post("v1/sales/current/code") { request, _ in
            let body = try await decode(CodeRequest.self, request)
            return try await command(logger) { try session.present(code: body.code) }
        }

        router.post("v1/sales/current/frame") { request, _ in
            let bytes = Array(buffer: try await request.body.collect(upTo: bodyBytesMax))
            let frame: LumaFrame
            do { frame = try ImageFile.read(bytes: bytes, name: "the posted frame") } catch {
                throw Failure(status: .badRequest, reason: "the body is not a PNG or PGM image: \(error)")
            }
            return try await command(logger) { try session.present(frame: frame) }
        }

        router.post("v1/sales/current/qr") { _, _ in try await command(logger) { try session.showQR() } }
        router.post("v1/sales/current/cancel") { _, _ in try await command(logger) { try session.cancel() } }

        router.post("v1/refunds") { request, _ in
            let body = try await decode(RefundRequest.self, request)
            return try await command(logger) { try session.refund(receipt: body.receipt, amount: body.amount) }
        }

        router.post("v1/sync") { _, _ in
            try await command(logger) { () throws -> TillSession.Snapshot in
                guard session.remote != nil else { throw TillSession.Refused(description: "this till works on the embedded ledger: nothing to sync") }
                session.sync()
                return session.snapshot
            }
        }

        router.get("v1/events") { request, _ in
            let after = request.uri.queryParameters.get("after", as: Int.self) ?? 0
            let wait = min(30, max(0, request.uri.queryParameters.get("wait", as: Double.self) ?? 0))
            let events = try await NIOThreadPool.singleton.runIfActive { session.events(after: after, timeout: wait) }
            var lines: [UInt8] = []
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for event in events {
                lines += Array(try encoder.encode(event))
                lines.append(0x0A)
            }
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: .init(byteBuffer: ByteBuffer(bytes: lines)))
        }
        CustomerDisplay.addRoutes(router, session: session)
        return router
    }

    /// The application on `host:port`; `onRunning` gets the port actually bound (port 0 picks one).
    public static func application(router: Router<BasicRequestContext>, host: String, port: Int, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "qrpos-till"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Runs a till command on the blocking pool; a refusal is 409 with its reason.
    static func command<T: Encodable & Sendable>(_ logger: Logger, _ body: @escaping @Sendable () throws -> T) async throws -> Response {
        let result = try await NIOThreadPool.singleton.runIfActive { () -> Result<T, Failure> in
            do { return .success(try body()) } catch let refused as TillSession.Refused {
                return .failure(Failure(status: .conflict, reason: refused.description))
            } catch {
                return .failure(Failure(status: .internalServerError, reason: "\(error)"))
            }
        }
        switch result {
        case .success(let value): return reply(value)
        case .failure(let failure):
            logger.notice("refused a till command", metadata: ["status": "\(failure.status.code)", "reason": "\(failure.reason)"])
            throw failure
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body = try await request.body.collect(upTo: 1 << 20)
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch {
            throw Failure(status: .badRequest, reason: "the body is not the JSON this route takes: \(error)")
        }
    }

    static func reply(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
