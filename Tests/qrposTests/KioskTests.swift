import Barcodes
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import LedgerServer
import Payments
import QrposTestSupport
import Testing

struct CameraFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The camera as the kiosk's `--frames` sees a live one: a YUV4MPEG2 stream through a FIFO.
/// Plugging it in opens the FIFO's writing end (the kiosk's read then starts), unplugging closes
/// it (the kiosk reads the end of the stream, as a camera that went away, and opens it again).
/// The V4L2 path itself is the hardware-in-the-loop rig's (vivid in QEMU).
final class StreamCamera {
    let path: String
    let width = 480, height = 480
    private var fd: Int32 = -1

    /// Makes the FIFO; the camera starts unplugged.
    init(path: String) throws {
        self.path = path
        guard mkfifo(path, 0o600) == 0 else { throw CameraFailure( "mkfifo \(path): \(String(cString: strerror(errno)))") }
    }

    /// Opens the writing end once the kiosk has the reading end open (up to 10 s), and sends the
    /// stream's header.
    func plug() throws {
        for _ in 0..<200 {
            fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard fd >= 0 else { throw CameraFailure( "the kiosk never opened its camera \(path)") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        try write(Array("YUV4MPEG2 W\(width) H\(height) F10:1 Ip A1:1 Cmono\n".utf8))
    }

    /// `text` as a QR in the middle of `count` frames (nil: blank frames, the code taken away).
    func show(_ text: String?, frames count: Int = 3) throws {
        var canvas = LumaFrame(width: width, height: height, fill: 255)
        if let text {
            let code = Render.raster(try QREncoder.encode(text), moduleSize: 4, quietZone: 4)
            let (left, top) = ((width - code.width) / 2, (height - code.height) / 2)
            for y in 0..<code.height { for x in 0..<code.width { canvas[left + x, top + y] = code[x, y] } }
        }
        for _ in 0..<count { try write(Array("FRAME\n".utf8) + canvas.pixels) }
    }

    /// The code taken away for `seconds`: blank frames at the stream's 10 frames a second, as a
    /// live camera keeps sending them. (A burst of blank frames is not the same: the kiosk keeps
    /// only the latest frame, so a burst can reach its decoder as a single frame, too few for the
    /// code to count as gone.)
    func away(for seconds: Double) throws {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            try show(nil, frames: 1)
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    func unplug() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    private func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw CameraFailure( "writing the camera stream: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    deinit { unplug() }
}

/// `qrpos kiosk` (or `qrpos till --headless`), a process of its own, watched through its control API.
struct KioskProcess {
    let process: ServerProcess
    var api: String { "http://127.0.0.1:\(process.port)/v1" }

    init(cli: CLI, _ arguments: [String], command: [String] = ["kiosk"]) throws {
        _ = FileManager.default.createFile(atPath: cli.path("kiosk.log"), contents: nil)
        process = try ServerProcess(executable: CLI.executable, arguments: command + ["--home", cli.home.path, "--control", "127.0.0.1:0"] + arguments,
                                    stderr: FileHandle(forWritingAtPath: cli.path("kiosk.log")))
    }

    func get(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(string: api + "/" + path)!)) as? [String: Any])
    }

    func post(_ path: String, json: String) throws -> (Int, String) {
        var request = URLRequest(url: URL(string: api + "/" + path)!)
        request.httpMethod = "POST"
        request.httpBody = Data(json.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var answer: (Int, String) = (0, "")
        URLSession.shared.dataTask(with: request) { data, response, _ in
            answer = ((response as? HTTPURLResponse)?.statusCode ?? 0, data.map { String(decoding: $0, as: UTF8.self) } ?? "")
            done.signal()
        }.resume()
        done.wait()
        return answer
    }

    /// Waits up to `seconds` for the state to satisfy `condition`; the state then.
    @discardableResult
    func state(within seconds: Double = 10, _ what: String, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var state: [String: Any] = [:]
        while Date() < deadline {
            state = try get("state")
            if condition(state) { return state }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("the kiosk never got to \(what); its state: \(state)")
        return state
    }

    /// Every event so far.
    func events() throws -> [[String: Any]] {
        let text = String(decoding: try Data(contentsOf: URL(string: api + "/events?after=0")!), as: UTF8.self)
        return try text.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// Waits up to `seconds` for an event of `kind` (matching `condition`) after event `after`.
    @discardableResult
    func event(_ kind: String, after: Int = 0, within seconds: Double = 10, _ condition: ([String: Any]) -> Bool = { _ in true }) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let found = try events().first(where: { ($0["seq"] as? Int ?? 0) > after && $0["kind"] as? String == kind && condition($0) }) {
                return found
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("no \(kind) event came; the events: \(try events().map { $0["kind"] as? String ?? "?" })")
        return [:]
    }
}

@Suite("The kiosk", .serialized) struct KioskTests {
    @Test("a fixed price: the QR shown unasked, a code at the camera pays instead, the camera unplugged and back, the printer back by itself, idle after each answer")
    func unattended() throws {
        let (cli, merchant, wallet) = try CLI.shop("Kiosk", mcc: "5814", funds: "100.00")
        let camera = try StreamCamera(path: cli.path("camera.y4m"))
        let printer = cli.path("printer.bin")    // not there: the printer is unplugged
        let kiosk = try KioskProcess(cli: cli, ["--merchant", merchant, "--frames", camera.path, "--amount", "2.50", "--result-seconds", "1",
                                                "--printer", "file:" + printer])
        defer { kiosk.process.stop() }

        let first = try kiosk.state("showing its QR") { $0["phase"] as? String == "showing_qr" }
        #expect(first["amount"] as? String == "2.50" && (first["qrPayload"] as? String)?.hasPrefix("000201") == true, "\(first)")
        try camera.plug()
        try kiosk.event("camera_open")    // the stream is open: the camera is up
        try camera.show(try cli.paymentCode(wallet))
        let paid = try kiosk.event("approved")
        #expect(paid["receipt"] as? String == "T1-000001" && paid["sale"] as? String == first["saleID"] as? String, "\(paid)")
        #expect(try kiosk.events().contains { $0["kind"] as? String == "qr_closed" }, "the QR's order was closed before the code was charged")
        let failed = try kiosk.event("print_failed")
        #expect(failed["receipt"] as? String == "T1-000001")
        // After the answer: idle, and the next sale shows its QR by itself.
        try kiosk.event("idle")
        let second = try kiosk.state("the next sale") { $0["phase"] as? String == "showing_qr" && $0["saleID"] as? String != first["saleID"] as? String }
        #expect((second["printer"] as? [String: Any])?["ok"] as? Bool == false, "the failing printer is in the state: \(second)")

        // The camera goes away mid-stream, and the printer is plugged in.
        camera.unplug()
        try kiosk.event("camera_down")
        _ = FileManager.default.createFile(atPath: printer, contents: nil)
        try kiosk.event("printer_back", within: 15)
        let lastSeen = try kiosk.events().last?["seq"] as? Int ?? 0
        try camera.plug()
        try kiosk.event("camera_back", after: lastSeen)
        try camera.show(try cli.paymentCode(wallet))
        let again = try kiosk.event("approved", after: lastSeen)
        #expect(again["receipt"] as? String == "T1-000002", "\(again)")
        #expect(try kiosk.event("printed", after: lastSeen)["receipt"] as? String == "T1-000002")
        let printed = try PrintedStream(Array(try Data(contentsOf: URL(fileURLWithPath: printer))))
        #expect(printed.jobs == 1 && printed.endsWithCut, "one receipt printed whole, and it is the second")
        #expect(printed.lines.contains { String(decoding: $0, as: UTF8.self).contains("T1-000002") })

        // The same code held up again is a new presentation only after it left the view; shown
        // again, it is refused as used, and nothing is charged twice.
        try camera.away(for: 1.5)
        let seen = try kiosk.events().last?["seq"] as? Int ?? 0
        try kiosk.state("a sale open again") { $0["phase"] as? String == "showing_qr" }
        let code = try cli.paymentCode(wallet)
        try camera.show(code)
        try kiosk.event("approved", after: seen)
        try camera.away(for: 1.5)
        let seen2 = try kiosk.events().last?["seq"] as? Int ?? 0
        try camera.show(code)
        let refused = try kiosk.event("declined", after: seen2)
        #expect((refused["reason"] as? String)?.contains("already used") == true, "\(refused)")
        let balance = try cli.json(try cli.run(["wallet", "balance", wallet, "--json"]).stdout)
        #expect(balance["balance"] as? String == "92.50", "three sales of 2.50")
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("sales from the control API: the QR shown at once and paid by the wallet; one nobody pays is cancelled after --sale-timeout, and the kiosk is idle again")
    func controllerSales() throws {
        let (cli, merchant, wallet) = try CLI.shop("Vend", mcc: "5814", funds: "20.00")
        let kiosk = try KioskProcess(cli: cli, ["--merchant", merchant, "--sale-timeout", "2", "--result-seconds", "0.5"])
        defer { kiosk.process.stop() }
        #expect(try kiosk.get("state")["phase"] as? String == "idle", "no fixed price: idle until a sale comes")
        #expect(try kiosk.post("sync", json: "{}").0 == 409, "nothing to sync on the embedded ledger")

        #expect(try kiosk.post("sales", json: #"{"amount": "3.00"}"#).0 == 200)
        let shown = try kiosk.state("showing the QR") { $0["phase"] as? String == "showing_qr" }
        let payload = try #require(shown["qrPayload"] as? String)
        #expect(try cli.run(["wallet", "pay", payload, "--wallet", wallet]).status == 0)
        #expect(try kiosk.event("approved")["receipt"] as? String == "T1-000001")
        try kiosk.state("idle after the answer") { $0["phase"] as? String == "idle" }

        #expect(try kiosk.post("sales", json: #"{"amount": "4.00"}"#).0 == 200)
        let unpaid = try #require(try kiosk.state("showing the second QR") { $0["phase"] as? String == "showing_qr" }["qrPayload"] as? String)
        let cancelled = try kiosk.event("cancelled", within: 6)
        #expect(cancelled["reason"] as? String == "no payment within 2 s", "\(cancelled)")
        try kiosk.state("idle after the timeout") { $0["phase"] as? String == "idle" }
        #expect(try cli.run(["wallet", "pay", unpaid, "--wallet", wallet]).status != 0, "the order was closed at the ledger")
        let balance = try cli.json(try cli.run(["wallet", "balance", wallet, "--json"]).stdout)
        #expect(balance["balance"] as? String == "17.00")
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("against a ledger server that goes away: an offline code at the camera is approved offline and counted as unsynced, a one-time code asks for an offline one, and the kiosk forwards by itself once the server is back")
    func offlineAndBack() throws {
        let fleet = try Fleet()
        let token = try fleet.offlineCode(allowance: "50.00")
        let camera = try StreamCamera(path: fleet.terminal.path("camera.y4m"))
        let kiosk = try KioskProcess(cli: fleet.terminal, ["--terminal-id", "T7", "--server", fleet.serverURL, "--sync-every", "0.5",
                                                           "--online-timeout", "1", "--frames", camera.path, "--amount", "3.00",
                                                           "--result-seconds", "1"])
        defer { kiosk.process.stop() }
        let online = try kiosk.state("showing the server's order") { $0["phase"] as? String == "showing_qr" }
        #expect((online["ledger"] as? [String: Any])?["reachable"] as? Bool == true, "\(online)")
        try camera.plug()

        fleet.stopServer()
        try kiosk.event("offline", within: 10)
        try camera.show(token)
        let approved = try kiosk.event("approved", within: 15)
        let state = try kiosk.state("approved offline") { $0["offline"] as? Bool == true || $0["phase"] as? String != "approved" }
        let link = try #require(state["ledger"] as? [String: Any])
        #expect(link["reachable"] as? Bool == false && link["unsynced"] as? Int == 1, "\(state)")
        #expect(try fleet.journal()[try #require(approved["sale"] as? String)]?.offline == true)

        // A one-time code cannot be checked without the server: the sale stays open for an offline code.
        try camera.show(nil, frames: 12)
        let seen = try kiosk.events().last?["seq"] as? Int ?? 0
        try kiosk.state(within: 15, "a new sale") { $0["phase"] as? String == "awaiting_code" }
        try camera.show(try fleet.ledger.paymentCode(fleet.wallet))
        let needed = try kiosk.event("offline_code_needed", after: seen, within: 15)
        #expect((needed["reason"] as? String)?.contains("offline code") == true, "\(needed)")
        #expect(try kiosk.get("state")["phase"] as? String == "awaiting_code")

        #expect(try kiosk.post("sync", json: "{}").0 == 200, "a round asked for while the server is away fails softly")
        try fleet.restartServer()
        let synced = try kiosk.event("synced", within: 15)
        #expect((synced["reason"] as? String)?.hasPrefix("1 settled") == true, "\(synced)")
        let after = try kiosk.state("online, nothing waiting") {
            let link = $0["ledger"] as? [String: Any]
            return link?["reachable"] as? Bool == true && link?["unsynced"] as? Int == 0
        }
        #expect(after["ledger"] != nil)
        #expect(try fleet.merchantBalance() == "3.00")
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
    }

    @Test("against a ledger server: a merchant QR sale of catalogue items, paid by the phone; its receipt lists the items")
    func itemsThroughTheServer() throws {
        let fleet = try Fleet()
        let catalogue = TillTests.root.appendingPathComponent("assets/catalogue.json").path
        let till = try KioskProcess(cli: fleet.terminal, ["--terminal-id", "T7", "--server", fleet.serverURL, "--catalogue", catalogue],
                                    command: ["till", "--headless"])
        defer { till.process.stop() }
        #expect(try till.post("sales", json: #"{"items": [{"sku": "EGG-10", "quantity": 1}, {"sku": "SOY-500", "quantity": 1}]}"#).0 == 200)
        let (status, shown) = try till.post("sales/current/qr", json: "{}")
        #expect(status == 200, "\(shown)")
        let payload = try #require(try till.state("showing the server's order") { $0["phase"] as? String == "showing_qr" }["qrPayload"] as? String)
        let paid = try fleet.phone.run(["wallet", "pay", payload, "--wallet", fleet.wallet, "--server", fleet.serverURL])
        #expect(paid.status == 0, "\(paid.stderr)")
        #expect(try till.event("approved", within: 15)["receipt"] as? String == "T7-000001")
        let receipt = try fleet.terminal.run(["receipt", "show", "T7-000001"]).stdout
        #expect(receipt.contains("Eggs, ten") && receipt.contains("Soy milk") && receipt.contains("16.40"), "\(receipt)")
        try fleet.expectExactlyOnce()
    }

    @Test("the till dies while its QR is shown and the customer pays: the till that starts next refunds it by itself, once, and says so")
    func tillRefundsAPaymentItNeverSaw() throws {
        let fleet = try Fleet(funds: "50.00")
        let arguments = ["--terminal-id", "T7", "--server", fleet.serverURL, "--qr-validity", "12s", "--sync-every", "1"]
        let first = try KioskProcess(cli: fleet.terminal, arguments, command: ["till", "--headless"])
        #expect(try first.post("sales", json: #"{"amount": "4.40"}"#).0 == 200)
        #expect(try first.post("sales/current/qr", json: "{}").0 == 200)
        let payload = try #require(try first.state("showing the server's order") { $0["phase"] as? String == "showing_qr" }["qrPayload"] as? String)
        first.process.kill()
        // The customer pays while no till watches; the cashier never hears of it.
        #expect(try fleet.pay(payload).status == 0)
        #expect(try fleet.merchantBalance() == "4.40")
        let second = try KioskProcess(cli: fleet.terminal, arguments, command: ["till", "--headless"])
        defer { second.process.stop() }
        // Once the order's twelve seconds have passed, the till's own sync settles it: refunded.
        let said = try second.event("reconciled", within: 30)
        #expect((said["reason"] as? String)?.contains("after the till gave up: refunded") == true, "\(said)")
        #expect(try fleet.merchantBalance() == "0.00")
        let wallet = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))
        #expect(wallet["balance"] as? String == "50.00", "the customer has the payment back")
        // The next rounds find nothing more to settle.
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try second.events().filter { $0["kind"] as? String == "reconciled" }.count == 1)
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
        let bad = try fleet.terminal.run(["till", "--headless", "--qr-validity", "2h"])
        #expect(bad.status != 0 && bad.stderr.contains("--qr-validity"), "\(bad.stderr)")
    }

    @Test("a refund whose answer is lost on the way back: the till says it may be made, and asking again refunds once")
    func refundAnswerLost() throws {
        let fleet = try Fleet()
        let proxy = try fleet.startProxy(["--match", "/v1/refunds", "--script", "drop-answer"])
        let till = try KioskProcess(cli: fleet.terminal, ["--terminal-id", "T7", "--server", proxy, "--online-timeout", "2"],
                                    command: ["till", "--headless"])
        defer { till.process.stop() }
        #expect(try till.post("sales", json: #"{"amount": "8.00"}"#).0 == 200)
        let code = try fleet.ledger.paymentCode(fleet.wallet)
        let (status, sold) = try till.post("sales/current/code", json: "{\"code\": \"\(code)\"}")
        #expect(status == 200 && sold.contains("T7-000001"), "\(sold)")
        let before = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))

        let (lost, said) = try till.post("refunds", json: #"{"receipt": "T7-000001", "amount": "3.00"}"#)
        #expect(lost == 409 && said.contains("may or may not") && said.contains("never made twice"), "\(said)")
        let (again, refunded) = try till.post("refunds", json: #"{"receipt": "T7-000001", "amount": "3.00"}"#)
        #expect(again == 200 && refunded.contains("\"refunded\""), "\(refunded)")
        let after = try fleet.ledger.json(try #require(try fleet.ledger.run(["wallet", "balance", fleet.wallet, "--json"]).lines.first))
        let (b, a) = (try #require(before["balance"] as? String), try #require(after["balance"] as? String))
        #expect(try Money(parsing: a, currency: .CNY).minorUnits - Money(parsing: b, currency: .CNY).minorUnits == 300, "refunded once: \(b) → \(a)")
        // A second refund asked afresh is a new one (a second item brought back), up to the sale.
        #expect(try till.post("refunds", json: #"{"receipt": "T7-000001", "amount": "3.00"}"#).0 == 200)
        #expect(try fleet.ledger.run(["ledger", "audit"]).status == 0)
    }
}
