import Foundation
import Testing

/// Runs the built `qrpos` executable, as a user or a rig would.
struct CLI {
    /// The executable beside the test bundle (SwiftPM builds both into the same folder).
    static let executable: URL = {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        // On Linux the runner is `<bin>/qrposPackageTests.xctest`; walk up until qrpos is beside us.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("qrpos")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/qrpos")
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    let home: URL
    /// Set for every command this CLI runs (QRPOS_DATABASE, say).
    var environment: [String: String] = [:]

    init() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    /// Runs `qrpos args…` with this test's own home folder.
    @discardableResult
    /// `under` runs it through another program (`faketime -f +600s`, say).
    func run(_ args: [String], stdin: Data? = nil, environment: [String: String] = [:], under wrapper: [String] = []) throws -> Result {
        let process = Process()
        if let tool = wrapper.first {
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = Array(wrapper.dropFirst()) + [CLI.executable.path] + args
        } else {
            process.executableURL = CLI.executable
            process.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        env["QRPOS_HOME"] = home.path
        for (k, v) in self.environment.merging(environment, uniquingKeysWith: { $1 }) { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read before waiting, so a large output cannot fill the pipe and stall the child.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Starts `qrpos args…` with this home and returns it running, its output discarded: for a
    /// test that kills it.
    func start(_ args: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = args
        process.environment = ProcessInfo.processInfo.environment.merging(["QRPOS_HOME": home.path].merging(environment) { $1 }) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func json(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func path(_ name: String) -> String { home.appendingPathComponent(name).path }

    /// A fresh embedded ledger (a CLI of its own) with a merchant called `name` and a wallet
    /// holding `funds`.
    static func shop(_ name: String, mcc: String = "5812", funds: String = "500.00") throws -> (cli: CLI, merchant: String, wallet: String) {
        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", name, "--city", "Hangzhou", "--mcc", mcc]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wallet = try cli.run(["wallet", "create", "--name", "Ma"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, funds]).status == 0)
        return (cli, merchant, wallet)
    }

    /// A fresh one-time payment code of `wallet` (from this CLI's ledger).
    func paymentCode(_ wallet: String) throws -> String {
        let line = try #require(try run(["wallet", "code", wallet, "--json"]).lines.first)
        return try #require(try json(line)["code"] as? String)
    }
}
