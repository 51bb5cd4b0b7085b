import Payments

/// The receipt as plain text for a thermal printer or a screen: one string of lines, none wider
/// than the paper.
///
/// Widths follow the printers qrpos drives: 32 columns on 58 mm paper, 42 or 48 on 80 mm (font A).
/// Width is counted in columns, not characters: CJK ideographs, kana, Hangul, full-width forms
/// and emoji take two. Nothing is cut off: long names and ids wrap.
public enum TextReceipt {
    /// Narrowest paper `render` lays out for; below it the label column leaves no room.
    public static let columnsMin = 20
    /// Widest; beyond it is a caller's bug, not a printer.
    public static let columnsMax = 160

    /// What a reprint says, at its top and bottom, so that it cannot pass for the original.
    public static let copyMark = "*** COPY ***"

    /// Lays out `signed` in `columns` columns, each line ending in "\n", with no trailing spaces.
    /// A `copy` (a reprint) is marked as one at the top and the bottom.
    public static func render(_ signed: SignedReceipt, columns: Int = 32, copy: Bool = false) -> String {
        precondition((columnsMin...columnsMax).contains(columns), "receipt width \(columns) is outside \(columnsMin)...\(columnsMax)")
        let receipt = signed.receipt
        var page = Page(width: columns)

        page.centered(receipt.merchantName)
        if !receipt.merchantCity.isEmpty { page.centered(receipt.merchantCity) }
        page.rule()
        if copy {
            page.centered(copyMark)
            page.rule()
        }
        if receipt.kind == .refund {
            page.centered("REFUND")
            page.rule()
        }
        page.row("Receipt", receipt.number)
        page.row("Date", utcDateTime(receipt.issuedAt))
        page.row("Merchant", receipt.merchantID)
        page.row("Terminal", receipt.terminalID)
        if let orderID = receipt.orderID { page.row("Order", orderID) }
        // Usually the receipt number is the payment id: print it once.
        if receipt.paymentID != receipt.number { page.row("Payment", receipt.paymentID) }
        if let number = receipt.refundOfNumber { page.row("Refund of receipt", number) }
        if let refundOf = receipt.refundOf { page.row("Refund of", refundOf) }
        page.row("Method", receipt.method)
        page.row("Payer", receipt.payer)
        if let approvalCode = receipt.approvalCode { page.row("Approval code", approvalCode) }

        if !receipt.lines.isEmpty {
            page.rule()
            for line in receipt.lines {
                if line.quantity == 1 {
                    page.row(line.name, line.total.decimalString)
                } else {
                    page.wrapped(line.name)
                    page.row("  \(line.quantity) x \(line.unitPrice.decimalString)", line.total.decimalString)
                }
            }
        }
        page.rule()
        page.row(receipt.kind == .refund ? "REFUND TOTAL" : "TOTAL",
                 "\(receipt.amount.currency.code) \(receipt.amount.decimalString)")
        for tax in receipt.taxes {
            page.row("incl. VAT \(Receipt.percent(tax.rate)) of \(tax.gross.decimalString)", tax.tax.decimalString)
        }
        page.rule()
        page.centered(statusLine(receipt))
        page.centered("Signed by key \(signed.keyID)")
        if copy { page.centered(copyMark) }
        return page.lines.map { $0 + "\n" }.joined()
    }

    /// "APPROVED", "APPROVED OFFLINE": a sale approved by the terminal's offline rules says so.
    static func statusLine(_ receipt: Receipt) -> String {
        switch (receipt.kind, receipt.authorization) {
        case (.refund, _): "REFUNDED"
        case (.sale, .offline): "APPROVED OFFLINE"
        case (.sale, _): "APPROVED"
        }
    }

    /// How many columns `text` takes on a fixed-pitch printer or terminal.
    public static func displayWidth(_ text: String) -> Int {
        // Printable ASCII, most of a receipt, is one column a byte.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text.utf8.count }
        return text.reduce(0) { $0 + displayWidth($1) }
    }

    /// Two for East Asian wide and full-width characters and emoji, one for anything else.
    /// East Asian "ambiguous" characters (such as "…") count one, as on a UTF-8 terminal.
    ///
    /// A grapheme cluster counts the sum of its scalars less the marks that sit on another
    /// character, because some clusters are several cells wide: half-width "ｶﾞ" is one cluster in
    /// two columns. Counting too many only wraps early; counting too few would overrun the paper.
    static func displayWidth(_ character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if first.properties.isEmojiPresentation || scalars.contains("\u{FE0F}") {
            return 2
        }
        let sum = scalars.reduce(0) { width, scalar in
            switch scalar.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .format: width
            default: width + displayWidth(scalar)
            }
        }
        return max(1, sum)
    }

    private static func displayWidth(_ scalar: Unicode.Scalar) -> Int {
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19,
             0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF,
             0x20000...0x2FFFD, 0x30000...0x3FFFD:
            2
        default:
            1
        }
    }

    /// "2024-05-01 12:34:56 UTC", computed from the calendar rather than a DateFormatter so that
    /// neither locale nor time zone settings can change a printed receipt.
    public static func utcDateTime(_ seconds: Int64) -> String {
        // Years 0001...9999 only: outside them the arithmetic could overflow and no receipt lives.
        guard (-62_135_596_800...253_402_300_799).contains(seconds) else { return "@\(seconds)" }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days: proleptic Gregorian, eras of 400 years.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let yearText = String(repeating: "0", count: max(0, 4 - String(year).count)) + String(year)
        return "\(yearText)-\(two(month))-\(two(day)) \(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) UTC"
    }
}

/// Lines being laid out at a fixed width.
struct Page {
    let width: Int
    var lines: [String] = []

    mutating func rule() {
        lines.append(String(repeating: "-", count: width))
    }

    mutating func centered(_ text: String) {
        for line in wrap(text) {
            let pad = (width - TextReceipt.displayWidth(line)) / 2
            lines.append(String(repeating: " ", count: pad) + line)
        }
    }

    mutating func wrapped(_ text: String) {
        lines.append(contentsOf: wrap(text))
    }

    /// `left` at the left margin and `right` flush right on the same line when both fit; else
    /// `left` wrapped, then `right` flush right on lines of its own.
    mutating func row(_ left: String, _ right: String) {
        let left = sanitized(left), right = sanitized(right)
        let leftWidth = TextReceipt.displayWidth(left), rightWidth = TextReceipt.displayWidth(right)
        if leftWidth + 1 + rightWidth <= width {
            lines.append(left + String(repeating: " ", count: width - leftWidth - rightWidth) + right)
            return
        }
        var leftLines = wrap(left)
        let last = leftLines.last.map(TextReceipt.displayWidth) ?? 0
        if last + 1 + rightWidth <= width, let tail = leftLines.popLast() {
            lines.append(contentsOf: leftLines)
            lines.append(tail + String(repeating: " ", count: width - last - rightWidth) + right)
            return
        }
        lines.append(contentsOf: leftLines)
        for line in wrap(right) {
            lines.append(String(repeating: " ", count: width - TextReceipt.displayWidth(line)) + line)
        }
    }

    /// Greedy word wrap at `width` columns; a word wider than a line is broken between characters.
    private func wrap(_ text: String) -> [String] {
        var result: [String] = []
        var current = "", currentWidth = 0
        for word in sanitized(text).split(separator: " ") {
            var word = String(word), wordWidth = TextReceipt.displayWidth(word)
            if currentWidth > 0 && currentWidth + 1 + wordWidth <= width {
                current += " " + word
                currentWidth += 1 + wordWidth
                continue
            }
            if currentWidth > 0 { result.append(current) }
            while wordWidth > width {
                var head = "", headWidth = 0
                for character in word {
                    let characterWidth = TextReceipt.displayWidth(character)
                    if headWidth + characterWidth > width { break }
                    head.append(character)
                    headWidth += characterWidth
                }
                result.append(head)
                word.removeFirst(head.count)
                wordWidth -= headWidth
            }
            current = word
            currentWidth = wordWidth
        }
        if currentWidth > 0 { result.append(current) }
        return result
    }

    /// Control characters (ESC, LF, TAB…) would move the print head or switch printer modes, so
    /// each becomes "?"; `Receipt.validate()` refuses them, but a receipt being rendered may not
    /// have come through it.
    private func sanitized(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        return String(text.map { character in
            character.unicodeScalars.contains { $0.properties.generalCategory == .control } ? "?" : character
        })
    }
}
