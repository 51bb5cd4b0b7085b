import Payments

/// One receipt for one payment or refund, exactly as it is signed, printed and shown as a QR.
///
/// Amounts are integer minor units (`Money`); `amount` is always positive and `kind` says which way
/// the money went. Text fields hold what the caller wants printed: `payer` in particular must
/// already be masked, because the receipt is handed to the customer and anyone may scan it.
public struct Receipt: Sendable, Codable, Equatable {
    /// Which way the money went.
    public enum Kind: String, Sendable, Codable {
        /// The customer paid the merchant.
        case sale
        /// The merchant paid money back; `refundOf` names the original payment.
        case refund
    }

    /// One item on the receipt. Purely informative: `total` is not checked against
    /// `quantity × unitPrice` nor the lines against `amount`, since discounts and rounding are the
    /// caller's business. Its prices are in the receipt's currency, which is why a line is encoded
    /// only as part of its receipt.
    public struct Line: Sendable, Equatable {
        /// What was sold, as printed.
        public var name: String
        /// How many, at least 1.
        public var quantity: Int
        /// Price of one, in the receipt's currency.
        public var unitPrice: Money
        /// Price of the line, in the receipt's currency, tax included.
        public var total: Money
        /// The sales tax (VAT) rate included in the price, in basis points (1300 = 13 %); nil
        /// when the line carries no tax information.
        public var taxRate: Int?

        /// A line with its quantity, the price of one, the line's total, and its tax rate.
        public init(name: String, quantity: Int, unitPrice: Money, total: Money, taxRate: Int? = nil) {
            self.name = name
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.total = total
            self.taxRate = taxRate
        }
    }

    /// How the payment was approved.
    public enum Authorization: String, Sendable, Codable {
        /// By the ledger (over the network, or the terminal's own embedded ledger).
        case online
        /// By the terminal's offline rules; the ledger settles it when the journal is forwarded.
        case offline
    }

    /// The tax included in the receipt's lines at one rate.
    public struct Tax: Sendable, Equatable {
        /// Basis points: 1300 is 13 %.
        public let rate: Int
        /// The lines' total at this rate, tax included.
        public let gross: Money
        /// The tax in `gross`.
        public let tax: Money

        public init(rate: Int, gross: Money, tax: Money) {
            self.rate = rate
            self.gross = gross
            self.tax = tax
        }
    }

    /// The tax included in `lines`, per rate in ascending order. Prices include tax (as in
    /// China and the EU), so each rate's tax is gross × rate / (10,000 + rate) in minor units,
    /// rounded half up once per rate (not per line, where roundings would add up). Derived from
    /// the signed lines, so a receipt cannot state a tax its lines do not carry.
    public static func taxes(of lines: [Line], currency: Currency) -> [Tax] {
        var gross: [Int: Int64] = [:]
        for line in lines { if let rate = line.taxRate { gross[rate, default: 0] += line.total.minorUnits } }
        return gross.keys.sorted().map { rate in
            let g = gross[rate]!
            // Half up on exact integers: (2 × g × r + d) / (2 × d), d = 10,000 + r.
            let d = Int64(10_000 + rate)
            let tax = (2 * g * Int64(rate) + d) / (2 * d)
            return Tax(rate: rate, gross: Money(minorUnits: g, currency: currency), tax: Money(minorUnits: tax, currency: currency))
        }
    }

    /// The tax included in this receipt, per rate.
    public var taxes: [Tax] { Self.taxes(of: lines, currency: amount.currency) }

    /// "13%", "5.5%": a rate in basis points as people write it.
    public static func percent(_ basisPoints: Int) -> String {
        let whole = basisPoints / 100, rest = basisPoints % 100
        if rest == 0 { return "\(whole)%" }
        return rest % 10 == 0 ? "\(whole).\(rest / 10)%" : "\(whole).\(rest < 10 ? "0" : "")\(rest)%"
    }

    /// The receipt number: gapless per terminal ("T7-000042") when the terminal's receipt book
    /// issues it; the payment's transfer id otherwise.
    public var number: String
    /// Sale or refund.
    public var kind: Kind
    /// The merchant's id, as the acquirer knows it.
    public var merchantID: String
    /// The merchant's name, printed centred at the top.
    public var merchantName: String
    /// The merchant's city, printed under the name.
    public var merchantCity: String
    /// The terminal that took the payment.
    public var terminalID: String
    /// The ledger transfer id of this payment or refund.
    public var paymentID: String
    /// For a refund: the payment id of the original sale. Nil for a sale.
    public var refundOf: String?
    /// The merchant's order reference, if there is one.
    public var orderID: String?
    /// How the customer paid, e.g. "customer code" or "merchant QR".
    public var method: String
    /// Who paid, already masked by the caller, e.g. "code …3456".
    public var payer: String
    /// The amount paid or refunded, positive.
    public var amount: Money
    /// When the receipt was issued: unix seconds, UTC.
    public var issuedAt: Int64
    /// The items, possibly none.
    public var lines: [Line]
    /// Online or offline approval; nil on receipts made before qrpos recorded it.
    public var authorization: Authorization?
    /// The approval code printed for the cashier and the customer (6 characters).
    public var approvalCode: String?
    /// For a refund: the original sale's receipt number, when the terminal knows it.
    public var refundOfNumber: String?

    /// A receipt with every field given; `validate()` says whether it may be signed.
    public init(
        number: String, kind: Kind,
        merchantID: String, merchantName: String, merchantCity: String,
        terminalID: String, paymentID: String, refundOf: String? = nil, orderID: String? = nil,
        method: String, payer: String, amount: Money, issuedAt: Int64, lines: [Line] = [],
        authorization: Authorization? = nil, approvalCode: String? = nil, refundOfNumber: String? = nil
    ) {
        self.number = number
        self.kind = kind
        self.merchantID = merchantID
        self.merchantName = merchantName
        self.merchantCity = merchantCity
        self.terminalID = terminalID
        self.paymentID = paymentID
        self.refundOf = refundOf
        self.orderID = orderID
        self.method = method
        self.payer = payer
        self.amount = amount
        self.issuedAt = issuedAt
        self.lines = lines
        self.authorization = authorization
        self.approvalCode = approvalCode
        self.refundOfNumber = refundOfNumber
    }

    /// Limits on a receipt, so that one always fits in a QR code and on paper.
    public enum Limits {
        /// Longest text field, in UTF-8 bytes.
        public static let textBytesMax = 128
        /// Most item lines on one receipt.
        public static let lineCountMax = 32
        /// Longest compact string or receipt file `ReceiptCodec.parse` reads, in UTF-8 bytes; larger
        /// input is refused before any decoding.
        public static let parseBytesMax = 64 * 1024
    }

    /// Checks what a signer must not vouch for: empty ids, a non-positive amount, a refund without
    /// its original payment (or a sale with one), a currency qrpos does not know, lines in another
    /// currency, and control characters, which a printer would obey as commands (ESC, LF…).
    public func validate() throws(ReceiptError) {
        func invalid(_ message: String) -> ReceiptError { ReceiptError(.invalidField, message) }

        var texts: [(String, String)] = [
            ("number", number), ("merchantID", merchantID), ("merchantName", merchantName),
            ("merchantCity", merchantCity), ("terminalID", terminalID), ("paymentID", paymentID),
            ("method", method), ("payer", payer),
        ]
        if let refundOf { texts.append(("refundOf", refundOf)) }
        if let orderID { texts.append(("orderID", orderID)) }
        if let refundOfNumber { texts.append(("refundOfNumber", refundOfNumber)) }
        for (index, line) in lines.enumerated() { texts.append(("lines[\(index)].name", line.name)) }
        for (field, text) in texts {
            guard text.utf8.count <= Limits.textBytesMax else {
                throw invalid("\(field) is \(text.utf8.count) bytes long; the most is \(Limits.textBytesMax)")
            }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw invalid("\(field) contains a control character")
            }
        }
        for (field, text) in [("number", number), ("merchantID", merchantID), ("terminalID", terminalID),
                              ("paymentID", paymentID), ("merchantName", merchantName)] where text.isEmpty {
            throw invalid("\(field) is empty")
        }
        switch (kind, refundOf) {
        case (.sale, .some): throw invalid("a sale names an original payment (refundOf)")
        case (.refund, .none), (.refund, .some("")): throw invalid("a refund does not name its original payment (refundOf)")
        default: break
        }
        if orderID == "" { throw invalid("orderID is empty; leave it out instead") }
        if refundOfNumber != nil && kind != .refund { throw invalid("a sale names an original receipt (refundOfNumber)") }
        if refundOfNumber == "" { throw invalid("refundOfNumber is empty; leave it out instead") }
        if let approvalCode, !(1...16).contains(approvalCode.count)
            || !approvalCode.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("0"..."9").contains($0) }) {
            throw invalid("approvalCode '\(approvalCode.prefix(20))' is not 1 to 16 capital letters and digits")
        }
        guard Currency(amount.currency.code) == amount.currency else {
            throw invalid("currency \(amount.currency.code) (exponent \(amount.currency.exponent)) is not one qrpos knows")
        }
        guard amount.minorUnits > 0 else { throw invalid("amount \(amount) is not positive") }
        guard issuedAt >= 0 else { throw invalid("issuedAt \(issuedAt) is before 1970") }
        guard lines.count <= Limits.lineCountMax else {
            throw invalid("\(lines.count) item lines; the most is \(Limits.lineCountMax)")
        }
        for (index, line) in lines.enumerated() {
            guard line.quantity > 0 else { throw invalid("lines[\(index)] has quantity \(line.quantity)") }
            guard line.unitPrice.currency == amount.currency, line.total.currency == amount.currency else {
                throw invalid("lines[\(index)] is not in \(amount.currency.code)")
            }
            guard line.unitPrice.minorUnits >= 0, line.total.minorUnits >= 0 else {
                throw invalid("lines[\(index)] has a negative price")
            }
            if let rate = line.taxRate, !(0...10_000).contains(rate) {
                throw invalid("lines[\(index)] has tax rate \(rate) basis points; 0 to 10,000 are allowed")
            }
            // The tax is worked out from taxed lines' totals: keep their sum far from overflow.
            guard line.taxRate == nil || line.total.minorUnits <= Int64(1) << 40 else {
                throw invalid("lines[\(index)] is too large to carry a tax rate")
            }
        }
    }
}

// The JSON form names the currency once and writes every amount as bare minor units, rather than
// Money's own Codable form (a currency object per amount): the receipt goes into a QR code, where
// every byte makes the code denser. `ReceiptCodec.canonicalBytes` writes exactly these keys.
extension Receipt {
    enum CodingKeys: String, CodingKey {
        case number, kind, merchantID, merchantName, merchantCity, terminalID, paymentID, refundOf, orderID
        case method, payer, currency, amount, issuedAt, lines, authorization, approvalCode, refundOfNumber
    }

    enum LineKeys: String, CodingKey {
        case name, quantity, unitPrice, total, taxRate
    }

    /// Reads the JSON form: the currency by its alphabetic code, amounts as integer minor units.
    /// A currency qrpos does not know is an error, since its exponent would be a guess.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let code = try container.decode(String.self, forKey: .currency)
        guard let currency = Currency(code), currency.code == code else {
            throw DecodingError.dataCorruptedError(
                forKey: .currency, in: container, debugDescription: "unknown currency '\(code)'")
        }
        var lineContainers = try container.nestedUnkeyedContainer(forKey: .lines)
        var lines: [Line] = []
        while !lineContainers.isAtEnd {
            let line = try lineContainers.nestedContainer(keyedBy: LineKeys.self)
            lines.append(Line(
                name: try line.decode(String.self, forKey: .name),
                quantity: try line.decode(Int.self, forKey: .quantity),
                unitPrice: Money(minorUnits: try line.decode(Int64.self, forKey: .unitPrice), currency: currency),
                total: Money(minorUnits: try line.decode(Int64.self, forKey: .total), currency: currency),
                taxRate: try line.decodeIfPresent(Int.self, forKey: .taxRate)))
        }
        self.init(
            number: try container.decode(String.self, forKey: .number),
            kind: try container.decode(Kind.self, forKey: .kind),
            merchantID: try container.decode(String.self, forKey: .merchantID),
            merchantName: try container.decode(String.self, forKey: .merchantName),
            merchantCity: try container.decode(String.self, forKey: .merchantCity),
            terminalID: try container.decode(String.self, forKey: .terminalID),
            paymentID: try container.decode(String.self, forKey: .paymentID),
            refundOf: try container.decodeIfPresent(String.self, forKey: .refundOf),
            orderID: try container.decodeIfPresent(String.self, forKey: .orderID),
            method: try container.decode(String.self, forKey: .method),
            payer: try container.decode(String.self, forKey: .payer),
            amount: Money(minorUnits: try container.decode(Int64.self, forKey: .amount), currency: currency),
            issuedAt: try container.decode(Int64.self, forKey: .issuedAt),
            lines: lines,
            authorization: try container.decodeIfPresent(Authorization.self, forKey: .authorization),
            approvalCode: try container.decodeIfPresent(String.self, forKey: .approvalCode),
            refundOfNumber: try container.decodeIfPresent(String.self, forKey: .refundOfNumber))
    }

    /// Writes the JSON form read by `init(from:)`. Line prices are written in the receipt's
    /// currency without a check: `validate()` is what refuses a line in another currency.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(number, forKey: .number)
        try container.encode(kind, forKey: .kind)
        try container.encode(merchantID, forKey: .merchantID)
        try container.encode(merchantName, forKey: .merchantName)
        try container.encode(merchantCity, forKey: .merchantCity)
        try container.encode(terminalID, forKey: .terminalID)
        try container.encode(paymentID, forKey: .paymentID)
        try container.encodeIfPresent(refundOf, forKey: .refundOf)
        try container.encodeIfPresent(orderID, forKey: .orderID)
        try container.encode(method, forKey: .method)
        try container.encode(payer, forKey: .payer)
        try container.encode(amount.currency.code, forKey: .currency)
        try container.encode(amount.minorUnits, forKey: .amount)
        try container.encode(issuedAt, forKey: .issuedAt)
        var lineContainers = container.nestedUnkeyedContainer(forKey: .lines)
        for line in lines {
            var lineContainer = lineContainers.nestedContainer(keyedBy: LineKeys.self)
            try lineContainer.encode(line.name, forKey: .name)
            try lineContainer.encode(line.quantity, forKey: .quantity)
            try lineContainer.encode(line.unitPrice.minorUnits, forKey: .unitPrice)
            try lineContainer.encode(line.total.minorUnits, forKey: .total)
            try lineContainer.encodeIfPresent(line.taxRate, forKey: .taxRate)
        }
        try container.encodeIfPresent(authorization, forKey: .authorization)
        try container.encodeIfPresent(approvalCode, forKey: .approvalCode)
        try container.encodeIfPresent(refundOfNumber, forKey: .refundOfNumber)
    }
}
