import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Payments
import Terminal
import Testing

/// How the terminal's client of the ledger server says "no answer": a server that is down is
/// known at once (the sale goes offline without waiting out its online timeout), one that takes
/// the request and never answers only at the timeout.
@Suite("The ledger client when the server is away") struct LedgerClientFailureTests {
    /// A loopback socket listening on a port of its own, which accepts into its backlog and never
    /// answers; closing it leaves the port refusing connections.
    final class Listener {
        let fd: Int32
        let port: Int
        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(bound == 0 && listen(fd, 16) == 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }
        func close() { _ = Glibc.close(fd) }
    }

    func client(_ port: Int, timeout: Double) -> LedgerClient {
        LedgerClient(server: URL(string: "http://127.0.0.1:\(port)")!, terminalID: "T1", key: TerminalKey(), timeoutSeconds: timeout)
    }

    @Test("a refused connection is 'cannot be reached' at once, well inside the timeout, and online authorization is then unreachable")
    func refusedAtOnce() throws {
        let gone = try Listener()
        gone.close()
        let began = ContinuousClock.now
        #expect { try client(gone.port, timeout: 5).send(method: "GET", path: "/v1/health", body: []) } throws: { error in
            "\(error)".contains("cannot be reached")
        }
        #expect(began.duration(to: .now) < .seconds(2), "not after the 5 s timeout")
        let again = ContinuousClock.now
        #expect(throws: OnlineAuthorizerUnreachable.self) {
            try client(gone.port, timeout: 5).authorize(id: UUIDv7.make(), merchant: "mer_x", amount: Money(minorUnits: 100, currency: .CNY),
                                                        code: "281234567890123452")
        }
        #expect(again.duration(to: .now) < .seconds(2))
    }

    @Test("a server that takes the request and never answers is 'did not answer within' its timeout")
    func silentTimesOut() throws {
        let silent = try Listener()
        defer { silent.close() }
        let began = ContinuousClock.now
        #expect { try client(silent.port, timeout: 0.5).send(method: "GET", path: "/v1/health", body: []) } throws: { error in
            "\(error)".contains("did not answer within 0.5 s")
        }
        let waited = began.duration(to: .now)
        #expect(waited >= .milliseconds(450) && waited < .seconds(5), "\(waited)")
    }
}
