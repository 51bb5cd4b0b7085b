import Payments

/// A terminal's totals since its last day's close: the X report (read, changes nothing) and the
/// Z report (closes the day: numbered, kept, and never undone; the next day starts at zero).
///
/// Built from the receipts themselves, so the report and the receipts can never disagree:
/// sales and refunds, by method and by online or offline approval, with the tax the sales'
/// lines include. A terminal sells in one currency, but a report keeps currencies apart
/// rather than adding yuan to euros.
public struct DayReport: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Running totals; printing one changes nothing.
        case x
        /// The day's close.
        case z
    }

    /// A count and the sum of amounts, in minor units of the section's currency.
    public struct Tally: Sendable, Codable, Equatable {
        public var count: Int
        public var amount: Int64

        public init(count: Int = 0, amount: Int64 = 0) {
            self.count = count
            self.amount = amount
        }

        mutating func add(_ minorUnits: Int64) {
            count += 1
            amount += minorUnits
        }
    }

    /// Everything in one currency.
    public struct Section: Sendable, Codable, Equatable {
        public var currency: String
        public var sales = Tally()
        public var refunds = Tally()
        /// Sales by method ("customer code", "merchant QR"…).
        public var salesByMethod: [String: Tally] = [:]
        /// Sales approved online (by the ledger) and offline (by the terminal's rules).
        public var online = Tally()
        public var offline = Tally()
        /// Tax included in the sales, per rate in basis points.
        public var taxByRate: [Int: Int64] = [:]

        /// Sales less refunds.
        public var net: Int64 { sales.amount - refunds.amount }

        init(currency: String) {
            self.currency = currency
        }
    }

    public var kind: Kind
    /// The Z report's number, 1, 2, 3… per terminal; nil for an X report.
    public var number: Int?
    public var terminalID: String
    public var merchantName: String
    /// When the report was made: unix seconds, UTC.
    public var madeAt: Int64
    /// The period: from the previous Z report (nil before the first), to `madeAt`.
    public var since: Int64?
    /// The first and last receipt numbers the report covers; nil when it covers none.
    public var firstReceipt: String?
    public var lastReceipt: String?
    public var receiptCount: Int
    public var sections: [Section]

    /// The report over `receipts` (those issued since the last Z report, in order).
    public init(kind: Kind, number: Int?, terminalID: String, merchantName: String, madeAt: Int64, since: Int64?,
                receipts: [Receipt]) {
        self.kind = kind
        self.number = number
        self.terminalID = terminalID
        self.merchantName = merchantName
        self.madeAt = madeAt
        self.since = since
        firstReceipt = receipts.first?.number
        lastReceipt = receipts.last?.number
        receiptCount = receipts.count
        var byCurrency: [String: Section] = [:]
        for receipt in receipts {
            let code = receipt.amount.currency.code
            var section = byCurrency[code] ?? Section(currency: code)
            let amount = receipt.amount.minorUnits
            switch receipt.kind {
            case .refund:
                section.refunds.add(amount)
            case .sale:
                section.sales.add(amount)
                section.salesByMethod[receipt.method, default: Tally()].add(amount)
                if receipt.authorization == .offline { section.offline.add(amount) } else { section.online.add(amount) }
                for tax in receipt.taxes { section.taxByRate[tax.rate, default: 0] += tax.tax.minorUnits }
            }
            byCurrency[code] = section
        }
        sections = byCurrency.keys.sorted().map { byCurrency[$0]! }
    }

    /// The report laid out in `columns` columns, as a receipt is (``TextReceipt``); a `copy`
    /// (a reprint of a Z report) is marked as one.
    public func text(columns: Int = 32, copy: Bool = false) -> String {
        precondition((TextReceipt.columnsMin...TextReceipt.columnsMax).contains(columns), "report width \(columns) is out of range")
        var page = Page(width: columns)
        page.centered(merchantName)
        page.rule()
        switch kind {
        case .x: page.centered("X REPORT")
        case .z: page.centered("Z REPORT \(number.map { String($0) } ?? "?")")
        }
        page.centered(kind == .x ? "running totals, day still open" : "day closed")
        if copy { page.centered(TextReceipt.copyMark) }
        page.rule()
        page.row("Terminal", terminalID)
        page.row("From", since.map(TextReceipt.utcDateTime) ?? "first receipt")
        page.row("To", TextReceipt.utcDateTime(madeAt))
        page.row("Receipts", "\(receiptCount)")
        if let firstReceipt, let lastReceipt {
            page.row("First", firstReceipt)
            page.row("Last", lastReceipt)
        }
        for section in sections {
            let currency = Currency(section.currency)
            func money(_ minorUnits: Int64) -> String {
                currency.map { Money(minorUnits: minorUnits, currency: $0).decimalString } ?? String(minorUnits)
            }
            func tally(_ label: String, _ t: Tally) { page.row("\(label) (\(t.count))", money(t.amount)) }
            page.rule()
            page.centered(section.currency)
            tally("Sales", section.sales)
            for method in section.salesByMethod.keys.sorted() { tally("  " + method, section.salesByMethod[method]!) }
            tally("  approved online", section.online)
            tally("  approved offline", section.offline)
            tally("Refunds", section.refunds)
            page.row("NET", money(section.net))
            for rate in section.taxByRate.keys.sorted() {
                page.row("VAT \(Receipt.percent(rate)) in sales", money(section.taxByRate[rate]!))
            }
        }
        if sections.isEmpty {
            page.rule()
            page.centered("no sales, no refunds")
        }
        page.rule()
        if copy { page.centered(TextReceipt.copyMark) }
        return page.lines.map { $0 + "\n" }.joined()
    }
}
