import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Barcodes
import Payments
import Receipts
import Terminal

/// The cashier's screen: a full-screen keyboard UI over a ``TillSession`` in any terminal of at
/// least 80x24. Plain ANSI: the alternate screen, bold and reverse video (nothing that needs
/// colour, so a monochrome terminal shows all of it), redrawn whole after every key and whenever
/// the session has news. A barcode scanner that types its code and Enter (a keyboard wedge)
/// works at the code prompt like typing does.
///
/// Keys: n new sale (an amount, or catalogue items as SKU*COUNT …), s scan or type the
/// customer's code, q show my QR, c cancel, r refund by receipt number, p reprint, x X report,
/// z Z report (asks first), Q quit. Esc leaves a prompt. Approval rings the bell once; a decline
/// flashes the screen and rings it.
struct TillScreen {
    let session: TillSession
    let terminalID: String
    let reprint: (String?) throws -> String
    let report: (DayReport.Kind) throws -> DayReport

    enum Prompt: Equatable {
        case none, amount, code, refundReceipt, refundAmount(String), reprint, confirmZ
    }

    private var prompt = Prompt.none
    private var input = ""
    private var message = ""
    private var body: [String] = []
    private var seenEvent = 0
    private var recent: [String] = []
    private var quit = false

    init(session: TillSession, terminalID: String, reprint: @escaping (String?) throws -> String,
         report: @escaping (DayReport.Kind) throws -> DayReport) {
        self.session = session
        self.terminalID = terminalID
        self.reprint = reprint
        self.report = report
    }

    mutating func run() throws {
        guard isatty(STDIN_FILENO) == 1 else { throw Failure("the till's screen needs a terminal: run it in one, or with --headless") }
        // A terminal that goes away (a closed window, a dropped SSH link) ends the till: the
        // runtime's threads block SIGHUP, so this one takes it, with its default action.
        var hangup = sigset_t()
        sigemptyset(&hangup)
        sigaddset(&hangup, SIGHUP)
        signal(SIGHUP, SIG_DFL)
        pthread_sigmask(SIG_UNBLOCK, &hangup, nil)
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var raw = saved
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        write("\u{1B}[?1049h\u{1B}[?25l")
        defer {
            write("\u{1B}[?25h\u{1B}[?1049l")
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        }
        seenEvent = session.snapshot.lastEvent
        draw()
        while !quit {
            var entry = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, 250)
            if ready > 0 {
                var bytes = [UInt8](repeating: 0, count: 64)
                let n = read(STDIN_FILENO, &bytes, bytes.count)
                if n <= 0 { break }
                handle(Array(bytes[0..<n]))
            }
            follow()
            draw()
        }
    }

    // MARK: Keys

    private mutating func handle(_ bytes: [UInt8]) {
        var i = 0
        while i < bytes.count && !quit {
            let b = bytes[i]
            i += 1
            if b == 0x1B {
                // Esc alone leaves the prompt; an escape sequence (an arrow, a function key) is skipped.
                if i < bytes.count, bytes[i] == UInt8(ascii: "[") || bytes[i] == UInt8(ascii: "O") {
                    i += 1
                    while i < bytes.count, !(0x40...0x7E).contains(bytes[i]) { i += 1 }
                    i += 1
                } else {
                    prompt = .none
                    input = ""
                }
                continue
            }
            if b == 0x03 { quit = true; continue }   // Ctrl-C
            if prompt != .none {
                switch b {
                case 0x0D, 0x0A: submit()
                case 0x7F, 0x08: if !input.isEmpty { input.removeLast() }
                // An offline code, typed by a scanner, is several hundred characters.
                case 0x20..<0x7F: if input.count < 4_096 { input.append(Character(UnicodeScalar(b))) }
                default: break
                }
                continue
            }
            key(Character(UnicodeScalar(b)))
        }
    }

    private mutating func key(_ key: Character) {
        let phase = session.snapshot.phase
        message = ""
        if key != "x" && key != "z" { body = [] }
        switch (key, phase) {
        case ("n", .idle), ("n", .approved), ("n", .declined): ask(.amount)
        case ("s", .awaitingCode), ("\r", .awaitingCode): ask(.code)
        case ("q", .awaitingCode): message = Self.failure { _ = try session.showQR() }
        case ("c", .awaitingCode), ("c", .showingQR): message = Self.failure { _ = try session.cancel() }
        case ("r", .idle), ("r", .approved), ("r", .declined): ask(.refundReceipt)
        case ("p", _): ask(.reprint)
        case ("x", _): show(.x, columns: 36)
        case ("z", .idle), ("z", .approved), ("z", .declined): ask(.confirmZ)
        case ("Q", _): quit = true
        default: message = "that key does nothing now (\(phase.rawValue.replacingOccurrences(of: "_", with: " ")))"
        }
    }

    private mutating func ask(_ next: Prompt) {
        prompt = next
        input = ""
    }

    private mutating func submit() {
        let text = input.trimmingCharacters(in: .whitespaces)
        let asked = prompt
        prompt = .none
        input = ""
        switch asked {
        case .none: break
        case .amount:
            body = []
            message = Self.failure {
                if text.contains(where: \.isLetter) {
                    let items = try text.split(separator: " ").map { token -> (sku: String, quantity: Int) in
                        let parts = token.split(separator: "*")
                        guard let quantity = parts.count == 2 ? Int(parts[1]) : 1 else { throw TillSession.Refused(description: "items are SKU or SKU*COUNT") }
                        return (String(parts[0]).uppercased(), quantity)
                    }
                    try session.startSale(amount: nil, items: items)
                } else {
                    try session.startSale(amount: text)
                }
            }
        case .code:
            // Show "authorizing" while the ledger answers.
            message = "authorizing…"
            draw()
            message = Self.failure { try session.present(code: text) }
        case .refundReceipt:
            ask(.refundAmount(text))
        case .refundAmount(let number):
            message = Self.failure { _ = try session.refund(receipt: number, amount: text) }
        case .reprint:
            var said = ""
            message = Self.failure { said = try reprint(text.isEmpty ? nil : text) }
            if message.isEmpty { message = said }
        case .confirmZ:
            if text.lowercased() == "yes" {
                show(.z, columns: 36)
            } else {
                message = "the day stays open"
            }
        }
    }

    /// What went wrong in `body`, or "" when nothing did.
    private static func failure(_ body: () throws -> Void) -> String {
        do {
            try body()
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// Makes an X or Z report and shows it in the body.
    private mutating func show(_ kind: DayReport.Kind, columns: Int) {
        var text: [String] = []
        // Without its first two lines (the merchant's name and a rule): the title shows the
        // merchant, and an 80x24 screen then holds the whole report in two columns.
        message = Self.failure { text = Array(try report(kind).text(columns: columns).split(separator: "\n").map(String.init).dropFirst(2)) }
        if !text.isEmpty { body = text }
    }

    /// New events: the recent list, and the bell: one ring for approved; for declined a flash of
    /// the screen and two rings, so a cashier looking away still tells them apart.
    private mutating func follow() {
        for event in session.events(after: seenEvent) {
            seenEvent = event.seq
            switch event.kind {
            case "approved", "refunded": write("\u{07}")
            case "declined", "refund_declined", "print_failed":
                write("\u{1B}[?5h\u{07}")
                usleep(150_000)
                write("\u{1B}[?5l\u{07}")
            default: break
            }
            var line = Self.clock(event.at) + "  " + event.kind.replacingOccurrences(of: "_", with: " ")
            if let receipt = event.receipt { line += "  " + receipt }
            if let amount = event.amount { line += "  " + amount }
            if let reason = event.reason { line += "  " + reason }
            if let millis = event.millis { line += String(format: "  (%.0f ms)", millis) }
            recent.append(line)
        }
        if recent.count > 8 { recent.removeFirst(recent.count - 8) }
    }

    // MARK: Drawing

    private func draw() {
        var size = winsize()
        let columns = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col >= 40 ? Int(size.ws_col) : 80
        let rows = size.ws_row >= 20 ? Int(size.ws_row) : 24
        let s = session.snapshot
        let rule = String(repeating: "─", count: columns)
        var lines: [String] = []
        let merchant = session.checkout.merchant
        lines.append(Self.spread(" qrpos till · \(merchant.name) · terminal \(terminalID)", Self.clock(UnixTime.nowMillis()) + " ", columns))
        lines.append(rule)
        if let saleID = s.saleID, s.phase != .idle {
            lines.append("  Sale \(saleID.suffix(12))")
            lines.append("  Amount due   \u{1B}[1m\(s.currency) \(s.amount ?? "")\u{1B}[0m")
        } else {
            lines.append("  No sale open")
            lines.append("")
        }
        lines.append(Self.ledgerLine(s))
        lines.append("  STATUS  \u{1B}[7m " + Self.status(s) + " \u{1B}[0m")
        switch s.phase {
        case .approved: lines.append("          receipt \(s.receipt ?? "?")")
        case .declined: lines.append("          \(s.reason ?? "")")
        case .showingQR:
            let left = max(0, ((s.expiresAt ?? 0) - UnixTime.nowMillis()) / 1000)
            lines.append("          the customer scans the QR · \(left) s left")
        default: lines.append("")
        }
        lines.append("")
        // The body: the QR while it is shown (when the screen is tall enough), a report, or the news.
        let bodyRows = rows - lines.count - 6
        var area: [String] = []
        if s.phase == .showingQR, let payload = s.qrPayload {
            if let matrix = try? QREncoder.encode(payload), matrix.size / 2 + 3 <= bodyRows {
                area = Render.terminal(matrix, quietZone: 2, ansi: true).split(separator: "\n").map { "    " + $0 }
            } else {
                area = ["  (the QR is on the customer display; this screen is too small to draw it)", "  " + String(payload.prefix(columns - 4))]
            }
        } else if !body.isEmpty {
            area = body.map { "  " + $0 }
            // A report longer than the room goes in two columns side by side.
            if area.count > bodyRows, columns >= 80 {
                let half = (body.count + 1) / 2
                area = (0..<half).map { i in
                    let left = "  " + body[i]
                    let right = i + half < body.count ? body[i + half] : ""
                    return left + String(repeating: " ", count: max(1, columns / 2 - TextReceipt.displayWidth(left))) + right
                }
            }
        } else {
            area = ["  Recent:"] + recent.map { "   " + $0 }
        }
        lines += area.prefix(max(0, bodyRows))
        while lines.count < rows - 5 { lines.append("") }
        lines.append(message.isEmpty ? "" : "  \u{1B}[1m! \(message)\u{1B}[0m")
        lines.append(rule)
        lines.append(promptLine(s))
        lines.append(" n new sale  s scan/type code  q show my QR  c cancel  r refund  p reprint")
        lines.append(" x X report  z Z report (closes the day)  Esc leave a prompt  Q quit")
        let screen = lines.prefix(rows).map { Self.fit($0, columns) }.joined(separator: "\r\n")
        write("\u{1B}[H\u{1B}[2J" + screen)
    }

    private func promptLine(_ s: TillSession.Snapshot) -> String {
        let label: String
        switch prompt {
        case .none:
            switch s.phase {
            case .awaitingCode: return "  press s (or Enter) to scan or type the customer's code, q to show your QR"
            case .showingQR: return "  waiting for the customer's wallet to pay · c cancels"
            default: return "  press n for a new sale"
            }
        case .amount: label = "Amount, or items (SOY-500*2 BUN-PORK)"
        case .code: label = "Customer's code (scan it, or type it and Enter)"
        case .refundReceipt: label = "Refund: receipt number"
        case .refundAmount(let number): label = "Refund of \(number): amount"
        case .reprint: label = "Reprint: receipt number (Enter for the last)"
        case .confirmZ: label = "Close the day with a Z report? It cannot be undone. Type yes"
        }
        return "  \(label): \u{1B}[1m\(input)\u{1B}[0m_"
    }

    static func status(_ s: TillSession.Snapshot) -> String {
        switch s.phase {
        case .idle: "READY"
        case .awaitingCode: "WAITING FOR THE CUSTOMER'S CODE"
        case .showingQR: "SHOWING MY QR"
        case .authorizing: "AUTHORIZING…"
        case .approved: s.offline == true ? "APPROVED OFFLINE" : "APPROVED"
        case .declined: "DECLINED"
        }
    }

    /// The ledger's line: where sales go, and when the server is away, that the till is offline,
    /// since when, and how many payments wait (and how old the oldest is); a failing printer too.
    static func ledgerLine(_ s: TillSession.Snapshot) -> String {
        var line = "  Ledger  "
        if let link = s.ledger {
            line += link.reachable ? "server online" : "\u{1B}[7m OFFLINE \u{1B}[0m since \(clock(link.since))"
            if link.unsynced > 0 || !link.reachable {
                line += " · \(link.unsynced) unsynced" + (link.unsyncedAgeSeconds.map { ", oldest " + age($0) } ?? "")
            }
            if link.offlineClosed != nil { line += " · \u{1B}[1mno more offline sales\u{1B}[0m" }
        } else {
            line += "embedded (this machine)"
        }
        if let printer = s.printer, !printer.ok { line += " · \u{1B}[1mPRINTER FAILING\u{1B}[0m" }
        return line
    }

    /// An age in seconds, as a cashier reads it: 40 s, 4 min, 2 h 5 min.
    static func age(_ seconds: Int64) -> String {
        seconds < 60 ? "\(seconds) s" : seconds < 3600 ? "\(seconds / 60) min" : "\(seconds / 3600) h \(seconds % 3600 / 60) min"
    }

    /// `left` and `right` on one line of `width` columns.
    static func spread(_ left: String, _ right: String, _ width: Int) -> String {
        let gap = width - TextReceipt.displayWidth(left) - TextReceipt.displayWidth(right)
        return gap > 0 ? left + String(repeating: " ", count: gap) + right : left
    }

    /// `line` cut to `width` columns (escape sequences take none).
    static func fit(_ line: String, _ width: Int) -> String {
        var out = "", used = 0, inEscape = false
        for character in line {
            if character == "\u{1B}" { inEscape = true }
            if inEscape {
                out.append(character)
                if character.isLetter { inEscape = false }
                continue
            }
            let w = TextReceipt.displayWidth(String(character))
            if used + w > width { break }
            out.append(character)
            used += w
        }
        return out
    }

    static func clock(_ millis: Int64) -> String {
        String(TextReceipt.utcDateTime(millis / 1000).dropFirst(11).prefix(8))
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }
}
