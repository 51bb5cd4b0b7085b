/// An EMVCo merchant-presented-mode (MPM) QR payload: what a merchant shows and a wallet scans.
///
/// `parse` reads any field order between 00 and 63 (the EMVCo sample itself puts 64 before 54);
/// `encoded()` always writes the canonical order, so a canonical payload re-encodes byte for byte.
/// Field values keep their text where the specification leaves the form open, and become typed
/// values (`Currency`, `Money`) where a wrong reading would cost money.
public struct MerchantQR: Sendable, Equatable {
    /// Field 01: whether the code is printed once for many payments or made for one.
    public enum Initiation: String, Sendable {
        /// "11": the same code for many payments, typically without an amount.
        case staticCode = "11"
        /// "12": a code for one payment, typically with an amount.
        case dynamicCode = "12"
    }

    /// The longest payload the specification allows, in characters.
    public static let payloadLengthMax = 512

    /// Field 01, optional: the Pix static sample leaves it out.
    public var initiation: Initiation?
    /// Fields 02–51, at least one; `parse` returns them in ascending id order.
    public var merchantAccounts: [MerchantAccount]
    /// Field 52: the ISO 18245 merchant category code, four digits.
    public var categoryCode: String
    /// Field 53, written as the ISO 4217 numeric code.
    public var currency: Currency
    /// Field 54: in `currency`, with no more decimals than it has.
    public var amount: Money?
    /// Fields 55, 56 and 57.
    public var tip: TipIndicator?
    /// Field 58: ISO 3166-1 alpha-2, two upper-case letters.
    public var countryCode: String
    /// Field 59, 1 to 25 characters. The specification says ASCII; qrpos also reads and writes
    /// other scripts here because real merchant names need them, and lengths count characters.
    public var merchantName: String
    /// Field 60, 1 to 15 characters, with the same allowance as `merchantName`.
    public var merchantCity: String
    /// Field 61, 1 to 10 printable ASCII characters.
    public var postalCode: String?
    /// Field 62. An `AdditionalData` with nothing in it is not written.
    public var additionalData: AdditionalData?
    /// Field 64: the merchant's name and city in another language.
    public var language: LanguageTemplate?
    /// Fields 65–99 in ascending id order. 80–99 that read as templates with a GUI in sub-id 00
    /// come back as `.template`, everything else as `.raw`.
    public var unreserved: [UnreservedObject]

    /// A payload with these fields. Nothing is checked here; call `validate()` before `encoded()`
    /// when the values come from outside the program.
    public init(
        initiation: Initiation? = nil,
        merchantAccounts: [MerchantAccount],
        categoryCode: String,
        currency: Currency,
        amount: Money? = nil,
        tip: TipIndicator? = nil,
        countryCode: String,
        merchantName: String,
        merchantCity: String,
        postalCode: String? = nil,
        additionalData: AdditionalData? = nil,
        language: LanguageTemplate? = nil,
        unreserved: [UnreservedObject] = []
    ) {
        self.initiation = initiation
        self.merchantAccounts = merchantAccounts
        self.categoryCode = categoryCode
        self.currency = currency
        self.amount = amount
        self.tip = tip
        self.countryCode = countryCode
        self.merchantName = merchantName
        self.merchantCity = merchantCity
        self.postalCode = postalCode
        self.additionalData = additionalData
        self.language = language
        self.unreserved = unreserved
    }

    // MARK: Encoding

    /// The data objects between 00 and 63, in ascending id order, as `encoded()` writes them.
    public var fields: [TLV] {
        var out: [TLV] = []
        if let initiation { out.append(TLV(id: "01", value: initiation.rawValue)) }
        for account in merchantAccounts.sorted(by: { $0.id < $1.id }) { out.append(account.tlv) }
        out.append(TLV(id: "52", value: categoryCode))
        out.append(TLV(id: "53", value: currency.numeric))
        if let amount { out.append(TLV(id: "54", value: Self.amountText(amount))) }
        switch tip {
        case nil: break
        case .promptConsumer:
            out.append(TLV(id: "55", value: "01"))
        case .fixedFee(let fee):
            out.append(TLV(id: "55", value: "02"))
            out.append(TLV(id: "56", value: Self.amountText(fee)))
        case .percentageFee(let percent):
            out.append(TLV(id: "55", value: "03"))
            out.append(TLV(id: "57", value: percent))
        }
        out.append(TLV(id: "58", value: countryCode))
        out.append(TLV(id: "59", value: merchantName))
        out.append(TLV(id: "60", value: merchantCity))
        if let postalCode { out.append(TLV(id: "61", value: postalCode)) }
        if let additionalData, !additionalData.fields.isEmpty {
            out.append(TLV(id: "62", value: EMVTLV.encode(additionalData.fields)))
        }
        if let language { out.append(TLV(id: "64", value: EMVTLV.encode(language.fields))) }
        for object in unreserved.sorted(by: { $0.id < $1.id }) { out.append(object.tlv) }
        return out
    }

    /// Fields 54 and 56 as written: every decimal of the currency ("12.50"), except when that
    /// passes the 13 characters the fields allow, where the trailing zero decimals go, so that
    /// every amount `parse` accepts can be written back.
    static func amountText(_ money: Money) -> String {
        let full = money.decimalString
        guard full.unicodeScalars.count > 13, full.contains(".") else { return full }
        var short = Substring(full)
        while short.last == "0" { short = short.dropLast() }
        if short.last == "." { short = short.dropLast() }
        return String(short)
    }

    /// The payload: "000201", the fields in ascending id order, then "6304" and the CRC.
    ///
    /// - Precondition: every value fits a two-digit length. `validate()` checks this and everything
    ///   else; a value that fails it encodes to a payload `parse` rejects, or stops the program
    ///   when it cannot be written at all.
    public func encoded() -> String {
        let body = "000201" + EMVTLV.encode(fields) + "6304"
        return body + CRC16.hex(CRC16.ccittFalse(body.utf8))
    }

    /// Throws the error `parse` would throw for `encoded()`, or a `badField` for what the wire
    /// cannot express (an amount in another currency than field 53, an id in the wrong range).
    /// Offsets in the error are into `encoded()`.
    public func validate() throws(EMVQRError) {
        for account in merchantAccounts {
            switch account {
            case .primitive(let tlv):
                try Self.require(tlv.id, in: 2...25, else: "Merchant account \(tlv.id) is a primitive value; those use ids 02–25, and 26–51 are templates.")
                try Self.requireEncodable([tlv], in: "merchant account \(tlv.id)")
            case .template(let template):
                try Self.require(template.id, in: 26...51, else: "Merchant account template \(template.id) must use an id from 26 to 51; 02–25 are primitive values.")
                try template.validateLayout()
            }
        }
        if let amount, amount.currency != currency {
            throw EMVQRError(.badField, "The amount is in \(amount.currency.code), but field 53 says \(currency.code).")
        }
        if case .fixedFee(let fee) = tip, fee.currency != currency {
            throw EMVQRError(.badField, "The fixed convenience fee is in \(fee.currency.code), but field 53 says \(currency.code).")
        }
        if let additionalData {
            for tlv in additionalData.other {
                try Self.require(tlv.id, in: 0...0, 10...99, else: "Additional data field 62-\(tlv.id) in `other` must use sub-id 00 or 10–99; 01–09 have named properties.")
            }
            try Self.requireEncodable(additionalData.fields, in: "template 62")
        }
        if let language {
            for tlv in language.other {
                try Self.require(tlv.id, in: 3...99, else: "Language template field 64-\(tlv.id) in `other` must use a sub-id from 03 to 99; 00–02 have named properties.")
            }
            try Self.requireEncodable(language.fields, in: "template 64")
        }
        for object in unreserved {
            switch object {
            case .raw(let tlv):
                try Self.require(tlv.id, in: 65...99, else: "Unreserved field \(tlv.id) must use an id from 65 to 99.")
                try Self.requireEncodable([tlv], in: "field \(tlv.id)")
            case .template(let template):
                try Self.require(template.id, in: 80...99, else: "Unreserved template \(template.id) must use an id from 80 to 99.")
                try template.validateLayout()
            }
        }
        try Self.requireEncodable(fields, in: "the payload")
        _ = try Self.parse(encoded())
    }

    /// Checks that `id` is two digits within one of `ranges`.
    private static func require(_ id: String, in ranges: ClosedRange<Int>..., else message: String) throws(EMVQRError) {
        guard let number = EMVText.idNumber(id), ranges.contains(where: { $0.contains(number) }) else {
            throw EMVQRError(.badField, message)
        }
    }

    /// Checks that `EMVTLV.encode` can write `tlvs`: two-digit ids and at most 99 characters each.
    static func requireEncodable(_ tlvs: [TLV], in context: String) throws(EMVQRError) {
        for tlv in tlvs {
            guard EMVText.isTwoDigits(tlv.id) else {
                throw EMVQRError(.badField, "Field id '\(tlv.id)' in \(context) is not two digits.")
            }
            let count = tlv.value.unicodeScalars.count
            guard count <= 99 else {
                throw EMVQRError(.tooLong, "Field \(tlv.id) in \(context) is \(count) characters long; a two-digit length allows at most 99.")
            }
        }
    }

    // MARK: Parsing

    /// Reads a payload, checking its structure, its CRC and every field's format.
    ///
    /// Never traps, whatever the input: every failure is an `EMVQRError` whose message names the
    /// field and the character offset.
    public static func parse(_ payload: String) throws(EMVQRError) -> MerchantQR {
        let scalars = Array(payload.unicodeScalars)
        guard !scalars.isEmpty else {
            throw EMVQRError(.empty, "The payload is empty.", offset: 0)
        }
        guard scalars.count <= payloadLengthMax else {
            throw EMVQRError(.tooLong, "The payload is \(scalars.count) characters long; EMV QR allows at most \(payloadLengthMax).", offset: payloadLengthMax)
        }
        let fields = try EMVTLV.scan(scalars, base: 0, context: "the payload", path: "")

        guard let first = fields.first, first.id == "00" else {
            if let found = fields.first(where: { $0.id == "00" }) {
                throw EMVQRError(.misplacedField, "Field 00 (payload format indicator) is at offset \(found.offset), but it must come first.", offset: found.offset)
            }
            throw EMVQRError(.missingField, "The payload does not start with field 00 (payload format indicator), which is mandatory.", offset: 0)
        }
        guard first.value == "01" else {
            throw first.bad("must be 01, not \(EMVText.quoted(first.value.unicodeScalars)).")
        }
        guard let last = fields.last, last.id == "63" else {
            if let found = fields.first(where: { $0.id == "63" }) {
                throw EMVQRError(.misplacedField, "Field 63 (CRC) is at offset \(found.offset), but it must come last.", offset: found.offset)
            }
            throw EMVQRError(.missingField, "The payload does not end with field 63 (CRC), which is mandatory.", offset: scalars.count)
        }
        try checkCRC(last, payload: payload)
        return try decode(fields.dropFirst().dropLast())
    }

    private static func checkCRC(_ field: EMVField, payload: String) throws(EMVQRError) {
        let written = field.value
        let isHex = written.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("A"..."F").contains($0) }
        guard field.scalarCount == 4, isHex else {
            let lowerCase = field.scalarCount == 4 && written.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
            let why = lowerCase ? "is in lower case; EMV QR writes the CRC as four upper-case hex digits" : "must be four upper-case hex digits"
            throw EMVQRError(.badCRC, "\(EMVText.sentence(field.label)) \(why), not \(EMVText.quoted(written.unicodeScalars)).", offset: field.valueOffset)
        }
        // The last four scalars are ASCII hex, so dropping four UTF-8 bytes leaves exactly
        // everything up to and including "6304".
        let computed = CRC16.hex(CRC16.ccittFalse(payload.utf8.dropLast(4)))
        guard written == computed else {
            throw EMVQRError(.badCRC, "\(EMVText.sentence(field.label)) says \(written), but the payload's CRC is \(computed): the code is damaged or was edited.", offset: field.valueOffset)
        }
    }

    /// Turns the fields between 00 and 63 into a value, checking mandatory fields first and then
    /// each field in ascending id order, so the same bad payload always gives the same error.
    private static func decode(_ body: ArraySlice<EMVField>) throws(EMVQRError) -> MerchantQR {
        var byNumber: [Int: EMVField] = [:]
        for field in body { byNumber[field.number] = field }
        let sorted = body.sorted { $0.number < $1.number }

        guard sorted.contains(where: { (2...51).contains($0.number) }) else {
            throw EMVQRError(.missingField, "The payload has no merchant account information (ids 02–51); at least one is mandatory.")
        }
        for number in [52, 53, 58, 59, 60] where byNumber[number] == nil {
            let name = EMVText.fieldName(path: "", number: number) ?? ""
            throw EMVQRError(.missingField, "The payload has no field \(number) (\(name)), which is mandatory.")
        }
        // Present, as checked just above; the fallbacks are never used.
        let f52 = byNumber[52] ?? EMVField.none, f53 = byNumber[53] ?? EMVField.none
        let f58 = byNumber[58] ?? EMVField.none, f59 = byNumber[59] ?? EMVField.none
        let f60 = byNumber[60] ?? EMVField.none

        var initiation: Initiation?
        if let f01 = byNumber[1] {
            let value = try f01.checked(.numeric, 2...2)
            guard let parsed = Initiation(rawValue: value) else {
                throw f01.bad("must be 11 (static) or 12 (dynamic), not \(EMVText.quoted(value.unicodeScalars)).")
            }
            initiation = parsed
        }

        var accounts: [MerchantAccount] = []
        for field in sorted where (2...51).contains(field.number) {
            if field.number <= 25 {
                accounts.append(.primitive(TLV(id: field.id, value: try field.checked(.ans, 1...99))))
            } else {
                accounts.append(.template(try EMVTemplate.decode(field)))
            }
        }

        let categoryCode = try f52.checked(.numeric, 4...4)
        let numeric = try f53.checked(.numeric, 3...3)
        guard let currency = Currency(numeric) else {
            throw EMVQRError(.unknownCurrency, "\(EMVText.sentence(f53.label)) is ISO 4217 number \(numeric), a currency qrpos does not know, so its amounts cannot be read.", offset: f53.offset)
        }
        let amount = try byNumber[54].map { field throws(EMVQRError) in try decodeAmount(field, currency: currency) }
        let tip = try decodeTip(byNumber[55], byNumber[56], byNumber[57], currency: currency)

        let countryCode = try f58.checked(.ans, 2...2)
        guard countryCode.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) }) else {
            throw f58.bad("must be two upper-case letters (ISO 3166-1 alpha-2), not \(EMVText.quoted(countryCode.unicodeScalars)).")
        }
        let merchantName = try f59.checked(.string, 1...25)
        let merchantCity = try f60.checked(.string, 1...15)
        let postalCode = try byNumber[61].map { field throws(EMVQRError) in try field.checked(.ans, 1...10) }
        let additionalData = try byNumber[62].map { field throws(EMVQRError) in try AdditionalData.decode(field) }
        let language = try byNumber[64].map { field throws(EMVQRError) in try LanguageTemplate.decode(field) }

        var unreserved: [UnreservedObject] = []
        for field in sorted where field.number >= 65 {
            if field.number >= 80, let template = try? EMVTemplate.decode(field) {
                unreserved.append(.template(template))
            } else {
                unreserved.append(.raw(TLV(id: field.id, value: try field.checked(.string, 1...99))))
            }
        }

        return MerchantQR(
            initiation: initiation, merchantAccounts: accounts, categoryCode: categoryCode,
            currency: currency, amount: amount, tip: tip, countryCode: countryCode,
            merchantName: merchantName, merchantCity: merchantCity, postalCode: postalCode,
            additionalData: additionalData, language: language, unreserved: unreserved)
    }

    /// Fields 54 and 56: digits with an optional '.', at most 13 characters, and no more decimals
    /// than the currency has.
    private static func decodeAmount(_ field: EMVField, currency: Currency) throws(EMVQRError) -> Money {
        let text = try field.checked(.ans, 1...13)
        let scalars = text.unicodeScalars
        guard let lead = scalars.first, EMVText.isDigit(lead),
              scalars.allSatisfy({ EMVText.isDigit($0) || $0 == "." }) else {
            throw field.bad("must be digits with an optional '.', such as 23.72, not \(EMVText.quoted(scalars)).")
        }
        do {
            return try Money(parsing: text, currency: currency)
        } catch {
            throw field.bad("is not an amount in \(currency.code): \(error.message).")
        }
    }

    /// Fields 55–57. 56 belongs only with 55 = 02 and 57 only with 55 = 03, so any other
    /// combination is refused rather than guessed at.
    private static func decodeTip(
        _ f55: EMVField?, _ f56: EMVField?, _ f57: EMVField?, currency: Currency
    ) throws(EMVQRError) -> TipIndicator? {
        var tip: TipIndicator?
        if let f55 {
            switch try f55.checked(.numeric, 2...2) {
            case "01":
                tip = .promptConsumer
            case "02":
                guard let f56 else {
                    throw EMVQRError(.missingField, "\(EMVText.sentence(f55.label)) is 02 (fixed convenience fee), but field 56 is absent.", offset: f55.offset)
                }
                tip = .fixedFee(try decodeAmount(f56, currency: currency))
            case "03":
                guard let f57 else {
                    throw EMVQRError(.missingField, "\(EMVText.sentence(f55.label)) is 03 (percentage convenience fee), but field 57 is absent.", offset: f55.offset)
                }
                tip = .percentageFee(try decodePercentage(f57))
            default:
                throw f55.bad("must be 01 (prompt for tip), 02 (fixed fee) or 03 (percentage fee), not \(EMVText.quoted(f55.value.unicodeScalars)).")
            }
        }
        var isFixed = false, isPercentage = false
        switch tip {
        case .fixedFee: isFixed = true
        case .percentageFee: isPercentage = true
        case .promptConsumer, nil: break
        }
        if let f56, !isFixed {
            throw f56.bad("is present, but field 55 is not 02 (fixed convenience fee).")
        }
        if let f57, !isPercentage {
            throw f57.bad("is present, but field 55 is not 03 (percentage convenience fee).")
        }
        return tip
    }

    /// Field 57: a percentage from 0.01 to 99.99, at most 5 characters, kept as written.
    private static func decodePercentage(_ field: EMVField) throws(EMVQRError) -> String {
        let text = try field.checked(.ans, 1...5)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts.first ?? ""
        let fraction = parts.count == 2 ? parts[1] : ""
        var hundredths = 0
        for scalar in (whole + fraction.padding(to: 2)).unicodeScalars where EMVText.isDigit(scalar) {
            hundredths = hundredths * 10 + Int(scalar.value - 48)
        }
        guard parts.count <= 2, (1...2).contains(whole.count), fraction.count <= 2,
              parts.count == 1 || !fraction.isEmpty,
              (whole + fraction).unicodeScalars.allSatisfy(EMVText.isDigit),
              (1...9999).contains(hundredths) else {
            throw field.bad("must be a percentage from 0.01 to 99.99, such as 3.00, not \(EMVText.quoted(text.unicodeScalars)).")
        }
        return text
    }

    // MARK: Lookup

    /// The merchant account template (26–51) whose GUI is `gui`, if any.
    public func merchantTemplate(gui: String) -> EMVTemplate? {
        for case .template(let template) in merchantAccounts where template.gui == gui { return template }
        return nil
    }

    /// The unreserved template (80–99) whose GUI is `gui`, if any.
    public func unreservedTemplate(gui: String) -> EMVTemplate? {
        for case .template(let template) in unreserved where template.gui == gui { return template }
        return nil
    }
}

extension EMVField {
    /// A stand-in that keeps `decode` free of force unwraps; never reached after the presence checks.
    fileprivate static let none = EMVField(id: "", number: -1, value: "", offset: 0, path: "")
}

extension Substring {
    /// `self` right-padded with zeros to `count` characters, for reading decimals.
    fileprivate func padding(to count: Int) -> String {
        String(self) + String(repeating: "0", count: Swift.max(0, count - self.count))
    }
}

// MARK: - Field types

/// A merchant account information field, 02–51: how a payment network finds the merchant.
public enum MerchantAccount: Sendable, Equatable {
    /// 02–25: a value defined by the network (Visa, Mastercard, EMVCo, Discover, Amex, JCB, UnionPay).
    case primitive(TLV)
    /// 26–51: a template whose sub-id 00 names the network.
    case template(EMVTemplate)

    /// The two-digit id.
    public var id: String {
        switch self {
        case .primitive(let tlv): return tlv.id
        case .template(let template): return template.id
        }
    }

    var tlv: TLV {
        switch self {
        case .primitive(let tlv): return tlv
        case .template(let template): return template.tlv
        }
    }
}

/// A template that starts with a globally unique identifier: merchant accounts 26–51 and
/// unreserved templates 80–99.
public struct EMVTemplate: Sendable, Equatable {
    /// The template's own two-digit id.
    public var id: String
    /// Sub-id 00: a reverse domain name, a UUID or an AID naming whoever defines the other sub-ids,
    /// 1 to 32 printable ASCII characters.
    public var gui: String
    /// Sub-ids 01–99; `parse` returns them in ascending id order.
    public var fields: [TLV]

    /// A template with this GUI and these sub-fields.
    public init(id: String, gui: String, fields: [TLV] = []) {
        self.id = id
        self.gui = gui
        self.fields = fields
    }

    /// The value of sub-id `id` ("00" gives the GUI).
    public func value(_ id: String) -> String? {
        id == "00" ? gui : fields.first(where: { $0.id == id })?.value
    }

    /// Sub-fields as written: the GUI first, then ascending ids.
    var subfields: [TLV] { [TLV(id: "00", value: gui)] + fields.sorted { $0.id < $1.id } }

    var tlv: TLV { TLV(id: id, value: EMVTLV.encode(subfields)) }

    /// Checks what the wire cannot express before `tlv` is built from it.
    func validateLayout() throws(EMVQRError) {
        for field in fields where EMVText.idNumber(field.id).map({ $0 == 0 }) ?? true {
            throw EMVQRError(.badField, "Template \(id) has a sub-field with id '\(field.id)'; sub-ids are 01–99 (00 is the GUI).")
        }
        try MerchantQR.requireEncodable(subfields, in: "template \(id)")
    }

    /// Reads a template field. Sub-id 00 is mandatory; the other sub-ids belong to whoever owns the
    /// GUI, so only their characters are checked.
    static func decode(_ field: EMVField) throws(EMVQRError) -> EMVTemplate {
        let subs = try field.subfields()
        guard let guiField = subs.first(where: { $0.number == 0 }) else {
            throw EMVQRError(.missingField, "Template \(field.id) at offset \(field.offset) has no globally unique identifier (sub-id 00), which is mandatory.", offset: field.offset)
        }
        let gui = try guiField.checked(.ans, 1...32)
        var fields: [TLV] = []
        for sub in subs.sorted(by: { $0.number < $1.number }) where sub.number != 0 {
            fields.append(TLV(id: sub.id, value: try sub.checked(.string, 1...99)))
        }
        return EMVTemplate(id: field.id, gui: gui, fields: fields)
    }
}

/// An object in 65–99: RFU ids 65–79 and unreserved templates 80–99, kept so that re-encoding a
/// payload loses nothing.
public enum UnreservedObject: Sendable, Equatable {
    /// A value kept exactly as read: any of 65–79, and 80–99 that did not read as a template.
    case raw(TLV)
    /// An 80–99 template with a GUI in sub-id 00.
    case template(EMVTemplate)

    /// The two-digit id.
    public var id: String {
        switch self {
        case .raw(let tlv): return tlv.id
        case .template(let template): return template.id
        }
    }

    var tlv: TLV {
        switch self {
        case .raw(let tlv): return tlv
        case .template(let template): return template.tlv
        }
    }
}

/// Fields 55–57: whether the wallet asks for a tip or adds a convenience fee.
public enum TipIndicator: Sendable, Equatable {
    /// 55 = 01: the wallet asks the payer for a tip.
    case promptConsumer
    /// 55 = 02 with 56: a fixed fee in the payload's currency.
    case fixedFee(Money)
    /// 55 = 03 with 57: a percentage from 0.01 to 99.99, kept as written (e.g. "3.00").
    case percentageFee(String)
}

/// Field 62, the additional data template. Named sub-fields 01–08 are 1 to 25 printable ASCII
/// characters; "***" in any of them asks the wallet to prompt the payer for it.
public struct AdditionalData: Sendable, Equatable {
    /// 62-01.
    public var billNumber: String?
    /// 62-02.
    public var mobileNumber: String?
    /// 62-03.
    public var storeLabel: String?
    /// 62-04.
    public var loyaltyNumber: String?
    /// 62-05. Pix carries "***" here in dynamic codes.
    public var referenceLabel: String?
    /// 62-06.
    public var customerLabel: String?
    /// 62-07.
    public var terminalLabel: String?
    /// 62-08.
    public var purpose: String?
    /// 62-09: which of the payer's address (A), mobile number (M) and e-mail (E) the merchant
    /// wants, each letter at most once.
    public var consumerDataRequest: String?
    /// Sub-ids 00 and 10–99 (RFU and payment-system templates), kept as read.
    public var other: [TLV]

    /// Additional data with these sub-fields.
    public init(
        billNumber: String? = nil, mobileNumber: String? = nil, storeLabel: String? = nil,
        loyaltyNumber: String? = nil, referenceLabel: String? = nil, customerLabel: String? = nil,
        terminalLabel: String? = nil, purpose: String? = nil, consumerDataRequest: String? = nil,
        other: [TLV] = []
    ) {
        self.billNumber = billNumber
        self.mobileNumber = mobileNumber
        self.storeLabel = storeLabel
        self.loyaltyNumber = loyaltyNumber
        self.referenceLabel = referenceLabel
        self.customerLabel = customerLabel
        self.terminalLabel = terminalLabel
        self.purpose = purpose
        self.consumerDataRequest = consumerDataRequest
        self.other = other
    }

    /// The named sub-fields by sub-id, so encoding and decoding share one table.
    private var named: [(Int, String?)] {
        [(1, billNumber), (2, mobileNumber), (3, storeLabel), (4, loyaltyNumber), (5, referenceLabel),
         (6, customerLabel), (7, terminalLabel), (8, purpose), (9, consumerDataRequest)]
    }

    private mutating func set(_ number: Int, _ value: String) {
        switch number {
        case 1: billNumber = value
        case 2: mobileNumber = value
        case 3: storeLabel = value
        case 4: loyaltyNumber = value
        case 5: referenceLabel = value
        case 6: customerLabel = value
        case 7: terminalLabel = value
        case 8: purpose = value
        default: consumerDataRequest = value
        }
    }

    /// Every sub-field present, in ascending id order.
    public var fields: [TLV] {
        var out = other
        for (number, value) in named { if let value { out.append(TLV(id: EMVText.idString(number), value: value)) } }
        return out.sorted { $0.id < $1.id }
    }

    static func decode(_ field: EMVField) throws(EMVQRError) -> AdditionalData {
        var data = AdditionalData()
        for sub in try field.subfields().sorted(by: { $0.number < $1.number }) {
            switch sub.number {
            case 1...8:
                data.set(sub.number, try sub.checked(.ans, 1...25))
            case 9:
                let letters = try sub.checked(.ans, 1...3)
                var seen: Set<Unicode.Scalar> = []
                for letter in letters.unicodeScalars {
                    guard "AME".unicodeScalars.contains(letter), seen.insert(letter).inserted else {
                        throw sub.bad("must be the letters A, M and E, each at most once, not \(EMVText.quoted(letters.unicodeScalars)).")
                    }
                }
                data.set(9, letters)
            default:
                data.other.append(TLV(id: sub.id, value: try sub.checked(.string, 1...99)))
            }
        }
        return data
    }
}

/// Field 64: the merchant's name and city in a second language, for wallets set to it.
public struct LanguageTemplate: Sendable, Equatable {
    /// 64-00: ISO 639-1 alpha-2, e.g. "ZH".
    public var languagePreference: String
    /// 64-01: 1 to 25 characters in any script.
    public var merchantName: String
    /// 64-02: 1 to 15 characters in any script.
    public var merchantCity: String?
    /// Sub-ids 03–99 (RFU), kept as read.
    public var other: [TLV]

    /// A language template with these sub-fields.
    public init(languagePreference: String, merchantName: String, merchantCity: String? = nil, other: [TLV] = []) {
        self.languagePreference = languagePreference
        self.merchantName = merchantName
        self.merchantCity = merchantCity
        self.other = other
    }

    /// Every sub-field present, in ascending id order.
    public var fields: [TLV] {
        var out = [TLV(id: "00", value: languagePreference), TLV(id: "01", value: merchantName)]
        if let merchantCity { out.append(TLV(id: "02", value: merchantCity)) }
        return out + other.sorted { $0.id < $1.id }
    }

    static func decode(_ field: EMVField) throws(EMVQRError) -> LanguageTemplate {
        let subs = try field.subfields().sorted { $0.number < $1.number }
        for (number, name) in [(0, "language preference"), (1, "alternate merchant name")]
        where !subs.contains(where: { $0.number == number }) {
            throw EMVQRError(.missingField, "Template 64 at offset \(field.offset) has no \(name) (sub-id 0\(number)), which is mandatory.", offset: field.offset)
        }
        var preference = "", name = "", city: String?, other: [TLV] = []
        for sub in subs {
            switch sub.number {
            case 0:
                preference = try sub.checked(.ans, 2...2)
                guard preference.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("a"..."z").contains($0) }) else {
                    throw sub.bad("must be two letters (ISO 639-1), not \(EMVText.quoted(preference.unicodeScalars)).")
                }
            case 1: name = try sub.checked(.string, 1...25)
            case 2: city = try sub.checked(.string, 1...15)
            default: other.append(TLV(id: sub.id, value: try sub.checked(.string, 1...99)))
            }
        }
        return LanguageTemplate(languagePreference: preference, merchantName: name, merchantCity: city, other: other)
    }
}
