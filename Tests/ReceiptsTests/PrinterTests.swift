import Foundation
#if canImport(Glibc)
import Glibc
#endif
import QrposTestSupport
import Receipts
import Synchronization
import Testing

/// A network printer's raw port on loopback, as the suite's stand-in: it reads what it is sent
/// (`reads`), or takes the connection and never reads (`stalls`: its buffers fill, as a printer
/// out of paper does), or closes it at once (`drops`).
final class FakeNetworkPrinter: @unchecked Sendable {
    enum Behaviour { case reads, stalls, drops }
    let port: Int
    private let listener: Int32
    let received = Mutex<[UInt8]>([])
    private let done = DispatchSemaphore(value: 0)

    init(_ behaviour: Behaviour) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if behaviour == .stalls {
            // Small buffers from the start (an accepted socket inherits them): it fills at once.
            var small: Int32 = 4_096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: bound.sin_port))
        listener = fd
        Thread { [self] in
            // Again when a signal interrupts the wait (the suite's child processes end all the
            // time): a printer that gave up here closed its port, and the test saw "refused".
            func next() -> Int32 {
                var client: Int32
                repeat { client = accept(fd, nil, nil) } while client < 0 && errno == EINTR
                return client
            }
            var client = next()
            switch behaviour {
            case .drops:
                // Every connection, not only the first: a stray one (another test probing a port
                // it thinks free) must not use up this printer before the test's own arrives.
                for _ in 0..<8 where client >= 0 {
                    var linger = linger(l_onoff: 1, l_linger: 0)     // a reset, as a printer switched off mid-job
                    setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                    close(client)
                    done.signal()
                    client = next()
                }
            case .stalls:
                Thread.sleep(forTimeInterval: 5)
                close(client)
            case .reads:
                var chunk = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                    guard n > 0 else { break }
                    received.withLock { $0 += chunk[0..<n] }
                }
                close(client)
            }
            done.signal()
        }.start()
    }

    func waitUntilDone() { _ = done.wait(timeout: .now() + 10) }
    deinit { close(listener) }
}

@Suite("Printers: a device file, TCP 9100, CUPS; every failure said plainly", .serialized)
struct PrinterTests {
    let job: [UInt8] = try! EscPos.render(try! Fixtures.key.sign(Fixtures.sale), profile: .epson80).bytes

    @Test("printer URLs: file:, tcp://, cups:, and anything else refused with the forms it takes")
    func addresses() throws {
        #expect(try PrinterAddress("file:/dev/usb/lp0") == .file("/dev/usb/lp0"))
        #expect(try PrinterAddress("tcp://10.0.0.7:9100") == .tcp(host: "10.0.0.7", port: 9100))
        #expect(try PrinterAddress("cups:Receipts_1") == .cups("Receipts_1"))
        for bad in ["lp0", "file:lp0", "tcp://printer", "tcp://printer:0", "cups:", "cups:a b", "http://x"] {
            #expect(throws: PrinterError.self, "\(bad)") { try PrinterAddress(bad) }
        }
    }

    @Test("a network printer gets the whole job")
    func tcpPrinter() throws {
        let printer = try FakeNetworkPrinter(.reads)
        try Printer(try PrinterAddress("tcp://127.0.0.1:\(printer.port)"), timeoutSeconds: 5).send(job)
        printer.waitUntilDone()
        #expect(printer.received.withLock { $0 } == job)
    }

    @Test("a printer that is off, one that stalls, one that drops the connection: each a clear error")
    func tcpFailures() throws {
        // Off: nothing listens on the port (one bound a moment ago and closed, no thread left on it).
        let port = freeLoopbackPort()
        #expect(throws: PrinterError.self) { try Printer(.tcp(host: "127.0.0.1", port: port), timeoutSeconds: 2).send(job) }
        do {
            try Printer(.tcp(host: "127.0.0.1", port: port), timeoutSeconds: 2).send(job)
        } catch {
            #expect(error.description.contains("refused the connection"), "\(error)")
        }

        let stalling = try FakeNetworkPrinter(.stalls)
        let big = job + [UInt8](repeating: 0x0A, count: 32 << 20)
        let clock = ContinuousClock(), began = clock.now
        do {
            try Printer(.tcp(host: "127.0.0.1", port: stalling.port), timeoutSeconds: 1).send(big)
            Issue.record("a stalled printer took 32 MB")
        } catch {
            #expect(error.description.contains("stopped taking the receipt"), "\(error)")
        }
        #expect(clock.now - began < .seconds(4), "the timeout holds")

        // (A long timeout: the reset must be what ends it, even on a loaded machine.)
        let dropping = try FakeNetworkPrinter(.drops)
        do {
            try Printer(.tcp(host: "127.0.0.1", port: dropping.port), timeoutSeconds: 15).send(big)
            Issue.record("a dropped connection took the job")
        } catch {
            #expect(error.description.contains("dropped the connection") || error.description.contains("failed after"), "\(error)")
            #expect(error.description.contains("of \(big.count) bytes"), "it says the receipt is not printed whole: \(error)")
        }
    }

    @Test("a device file gets the job; a missing one is 'not there', and is not created")
    func filePrinter() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-lp-\(UUID().uuidString)").path
        do {
            try Printer(.file(path)).send(job)
            Issue.record("printed to a device that is not there")
        } catch {
            #expect(error.description.contains("not there"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        try Printer(.file(path)).send(job)
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == job)
    }

    @Test("a CUPS queue: through lp and the real cupsd to the printer byte for byte, a stream the strict reader accepts; an unknown queue is a clear error")
    func cupsPrinter() throws {
        let socket = try TestCUPS.server.get()
        // lp and lpadmin find the project's scheduler through CUPS_SERVER, as on a till.
        setenv("CUPS_SERVER", socket, 1)
        let queue = "qrpos-" + UUID().uuidString.prefix(8).lowercased()
        let output = TestCUPS.outputFolder(socket) + "/\(queue).prn"
        _ = FileManager.default.createFile(atPath: output, contents: nil, attributes: [.posixPermissions: 0o666])
        defer { try? FileManager.default.removeItem(atPath: output) }
        func lpadmin(_ arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/lpadmin")
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        #expect(try lpadmin(["-p", queue, "-E", "-v", "qrpos-file:" + output, "-m", "raw"]) == 0)
        defer { _ = try? lpadmin(["-x", queue]) }

        let signed = try Fixtures.key.sign(Fixtures.sale)
        let bytes = try EscPos.render(signed, profile: .epson80).bytes
        try Printer(try PrinterAddress("cups:" + queue)).send(bytes)
        // The spooler prints in the background: wait for the whole job.
        let deadline = Date().addingTimeInterval(20)
        var printed: [UInt8] = []
        while Date() < deadline {
            printed = (try? Array(Data(contentsOf: URL(fileURLWithPath: output)))) ?? []
            if printed.count >= bytes.count { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(printed == bytes, "CUPS passed the job through untouched (\(printed.count) of \(bytes.count) bytes)")
        let stream = try PrintedStream(printed)
        #expect(stream.nativeQR.map { String(decoding: $0, as: UTF8.self) } == (try ReceiptCodec.stamp(signed)) && stream.endsWithCut)

        do {
            try Printer(try PrinterAddress("cups:qrpos-no-such-queue")).send(bytes)
            Issue.record("printed to a queue that does not exist")
        } catch {
            #expect(error.description.contains("cups:qrpos-no-such-queue") && error.description.contains("does not exist"), "\(error)")
        }
    }
}
