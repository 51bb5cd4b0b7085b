import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a receipt printer is, as a URL wherever one is chosen: `file:/dev/usb/lp0` (a device
/// file), `tcp://HOST:9100` (a network printer's raw port), `cups:QUEUE` (a CUPS queue, sent raw).
public enum PrinterAddress: Sendable, Equatable, CustomStringConvertible {
    case file(String)
    case tcp(host: String, port: Int)
    case cups(String)

    public init(_ url: String) throws(PrinterError) {
        if url.hasPrefix("file:") {
            let path = String(url.dropFirst(5))
            guard path.hasPrefix("/") else { throw PrinterError("a printer file is an absolute path: file:/dev/usb/lp0, not \(url)") }
            self = .file(path)
        } else if url.hasPrefix("cups:") {
            let queue = String(url.dropFirst(5))
            guard !queue.isEmpty, queue.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw PrinterError("a CUPS queue is letters, digits, '-', '_' or '.': cups:QUEUE, not \(url)")
            }
            self = .cups(queue)
        } else if url.hasPrefix("tcp://") {
            let rest = url.dropFirst(6)
            let parts = rest.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port), !parts[0].isEmpty else {
                throw PrinterError("a network printer is tcp://HOST:PORT (raw printing is port 9100), not \(url)")
            }
            self = .tcp(host: String(parts[0]), port: port)
        } else {
            throw PrinterError("a printer is file:PATH, tcp://HOST:9100 or cups:QUEUE, not \(url)")
        }
    }

    public var description: String {
        switch self {
        case .file(let path): "file:\(path)"
        case .tcp(let host, let port): "tcp://\(host):\(port)"
        case .cups(let queue): "cups:\(queue)"
        }
    }
}

/// Why a receipt did not reach the paper, in words a cashier can act on.
public struct PrinterError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sends ESC/POS bytes to a printer, within a timeout: a printer that is off, unplugged, out of
/// paper (it stops taking bytes) or drops the link gets a clear error, and nothing is retried
/// here (the receipt stays in the journal; printing again is the caller's choice).
public struct Printer: Sendable {
    public let address: PrinterAddress
    public let timeoutSeconds: Double

    public init(_ address: PrinterAddress, timeoutSeconds: Double = 10) {
        self.address = address
        self.timeoutSeconds = timeoutSeconds
    }

    public func send(_ bytes: [UInt8]) throws(PrinterError) {
        switch address {
        case .file(let path): try sendToFile(path, bytes)
        case .tcp(let host, let port): try sendOverTCP(host, port, bytes)
        case .cups(let queue): try sendToCUPS(queue, bytes)
        }
    }

    /// Whether the printer is there to take a receipt, without printing anything: its device
    /// file opens, its TCP port accepts, or CUPS knows its queue and has it enabled. A kiosk asks
    /// this while its printer is failing, to know when it is back.
    public func probe() throws(PrinterError) {
        switch address {
        case .file, .tcp: try send([])
        case .cups(let queue):
            let lpstat = try Self.cupsCommand("lpstat", for: queue)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: lpstat)
            process.arguments = ["-p", queue]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            do { try process.run() } catch { throw PrinterError("cannot run lpstat for cups:\(queue): \(error)") }
            let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0, !said.contains("disabled") else {
                throw PrinterError("CUPS queue \(queue) cannot print: \(said.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
    }

    // MARK: A device file

    private func sendToFile(_ path: String, _ bytes: [UInt8]) throws(PrinterError) {
        // No O_CREAT: a printer that is unplugged has no device file, and must not become one.
        let fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let why = errno == ENOENT ? "it is not there (unplugged?)" : String(cString: strerror(errno))
            throw PrinterError("cannot open the printer \(path): \(why)")
        }
        defer { close(fd) }
        try writeAll(fd, bytes, to: "the printer \(path)")
    }

    // MARK: TCP port 9100

    private func sendOverTCP(_ host: String, _ port: Int, _ bytes: [UInt8]) throws(PrinterError) {
        let name = "the printer at \(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else {
            throw PrinterError("cannot find \(name): no such host")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
        guard fd >= 0 else { throw PrinterError("cannot reach \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw connectFailure(errno, name) }
            guard wait(fd, events: Int16(POLLOUT)) else { throw PrinterError("\(name) did not answer within \(timeoutSeconds) s: is it on?") }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw connectFailure(error, name) }
        }
        try writeAll(fd, bytes, to: name)
        // Everything sent: close our side and let the printer finish.
        shutdown(fd, Int32(SHUT_WR))
    }

    private func connectFailure(_ code: Int32, _ name: String) -> PrinterError {
        code == ECONNREFUSED ? PrinterError("\(name) refused the connection: is it on, and is raw printing (port 9100) enabled?")
            : PrinterError("cannot reach \(name): \(String(cString: strerror(code)))")
    }

    // MARK: CUPS

    private func sendToCUPS(_ queue: String, _ bytes: [UInt8]) throws(PrinterError) {
        let lp = try Self.cupsCommand("lp", for: queue)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: lp)
        process.arguments = ["-d", queue, "-o", "raw", "-s"]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        do {
            try process.run()
            input.fileHandleForWriting.write(Data(bytes))
            try input.fileHandleForWriting.close()
        } catch {
            throw PrinterError("cannot run lp for cups:\(queue): \(error)")
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PrinterError("CUPS refused the receipt for cups:\(queue): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// The path of CUPS's client command `name` (lp, lpstat).
    private static func cupsCommand(_ name: String, for queue: String) throws(PrinterError) -> String {
        guard let path = ["/usr/bin/", "/bin/"].map({ $0 + name }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw PrinterError("cannot reach cups:\(queue): CUPS's \(name) command is not installed (apt install cups-client)")
        }
        return path
    }

    // MARK: Writing with a timeout

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], to name: String) throws(PrinterError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            let written = n >= 0 ? n : (errno == ENOTSOCK ? bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } : n)
            if written > 0 {
                sent += written
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN:
                // The printer takes no more: off line, out of paper, or its buffer is full.
                guard wait(fd, events: Int16(POLLOUT)) else {
                    throw PrinterError("\(name) stopped taking the receipt after \(sent) of \(bytes.count) bytes for \(timeoutSeconds) s: out of paper, or off?")
                }
            case EPIPE, ECONNRESET:
                throw PrinterError("\(name) dropped the connection after \(sent) of \(bytes.count) bytes: the receipt is not printed whole")
            default:
                throw PrinterError("writing to \(name) failed after \(sent) of \(bytes.count) bytes: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Waits until `fd` is ready for `events`, at most the timeout.
    private func wait(_ fd: Int32, events: Int16) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let ready = poll(&entry, 1, Int32(timeoutSeconds * 1000))
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }
}
