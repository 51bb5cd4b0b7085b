import Payments
import Testing

@Suite("EMV MPM values built in code")
struct EMVValidateTests {
    static let valid = MerchantQR(
        initiation: .dynamicCode,
        merchantAccounts: [.template(EMVTemplate(id: "26", gui: "com.example", fields: [TLV(id: "01", value: "42")]))],
        categoryCode: "5812", currency: .CNY, amount: Money(minorUnits: 1250, currency: .CNY),
        countryCode: "CN", merchantName: "NOODLE BAR", merchantCity: "SHANGHAI")

    @Test("A well-formed value validates and writes amounts with every decimal")
    func valid() throws {
        try Self.valid.validate()
        #expect(Self.valid.encoded().contains("540512.50"))
        #expect(try MerchantQR.parse(Self.valid.encoded()) == Self.valid)
    }

    @Test("A 13-digit amount is written without its zero decimals so it still fits field 54")
    func longAmount() throws {
        let text = payload(base(("54", "1234567890123")))
        let qr = try MerchantQR.parse(text)
        #expect(qr.amount?.minorUnits == 123_456_789_012_300)
        #expect(qr.encoded().contains("54131234567890123"))
        #expect(try MerchantQR.parse(qr.encoded()) == qr)
    }

    @Test("validate() refuses what the wire cannot carry", arguments: changes)
    func refused(_ change: Change) {
        var qr = Self.valid
        change.apply(&qr)
        let error = #expect(throws: EMVQRError.self) { try qr.validate() }
        #expect(error?.code == change.code, "\(error?.message ?? "no error")")
    }
}

/// One edit that makes `EMVValidateTests.valid` invalid, and the code `validate()` must give.
struct Change: Sendable, CustomTestStringConvertible {
    let name: String
    let code: EMVQRError.Code
    let apply: @Sendable (inout MerchantQR) -> Void
    var testDescription: String { "\(name) → \(code.rawValue)" }

    init(_ name: String, _ code: EMVQRError.Code, apply: @escaping @Sendable (inout MerchantQR) -> Void) {
        self.name = name
        self.code = code
        self.apply = apply
    }
}

let changes: [Change] = [
    Change("an amount in another currency", .badField) { qr in qr.amount = Money(minorUnits: 1, currency: .USD) },
    Change("a fee in another currency", .badField) { qr in qr.tip = .fixedFee(Money(minorUnits: 1, currency: .JPY)) },
    Change("a primitive account with a template id", .badField) { qr in qr.merchantAccounts = [.primitive(TLV(id: "30", value: "x"))] },
    Change("a template account with a primitive id", .badField) { qr in qr.merchantAccounts = [.template(EMVTemplate(id: "04", gui: "g"))] },
    Change("a template sub-field using id 00", .badField) { qr in qr.merchantAccounts = [.template(EMVTemplate(id: "26", gui: "g", fields: [TLV(id: "00", value: "x")]))] },
    Change("a one-digit id", .badField) { qr in qr.unreserved = [.raw(TLV(id: "7", value: "x"))] },
    Change("a raw object below 65", .badField) { qr in qr.unreserved = [.raw(TLV(id: "61", value: "x"))] },
    Change("an unreserved template below 80", .badField) { qr in qr.unreserved = [.template(EMVTemplate(id: "70", gui: "g"))] },
    Change("a named sub-id in additional data's other", .badField) { qr in qr.additionalData = AdditionalData(other: [TLV(id: "05", value: "x")]) },
    Change("a value of 100 characters", .tooLong) { qr in qr.unreserved = [.raw(TLV(id: "70", value: String(repeating: "x", count: 100)))] },
    Change("a template of more than 99 characters", .tooLong) { qr in qr.unreserved = [.template(EMVTemplate(id: "80", gui: "g", fields: [TLV(id: "01", value: String(repeating: "x", count: 95))]))] },
    Change("a payload of more than 512 characters", .tooLong) { qr in qr.unreserved = (65...70).map { .raw(TLV(id: "\($0)", value: String(repeating: "x", count: 90))) } },
    Change("a negative amount", .badField) { qr in qr.amount = Money(minorUnits: -1, currency: .CNY) },
    Change("an empty merchant name", .badLength) { qr in qr.merchantName = "" },
    Change("no merchant account", .missingField) { qr in qr.merchantAccounts = [] },
]
