import Foundation
import GRDB
import LedgerServer
import Testing

/// The ledger server and a terminal as separate processes on loopback: the server is killed
/// (SIGKILL) while the terminal forwards its offline payments one batch at a time, and started
/// again on the same port. The terminal backs off and goes on; every payment it approved is in
/// the ledger exactly once, and the audit passes.
@Suite("Ledger server faults", .serialized) struct ServerFaultTests {
    @Test("the server killed mid-sync and restarted: each approved payment settled exactly once")
    func killedMidSync() throws {
        let ledger = try CLI(), terminal = try CLI()
        let merchant = try ledger.run(["merchant", "create", "--name", "Tea", "--city", "Hangzhou", "--mcc", "5812"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wallet = try ledger.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try ledger.run(["wallet", "deposit", wallet, "1000.00"]).status == 0)
        let issuerKey = try ledger.run(["ledger", "issuer-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let terminalKey = try terminal.run(["terminal", "key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try Data("[{\"id\":\"T7\",\"merchant\":\"\(merchant)\",\"public_key\":\"\(terminalKey)\"}]".utf8)
            .write(to: URL(fileURLWithPath: ledger.path("terminals.json")))

        // Twelve offline payments of 5.00 at the terminal, cut off from the ledger.
        let count = 16
        for i in 0..<count {
            let code = try ledger.run(["wallet", "token", wallet] + (i == 0 ? ["--allowance", "200.00"] : []))
            #expect(code.status == 0, "\(code.stderr)")
            let paid = try terminal.run(["charge", "--database", ledger.path("ledger.sqlite"), "--merchant", merchant, "--terminal-id", "T7",
                                         "--issuer-key", issuerKey, "--amount", "5.00",
                                         "--code", code.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
            #expect(paid.status == 0, "\(paid.stderr)")
        }

        var server = try ServerProcess(executable: CLI.executable, home: ledger.home.path, terminals: ledger.path("terminals.json"), port: 0)
        let port = server.port
        // Forward one payment a batch, with patience; kill the server after the first few.
        let push = Process()
        push.executableURL = CLI.executable
        push.arguments = ["sync", "push", "--home", terminal.home.path, "--terminal-id", "T7", "--server", "http://127.0.0.1:\(port)",
                          "--batch-size", "1", "--attempts", "8", "--timeout", "2", "--json"]
        let out = Pipe()
        push.standardOutput = out
        push.standardError = FileHandle.nullDevice
        try push.run()
        // Kill the server as soon as the first payments are acknowledged, while the rest wait.
        let journal = try DatabaseQueue(path: terminal.path("journal.sqlite"), configuration: { var c = Configuration(); c.readonly = true; return c }())
        let deadline = Date().addingTimeInterval(20)
        while try journal.read({ try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM entry WHERE offline = 1 AND synced_at IS NULL") ?? 0 }) == count,
              Date() < deadline {
            usleep(1_000)
        }
        server.kill()
        let waitingAtKill = try journal.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM entry WHERE offline = 1 AND synced_at IS NULL") ?? 0 }
        #expect(waitingAtKill > 0 && waitingAtKill < count, "killed mid-sync")
        Thread.sleep(forTimeInterval: 0.8)
        server = try ServerProcess(executable: CLI.executable, home: ledger.home.path, terminals: ledger.path("terminals.json"), port: port)
        let report = out.fileHandleForReading.readDataToEndOfFile()
        push.waitUntilExit()
        server.kill()
        #expect(push.terminationStatus == 0, "\(String(decoding: report, as: UTF8.self))")
        let forwarded = try #require(try JSONSerialization.jsonObject(with: report) as? [String: Any])
        #expect(forwarded["settled"] as? Int == count)
        #expect((forwarded["retries"] as? Int ?? 0) >= 1, "the kill landed mid-sync: \(forwarded)")

        let status = try terminal.json(try #require(try terminal.run(["sync", "status", "--json"]).lines.first))
        #expect(status["unsynced_count"] as? Int == 0)
        let balance = try ledger.json(try #require(try ledger.run(["wallet", "balance", merchant, "--json"]).lines.first))
        #expect(balance["balance"] as? String == "80.00", "sixteen payments of 5.00, each once")
        #expect(try ledger.run(["ledger", "audit"]).status == 0)
    }
}
