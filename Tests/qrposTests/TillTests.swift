import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Barcodes
import LedgerServer
import QrposTestSupport
import Testing

/// `qrpos till --headless` driven through its control API, as a rig drives it: whole sales both
/// ways, refusals, events as JSON lines, and the rig script in hardware/rig.
@Suite("The till's control API") struct TillTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A till on a fresh embedded ledger with a merchant and a funded wallet.
    struct Rig {
        let cli: CLI
        let merchant: String
        let wallet: String
        let till: ServerProcess
        var api: String { "http://127.0.0.1:\(till.port)/v1" }

        init(environment: [String: String] = [:]) throws {
            let (cli, merchant, wallet) = try CLI.shop("Till Shop", mcc: "5411", funds: "100.00")
            try self.init(cli: cli, merchant: merchant, wallet: wallet, environment: environment)
        }

        /// A till (again) on the shop of `cli`.
        init(cli: CLI, merchant: String, wallet: String, environment: [String: String] = [:]) throws {
            (self.cli, self.merchant, self.wallet) = (cli, merchant, wallet)
            till = try ServerProcess(executable: CLI.executable, arguments: [
                "till", "--headless", "--control", "127.0.0.1:0", "--home", cli.home.path, "--merchant", merchant,
                "--catalogue", TillTests.root.appendingPathComponent("assets/catalogue.json").path,
            ], environment: environment)
        }

        func code(png: String? = nil) throws -> String {
            let out = try cli.run(["wallet", "code", wallet, "--json"] + (png.map { ["--png", $0] } ?? []))
            let line = try #require(out.lines.first)
            return try #require(try cli.json(line)["code"] as? String)
        }

        /// One request; the status and the body.
        func call(_ method: String, _ path: String, json: String? = nil, body: Data? = nil) throws -> (Int, String) {
            var request = URLRequest(url: URL(string: api + "/" + path)!)
            request.httpMethod = method
            request.timeoutInterval = 30
            if let json {
                request.httpBody = Data(json.utf8)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            } else if let body {
                request.httpBody = body
            }
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var answer: (Int, String) = (0, "")
            URLSession.shared.dataTask(with: request) { data, response, error in
                answer = ((response as? HTTPURLResponse)?.statusCode ?? 0, data.map { String(decoding: $0, as: UTF8.self) } ?? "\(error.map { "\($0)" } ?? "")")
                done.signal()
            }.resume()
            done.wait()
            return answer
        }

        func object(_ method: String, _ path: String, json: String? = nil, body: Data? = nil) throws -> [String: Any] {
            let (status, text) = try call(method, path, json: json, body: body)
            #expect(status == 200, "\(method) \(path): \(status) \(text)")
            return try cli.json(text)
        }

        /// The open sale's merchant QR shown, paid by the wallet; the answer event the till gives
        /// (approved or declined), waiting up to 50 s for it.
        func qrPaidByTheWallet() throws -> [String: Any]? {
            let state = try object("POST", "sales/current/qr")
            let payload = try #require(state["qrPayload"] as? String)
            let after = try #require(state["lastEvent"] as? Int)
            #expect(try cli.run(["wallet", "pay", payload, "--wallet", wallet]).status == 0)
            var outcome: [String: Any]?
            for _ in 0..<5 where outcome == nil {
                outcome = try events(after: after, wait: 10).first { ["approved", "declined"].contains($0["kind"] as? String) }
            }
            return outcome
        }

        /// Events after `seq`, waiting up to `wait` seconds for one.
        func events(after seq: Int, wait: Int = 0) throws -> [[String: Any]] {
            let (status, text) = try call("GET", "events?after=\(seq)&wait=\(wait)")
            #expect(status == 200)
            return try text.split(separator: "\n").map { try cli.json(String($0)) }
        }
    }

    @Test("a sale from catalogue items paid by a scanned code, one paid by a camera frame, one by the merchant QR; a refund by receipt number")
    func wholeSales() throws {
        let rig = try Rig()
        var state = try rig.object("GET", "state")
        #expect(state["phase"] as? String == "idle")

        state = try rig.object("POST", "sales", json: #"{"items": [{"sku": "SOY-500", "quantity": 2}]}"#)
        #expect(state["phase"] as? String == "awaiting_code" && state["amount"] as? String == "7.00")
        state = try rig.object("POST", "sales/current/code", json: #"{"code": "\#(try rig.code())"}"#)
        #expect(state["phase"] as? String == "approved" && state["receipt"] as? String == "T1-000001", "\(state)")
        let kinds = try rig.events(after: 0).map { $0["kind"] as? String }
        #expect(kinds == ["sale_started", "authorizing", "approved"])

        // A command the state does not allow changes nothing.
        let (conflict, reason) = try rig.call("POST", "sales/current/code", json: #"{"code": "\#(try rig.code())"}"#)
        #expect(conflict == 409 && reason.contains("no sale is waiting"), "\(reason)")
        #expect(try rig.call("POST", "sales", json: "{\"amount\": 5}").0 == 400, "an amount is decimal text")

        // The camera: a PNG of the phone's code, read by zbar in the till.
        let png = rig.cli.path("code.png")
        _ = try rig.code(png: png)
        _ = try rig.object("POST", "sales", json: #"{"amount": "3.30"}"#)
        state = try rig.object("POST", "sales/current/frame", body: try Data(contentsOf: URL(fileURLWithPath: png)))
        #expect(state["phase"] as? String == "approved" && state["receipt"] as? String == "T1-000002", "\(state)")
        // A frame without a code leaves the sale waiting.
        _ = try rig.object("POST", "sales", json: #"{"amount": "1.00"}"#)
        let blank = Data("P5\n64 48\n255\n".utf8) + Data(repeating: 255, count: 64 * 48)
        state = try rig.object("POST", "sales/current/frame", body: blank)
        #expect(state["phase"] as? String == "awaiting_code")
        #expect(try rig.events(after: 0).last?["kind"] as? String == "no_code")
        #expect(try rig.call("POST", "sales/current/frame", body: Data("not an image".utf8)).0 == 400)
        state = try rig.object("POST", "sales/current/code", json: #"{"code": "123"}"#)
        #expect(state["phase"] as? String == "declined" && (state["reason"] as? String)?.isEmpty == false)

        // The merchant QR: shown, paid by the wallet, and the till hears of it.
        _ = try rig.object("POST", "sales", json: #"{"amount": "4.40"}"#)
        let outcome = try rig.qrPaidByTheWallet()
        #expect(outcome?["kind"] as? String == "approved" && outcome?["receipt"] as? String == "T1-000003", "\(String(describing: outcome))")

        // A QR the cashier cancels is closed at the ledger: paying it afterwards is refused.
        _ = try rig.object("POST", "sales", json: #"{"amount": "2.00"}"#)
        let cancelled = try #require(try rig.object("POST", "sales/current/qr")["qrPayload"] as? String)
        state = try rig.object("POST", "sales/current/cancel")
        #expect(state["phase"] as? String == "declined" && state["reason"] as? String == "cancelled by the cashier")
        #expect(try rig.cli.run(["wallet", "pay", cancelled, "--wallet", rig.wallet]).status != 0)

        let refund = try rig.object("POST", "refunds", json: #"{"receipt": "T1-000001", "amount": "1.00"}"#)
        #expect(refund["kind"] as? String == "refunded" && refund["receipt"] as? String == "T1-000004", "\(refund)")
        let balance = try rig.cli.json(try rig.cli.run(["wallet", "balance", rig.wallet, "--json"]).stdout)
        #expect(balance["balance"] as? String == "86.30", "100 - 7.00 - 3.30 - 4.40 + 1.00")
        #expect(try rig.cli.run(["ledger", "audit"]).status == 0)
        rig.till.stop()
    }

    @Test("a sale's items are on its receipt: one killed between the ledger's answer and the receipt gets them when the till starts again, and a merchant QR's receipt lists them too")
    func itemsOnEveryReceipt() throws {
        let dying = try Rig(environment: ["QRPOS_FAILPOINT": "charge.after-ledger"])
        _ = try dying.object("POST", "sales", json: #"{"items": [{"sku": "SOY-500", "quantity": 2}, {"sku": "BUN-PORK", "quantity": 1}]}"#)
        let (status, _) = try dying.call("POST", "sales/current/code", json: #"{"code": "\#(try dying.code())"}"#)
        #expect(status == 0, "the till died after the ledger took the code, before it answered")
        dying.till.stop()
        #expect(try dying.cli.run(["receipt", "list", "--json"]).lines.isEmpty, "no receipt was made")

        let rig = try Rig(cli: dying.cli, merchant: dying.merchant, wallet: dying.wallet)
        defer { rig.till.stop() }
        let recovered = try rig.events(after: 0).first { $0["kind"] as? String == "recovered" }
        #expect(recovered?["receipt"] as? String == "T1-000001", "\(String(describing: recovered))")
        let first = try rig.cli.run(["receipt", "show", "T1-000001"]).stdout
        #expect(first.contains("Soy milk") && first.contains("Steamed bun") && first.contains("12.50"), "\(first)")

        _ = try rig.object("POST", "sales", json: #"{"items": [{"sku": "TEA-GREEN", "quantity": 1}]}"#)
        let outcome = try rig.qrPaidByTheWallet()
        #expect(outcome?["receipt"] as? String == "T1-000002", "\(String(describing: outcome))")
        let second = try rig.cli.run(["receipt", "show", "T1-000002"]).stdout
        #expect(second.contains("Longjing green tea") && second.contains("18.40"), "\(second)")
        #expect(try rig.cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("the rig script: scripted checkouts of every kind, no failures, latency percentiles reported")
    func rigScript() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.root.appendingPathComponent("hardware/rig/checkouts.sh").path, "--count", "60", "--qrpos", CLI.executable.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: o, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text) \(String(decoding: e, as: UTF8.self))")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(report["checkouts"] as? Int == 60 && report["failures"] as? Int == 0)
        #expect(report["timed"] as? Int == 59, "every checkout but the one with a bad code is timed")
        #expect((report["p99_ms"] as? Double ?? 0) > 0)
    }
}

/// The cashier's screen, driven by keys in tmux and read back with capture-pane: whole sales as a
/// cashier makes them, in an 80x24 terminal, and the merchant QR drawn on a taller one read by zbar.
@Suite("The cashier's screen in tmux", .serialized) struct TillScreenTests {
    /// A till's screen in its own tmux server, with its control API on a free port.
    final class Screen {
        let rig: (cli: CLI, merchant: String, wallet: String)
        /// Where the wallet's codes are made: the ledger's home.
        let ledger: CLI
        let socket = "qrpos-" + UUID().uuidString.prefix(8)
        let port = freeLoopbackPort()

        /// On a fresh embedded ledger, or as terminal T7 of `fleet` (through its ledger server).
        init(rows: Int, fleet: Fleet? = nil) throws {
            var arguments: [String]
            if let fleet {
                rig = (fleet.terminal, fleet.merchant, fleet.wallet)
                ledger = fleet.ledger
                arguments = ["--terminal-id", "T7", "--server", fleet.serverURL, "--sync-every", "0.5", "--online-timeout", "1"]
            } else {
                let (cli, merchant, wallet) = try CLI.shop("Tea House", funds: "50.00")
                rig = (cli, merchant, wallet)
                ledger = cli
                arguments = ["--merchant", merchant]
            }
            let command = ([CLI.executable.path, "till", "--home", rig.cli.home.path, "--control", "127.0.0.1:\(port)",
                            "--catalogue", TillTests.root.appendingPathComponent("assets/catalogue.json").path] + arguments).joined(separator: " ")
            try tmux(["new-session", "-d", "-x", "80", "-y", "\(rows)", "TERM=xterm " + command + "; sleep 10"])
            try wait(for: "press n for a new sale")
        }

        /// Quits the till (Q) and ends the tmux server.
        func close() {
            _ = try? tmux(["send-keys", "-t", "0", "Q"])
            Thread.sleep(forTimeInterval: 0.3)
            _ = try? tmux(["kill-server"])
        }

        @discardableResult
        func tmux(_ arguments: [String]) throws -> String {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-tmux-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: output) }
            try Spawned("/usr/bin/tmux", ["-L", socket] + arguments, output: output).wait()
            return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }

        func keys(_ keys: String...) throws { try tmux(["send-keys", "-t", "0"] + keys) }
        func screen() throws -> String { try tmux(["capture-pane", "-t", "0", "-p"]) }

        /// Waits up to 10 s for `text` on the screen; the screen as it then is.
        @discardableResult
        func wait(for text: String) throws -> String {
            var shown = ""
            for _ in 0..<100 {
                shown = try screen()
                if shown.contains(text) { return shown }
                Thread.sleep(forTimeInterval: 0.1)
            }
            Issue.record("'\(text)' never appeared; the screen:\n\(shown)")
            return shown
        }

        func code() throws -> String { try ledger.paymentCode(rig.wallet) }

        func state() throws -> [String: Any] {
            let data = try Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/v1/state")!)
            return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }
    }

    @Test("an 80x24 screen: items sold by a typed code, a decline, the X report, a refund by number, a QR paid, the day closed")
    func cashier() throws {
        let s = try Screen(rows: 24)
        defer { s.close() }
        // Every byte the till writes to its terminal, to count the bells and flashes in.
        let raw = s.rig.cli.path("pane.raw")
        try s.tmux(["pipe-pane", "-t", "0", "-o", "cat >> \(raw)"])
        func sounds() -> (bells: Int, flashes: Int) {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: raw))) ?? Data()
            let text = String(decoding: bytes, as: UTF8.self)
            return (bytes.filter { $0 == 0x07 }.count, text.components(separatedBy: "\u{1B}[?5h").count - 1)
        }
        try s.keys("n")
        try s.wait(for: "Amount, or items")
        try s.keys("SOY-500*2 BUN-PORK", "Enter")
        try s.wait(for: "WAITING FOR THE CUSTOMER'S CODE")
        #expect(try s.screen().contains("CNY 12.50"))
        try s.keys("s")
        try s.wait(for: "Customer's code")
        try s.keys(try s.code(), "Enter")
        var shown = try s.wait(for: "APPROVED")
        #expect(shown.contains("receipt T1-000001"))
        Thread.sleep(forTimeInterval: 0.3)
        #expect(sounds() == (1, 0), "approved: one ring, no flash")
        // A line wider than the pane would wrap and push the screen down: the title still on the
        // first row and the key help on the last show that everything fits 80x24.
        let rows = shown.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(rows.first?.hasPrefix(" qrpos till · Tea House") == true && rows.prefix(24).last?.contains("Q quit") == true, "\(shown)")

        try s.keys("n", "99.00", "Enter", "s", try s.code(), "Enter")
        shown = try s.wait(for: "DECLINED")
        #expect(shown.contains("insufficient funds"), "\(shown)")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(sounds() == (3, 1), "declined: a flash and two more rings")

        try s.keys("x")
        shown = try s.wait(for: "X REPORT")
        #expect(shown.contains("Sales (1)") && shown.contains("12.50") && shown.contains("Last") && shown.contains("VAT 9% in sales"),
                "the whole report fits: \(shown)")

        try s.keys("r", "T1-000001", "Enter", "1.00", "Enter")
        try s.wait(for: "refunded  T1-000002")

        try s.keys("n", "4.40", "Enter", "q")
        try s.wait(for: "SHOWING MY QR")
        let payload = try #require(try s.state()["qrPayload"] as? String)
        #expect(try s.rig.cli.run(["wallet", "pay", payload, "--wallet", s.rig.wallet]).status == 0)
        shown = try s.wait(for: "receipt T1-000003")
        #expect(shown.contains("APPROVED"))

        try s.keys("z", "no", "Enter")
        try s.wait(for: "the day stays open")
        try s.keys("z", "yes", "Enter")
        shown = try s.wait(for: "Z REPORT 1")
        #expect(shown.contains("NET"))
        let listed = try s.rig.cli.run(["receipt", "list", "--json"]).lines
        #expect(listed.count == 3 && listed.allSatisfy { $0.contains("\"z\":1") }, "the Z report closed all three")
        try s.keys("Q")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(!(try s.screen()).contains("qrpos till ·"), "Q leaves the till")
    }

    @Test("through a ledger server: the screen says OFFLINE with the unsynced count and age when the server goes, a refund goes to the server, and the count clears once it is back")
    func offlineOnScreen() throws {
        let fleet = try Fleet()
        let s = try Screen(rows: 24, fleet: fleet)
        defer { s.close() }
        #expect(try s.screen().contains("Ledger  server online"))
        // Online: a sale by a one-time code, then its refund by receipt number, both at the server.
        try s.keys("n", "6.00", "Enter", "s", try s.code(), "Enter")
        try s.wait(for: "receipt T7-000001")
        try s.keys("r", "T7-000001", "Enter", "2.00", "Enter")
        try s.wait(for: "refunded  T7-000002")

        let token = try fleet.offlineCode(allowance: "40.00")
        fleet.stopServer()
        try s.wait(for: "OFFLINE")
        try s.keys("n", "5.00", "Enter", "s", token, "Enter")
        var shown = try s.wait(for: "APPROVED OFFLINE")
        shown = try s.wait(for: "1 unsynced, oldest")
        #expect(shown.contains("receipt T7-000003"), "\(shown)")
        // A one-time code cannot be checked offline: the sale stays open for an offline code.
        try s.keys("n", "1.00", "Enter", "s", try s.code(), "Enter")
        shown = try s.wait(for: "offline code needed")
        #expect(shown.contains("WAITING FOR THE CUSTOMER'S CODE"), "\(shown)")
        try s.keys("c")

        try fleet.restartServer()
        shown = try s.wait(for: "server online")
        shown = try s.wait(for: "synced")
        #expect(!shown.contains("unsynced"), "nothing waits once the server has it: \(shown)")
        #expect(try fleet.merchantBalance() == "9.00", "6.00 - 2.00 + 5.00")
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
    }

    @Test("on a screen tall enough the merchant QR is drawn, and zbar reads the order's payload from the captured text")
    func qrOnScreen() throws {
        let s = try Screen(rows: 50)
        defer { s.close() }
        try s.keys("n", "3.00", "Enter", "q")
        // The prompt is drawn below the QR: once it shows, the QR above it is whole (a screen
        // this tall reaches tmux in several pieces, and a capture between them is cut short).
        var shown = try s.wait(for: "waiting for the customer's wallet to pay")
        let payload = try #require(try s.state()["qrPayload"] as? String)
        /// Half blocks back to modules: each character is one module wide and two tall.
        func decoded(_ shown: String) -> [String] {
            let rows = shown.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) }
                .filter { $0.contains("█") || $0.contains("▀") || $0.contains("▄") }
            let width = (rows.map(\.count).max() ?? 0), scale = 4
            var pixels = [UInt8](repeating: 255, count: (width + 8) * scale * (rows.count * 2 + 8) * scale)
            let stride = (width + 8) * scale
            for (r, row) in rows.enumerated() {
                for (c, character) in row.enumerated() {
                    let (top, bottom) = (character == "█" || character == "▀", character == "█" || character == "▄")
                    for (half, dark) in [(0, top), (1, bottom)] where dark {
                        for dy in 0..<scale { for dx in 0..<scale { pixels[((r * 2 + half + 4) * scale + dy) * stride + (c + 4) * scale + dx] = 0 } }
                    }
                }
            }
            return CodeScanner().scan(LumaFrame(width: stride, height: pixels.count / stride, pixels: pixels)).compactMap(\.text)
        }
        // The screen is redrawn four times a second: a capture in the middle of a redraw is taken again.
        var read = decoded(shown)
        for _ in 0..<10 where read != [payload] {
            Thread.sleep(forTimeInterval: 0.1)
            shown = try s.screen()
            read = decoded(shown)
        }
        #expect(read == [payload], "\(shown)")
        try s.keys("c")
        try s.wait(for: "cancelled by the cashier")
    }
}

/// The customer display in headless Chromium: a screenshot whose QR zbar reads as the order's
/// payload, and the live page turning to "paid" when the payment lands, said by the page itself.
@Suite("The customer display in headless Chromium") struct CustomerDisplayTests {
    static let chromium = "/usr/bin/chromium-headless-shell"

    static func chromium(_ arguments: [String]) throws -> Spawned {
        try Spawned(chromium, ["--no-sandbox", "--disable-gpu", "--hide-scrollbars"] + arguments)
    }

    @Test("the QR on the page decodes to the order's payload; the open page turns to paid when the wallet pays")
    func display() throws {
        let rig = try TillTests.Rig()
        let page = "http://127.0.0.1:\(rig.till.port)/display"
        _ = try rig.object("POST", "sales", json: #"{"amount": "4.40"}"#)
        let payload = try #require(try rig.object("POST", "sales/current/qr")["qrPayload"] as? String)

        let shot = rig.cli.path("display.png")
        let screenshot = try Self.chromium(["--window-size=600,900", "--screenshot=" + shot, "--timeout=5000", page])
        screenshot.wait()
        let frame = try ImageFile.read(path: shot)
        #expect(CodeScanner().scan(frame).compactMap(\.text) == [payload], "the screenshot's QR is the order's")

        // The page stays open (a second screen would); it says what it shows after each change.
        let profile = rig.cli.path("chromium-profile")
        let live = try Self.chromium(["--remote-debugging-port=0", "--user-data-dir=" + profile, page])
        defer { live.terminate() }
        func shown(_ phase: String) throws -> Bool {
            for _ in 0..<100 {
                let (status, body) = try rig.call("GET", "display/shown")
                if status == 200, (try? rig.cli.json(body))?["phase"] as? String == phase { return true }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return false
        }
        #expect(try shown("showing_qr"), "the open page shows the QR")
        #expect(try rig.cli.run(["wallet", "pay", payload, "--wallet", rig.wallet]).status == 0)
        #expect(try shown("approved"), "the open page turned to paid, live, without a reload")
        // A till asked to stop stops, though a display still follows it.
        rig.till.process.terminate()
        for _ in 0..<100 where rig.till.process.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!rig.till.process.isRunning, "the till stopped within 10 s with the display open")
        if rig.till.process.isRunning { rig.till.kill() }
    }
}

/// The till as systemd runs it (hardware/systemd/qrpos-till.service): it says READY=1 once its
/// control API is bound and pings the watchdog while the API answers; the unit file is one
/// systemd accepts.
@Suite("The till under systemd") struct TillSystemdTests {
    @Test("READY=1 with its status once listening, then WATCHDOG=1 at half the interval, on $NOTIFY_SOCKET")
    func notifies() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-notify-\(UUID().uuidString.prefix(8))").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, byte) in path.utf8.enumerated() { raw[i] = byte } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", "Kiosk", "--city", "Hangzhou", "--mcc", "5411"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let till = try ServerProcess(executable: CLI.executable, arguments: [
            "till", "--headless", "--control", "127.0.0.1:0", "--home", cli.home.path, "--merchant", merchant,
        ], environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "300000"])
        defer { till.stop() }
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline, messages.filter({ $0 == "WATCHDOG=1" }).count < 3 {
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        #expect(messages.first == "READY=1\nSTATUS=control API and customer display on 127.0.0.1:\(till.port)", "\(messages)")
        #expect(messages.dropFirst().filter { $0 == "WATCHDOG=1" }.count >= 3, "\(messages)")
    }

    @Test("systemd-analyze verifies the unit (with the built binary in place of /usr/local/bin/qrpos)", arguments: ["qrpos-till.service", "qrpos-kiosk.service"])
    func unitVerifies(name: String) throws {
        let analyze = "/usr/bin/systemd-analyze"
        try #require(FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze (Debian's systemd package) is needed")
        let unit = try String(contentsOf: TillTests.root.appendingPathComponent("hardware/systemd/" + name), encoding: .utf8)
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("SupplementaryGroups=video lp")
                && unit.contains("Restart=always"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-unit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent(name)
        try unit.replacingOccurrences(of: "/usr/local/bin/qrpos", with: CLI.executable.path).write(to: copy, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("verify.out").path
        let status = try Spawned(analyze, ["verify", copy.path], output: output).wait()
        let said = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // It exits 0 on a directive it ignores, so what it says counts too: nothing.
        #expect(status == 0 && said.isEmpty, "\(said)")
    }
}

@Suite("Progress on a terminal") struct ProgressTests {
    @Test("a bench in a terminal shows its progress on stderr and ends with a summary, its JSON lines on stdout whole; piped, stderr says none of it")
    func benchProgress() throws {
        let cli = try CLI()
        let socket = "qrpos-" + UUID().uuidString.prefix(8)
        let out = cli.path("bench.jsonl")
        func tmux(_ arguments: [String]) throws -> String {
            let output = cli.path("tmux-\(UUID().uuidString.prefix(8))")
            try Spawned("/usr/bin/tmux", ["-L", socket] + arguments, output: output).wait()
            return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        }
        defer { _ = try? tmux(["kill-server"]) }
        _ = try tmux(["new-session", "-d", "-x", "120", "-y", "10",
                      "TERM=xterm \(CLI.executable.path) bench receipt --payments 600 > \(out); sleep 30"])
        var sawRunning = false, summary = ""
        for _ in 0..<300 {
            let screen = try tmux(["capture-pane", "-t", "0", "-p"])
            if screen.contains("qrpos bench receipt:") && screen.contains(" done") && screen.contains(" s") { sawRunning = true }
            if let line = screen.split(separator: "\n").first(where: { $0.contains("results in") }) {
                summary = String(line)
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(sawRunning, "the running line never showed")
        #expect(summary.hasPrefix("qrpos bench receipt: 3 results in"), "\(summary)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3 && lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "\(lines)")

        let piped = try cli.run(["bench", "receipt", "--payments", "20"])
        #expect(piped.status == 0 && piped.lines.count == 3 && !piped.stderr.contains("done"), "\(piped.stderr)")
    }
}
