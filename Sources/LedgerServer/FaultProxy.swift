import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SeededRandom
import Synchronization

/// A fault-injecting HTTP proxy for the link between terminals and the ledger server
/// (`qrpos ledger proxy`): it reads each HTTP/1.1 request whole, then passes it on, delays it,
/// loses it, loses the answer after the server acted on it, or sends it twice; with several
/// terminals, a delayed request is overtaken by later ones (reordering). Faults follow a script
/// (one action a request, in order, then `pass`) or a seeded random mix, so a failing run can be
/// repeated. Every action is reported as one JSON line.
///
/// Each request goes to the server on its own connection (`Connection: close`), so one request's
/// fault never touches another's.
public final class FaultProxy: Sendable {
    public enum Action: Sendable, Equatable, CustomStringConvertible {
        case pass
        /// Hold the request this long before passing it on.
        case delay(milliseconds: Int)
        /// Close the terminal's connection without passing the request on: the server never sees it.
        case dropRequest
        /// Pass it on, wait for the server's answer, then close the terminal's connection
        /// without it: the server acted, the terminal does not know.
        case dropAnswer
        /// Pass it on twice, the second copy after the first was answered; the terminal gets the
        /// first answer.
        case duplicate

        public var description: String {
            switch self {
            case .pass: "pass"
            case .delay(let ms): "delay:\(ms)"
            case .dropRequest: "drop-request"
            case .dropAnswer: "drop-answer"
            case .duplicate: "duplicate"
            }
        }

        /// `pass`, `delay:MS`, `drop-request`, `drop-answer`, `duplicate`.
        public init?(_ text: String) {
            switch text {
            case "pass": self = .pass
            case "drop-request": self = .dropRequest
            case "drop-answer": self = .dropAnswer
            case "duplicate": self = .duplicate
            default:
                guard text.hasPrefix("delay:"), let ms = Int(text.dropFirst(6)), (0...600_000).contains(ms) else { return nil }
                self = .delay(milliseconds: ms)
            }
        }
    }

    /// How the proxy picks each request's action.
    public enum Plan: Sendable {
        /// These actions for the first requests, in order; `pass` after.
        case script([Action])
        /// Each request independently: drop-request, drop-answer, duplicate and delay with these
        /// probabilities (per mille), pass otherwise; delays up to `delayMaxMillis`.
        case random(seed: UInt64, dropRequest: Int, dropAnswer: Int, duplicate: Int, delay: Int, delayMaxMillis: Int)
    }

    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    private let listener: Int32
    public let port: Int
    private let upstreamHost: String
    private let upstreamPort: Int
    private let state: Mutex<(plan: Plan, served: Int, random: SplitMix64)>
    private let match: String?
    private let report: @Sendable (String) -> Void

    /// Listens on 127.0.0.1:`port` (0: any free port) and forwards to `upstreamHost:upstreamPort`.
    /// With `match`, only requests whose request line contains it ("POST /v1/sync") count for
    /// the plan; the others pass.
    public init(port: Int, upstreamHost: String, upstreamPort: Int, plan: Plan, match: String? = nil,
                report: @escaping @Sendable (String) -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failed(description: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: port)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw Failed(description: "cannot listen on 127.0.0.1:\(port): \(why)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        let seed: UInt64 = if case .random(let s, _, _, _, _, _) = plan { s } else { 0 }
        state = Mutex((plan, 0, SplitMix64(seed: seed)))
        self.match = match
        self.report = report
    }

    /// Accepts connections until the process ends, each on its own thread.
    public func run() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    // MARK: One terminal connection

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffered: [UInt8] = []
        while let request = Self.readRequest(client, buffered: &buffered) {
            let line = request.head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? "?"
            let (number, action) = match.map { line.contains($0) } ?? true ? nextAction() : (0, .pass)
            report("{\"request\":\(number),\"action\":\"\(action)\",\"line\":\"\(line.replacingOccurrences(of: "\"", with: "'"))\"}")
            /// Passes the request on and, for a fault, says what the server answered and when
            /// (a delayed request may reach it after later ones: reordered).
            func delivered() -> [UInt8]? {
                let answer = forward(request)
                if action != .pass {
                    let status = answer.flatMap { String(decoding: $0.prefix(16), as: UTF8.self).split(separator: " ").dropFirst().first }
                    report("{\"request\":\(number),\"delivered\":\(status.flatMap { Int($0) } ?? 0),\"at\":\(Int64(Date().timeIntervalSince1970 * 1000))}")
                }
                return answer
            }
            switch action {
            case .pass:
                guard let answer = delivered(), Self.writeAll(client, answer) else { return }
            case .delay(let ms):
                Thread.sleep(forTimeInterval: Double(ms) / 1000)
                guard let answer = delivered(), Self.writeAll(client, answer) else { return }
            case .dropRequest:
                return
            case .dropAnswer:
                _ = delivered()
                return
            case .duplicate:
                guard let answer = delivered() else { return }
                _ = delivered()
                guard Self.writeAll(client, answer) else { return }
            }
        }
    }

    private func nextAction() -> (Int, Action) {
        state.withLock { s in
            s.served += 1
            switch s.plan {
            case .script(let actions):
                return (s.served, s.served <= actions.count ? actions[s.served - 1] : .pass)
            case .random(_, let dropRequest, let dropAnswer, let duplicate, let delay, let delayMax):
                let roll = Int(s.random.next() % 1000)
                let action: Action = switch roll {
                case ..<dropRequest: .dropRequest
                case ..<(dropRequest + dropAnswer): .dropAnswer
                case ..<(dropRequest + dropAnswer + duplicate): .duplicate
                case ..<(dropRequest + dropAnswer + duplicate + delay): .delay(milliseconds: Int(s.random.next() % UInt64(max(1, delayMax))))
                default: .pass
                }
                return (s.served, action)
            }
        }
    }

    /// Sends the request to the server on a new connection and returns its whole answer; nil
    /// when the server cannot be reached or closes without one.
    private func forward(_ request: Request) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = Self.loopback(port: upstreamPort, host: upstreamHost)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        // The same request, asking the server to close after answering: the answer ends at EOF.
        var head = request.head.split(separator: "\r\n", omittingEmptySubsequences: false)
            .filter { !$0.lowercased().hasPrefix("connection:") }.joined(separator: "\r\n")
        head += "\r\nConnection: close\r\n\r\n"
        guard Self.writeAll(fd, Array(head.utf8) + request.body) else { return nil }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            answer += chunk[0..<n]
        }
        return answer.isEmpty ? nil : answer
    }

    // MARK: HTTP framing

    struct Request {
        /// The request line and headers, without the blank line that ends them.
        let head: String
        let body: [UInt8]
    }

    /// One request from the connection (headers, then Content-Length bytes of body); nil at
    /// EOF, on an error, or on a request this proxy does not frame (chunked bodies).
    static func readRequest(_ fd: Int32, buffered: inout [UInt8]) -> Request? {
        let blank: [UInt8] = [13, 10, 13, 10]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        func more() -> Bool {
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                buffered += chunk[0..<n]
                return true
            }
        }
        var end: Int?
        while end == nil {
            end = buffered.count >= 4 ? (0...(buffered.count - 4)).first { buffered[$0..<($0 + 4)].elementsEqual(blank) } : nil
            if end == nil {
                guard buffered.count < 64 << 10, more() else { return nil }
            }
        }
        let head = String(decoding: buffered[0..<end!], as: UTF8.self)
        var length = 0
        for line in head.split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].lowercased()
            if name == "transfer-encoding" { return nil }
            if name == "content-length", let n = Int(parts[1].trimmingCharacters(in: .whitespaces)), n >= 0, n <= 16 << 20 { length = n }
        }
        let start = end! + 4
        while buffered.count < start + length {
            guard more() else { return nil }
        }
        let body = Array(buffered[start..<(start + length)])
        buffered.removeFirst(start + length)
        return Request(head: head, body: body)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    static func loopback(port: Int, host: String = "127.0.0.1") -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return address
    }
}
