import ArgumentParser
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Payments
import Receipts
import Synchronization
import Terminal
import TillServer

/// `qrpos till`: the cashier's full-screen UI (``TillScreen``), or with `--headless` the till
/// for rigs and kiosks, driven through its control API (``ControlServer``); the screen can serve
/// the control API too (`--control`), both working on the one session.
struct TillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "till", abstract: "The till: the cashier's full-screen UI, or headless, driven through its control API.",
        discussion: """
            In a terminal (80x24 or more) it is the cashier's screen, keyboard only: n new sale (an amount, or \
            catalogue items SKU*COUNT ...), s scan or type the customer's code (a scanner that types works), q show \
            my QR, c cancel, r refund by receipt number, p reprint, x X report, z Z report, Q quit. \
            --headless runs it without a screen: rigs and scripts drive it over HTTP on loopback (--control, \
            default 127.0.0.1:8090; port 0 picks one): start a sale, present a code or a camera frame, show the \
            merchant QR, cancel, refund by receipt number, read the state, follow the events as JSON lines. \
            The same address serves the customer display, a live page for a second screen or a kiosk browser: \
            http://HOST:PORT/display. It prints {"listening": PORT} once it is ready. Receipts go to the receipt book, and to --printer when \
            one is named (a printer failure is an event, and undoes no payment). \
            With --server the till is a terminal of a fleet: sales go to the ledger server first, an offline code \
            is taken on the offline rules when it cannot be reached, and what was taken offline is forwarded \
            every --sync-every seconds; the screen shows OFFLINE with how many payments wait and how old the \
            oldest is.
            """)
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @OptionGroup var till: TillOptions
    @Flag(help: "Run without a screen, driven through the control API.") var headless = false

    func validate() throws {
        if headless || till.control != nil { try till.validateControl() }
        try till.validate()
    }

    func run() throws {
        let (session, print, profile) = try till.session(store: store, terminal: terminal)
        let logger = Logger(label: "qrpos.till")
        guard headless else {
            if till.control != nil { try till.serve(session, logger: logger, wait: false) }
            let checkout = session.checkout
            guard let book = checkout.book else { throw Failure("the till has no receipt book") }
            let terminalID = terminal.terminal, merchantName = checkout.merchant.name
            var screen = TillScreen(session: session, terminalID: terminalID, reprint: { number in
                guard let receipt = try number ?? book.last(terminal: terminalID)?.receipt.receipt.number else { throw Failure("no receipts yet") }
                guard let print else { return "receipt \(receipt) is in the book; no printer named (--printer)" }
                return "receipt \(receipt) printed" + (try book.print(number: receipt, with: print) ? " as a copy" : "")
            }, report: { kind in
                let now = Int64(Date().timeIntervalSince1970)
                let made = kind == .z ? try book.closeDay(terminal: terminalID, merchantName: merchantName, now: now)
                    : try book.xReport(terminal: terminalID, merchantName: merchantName, now: now)
                if let printer = till.printer, let profile { _ = try send(try EscPos.render(report: made, profile: profile), printer: printer, timeout: 10) }
                return made
            })
            try screen.run()
            return
        }
        try till.serve(session, logger: logger, wait: true)
    }
}

/// What the till and the kiosk share: the control API's address, the catalogue, the printer,
/// and the ledger server when the terminal belongs to a fleet.
struct TillOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Where the control API and the customer display listen, loopback only (default 127.0.0.1:8090; port 0 picks one).", valueName: "host:port"))
    var control: String?
    @Option(help: "The catalogue sales may be made of (default: assets/catalogue.json when run from the repository).") var catalogue: String?
    @OptionGroup(title: "Offline rules (with --server)") var offline: OfflinePolicyOptions
    @Option(name: .customLong("qr-validity"),
            help: ArgumentHelp("How long the customer may pay a merchant QR: 30s, 2m, up to 15m (default 2m; Alipay's cashier waits about 60 s).", valueName: "time"))
    var qrValidity: String?

    /// The terminal's limits, with --qr-validity.
    func limits() throws -> Limits {
        var limits = Limits.standard
        if let qrValidity {
            let millis = try OfflinePolicyOptions.millis(qrValidity, option: "--qr-validity", max: 900_000)
            guard millis >= Limits.orderValidityMillisMin else { throw ValidationError("--qr-validity is 5s to 15m, not \(qrValidity)") }
            limits.orderValidityMillis = millis
        }
        return limits
    }
    @Option(help: ArgumentHelp("Print every receipt: file:PATH, tcp://HOST:9100 or cups:QUEUE.", valueName: "url")) var printer: String?
    @Option(name: .customLong("printer-profile"), help: ArgumentHelp("tm-t20ii, pos-5890, or a profile JSON file.", valueName: "name"))
    var printerProfile = "tm-t20ii"
    @Option(help: ArgumentHelp("A ledger server (qrpos ledger serve; set up with qrpos terminal setup): sales go there first, and to the offline rules when it cannot be reached; what was taken offline is forwarded in the background.", valueName: "url"))
    var server: String?
    @Option(name: .customLong("online-timeout"), help: "With --server: seconds to wait for the ledger's answer before taking an offline code offline.")
    var onlineTimeout: Double = 3
    @Option(name: .customLong("sync-every"), help: "With --server: seconds between rounds with the server (forward offline payments, settle unanswered sales).")
    var syncEvery: Double = 5

    func validate() throws {
        if let printer { _ = try PrinterAddress(printer) }
        guard onlineTimeout > 0 && onlineTimeout <= 60 else { throw ValidationError("--online-timeout is above 0 and at most 60 seconds") }
        guard syncEvery >= 0.2 && syncEvery <= 3600 else { throw ValidationError("--sync-every is 0.2 to 3600 seconds") }
        _ = try limits()
    }

    func validateControl() throws {
        guard let (host, _) = address, ["127.0.0.1", "localhost", "::1"].contains(host) else {
            throw ValidationError("--control is HOST:PORT on loopback (127.0.0.1, localhost or ::1), not \(controlAddress)")
        }
    }

    var controlAddress: String { control ?? "127.0.0.1:8090" }

    var address: (String, Int)? {
        let text = controlAddress
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    /// The till's session: on the embedded ledger, or through `--server` (whose configuration
    /// the terminal keeps for when it is away); receipts printed on `--printer`. Returns the
    /// printing closure and the profile too, for reprints and reports.
    func session(store: StoreOptions, terminal: TerminalOptions)
        throws -> (TillSession, (@Sendable (SignedReceipt, Bool) throws -> Void)?, PrinterProfile?) {
        var print: (@Sendable (SignedReceipt, Bool) throws -> Void)?
        var profile: PrinterProfile?
        if let printer {
            let chosen = try qrpos.printerProfile(printerProfile)
            profile = chosen
            print = { receipt, copy in _ = try printReceipt(receipt, printer: printer, profile: chosen, timeout: 10, copy: copy) }
        }
        let items = try cataloguePath(catalogue).map(Catalogue.init(path:))
        guard let server else {
            let session = TillSession(checkout: try makeCheckout(store, terminal, limits: try limits()), catalogue: items, printer: print)
            try session.recoverReceipts()
            return (session, print, profile)
        }
        let client = try ledgerClient(server, store: store, terminal: terminal, timeout: onlineTimeout)
        let checkout = try remoteCheckout(client, store: store, terminal: terminal, limits: try limits())
        let config = try TerminalConfigFile(store).load(client)
        let remote = TillSession.Remote(client: client, journal: try TerminalJournal(path: journalPath(store)), issuers: try config.issuers(),
                                        policy: try offline.policy(for: checkout.merchant.currency),
                                        requestWindowMillis: config.requestWindowMillis ?? 300_000)
        let session = TillSession(checkout: checkout, catalogue: items, remote: remote, printer: print)
        try session.recoverReceipts()
        session.startSync(everySeconds: syncEvery)
        return (session, print, profile)
    }

    /// Serves the control API and the customer display; with `wait`, until it stops.
    /// `onListening` runs once the address is bound and said on stdout.
    func serve(_ session: TillSession, logger: Logger, wait: Bool, status: String = "control API and customer display",
               onListening: @escaping @Sendable () -> Void = {}) throws {
        let (host, port) = address!
        let app = ControlServer.application(router: ControlServer.router(session: session, logger: logger), host: host, port: port,
                                            logger: logger) { bound in
            FileHandle.standardOutput.write(Data("{\"listening\":\(bound)}\n".utf8))
            // Under systemd (hardware/systemd/qrpos-till.service): ready now, and alive for as
            // long as the control API answers.
            SystemdNotify.send("READY=1\nSTATUS=\(status) on \(host):\(bound)")
            SystemdNotify.startWatchdog { answers(host: host, port: bound) }
            onListening()
        }
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await app.runService() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        guard wait else { return }
        done.wait()
        if let message = failure.withLock({ $0 }) { throw Failure("the till stopped: \(message)") }
    }
}

/// Whether the till's own control API answers `GET /v1/state` with 200 within two seconds.
func answers(host: String, port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return false }
    let request = Array("GET /v1/state HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return false }
    var reply = [UInt8](repeating: 0, count: 16)
    let n = recv(fd, &reply, reply.count, 0)
    return n >= 12 && String(decoding: reply[0..<12], as: UTF8.self) == "HTTP/1.1 200"
}
