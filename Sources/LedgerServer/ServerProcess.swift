import Foundation

/// `qrpos ledger serve` as a child process, for the benchmark and the tests that need the server
/// apart from themselves: started on `port` (0: any free one), ready once it printed where it
/// listens.
public final class ServerProcess: @unchecked Sendable {
    public let process = Process()
    public let port: Int

    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    public convenience init(executable: URL, home: String, terminals: String, port: Int, database: String? = nil, wallets: String? = nil,
                            extra: [String] = [], stderr: FileHandle? = nil) throws {
        try self.init(executable: executable, arguments: ["ledger", "serve", "--home", home, "--port", String(port), "--terminals", terminals]
                          + (database.map { ["--database", $0] } ?? []) + (wallets.map { ["--wallets", $0] } ?? []) + extra, stderr: stderr)
    }

    /// Any `qrpos` command that prints {"listening": PORT} once it accepts connections (`ledger
    /// serve`, `ledger proxy`, `till --headless`); its stderr goes to `stderr` (discarded when
    /// nil); `environment` is added to the test's own.
    public init(executable: URL, arguments: [String], stderr: FileHandle? = nil, environment: [String: String] = [:]) throws {
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = stderr ?? FileHandle.nullDevice
        try process.run()
        // The first line is {"listening": PORT} once it accepts connections.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw Failed(description: "qrpos \(arguments.prefix(2).joined(separator: " ")) stopped before it listened") }
            line += chunk
        }
        let object = try JSONSerialization.jsonObject(with: line.prefix { $0 != UInt8(ascii: "\n") }) as? [String: Any]
        guard let bound = object?["listening"] as? Int else { throw Failed(description: "qrpos \(arguments.prefix(2).joined(separator: " ")) said \(String(decoding: line, as: UTF8.self))") }
        self.port = bound
    }

    /// SIGKILL: no chance to finish anything.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM: a graceful stop.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}
