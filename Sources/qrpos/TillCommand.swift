import ArgumentParser
import Dispatch
import Foundation
import Logging
import Receipts
import Synchronization
import Terminal
import TillServer

/// `qrpos till --headless --control HOST:PORT`: the till for rigs and kiosks, driven through its
/// control API (``ControlServer``).
struct TillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "till", abstract: "The till: one sale at a time, driven through its control API (--headless).",
        discussion: """
            --headless runs the till without a screen: rigs and scripts drive it over HTTP on loopback (--control, \\
            default 127.0.0.1:8090; port 0 picks one): start a sale, present a code or a camera frame, show the \\
            merchant QR, cancel, refund by receipt number, read the state, follow the events as JSON lines. \\
            It prints {"listening": PORT} once it is ready. Receipts go to the receipt book, and to --printer when \\
            one is named (a printer failure is an event, and undoes no payment). The full-screen cashier's UI is \\
            not built yet.
            """)
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @Flag(help: "Run without a screen, driven through the control API.") var headless = false
    @Option(help: ArgumentHelp("Where the control API listens (loopback only).", valueName: "host:port")) var control = "127.0.0.1:8090"
    @Option(help: "The catalogue sales may be made of (default: assets/catalogue.json when run from the repository).") var catalogue: String?
    @Option(help: ArgumentHelp("Print every receipt: file:PATH, tcp://HOST:9100 or cups:QUEUE.", valueName: "url")) var printer: String?
    @Option(name: .customLong("printer-profile"), help: ArgumentHelp("tm-t20ii, pos-5890, or a profile JSON file.", valueName: "name"))
    var printerProfile = "tm-t20ii"

    func validate() throws {
        guard headless else { throw ValidationError("the cashier's full-screen UI is not built yet: run the till with --headless") }
        guard let (host, _) = address, ["127.0.0.1", "localhost", "::1"].contains(host) else {
            throw ValidationError("--control is HOST:PORT on loopback (127.0.0.1, localhost or ::1), not \(control)")
        }
        if let printer { _ = try PrinterAddress(printer) }
    }

    var address: (String, Int)? {
        guard let colon = control.lastIndex(of: ":"), let port = Int(control[control.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        return (String(control[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func run() throws {
        let checkout = try makeCheckout(store, terminal)
        let cataloguePath = catalogue ?? (FileManager.default.fileExists(atPath: "assets/catalogue.json") ? "assets/catalogue.json" : nil)
        let items = try cataloguePath.map(Catalogue.init(path:))
        var print: (@Sendable (SignedReceipt) throws -> Void)?
        if let printer {
            let profile = try qrpos.printerProfile(printerProfile)
            print = { receipt in _ = try printReceipt(receipt, printer: printer, profile: profile, timeout: 10) }
        }
        let session = TillSession(checkout: checkout, catalogue: items, printer: print)
        let logger = Logger(label: "qrpos.till")
        let (host, port) = address!
        let app = ControlServer.application(router: ControlServer.router(session: session, logger: logger), host: host, port: port,
                                            logger: logger) { bound in
            FileHandle.standardOutput.write(Data("{\"listening\":\(bound)}\n".utf8))
        }
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await app.runService() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        done.wait()
        if let message = failure.withLock({ $0 }) { throw Failure("the till stopped: \(message)") }
    }
}
