import Foundation
import GRDB
import LedgerServer
import Payments
import QrposTestSupport
import SeededRandom
import Synchronization
import Testing

/// A fleet on loopback, every part its own process: a ledger (its home, `qrpos ledger serve`), a
/// terminal (its own home and journal, `qrpos charge --server`), and between them, when a test
/// wants one, `qrpos ledger proxy` breaking the link.
final class Fleet: @unchecked Sendable {
    let ledger: CLI
    let terminal: CLI
    let merchant: String
    let wallet: String
    private(set) var server: ServerProcess
    private var proxy: ServerProcess?
    /// The PostgreSQL ledger the server serves (nil: the SQLite one in the ledger's home).
    let database: String?

    /// A second terminal of the same merchant, registered as T8.
    let other: CLI
    /// The wallet's phone, registered with the server by its key (`qrpos wallet key`).
    let phone: CLI

    /// More arguments for `qrpos ledger serve`.
    let serverArguments: [String]

    init(funds: String = "1000.00", database: String? = nil, serverArguments: [String] = []) throws {
        self.database = database
        self.serverArguments = serverArguments
        var ledger = try CLI()
        if let database { ledger.environment["QRPOS_DATABASE"] = database }
        self.ledger = ledger
        terminal = try CLI()
        other = try CLI()
        phone = try CLI()
        merchant = try ledger.run(["merchant", "create", "--name", "Tea", "--city", "Hangzhou", "--mcc", "5812"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        wallet = try ledger.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try ledger.run(["wallet", "deposit", wallet, funds]).status == 0)
        let keys = try [terminal, other].map { try $0.run(["terminal", "key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        try Data("[{\"id\":\"T7\",\"merchant\":\"\(merchant)\",\"public_key\":\"\(keys[0])\"},{\"id\":\"T8\",\"merchant\":\"\(merchant)\",\"public_key\":\"\(keys[1])\"}]".utf8)
            .write(to: URL(fileURLWithPath: ledger.path("terminals.json")))
        let phoneKey = try phone.run(["wallet", "key", wallet]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try Data("[{\"id\":\"\(wallet)\",\"public_key\":\"\(phoneKey)\"}]".utf8).write(to: URL(fileURLWithPath: ledger.path("wallets.json")))
        server = try ServerProcess(executable: CLI.executable, home: ledger.home.path, terminals: ledger.path("terminals.json"), port: 0,
                                   database: database, wallets: ledger.path("wallets.json"), extra: serverArguments)
        // The terminals learn their merchant and the issuer's key while the link is whole.
        for (cli, id) in [(terminal, "T7"), (other, "T8")] {
            let setup = try cli.run(["terminal", "setup", "--server", serverURL, "--terminal-id", id])
            #expect(setup.status == 0, "\(setup.stderr)")
        }
    }

    deinit {
        proxy?.kill()
        server.kill()
    }

    var serverURL: String { "http://127.0.0.1:\(server.port)" }

    /// Puts `qrpos ledger proxy` with these arguments (--script …, --random …) in front of the
    /// server; returns its URL.
    func startProxy(_ arguments: [String]) throws -> String {
        _ = FileManager.default.createFile(atPath: ledger.path("proxy.log"), contents: nil)
        let p = try ServerProcess(executable: CLI.executable, arguments: ["ledger", "proxy", "--upstream", serverURL] + arguments,
                                  stderr: FileHandle(forWritingAtPath: ledger.path("proxy.log")))
        proxy = p
        return "http://127.0.0.1:\(p.port)"
    }

    func stopServer() { server.kill() }

    func restartServer() throws {
        server = try ServerProcess(executable: CLI.executable, home: ledger.home.path, terminals: ledger.path("terminals.json"), port: server.port,
                                   database: database, wallets: ledger.path("wallets.json"), extra: serverArguments)
    }

    /// A fresh offline code from the wallet's phone (the first one reserves `allowance`).
    func offlineCode(allowance: String? = nil) throws -> String {
        let made = try ledger.run(["wallet", "token", wallet] + (allowance.map { ["--allowance", $0] } ?? []))
        #expect(made.status == 0, "\(made.stderr)")
        return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A sale at T7 (or T8 with `atOther`); `under` runs the command under another program
    /// (faketime, for a terminal whose clock is off).
    func charge(_ amount: String, code: String, via url: String, timeout: String = "1", id: String? = nil, atOther: Bool = false,
                under wrapper: [String] = []) throws -> CLI.Result {
        try (atOther ? other : terminal).run(["charge", "--server", url, "--terminal-id", atOther ? "T8" : "T7", "--online-timeout", timeout,
                                              "--amount", amount, "--code", code, "--json"] + (id.map { ["--id", $0] } ?? []),
                                             under: wrapper)
    }

    func push(via url: String, atOther: Bool = false) throws -> [String: Any] {
        let cli = atOther ? other : terminal
        let pushed = try cli.run(["sync", "push", "--server", url, "--terminal-id", atOther ? "T8" : "T7", "--attempts", "12", "--timeout", "2", "--json"])
        return try cli.json(try #require(pushed.lines.first, "\(pushed.stderr)"))
    }

    /// A terminal journal's entries (T7's, or T8's): id → (status, offline, amount in minor
    /// units, sync result, the ledger's payment id when it is not the sale's).
    func journal(atOther: Bool = false) throws -> [String: (status: String, offline: Bool, amount: Int64, synced: String?, payment: String?)] {
        let path = (atOther ? other : terminal).path("journal.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let db = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        return try db.read { db in
            var all: [String: (String, Bool, Int64, String?, String?)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, status, offline, amount, sync_result, payment FROM entry") {
                all[row[0]] = (row[1], row[2], row[3], row[4], row[5])
            }
            return all
        }
    }

    func merchantBalance() throws -> String {
        let line = try #require(try ledger.run(["wallet", "balance", merchant, "--json"]).lines.first)
        return try #require(try ledger.json(line)["balance"] as? String)
    }

    /// Every payment the terminal approved is in the ledger exactly once, and nothing else was
    /// paid to the merchant; the ledger's audit passes.
    func expectExactlyOnce(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let approved = try journal().merging(try journal(atOther: true)) { first, _ in first }.filter { $0.value.status == "approved" }
        let ids = Set(try ledger.run(["ledger", "ids"]).lines)
        for (sale, entry) in approved {
            let id = entry.payment ?? sale
            #expect(ids.contains(id) || ids.contains(id + ".wallet"), "approved sale \(sale) is not in the ledger", sourceLocation: sourceLocation)
        }
        let total = approved.values.reduce(Int64(0)) { $0 + $1.amount }
        #expect(try merchantBalance() == String(format: "%lld.%02lld", total / 100, total % 100),
                "the merchant holds each approved sale once", sourceLocation: sourceLocation)
        let audit = try ledger.run(["ledger", "audit"])
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)", sourceLocation: sourceLocation)
    }
}

@Suite("Online first, offline when the ledger is away", .serialized) struct OnlineFirstTests {
    @Test("the server on PostgreSQL: codes charged online and offline, a merchant QR paid by the phone, a refund; each once")
    func onPostgres() throws {
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let fleet = try Fleet(database: try TestPostgres.baseURL.get() + "?search_path=\(schema)")
        let online = try fleet.charge("12.00", code: try fleet.offlineCode(allowance: "100.00"), via: fleet.serverURL)
        #expect(online.status == 0, "\(online.stderr)")
        let once = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "code", fleet.wallet, "--json"]).lines.first))
        let byCode = try fleet.charge("3.00", code: try #require(once["code"] as? String), via: fleet.serverURL)
        #expect(byCode.status == 0, "a one-time code on PostgreSQL: \(byCode.stderr)")
        fleet.stopServer()
        let offline = try fleet.charge("8.00", code: try fleet.offlineCode(), via: fleet.serverURL)
        #expect(offline.status == 0, "\(offline.stderr)")
        try fleet.restartServer()
        #expect(try fleet.push(via: fleet.serverURL)["settled"] as? Int == 1)
        let (_, order, finish) = try fleet.showOrder("4.00", via: fleet.serverURL)
        let paid = try fleet.phone.run(["wallet", "pay", try #require(order["payload"] as? String), "--wallet", fleet.wallet, "--json",
                                        "--server", fleet.serverURL])
        #expect(paid.status == 0, "\(paid.stderr)")
        let (status, out, err) = finish()
        #expect(status == 0, "\(err)")
        try fleet.expectExactlyOnce()
        #expect(try fleet.merchantBalance() == "27.00")
        // A refund of the order's payment, through the terminal's ledger: back to the wallet.
        let receipt = try fleet.terminal.json(try #require(out.split(separator: "\n").first.map(String.init)))
        let refund = try fleet.ledger.run(["refund", try #require(receipt["payment_id"] as? String), "--amount", "4.00", "--merchant", fleet.merchant])
        #expect(refund.status == 0, "\(refund.stderr)")
        #expect(try fleet.merchantBalance() == "23.00")
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
    }

    @Test("the ledger answers: an offline code is charged online, a copy of it and an amount past the funds are declined")
    func answeredOnline() throws {
        let fleet = try Fleet(funds: "100.00")
        let code = try fleet.offlineCode(allowance: "50.00")
        let paid = try fleet.charge("12.00", code: code, via: fleet.serverURL)
        #expect(paid.status == 0, "\(paid.stderr)")
        let paidLine = try #require(paid.lines.first)
        let sale = try #require(try fleet.terminal.json(paidLine)["payment_id"] as? String)
        #expect(try fleet.journal()[sale]?.offline == false, "approved by the ledger, nothing to forward")
        #expect(try fleet.merchantBalance() == "12.00")

        let copy = try fleet.charge("3.00", code: code, via: fleet.serverURL)
        #expect(copy.status == 3 && copy.stderr.contains("already used"), "\(copy.stderr)")
        // 38.00 of allowance and 50.00 in the wallet: 90.00 is refused online (no debt online).
        let tooMuch = try fleet.charge("90.00", code: try fleet.offlineCode(), via: fleet.serverURL)
        #expect(tooMuch.status == 3 && tooMuch.stderr.contains("insufficient funds"), "\(tooMuch.stderr)")
        // The same sale id again answers from the journal, without charging again.
        let again = try fleet.charge("12.00", code: code, via: fleet.serverURL, id: sale)
        #expect(again.status == 0)
        // A one-time code, online.
        let once = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "code", fleet.wallet, "--json"]).lines.first))
        let byCode = try fleet.charge("5.00", code: try #require(once["code"] as? String), via: fleet.serverURL)
        #expect(byCode.status == 0, "\(byCode.stderr)")
        #expect(try fleet.merchantBalance() == "17.00")
        let status = try fleet.terminal.json(try #require(try fleet.terminal.run(["sync", "status", "--json"]).lines.first))
        #expect(status["unsynced_count"] as? Int == 0)
        try fleet.expectExactlyOnce()
    }

    @Test("the ledger is down: an offline code is taken offline, a one-time code waits undecided; back up, everything settles once")
    func ledgerDown() throws {
        let fleet = try Fleet()
        let code = try fleet.offlineCode(allowance: "100.00")
        let once = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "code", fleet.wallet, "--json"]).lines.first))
        fleet.stopServer()
        let offline = try fleet.charge("8.00", code: code, via: fleet.serverURL)
        #expect(offline.status == 0, "\(offline.stderr)")
        let byCode = try fleet.charge("5.00", code: try #require(once["code"] as? String), via: fleet.serverURL)
        #expect(byCode.status == 3 && byCode.stderr.contains("undecided"), "\(byCode.stderr)")
        let status = try fleet.terminal.json(try #require(try fleet.terminal.run(["sync", "status", "--json"]).lines.first))
        #expect(status["unsynced_count"] as? Int == 1 && status["undecided_count"] as? Int == 1)

        try fleet.restartServer()
        let pushed = try fleet.push(via: fleet.serverURL)
        #expect(pushed["settled"] as? Int == 1 && pushed["left"] as? Int == 0, "\(pushed)")
        try fleet.expectExactlyOnce()
    }

    @Test("the answer is lost after the ledger charged, or comes too late: taken offline with the same id, forwarded, paid once")
    func lostAndLateAnswers() throws {
        let fleet = try Fleet()
        let proxy = try fleet.startProxy(["--script", "drop-answer,delay:2500"])
        _ = try fleet.offlineCode(allowance: "100.00")
        let lost = try fleet.charge("3.00", code: try fleet.offlineCode(), via: proxy)
        let late = try fleet.charge("4.00", code: try fleet.offlineCode(), via: proxy)
        #expect(lost.status == 0 && late.status == 0, "\(lost.stderr) \(late.stderr)")
        let entries = try fleet.journal()
        #expect(entries.values.filter { $0.status == "approved" && $0.offline }.count == 2, "both went offline: \(entries)")
        Thread.sleep(forTimeInterval: 2)  // the late request reaches the ledger
        let pushed = try fleet.push(via: proxy)
        #expect(pushed["settled"] as? Int == 2, "\(pushed)")
        let results = try fleet.journal().values.compactMap(\.synced)
        #expect(results.count == 2 && results.allSatisfy { $0.contains("already settled") }, "the ledger had charged both: \(results)")
        try fleet.expectExactlyOnce()
    }

    @Test("reordered: a sale's authorization is held up on the link, the sale is taken offline and synced, then the held request reaches the ledger; paid once")
    func syncOvertakesAHeldAuthorization() throws {
        let fleet = try Fleet()
        // Only the authorization is held (8 s, well past the terminal's 1 s timeout); the sync passes at once.
        let proxy = try fleet.startProxy(["--match", "POST /v1/authorize", "--script", "delay:8000"])
        _ = try fleet.offlineCode(allowance: "100.00")
        let sale = try fleet.charge("6.00", code: try fleet.offlineCode(), via: proxy)
        #expect(sale.status == 0, "\(sale.stderr)")
        #expect(try fleet.journal().values.filter { $0.status == "approved" && $0.offline }.count == 1)
        let pushed = try fleet.push(via: proxy)
        #expect(pushed["settled"] as? Int == 1, "\(pushed)")
        let synced = try fleet.journal().values.compactMap(\.synced)
        #expect(synced.count == 1 && !synced[0].contains("already settled"), "the sync reached the ledger first: \(synced)")
        let pushedAt = Int64(Date().timeIntervalSince1970 * 1000)
        // The held authorization arrives now, with the same sale id: the ledger answers it from the settled sale.
        var delivered: [String: Any]?
        for _ in 0..<150 where delivered == nil {
            Thread.sleep(forTimeInterval: 0.1)
            let log = (try? String(contentsOfFile: fleet.ledger.path("proxy.log"), encoding: .utf8)) ?? ""
            delivered = log.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["delivered"] != nil }
        }
        #expect(delivered?["delivered"] as? Int == 200, "the held request reached the ledger and was answered: \(String(describing: delivered))")
        #expect((delivered?["at"] as? Int64 ?? 0) >= pushedAt, "after the sync")
        #expect(try fleet.merchantBalance() == "6.00")
        try fleet.expectExactlyOnce()
    }

    /// The link drops, loses answers, duplicates and delays requests at random (seeded), for
    /// sales and for sync alike; afterwards every sale the terminal approved is paid once.
    @Test("a faulty link (seeded): requests dropped, answers lost, duplicates, delays; exactly once after sync", arguments: [UInt64(7), 1_234])
    func faultyLink(seed: UInt64) throws {
        let fleet = try Fleet()
        let proxy = try fleet.startProxy(["--random", "drop-request=150,drop-answer=150,duplicate=150,delay=150", "--delay-max", "1500",
                                          "--seed", String(seed)])
        _ = try fleet.offlineCode(allowance: "200.00")
        var approved = 0
        for i in 0..<12 {
            let sale = try fleet.charge(String(format: "%d.%02d", 1 + i % 4, (i * 37) % 100), code: try fleet.offlineCode(), via: proxy)
            #expect(sale.status == 0, "\(sale.stderr)")
            if sale.status == 0 { approved += 1 }
        }
        var left = -1
        for _ in 0..<3 where left != 0 {
            left = try fleet.push(via: proxy)["left"] as? Int ?? -1
        }
        #expect(left == 0)
        #expect(try fleet.journal().values.filter { $0.status == "approved" }.count == approved)
        try fleet.expectExactlyOnce()
        let log = (try? String(contentsOfFile: fleet.ledger.path("proxy.log"), encoding: .utf8)) ?? ""
        #expect(["drop-request", "drop-answer", "duplicate", "delay:"].allSatisfy { log.contains($0) }, "every fault happened: \(log)")
    }
}

extension Fleet {
    /// `qrpos merchant-qr --server URL --wait …` at the terminal, running; returns the process,
    /// its first line (the order and its payload) and a reader for the rest.
    func showOrder(_ amount: String, via url: String, extra: [String] = []) throws -> (Process, [String: Any], () -> (Int32, String, String)) {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["merchant-qr", "--home", terminal.home.path, "--server", url, "--terminal-id", "T7", "--amount", amount,
                             "--wait", "--json"] + extra
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Bytes, not Data: appending to a slice of a pipe's Data trapped in Foundation
        // (__DataStorage.ensureUniqueBufferReference, a fresh-clone CI run).
        var first: [UInt8] = []
        while !first.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            first += chunk
        }
        let firstLine = String(decoding: first.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let leftover = Array(first.drop { $0 != UInt8(ascii: "\n") }.dropFirst())
        let order = (try? terminal.json(firstLine)) ?? [:]
        return (process, order, {
            let rest = leftover + Array(out.fileHandleForReading.readDataToEndOfFile())
            let e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: rest, as: UTF8.self), String(decoding: e, as: UTF8.self))
        })
    }

    func pay(_ payload: String) throws -> CLI.Result {
        try ledger.run(["wallet", "pay", payload, "--wallet", wallet, "--json"])
    }
}

@Suite("Merchant-presented through the ledger server", .serialized) struct RemoteOrderTests {
    @Test("the order is made at the server, the terminal hears of the payment by its events at once")
    func paidByEvents() throws {
        let fleet = try Fleet()
        let (_, order, finish) = try fleet.showOrder("6.80", via: fleet.serverURL)
        let payload = try #require(order["payload"] as? String, "\(order)")
        let paid = try fleet.pay(payload)
        #expect(paid.status == 0, "\(paid.stderr)")
        let clock = ContinuousClock(), began = clock.now
        let (status, out, err) = finish()
        #expect(status == 0, "\(err)")
        #expect(clock.now - began < .seconds(2), "pushed, not found by a slow poll")
        let receipt = try fleet.terminal.json(try #require(out.split(separator: "\n").first.map(String.init)))
        let paidLine = try #require(paid.lines.first)
        let payment = try #require(try fleet.ledger.json(paidLine)["id"] as? String)
        #expect(receipt["payment_id"] as? String == payment)
        #expect(try fleet.journal()[try #require(order["order_id"] as? String)]?.status == "approved")
        try fleet.expectExactlyOnce()
    }

    @Test("the server's events break: the terminal asks instead, and still hears of the payment")
    func paidByPolling() throws {
        let fleet = try Fleet()
        let proxy = try fleet.startProxy(["--match", "/events", "--script", "drop-request,drop-request,drop-request"])
        let (_, order, finish) = try fleet.showOrder("2.00", via: proxy)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try fleet.pay(try #require(order["payload"] as? String)).status == 0)
        let (status, _, err) = finish()
        #expect(status == 0, "\(err)")
        try fleet.expectExactlyOnce()
    }

    @Test("not paid in time: asked, cancelled, declined; paying the QR afterwards is refused")
    func notPaidInTime() throws {
        let fleet = try Fleet()
        let (_, order, finish) = try fleet.showOrder("3.00", via: fleet.serverURL, extra: ["--wait-seconds", "1"])
        let (status, _, err) = finish()
        #expect(status == 3 && err.contains("order expired"), "\(err)")
        let late = try fleet.pay(try #require(order["payload"] as? String))
        #expect(late.status == 3, "the order was closed at the ledger: \(late.stdout)")
        #expect(try fleet.merchantBalance() == "0.00")
        try fleet.expectExactlyOnce()
    }

    @Test("the cancel is lost and the customer pays after the terminal gave up: sync push refunds it and says so")
    func latePaymentRefunded() throws {
        let fleet = try Fleet(funds: "50.00")
        // The terminal's cancel never reaches the ledger (its HTTP stack sends it twice).
        let proxy = try fleet.startProxy(["--match", "/cancel", "--script", "drop-request,drop-request"])
        let (_, order, finish) = try fleet.showOrder("4.40", via: proxy, extra: ["--wait-seconds", "1"])
        let (status, _, err) = finish()
        #expect(status == 3 && err.contains("could not be reached to close"), "\(err)")
        let id = try #require(order["order_id"] as? String)
        #expect(try fleet.journal()[id]?.status == "authorizing", "undecided until the terminal settles it with the ledger")
        let late = try fleet.pay(try #require(order["payload"] as? String))
        #expect(late.status == 0, "the order was still open at the ledger")

        let pushed = try fleet.push(via: proxy)
        let refunded = try #require(pushed["orders_refunded"] as? [[String: String]], "\(pushed)")
        #expect(refunded.count == 1 && refunded.first?["order"] == id)
        #expect(try fleet.journal()[id]?.status == "declined")
        #expect(try fleet.merchantBalance() == "0.00")
        let wallet = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))
        #expect(wallet["balance"] as? String == "50.00", "the customer has the late payment back")
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
        // Nothing is refunded twice.
        #expect(try #require(try fleet.push(via: proxy)["orders_refunded"] as? [Any]).isEmpty)
    }
}

/// A clock off by `offset` ("+600s") for one process: Debian's faketime (libfaketime), which
/// the test command installs.
func skewedClock(_ offset: String) throws -> [String] {
    let tool = try #require(["/usr/bin/faketime", "/bin/faketime"].first { FileManager.default.isExecutableFile(atPath: $0) },
                            "faketime is missing: hardware/deps.sh --hil installs it")
    return [tool, "-f", offset]
}

@Suite("A fleet's faults: terminals at once, clocks off, a terminal killed", .serialized) struct FleetFaultTests {
    @Test("two terminals spend one wallet's allowance offline at once, one code shown at both: each sale settled once, the overspend from the wallet, the copy flagged")
    func twoTerminalsOneAllowance() throws {
        let fleet = try Fleet(funds: "500.00")
        _ = try fleet.offlineCode(allowance: "100.00")
        let codes = try (0..<8).map { _ in try fleet.offlineCode() }
        let copied = try fleet.offlineCode()
        fleet.stopServer()
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { lane in
            for k in stride(from: lane, to: codes.count, by: 2) {
                do {
                    let sale = try fleet.charge("20.00", code: codes[k], via: fleet.serverURL, atOther: lane == 1)
                    if sale.status != 0 { failures.withLock { $0.append(sale.stderr) } }
                } catch { failures.withLock { $0.append("\(error)") } }
            }
            do {
                let copy = try fleet.charge("5.00", code: copied, via: fleet.serverURL, atOther: lane == 1)
                if copy.status != 0 { failures.withLock { $0.append(copy.stderr) } }
            } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.withLock { $0 } == [], "each terminal keeps within its own limits")
        try fleet.restartServer()
        let (a, b) = (try fleet.push(via: fleet.serverURL), try fleet.push(via: fleet.serverURL, atOther: true))
        #expect((a["settled"] as? Int ?? 0) + (b["settled"] as? Int ?? 0) == 10, "\(a) \(b)")
        #expect(try fleet.merchantBalance() == "170.00", "eight sales of 20.00 and the copied code twice")
        let wallet = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))
        #expect(wallet["balance"] as? String == "330.00", "100.00 from the allowance, 70.00 more from the wallet")
        let results = try fleet.journal().values.compactMap(\.synced) + fleet.journal(atOther: true).values.compactMap(\.synced)
        #expect(results.filter { $0.contains("code also used by") }.count == 1, "the second use of the copied code is flagged: \(results)")
        try fleet.expectExactlyOnce()
    }

    @Test("an overspend past the allowance and the wallet: the merchant is paid in full, the rest is the customer's debt, and sync push reports it to the merchant")
    func overspendBecomesADebtReported() throws {
        // 150.00: 100.00 reserved for offline, 50.00 left in the wallet.
        let fleet = try Fleet(funds: "150.00")
        _ = try fleet.offlineCode(allowance: "100.00")
        let codes = try (0..<8).map { _ in try fleet.offlineCode() }
        fleet.stopServer()
        // Four sales of 20.00 at each terminal: each within what it may take alone, 160.00 in all.
        for (k, code) in codes.enumerated() {
            let sale = try fleet.charge("20.00", code: code, via: fleet.serverURL, atOther: k % 2 == 1)
            #expect(sale.status == 0, "\(sale.stderr)")
        }
        try fleet.restartServer()
        let (a, b) = (try fleet.push(via: fleet.serverURL), try fleet.push(via: fleet.serverURL, atOther: true))
        #expect((a["settled"] as? Int ?? 0) + (b["settled"] as? Int ?? 0) == 8, "\(a) \(b)")
        let debts = (a["debts"] as? [[String: Any]] ?? []) + (b["debts"] as? [[String: Any]] ?? [])
        #expect(debts.count == 1 && debts.first?["amount"] as? String == "10.00" && debts.first?["currency"] as? String == "CNY",
                "the last 10.00 neither the allowance nor the wallet held is reported once: \(debts)")
        #expect(try fleet.merchantBalance() == "160.00", "the merchant is paid in full")
        let wallet = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))
        #expect(wallet["balance"] as? String == "0.00", "the wallet gave all it had")
        let synced = try fleet.journal().values.compactMap(\.synced) + fleet.journal(atOther: true).values.compactMap(\.synced)
        #expect(synced.filter { $0.contains("debt 1000") }.count == 1, "\(synced)")
        // Pushed again: nothing left, nothing reported twice.
        #expect((try fleet.push(via: fleet.serverURL)["debts"] as? [Any])?.isEmpty == true)
        try fleet.expectExactlyOnce()
    }

    @Test("a terminal killed at the worst moments of a sale through the server (journal written, server not asked; server answered, journal not told): the retry answers, each sale paid once")
    func killedAtEachStepOfASale() throws {
        let fleet = try Fleet(funds: "200.00")
        _ = try fleet.offlineCode(allowance: "100.00")
        var paid = 0
        for failpoint in ["online.after-journal", "online.after-answer"] {
            for offline in [false, true] {
                let code = offline ? try fleet.offlineCode() : try fleet.ledger.paymentCode(fleet.wallet)
                let id = UUIDv7.make()
                let dying = try fleet.terminal.run(["charge", "--server", fleet.serverURL, "--terminal-id", "T7", "--amount", "2.50", "--code", code,
                                                    "--id", id, "--json"], environment: ["QRPOS_FAILPOINT": failpoint])
                #expect(dying.status != 0 && dying.lines.isEmpty, "\(failpoint): killed before any answer: \(dying.stdout)")
                #expect(try fleet.journal()[id]?.status == "authorizing", "\(failpoint): in the journal, undecided")
                let asked = failpoint == "online.after-answer"
                if asked { paid += 250 }
                #expect(try Money(parsing: try fleet.merchantBalance(), currency: .CNY).minorUnits == Int64(paid),
                        "\(failpoint), offline code \(offline): the server \(asked ? "took" : "never saw") it")
                // The cashier retries with the sale's id: answered, and charged once in all.
                let retried = try fleet.charge("2.50", code: code, via: fleet.serverURL, id: id)
                #expect(retried.status == 0, "\(failpoint), offline code \(offline): \(retried.stderr)")
                if !asked { paid += 250 }
                #expect(try Money(parsing: try fleet.merchantBalance(), currency: .CNY).minorUnits == Int64(paid))
                #expect(try fleet.journal()[id]?.status == "approved")
            }
        }
        _ = try fleet.push(via: fleet.serverURL)
        try fleet.expectExactlyOnce()
    }

    @Test("clocks off: a phone 10 min ahead is declined offline and online, 2 min is fine; a terminal 10 min off is told so, and its sale waits undecided")
    func skewedClocks() throws {
        let fleet = try Fleet()
        _ = try fleet.offlineCode(allowance: "100.00")
        func code(phoneAhead offset: String) throws -> String {
            let made = try fleet.ledger.run(["wallet", "token", fleet.wallet], under: try skewedClock(offset))
            #expect(made.status == 0, "\(made.stderr)")
            return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let online = try fleet.charge("1.00", code: try code(phoneAhead: "+600s"), via: fleet.serverURL)
        #expect(online.status == 3 && online.stderr.contains("300 s"), "\(online.stderr)")
        #expect(try fleet.charge("1.00", code: try code(phoneAhead: "+120s"), via: fleet.serverURL).status == 0)
        fleet.stopServer()
        let offline = try fleet.charge("1.00", code: try code(phoneAhead: "+600s"), via: fleet.serverURL)
        #expect(offline.status == 3 && offline.stderr.contains("300 s"), "\(offline.stderr)")
        #expect(try fleet.charge("1.00", code: try code(phoneAhead: "-120s"), via: fleet.serverURL).status == 0)
        try fleet.restartServer()

        let drifted = try fleet.charge("2.00", code: try fleet.offlineCode(), via: fleet.serverURL, under: try skewedClock("+600s"))
        #expect(drifted.status == 1 && drifted.stderr.contains("server's clock"), "a clear error, not a silent offline sale: \(drifted.stderr)")
        let status = try fleet.terminal.json(try #require(try fleet.terminal.run(["sync", "status", "--json"]).lines.first))
        #expect(status["undecided_count"] as? Int == 1)
        #expect(try fleet.push(via: fleet.serverURL)["settled"] as? Int == 1)
        try fleet.expectExactlyOnce()
    }

    @Test("sales nobody retried: once no copy of their request can reach the ledger, sync push refunds the one it took and declines the one it never saw")
    func unansweredSalesSettled() throws {
        // A one-second request window, so the test need not wait the default eleven minutes.
        let fleet = try Fleet(funds: "100.00", serverArguments: ["--request-window", "1"])
        let proxy = try fleet.startProxy(["--match", "/v1/authorize", "--script", "drop-answer,drop-request,drop-request"])
        func oneTimeCode() throws -> String {
            let line = try #require(try fleet.ledger.run(["wallet", "code", fleet.wallet, "--json"]).lines.first)
            return try #require(try fleet.ledger.json(line)["code"] as? String)
        }
        let taken = try fleet.charge("6.00", code: try oneTimeCode(), via: proxy)
        let lost = try fleet.charge("7.00", code: try oneTimeCode(), via: proxy)
        #expect(taken.status == 3 && lost.status == 3, "no answer, and a one-time code cannot go offline")
        #expect(try fleet.merchantBalance() == "6.00", "the ledger took the first")
        let early = try fleet.push(via: fleet.serverURL)
        #expect(early["sales_waiting"] as? Int == 2, "too recent to settle: \(early)")

        Thread.sleep(forTimeInterval: Double(12))
        let pushed = try fleet.push(via: fleet.serverURL)
        #expect((pushed["sales_reversed"] as? [[String: String]])?.count == 1 && pushed["sales_voided"] as? Int == 1, "\(pushed)")
        #expect(try fleet.journal().values.allSatisfy { $0.status == "declined" })
        #expect(try fleet.merchantBalance() == "0.00")
        let wallet = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))
        #expect(wallet["balance"] as? String == "100.00", "the customer has the unanswered charge back")
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
    }

    /// SIGKILL at seeded moments while a terminal charges (the link slowed so some kills land
    /// while the ledger is being asked); each killed sale is retried with its id, as the
    /// terminal's log line says to. Every sale ends approved once or declined, never twice.
    @Test("a terminal killed mid-sale, again and again: retried by id, each sale paid at most once, the journal sound")
    func killedMidSale() throws {
        let fleet = try Fleet()
        let proxy = try fleet.startProxy(["--random", "delay=500", "--delay-max", "400", "--seed", "11"])
        _ = try fleet.offlineCode(allowance: "200.00")
        var random = SplitMix64(seed: 20261127)
        var sales: [(id: String, code: String)] = []
        for _ in 0..<12 {
            let id = UUID().uuidString.lowercased(), code = try fleet.offlineCode()
            sales.append((id, code))
            let process = Process()
            process.executableURL = CLI.executable
            process.arguments = ["charge", "--home", fleet.terminal.home.path, "--server", proxy, "--terminal-id", "T7", "--online-timeout", "0.3",
                                 "--amount", "3.00", "--code", code, "--id", id, "--json"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(random.next() % 400_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // What the kills left on disk is whole: the journal and the receipt book pass SQLite's own
        // checks, and no sale the journal holds is there twice.
        for file in ["journal.sqlite", "receipt-book.sqlite"] {
            let path = fleet.terminal.path(file)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let (integrity, keys) = try DatabaseQueue(path: path).read { db in
                (try String.fetchAll(db, sql: "PRAGMA integrity_check"), try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count)
            }
            #expect(integrity == ["ok"] && keys == 0, "\(file): \(integrity), \(keys) foreign keys broken")
        }
        #expect(Set(try fleet.journal().keys).isSubset(of: Set(sales.map(\.id))), "only the sales asked for are in the journal")
        // The cashier retries each sale that has no answer, with its id.
        for sale in sales where try fleet.journal()[sale.id]?.status ?? "authorizing" == "authorizing" {
            let retried = try fleet.charge("3.00", code: sale.code, via: proxy, id: sale.id)
            #expect(retried.status == 0, "\(retried.stderr)")
        }
        #expect(try fleet.journal().values.allSatisfy { $0.status == "approved" }, "every sale was answered, and approved")
        _ = try fleet.push(via: proxy)
        let status = try fleet.terminal.json(try #require(try fleet.terminal.run(["sync", "status", "--json"]).lines.first))
        #expect(status["unsynced_count"] as? Int == 0 && status["undecided_count"] as? Int == 0)
        try fleet.expectExactlyOnce()
    }
}

@Suite("The wallet's phone through the ledger server", .serialized) struct PhoneTests {
    @Test("the phone gets its offline certificate, pays a merchant QR, and follows its alerts, all over signed HTTP")
    func phoneOverHTTP() throws {
        let fleet = try Fleet(funds: "100.00")
        let server = ["--server", fleet.serverURL]
        // An offline certificate, its allowance reserved by the server, for the phone's own key.
        let token = try fleet.phone.run(["wallet", "token", fleet.wallet, "--allowance", "30.00"] + server)
        #expect(token.status == 0, "\(token.stderr)")
        // With its cryptogram key, sealed to the phone by the server and opened by it.
        #expect(token.stdout.hasPrefix("QRPOS:OFF2:"), "\(token.stdout)")
        let phoneFile = try JSONSerialization.jsonObject(with: Data(contentsOf: fleet.phone.home.appendingPathComponent("phones/\(fleet.wallet).json")))
        #expect(((phoneFile as? [String: Any])?["cryptogramKey"] as? String)?.count == 64)
        let balance = try fleet.phone.json(try #require(try fleet.phone.run(["wallet", "balance", fleet.wallet, "--json"] + server).lines.first))
        #expect(balance["available"] as? String == "70.00")
        let sale = try fleet.charge("5.00", code: token.stdout.trimmingCharacters(in: .whitespacesAndNewlines), via: fleet.serverURL)
        #expect(sale.status == 0, "\(sale.stderr)")

        // The alert stream, followed while the phone pays the terminal's QR.
        let follow = Process()
        follow.executableURL = CLI.executable
        follow.arguments = ["wallet", "alerts", fleet.wallet, "--home", fleet.phone.home.path, "--follow", "--after", "2", "--count", "1", "--json"] + server
        let out = Pipe()
        follow.standardOutput = out
        follow.standardError = FileHandle.nullDevice
        try follow.run()
        let (_, order, finish) = try fleet.showOrder("2.50", via: fleet.serverURL)
        let paid = try fleet.phone.run(["wallet", "pay", try #require(order["payload"] as? String), "--wallet", fleet.wallet, "--json"] + server)
        #expect(paid.status == 0, "\(paid.stderr)")
        #expect(finish().0 == 0, "the terminal heard of it")
        let alert = out.fileHandleForReading.readDataToEndOfFile()
        follow.waitUntilExit()
        let event = try fleet.phone.json(String(decoding: alert, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(event["kind"] as? String == "payment" && event["delta"] as? String == "-2.50", "\(event)")
        #expect(try fleet.merchantBalance() == "7.50")
        try fleet.expectExactlyOnce()
    }

    @Test("a phone acts only for its own wallet; an unknown phone is refused")
    func ownWalletOnly() throws {
        let fleet = try Fleet()
        let stranger = try fleet.ledger.run(["wallet", "create", "--name", "Li"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let other = try fleet.phone.run(["wallet", "balance", stranger, "--server", fleet.serverURL])
        #expect(other.status == 1 && other.stderr.contains("unknown wallet"), "\(other.stderr)")
        #expect(try fleet.phone.run(["wallet", "balance", fleet.wallet, "--server", fleet.serverURL]).status == 0)
        // Another phone posing as the wallet (a key the server does not know for it): refused.
        try FileManager.default.removeItem(atPath: fleet.phone.path("phones/\(fleet.wallet).json"))
        let posing = try fleet.phone.run(["wallet", "balance", fleet.wallet, "--server", fleet.serverURL])
        #expect(posing.status == 1 && posing.stderr.contains("bad signature"), "\(posing.stderr)")
    }
}
