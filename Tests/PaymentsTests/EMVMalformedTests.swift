import Foundation
import Payments
import Testing

/// A payload that must be refused, with the error code it must be refused with.
struct Malformed: Sendable, CustomTestStringConvertible {
    let name: String
    let payload: String
    let code: EMVQRError.Code
    var testDescription: String { "\(name) → \(code.rawValue)" }

    init(_ name: String, _ payload: String, _ code: EMVQRError.Code) {
        self.name = name
        self.payload = payload
        self.code = code
    }
}

private let pixBody = String(Vectors.pixStatic.dropLast(8))
private let longValue = String(repeating: "x", count: 95)

let malformedCases: [Malformed] = [
    // Structure.
    Malformed("an empty payload", "", .empty),
    Malformed("a payload longer than 512 characters", payload(base(("65", longValue), ("66", longValue), ("67", longValue), ("68", longValue), ("69", longValue))), .tooLong),
    Malformed("a header cut short", "00020", .truncated),
    Malformed("a value running past the end", "0002015930ABC", .truncated),
    Malformed("a CRC field declaring more than is left", pixBody + "63051D3D", .truncated),
    Malformed("a non-digit id", "000201A1020x" + Vectors.pixStatic.dropFirst(6), .nonDigitID),
    Malformed("a non-digit length", "00020159X1ABCDEFGHIJ", .badLength),
    Malformed("a zero length", payload(base(("61", ""))), .badLength),
    Malformed("a top-level id twice", payload(base() + [TLV(id: "59", value: "OTHER NAME")]), .duplicateID),
    Malformed("a sub-id twice in template 62", payload(base(("62", "0503***0503***"))), .duplicateID),
    Malformed("a sub-id twice in template 26", payload(base(("26", "0014br.gov.bcb.pix0014br.gov.bcb.pix"))), .duplicateID),
    Malformed("template 62 cut short inside", payload(base(("62", "0510***"))), .truncated),
    Malformed("template 64 with a non-digit sub-id", payload(base(("64", "0002ZHx104ABCD"))), .nonDigitID),
    Malformed("template 26 that is not a template", payload(base(("26", "hello"))), .nonDigitID),
    // CRC.
    Malformed("a CRC off by one", pixBody + "63041D3E", .badCRC),
    Malformed("a CRC in lower case", String(Vectors.emvcoSample.dropLast(4)) + "a13a", .badCRC),
    Malformed("a CRC with a non-hex digit", pixBody + "63041D3G", .badCRC),
    Malformed("a CRC of three digits", pixBody + "63031D3", .badCRC),
    // Layout and mandatory fields.
    Malformed("no field 00", sealed(EMVTLV.encode(baseFields)), .missingField),
    Malformed("field 00 not first", sealed("010212000201" + EMVTLV.encode(baseFields)), .misplacedField),
    Malformed("field 00 not 01", sealed("000202" + EMVTLV.encode(baseFields)), .badField),
    Malformed("no field 63", "000201" + EMVTLV.encode(baseFields), .missingField),
    Malformed("field 63 not last", "000201" + EMVTLV.encode(baseFields) + "630412346105ABCDE", .misplacedField),
    Malformed("no merchant account", payload(base(("26", nil))), .missingField),
    Malformed("no field 52", payload(base(("52", nil))), .missingField),
    Malformed("no field 53", payload(base(("53", nil))), .missingField),
    Malformed("no field 58", payload(base(("58", nil))), .missingField),
    Malformed("no field 59", payload(base(("59", nil))), .missingField),
    Malformed("no field 60", payload(base(("60", nil))), .missingField),
    Malformed("template 26 without a GUI", payload(base(("26", "0105abcde"))), .missingField),
    Malformed("template 64 without a name", payload(base(("64", "0002ZH"))), .missingField),
    Malformed("tip indicator 02 without field 56", payload(base(("55", "02"))), .missingField),
    Malformed("tip indicator 03 without field 57", payload(base(("55", "03"))), .missingField),
    // Values.
    Malformed("initiation 13", payload(base(("01", "13"))), .badField),
    Malformed("a category code with a letter", payload(base(("52", "58A2"))), .badField),
    Malformed("a category code of three digits", payload(base(("52", "581"))), .badField),
    Malformed("a currency of two digits", payload(base(("53", "15"))), .badField),
    Malformed("an alphabetic currency", payload(base(("53", "CNY"))), .badField),
    Malformed("an unknown currency number", payload(base(("53", "999"))), .unknownCurrency),
    Malformed("three decimals in CNY", payload(base(("54", "1.005"))), .badField),
    Malformed("decimals in JPY", payload(base(("53", "392"), ("54", "1.5"))), .badField),
    Malformed("an amount ending in '.'", payload(base(("54", "12."))), .badField),
    Malformed("an amount starting with '.'", payload(base(("54", ".5"))), .badField),
    Malformed("a negative amount", payload(base(("54", "-1"))), .badField),
    Malformed("an amount in exponent form", payload(base(("54", "1e3"))), .badField),
    Malformed("an amount with two '.'", payload(base(("54", "1.2.3"))), .badField),
    Malformed("an amount of 14 characters", payload(base(("54", "12345678901.00"))), .badField),
    Malformed("tip indicator 04", payload(base(("55", "04"))), .badField),
    Malformed("a fixed fee without indicator 02", payload(base(("55", "01"), ("56", "1.00"))), .badField),
    Malformed("a percentage fee without indicator 03", payload(base(("57", "3.00"))), .badField),
    Malformed("a percentage of 100", payload(base(("55", "03"), ("57", "100"))), .badField),
    Malformed("a percentage of 0", payload(base(("55", "03"), ("57", "0.00"))), .badField),
    Malformed("a fixed fee with three decimals", payload(base(("55", "02"), ("56", "0.125"))), .badField),
    Malformed("a one-letter country", payload(base(("58", "C"))), .badField),
    Malformed("a lower-case country", payload(base(("58", "cn"))), .badField),
    Malformed("a 26-character merchant name", payload(base(("59", String(repeating: "N", count: 26)))), .badField),
    Malformed("a merchant name with a line feed", payload(base(("59", "NOODLE\nBAR"))), .badField),
    Malformed("a 16-character merchant city", payload(base(("60", String(repeating: "C", count: 16)))), .badField),
    Malformed("an 11-character postal code", payload(base(("61", "12345678901"))), .badField),
    Malformed("a 26-character bill number", payload(base(("62", "0126" + String(repeating: "B", count: 26)))), .badField),
    Malformed("a non-ASCII reference label", payload(base(("62", "0502号1"))), .badField),
    Malformed("a consumer data request repeating a letter", payload(base(("62", "0902MM"))), .badField),
    Malformed("a consumer data request with an unknown letter", payload(base(("62", "0901X"))), .badField),
    Malformed("a 33-character GUI", payload(base(("26", "0033" + String(repeating: "g", count: 33)))), .badField),
    Malformed("a non-ASCII primitive merchant account", payload(base(("02", "4111é"))), .badField),
    Malformed("a language preference with a digit", payload(base(("64", "0002Z10104ABCD"))), .badField),
]

@Suite("EMV MPM malformed payloads")
struct EMVMalformedTests {
    @Test("Each malformed payload is refused with its specific error code", arguments: malformedCases)
    func refused(_ testCase: Malformed) {
        let error = #expect(throws: EMVQRError.self) { try MerchantQR.parse(testCase.payload) }
        #expect(error?.code == testCase.code, "\(error?.message ?? "no error")")
    }

    @Test("A bad value's error names the field and its character offset")
    func messageNamesFieldAndOffset() throws {
        let text = payload(base(("59", String(repeating: "N", count: 26))))
        let offset = try #require(text.range(of: "5926")).lowerBound.utf16Offset(in: text)
        let error = #expect(throws: EMVQRError.self) { try MerchantQR.parse(text) }
        #expect(error?.code == .badField)
        #expect(error?.offset == offset)
        #expect(error?.message == "Field 59 (merchant name) at offset \(offset) is 26 characters long; it must be 1 to 25.")
    }

    @Test("Offsets count characters, not bytes, after non-ASCII text")
    func offsetsCountCharacters() throws {
        // 64 holds 8 CJK characters (24 bytes); the bad 62-09 after it must be reported by character.
        let text = payload(base(("64", "0002ZH0104最佳运输0202北京"), ("62", "0901X")))
        // "62050901X" is the 9 characters before "6304" and the CRC; sub-field 09 starts 4 in.
        let expected = scalars(text).count - 8 - 9 + 4
        let error = #expect(throws: EMVQRError.self) { try MerchantQR.parse(text) }
        #expect(error?.offset == expected)
        #expect(error?.message.hasPrefix("Field 62-09 (additional consumer data request) at offset \(expected) must be the letters A, M and E") == true, "\(error?.message ?? "")")
    }

    @Test("A duplicate inside a template names both offsets")
    func duplicateNamesBothOffsets() {
        let text = payload(base(("62", "0503***0503***")))
        let error = #expect(throws: EMVQRError.self) { try MerchantQR.parse(text) }
        #expect(error?.code == .duplicateID)
        #expect(error?.message.hasPrefix("Field 62-05 appears twice in template 62, at offsets ") == true, "\(error?.message ?? "")")
    }
}
