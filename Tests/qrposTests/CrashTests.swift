import Foundation
import GRDB
import Testing

/// Kills `qrpos ledger stress` with SIGKILL at seeded random moments while it writes, restarts
/// it on the same ledger with the same stream, and checks after every kill: every transfer it
/// acknowledged is in the ledger, the audit passes (balances equal their transfers, holds
/// resolved once, debits equal credits), and a restart applies nothing twice (the retried ids
/// come back as the same transfers). A failing seed is named in the message.
@Suite struct CrashTests {
    @Test(arguments: [101, 202] as [UInt64])
    func killedAtRandomMomentsTheLedgerLosesAndDoublesNothing(seed: UInt64) throws {
        let cli = try CLI()
        let database = cli.path("crash.sqlite")
        var rng = seed
        func next() -> UInt64 {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return rng >> 33
        }
        var acknowledged = Set<String>()
        var killed = 0
        for round in 0..<10 {
            let process = Process()
            process.executableURL = CLI.executable
            process.arguments = ["ledger", "stress", "--database", database, "--seed", "\(seed)", "--batches", "3000"]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Somewhere between opening the ledger and the middle of the stream.
            Thread.sleep(forTimeInterval: Double(20 + next() % 400) / 1_000)
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killed += 1
            }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("ack ") {
                acknowledged.insert(String(line.split(separator: " ")[1]))
            }
            let stored = try DatabaseQueue(path: database).read { db in Set(try String.fetchAll(db, sql: "SELECT id FROM transfer")) }
            let lost = acknowledged.subtracting(stored)
            #expect(lost.isEmpty, "seed \(seed), round \(round): acknowledged but lost: \(lost.sorted().prefix(5))")
            let audit = try cli.run(["ledger", "audit", "--database", database])
            #expect(audit.status == 0, "seed \(seed), round \(round): \(audit.stdout)\(audit.stderr)")
            if !lost.isEmpty || audit.status != 0 { return }
        }
        #expect(killed >= 5, "the kills landed while it was writing")
        // The whole stream once more, to the end: every transfer is found or made once.
        let final = try cli.run(["ledger", "stress", "--database", database, "--seed", "\(seed)", "--batches", "3000"])
        #expect(final.status == 0)
        let acks = final.lines.filter { $0.hasPrefix("ack ") }.map { $0.split(separator: " ").map(String.init) }
        #expect(Set(acks.map { $0[1] }).count == acks.count, "an id acknowledged twice in one run")
        // What committed before a kill is found, never made again.
        let remade = acks.filter { acknowledged.contains($0[1]) && $0[2] != "exists" }
        #expect(remade.isEmpty, "seed \(seed): applied twice: \(remade.prefix(5))")
        #expect(acks.contains { $0[2] == "exists" } && acks.contains { $0[2] == "new" })
        let (stored, count) = try DatabaseQueue(path: database).read { db in
            (Set(try String.fetchAll(db, sql: "SELECT id FROM transfer")), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM transfer") ?? 0)
        }
        #expect(acknowledged.subtracting(stored).isEmpty)
        #expect(stored.isSuperset(of: acks.map { $0[1] }))
        #expect(stored.count == count)
        #expect(try cli.run(["ledger", "audit", "--database", database]).status == 0)
        #expect(acks.count > 500)
    }
}
