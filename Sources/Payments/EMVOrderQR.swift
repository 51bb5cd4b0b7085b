/// qrpos's own dynamic QR for one order: an EMV MPM payload any EMV reader can parse, with the
/// merchant id in a template 26 and the expiry in a template 80, both under `OrderQR.gui`.
///
/// The properties are constants because the initialisers check them: an `OrderQR` that exists
/// always encodes to a payload that `MerchantQR.parse` accepts.
public struct OrderQR: Sendable, Equatable {
    /// The GUI (sub-id 00) of qrpos's merchant template 26 and expiry template 80.
    public static let gui = "com.qrpos.pay"

    /// Template 26, sub-id 01.
    public let merchantID: String
    /// Field 59, 1 to 25 characters in any script.
    public let merchantName: String
    /// Field 60, 1 to 15 characters in any script.
    public let merchantCity: String
    /// Field 52, four digits.
    public let categoryCode: String
    /// Field 58, two upper-case letters.
    public let countryCode: String
    /// Field 54, with field 53 taken from its currency. Always more than zero.
    public let amount: Money
    /// Field 62-01 (bill number): 1 to 25 printable ASCII characters.
    public let orderID: String
    /// Field 62-05.
    public let referenceLabel: String?
    /// Field 62-07.
    public let terminalLabel: String?
    /// Unix seconds after which the terminal refuses the order: template 80, sub-id 01, as digits.
    public let expiresAt: Int64

    /// An order QR with these values, checked as `MerchantQR.validate()` checks a payload.
    public init(
        merchantID: String, merchantName: String, merchantCity: String, categoryCode: String,
        countryCode: String, amount: Money, orderID: String, referenceLabel: String? = nil,
        terminalLabel: String? = nil, expiresAt: Int64
    ) throws(EMVQRError) {
        guard amount.minorUnits > 0 else {
            throw EMVQRError(.badField, "An order QR needs an amount above zero, not \(amount).")
        }
        guard expiresAt >= 0 else {
            throw EMVQRError(.badField, "An order QR's expiry must be unix seconds at or after 1970, not \(expiresAt).")
        }
        self.merchantID = merchantID
        self.merchantName = merchantName
        self.merchantCity = merchantCity
        self.categoryCode = categoryCode
        self.countryCode = countryCode
        self.amount = amount
        self.orderID = orderID
        self.referenceLabel = referenceLabel
        self.terminalLabel = terminalLabel
        self.expiresAt = expiresAt
        try merchantQR.validate()
    }

    /// Reads the order out of a parsed payload. Fields qrpos does not use (other networks' templates,
    /// tips, the language template) are ignored, so `merchantQR` may hold less than `qr`.
    ///
    /// Throws `notOrderQR` when `qr` is not dynamic, or lacks a template 26–51 under our GUI with
    /// a merchant id, an amount, a 62-01 order id, or a template 80–99 under our GUI with an expiry.
    public init(_ qr: MerchantQR) throws(EMVQRError) {
        try qr.validate()
        guard qr.initiation == .dynamicCode else {
            throw EMVQRError(.notOrderQR, "Not a qrpos order QR: field 01 must be 12 (dynamic).")
        }
        guard let account = qr.merchantTemplate(gui: Self.gui), let merchantID = account.value("01") else {
            throw EMVQRError(.notOrderQR, "Not a qrpos order QR: no merchant account template with GUI \(Self.gui) and a merchant id in sub-id 01.")
        }
        guard let amount = qr.amount else {
            throw EMVQRError(.notOrderQR, "Not a qrpos order QR: field 54 (transaction amount) is absent.")
        }
        guard let orderID = qr.additionalData?.billNumber else {
            throw EMVQRError(.notOrderQR, "Not a qrpos order QR: field 62-01 (bill number), the order id, is absent.")
        }
        guard let expiry = qr.unreservedTemplate(gui: Self.gui)?.value("01") else {
            throw EMVQRError(.notOrderQR, "Not a qrpos order QR: no unreserved template with GUI \(Self.gui) and an expiry in sub-id 01.")
        }
        guard expiry.unicodeScalars.allSatisfy(EMVText.isDigit), let expiresAt = Int64(expiry) else {
            throw EMVQRError(.badField, "The order QR's expiry must be unix seconds in digits, not \(EMVText.quoted(expiry.unicodeScalars)).")
        }
        try self.init(
            merchantID: merchantID, merchantName: qr.merchantName, merchantCity: qr.merchantCity,
            categoryCode: qr.categoryCode, countryCode: qr.countryCode, amount: amount, orderID: orderID,
            referenceLabel: qr.additionalData?.referenceLabel, terminalLabel: qr.additionalData?.terminalLabel,
            expiresAt: expiresAt)
    }

    /// Parses a payload and reads the order out of it.
    public static func parse(_ payload: String) throws(EMVQRError) -> OrderQR {
        try OrderQR(MerchantQR.parse(payload))
    }

    /// The EMV payload for this order: dynamic, in the amount's currency.
    public var merchantQR: MerchantQR {
        MerchantQR(
            initiation: .dynamicCode,
            merchantAccounts: [.template(EMVTemplate(id: "26", gui: Self.gui, fields: [TLV(id: "01", value: merchantID)]))],
            categoryCode: categoryCode,
            currency: amount.currency,
            amount: amount,
            countryCode: countryCode,
            merchantName: merchantName,
            merchantCity: merchantCity,
            additionalData: AdditionalData(billNumber: orderID, referenceLabel: referenceLabel, terminalLabel: terminalLabel),
            unreserved: [.template(EMVTemplate(id: "80", gui: Self.gui, fields: [TLV(id: "01", value: String(expiresAt))]))])
    }

    /// The payload text to put in the QR code.
    public func encoded() -> String { merchantQR.encoded() }
}
