import ArgumentParser
import Barcodes
import Camera
import Dispatch
import Foundation
import Logging
import Payments
import Receipts
import Synchronization
import Terminal

/// `qrpos kiosk`: the till with nobody at it. It shows the merchant QR for every sale (on the
/// customer display, `/display`), scans the camera all the while, and looks after itself: a
/// camera that fails or goes away is opened again with a growing pause, a printer that fails is
/// asked again until it answers, a ledger server that is away is worked around (offline codes,
/// forwarded later), and a sale nobody pays is put away after `--sale-timeout`.
struct KioskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk", abstract: "The unattended till: shows the merchant QR, scans continuously, recovers by itself.",
        discussion: """
            Sales come from --amount (a fixed price: a new sale opens as soon as the last one is done) or from \
            the control API (POST /v1/sales, as a vending controller would). Every open sale shows its merchant QR \
            on the customer display (http://HOST:PORT/display, for a kiosk browser) and takes the customer's code \
            from the camera (--camera /dev/video0, or --frames for a recording or a Y4M stream) at the same time: \
            whichever comes first pays. After an answer the kiosk shows it for --result-seconds, then goes back \
            to idle; a sale not paid within --sale-timeout seconds is cancelled. A camera that fails is opened \
            again (0.5 s, doubling to 30 s); a receipt the printer fails is an event, and the printer is asked \
            again every 5 s until it answers. Every event is printed on stdout as a JSON line (for journald or a \
            rig), after {"listening": PORT}. Under systemd it sends READY=1 and WATCHDOG=1 \
            (hardware/systemd/qrpos-kiosk.service).
            """)
    @OptionGroup var store: StoreOptions
    @OptionGroup var terminal: TerminalOptions
    @OptionGroup var till: TillOptions
    @Option(help: ArgumentHelp("The V4L2 camera the customer shows a code to.", valueName: "device")) var camera: String?
    @Option(help: ArgumentHelp("Frames instead of a camera: a folder of images, a list, or a Y4M file or FIFO (read again when it ends).", valueName: "path"))
    var frames: String?
    @Option(help: "With --camera: frame width.") var width = 640
    @Option(help: "With --camera: frame height.") var height = 480
    @Option(help: "A fixed price: every sale is for this amount, and a new one opens when the last is done.") var amount: String?
    @Option(name: .customLong("sale-timeout"), help: "Seconds a sale may wait for its payment before it is cancelled.") var saleTimeout: Double = 120
    @Option(name: .customLong("result-seconds"), help: "Seconds an answer stays on the display before the kiosk goes back to idle.")
    var resultSeconds: Double = 5

    func validate() throws {
        try till.validate()
        try till.validateControl()
        guard camera == nil || frames == nil else { throw ValidationError("give --camera or --frames, not both") }
        guard saleTimeout >= 1 && saleTimeout <= 3600 else { throw ValidationError("--sale-timeout is 1 to 3600 seconds") }
        guard resultSeconds >= 0 && resultSeconds <= 600 else { throw ValidationError("--result-seconds is 0 to 600") }
    }

    func run() throws {
        let (session, _, _) = try till.session(store: store, terminal: terminal)
        if let amount { _ = try session.checkout.amount(amount) }
        let logger = Logger(label: "qrpos.kiosk")
        let input: FrameInput?
        if let camera {
            input = .device(path: camera, settings: CaptureSettings(width: width, height: height))
        } else if let frames {
            do { input = try FrameInput(framesArgument: frames) } catch { throw Failure(error.message) }
        } else {
            input = nil
        }
        let kiosk = Kiosk(session: session, amount: amount, saleTimeout: saleTimeout, resultSeconds: resultSeconds,
                          printer: try till.printer.map { Printer(try PrinterAddress($0), timeoutSeconds: 2) })
        // Once {"listening": PORT} is out, so it is the first line a supervisor or a rig reads.
        try till.serve(session, logger: logger, wait: true, status: "kiosk: control API and customer display") {
            Thread.detachNewThread { kiosk.printEvents() }
            if let input { Thread.detachNewThread { kiosk.scan(input, logger: logger) } }
            Thread.detachNewThread { kiosk.tend() }
        }
    }
}

/// The kiosk's three loops around one till session: the camera, the clock, and the events.
final class Kiosk: Sendable {
    let session: TillSession
    let amount: String?
    let saleTimeout: Double
    let resultSeconds: Double
    let printer: Printer?
    /// Pauses between attempts to open a camera that failed.
    static let cameraBackoff = ReconnectBackoff(initialDelay: .milliseconds(500), delayMax: .seconds(30))
    /// How often a failing printer is asked whether it is back.
    static let printerProbeSeconds = 5.0
    /// How long after a failed attempt to show the QR (the ledger server away) it is tried again.
    static let qrRetrySeconds = 5.0

    init(session: TillSession, amount: String?, saleTimeout: Double, resultSeconds: Double, printer: Printer?) {
        self.session = session
        self.amount = amount
        self.saleTimeout = saleTimeout
        self.resultSeconds = resultSeconds
        self.printer = printer
    }

    /// Prints every event as a JSON line on stdout, as it happens.
    func printEvents() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var seen = session.snapshot.lastEvent
        while true {
            for event in session.events(after: seen, timeout: 30) {
                seen = event.seq
                if var line = try? encoder.encode(event) {
                    line.append(0x0A)
                    FileHandle.standardOutput.write(line)
                }
            }
        }
    }

    /// The camera, forever: every code it sees goes to the open sale (with a fixed price, a code
    /// shown to an idle kiosk opens one). When the camera cannot be opened, or its stream ends or
    /// fails, it is opened again after a pause that doubles up to 30 s; a camera unplugged
    /// mid-stream is re-opened by its ``CameraSession`` without ending the loop.
    func scan(_ input: FrameInput, logger: Logger) {
        var attempt = 0
        while true {
            let began = ContinuousClock.now
            let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: true, forgetAfter: ScanDeduplicator.cameraWindow),
                                makeDecoder: robustDecoder(live: true))
            let session = self.session
            var failure: String
            do {
                let stats = try loop.run(opening: { () throws(CameraError) -> AnyFrameSource in
                    let source = try input.open(onCameraEvent: { event in
                        switch event {
                        case .opened(let details), .back(let details, _, _): session.noteCamera(ok: true, detail: details)
                        case .unplugged(let error), .stalled(let error, _): session.noteCamera(ok: false, detail: error.message)
                        case .frameTimeout, .reopenFailed: break
                        }
                    }, shouldStop: { loop.isStopping })
                    session.noteCamera(ok: true, detail: source.details)
                    return source
                }, onEvent: { [self] event in
                    guard let text = event.code.text else { return }
                    presented(text)
                })
                failure = stats.sourceEnded ? "the camera's stream ended" : "the camera stopped"
            } catch {
                failure = error.message
            }
            session.noteCamera(ok: false, detail: failure)
            // A camera that streamed a while and then failed is tried again at once; one that
            // keeps failing, less and less often.
            attempt = ContinuousClock.now - began > .seconds(10) ? 1 : attempt + 1
            let pause = Self.cameraBackoff.delay(afterAttempt: attempt)
            logger.warning("camera down", metadata: ["reason": "\(failure)", "retry_ms": "\(milliseconds(pause))"])
            Thread.sleep(forTimeInterval: milliseconds(pause) / 1000)
        }
    }

    /// A code the camera read: charged to the open sale; with a fixed price, an idle kiosk opens
    /// one for it. Anything else (a sale being decided, or shown as done) ignores it.
    func presented(_ code: String) {
        var phase = session.snapshot.phase
        if phase == .idle || ([.approved, .declined].contains(phase) && amount != nil), let amount {
            if (try? session.startSale(amount: amount)) != nil { phase = .awaitingCode }
        }
        guard [.awaitingCode, .showingQR].contains(phase) else { return }
        _ = try? session.present(code: code)
    }

    /// The clock, ten times a second: an answer goes back to idle after `resultSeconds`; a sale
    /// not paid within `saleTimeout` is cancelled; an open sale shows its QR (tried again while
    /// the ledger cannot make the order); with a fixed price an idle kiosk opens the next sale;
    /// a failing printer is asked whether it is back.
    func tend() {
        var phaseSeen: (phase: TillSession.Phase, sale: String?, at: ContinuousClock.Instant) = (.idle, nil, .now)
        var saleSeen: (id: String?, at: ContinuousClock.Instant) = (nil, .now)
        var qrTried: ContinuousClock.Instant?
        var printerAsked = ContinuousClock.now
        while true {
            let s = session.snapshot
            let now = ContinuousClock.now
            if s.phase != phaseSeen.phase || s.saleID != phaseSeen.sale { phaseSeen = (s.phase, s.saleID, now) }
            if s.saleID != saleSeen.id { (saleSeen, qrTried) = ((s.saleID, now), nil) }
            let inPhase = now - phaseSeen.at, inSale = now - saleSeen.at
            switch s.phase {
            case .approved, .declined:
                if inPhase >= .milliseconds(Int64(resultSeconds * 1000)) { _ = try? session.reset() }
            case .awaitingCode, .showingQR:
                if inSale >= .milliseconds(Int64(saleTimeout * 1000)) {
                    if (try? session.cancel(reason: "no payment within \(Int(saleTimeout)) s")) != nil { _ = try? session.reset() }
                } else if s.phase == .awaitingCode, qrTried.map({ now - $0 >= .seconds(Self.qrRetrySeconds) }) ?? true {
                    qrTried = now
                    _ = try? session.showQR()
                }
            case .idle:
                if let amount, (try? session.startSale(amount: amount)) != nil { _ = try? session.showQR() }
            case .authorizing:
                break
            }
            if let printer, now - printerAsked >= .seconds(Self.printerProbeSeconds) {
                printerAsked = now
                session.checkPrinter { try printer.probe() }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}
