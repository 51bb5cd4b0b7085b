import Payments
import Testing

@Suite("EMV MPM public vectors")
struct EMVVectorTests {
    @Test("Vector 1 (EMVCo sample) parses with every field as the specification shows it")
    func emvcoSample() throws {
        let qr = try MerchantQR.parse(Vectors.emvcoSample)
        #expect(qr.initiation == .dynamicCode)
        #expect(qr.merchantAccounts == [
            .template(EMVTemplate(id: "29", gui: "D15600000000", fields: [TLV(id: "05", value: "A93FO3230Q")])),
            .template(EMVTemplate(id: "31", gui: "D15600000001", fields: [TLV(id: "03", value: "12345678")])),
        ])
        #expect(qr.categoryCode == "4111")
        #expect(qr.currency == .CNY)
        #expect(qr.amount == Money(minorUnits: 2372, currency: .CNY))
        #expect(qr.tip == .promptConsumer)
        #expect(qr.countryCode == "CN")
        #expect(qr.merchantName == "BEST TRANSPORT")
        #expect(qr.merchantCity == "BEIJING")
        #expect(qr.postalCode == nil)
        #expect(qr.additionalData == AdditionalData(
            storeLabel: "1234", customerLabel: "***", terminalLabel: "A6008667", consumerDataRequest: "ME"))
        #expect(qr.language == LanguageTemplate(languagePreference: "ZH", merchantName: "最佳运输", merchantCity: "北京"))
        #expect(qr.unreserved == [
            .template(EMVTemplate(id: "91", gui: "A011223344998877", fields: [TLV(id: "07", value: "12345678")])),
        ])
    }

    @Test("Vector 2 (Pix static) parses with every field as the BCB manual shows it")
    func pixStatic() throws {
        let qr = try MerchantQR.parse(Vectors.pixStatic)
        #expect(qr.initiation == nil)
        #expect(qr.merchantAccounts == [
            .template(EMVTemplate(id: "26", gui: "br.gov.bcb.pix", fields: [TLV(id: "01", value: "123e4567-e12b-12d1-a456-426655440000")])),
        ])
        #expect(qr.categoryCode == "0000")
        #expect(qr.currency.code == "BRL")
        #expect(qr.amount == nil)
        #expect(qr.tip == nil)
        #expect(qr.countryCode == "BR")
        #expect(qr.merchantName == "Fulano de Tal")
        #expect(qr.merchantCity == "BRASILIA")
        #expect(qr.additionalData == AdditionalData(referenceLabel: "***"))
        #expect(qr.language == nil)
        #expect(qr.unreserved.isEmpty)
    }

    @Test("Vector 3 (Pix dynamic) parses with every field as the BCB manual shows it")
    func pixDynamic() throws {
        let qr = try MerchantQR.parse(Vectors.pixDynamic)
        #expect(qr.initiation == .dynamicCode)
        #expect(qr.merchantAccounts == [
            .template(EMVTemplate(id: "26", gui: "br.gov.bcb.pix", fields: [TLV(id: "25", value: "pix.example.com/8b3da2f39a4140d1a91abd93113bd441")])),
        ])
        #expect(qr.merchantTemplate(gui: "br.gov.bcb.pix")?.value("25") == "pix.example.com/8b3da2f39a4140d1a91abd93113bd441")
        #expect(qr.categoryCode == "0000")
        #expect(qr.currency.code == "BRL")
        #expect(qr.amount == nil)
        #expect(qr.countryCode == "BR")
        #expect(qr.merchantName == "Fulano de Tal")
        #expect(qr.merchantCity == "BRASILIA")
        #expect(qr.additionalData == AdditionalData(referenceLabel: "***"))
        #expect(qr.language == nil)
        #expect(qr.unreserved.isEmpty)
    }

    @Test("A canonical payload re-encodes byte for byte", arguments: [Vectors.pixStatic, Vectors.pixDynamic])
    func canonicalReencodes(_ vector: String) throws {
        let qr = try MerchantQR.parse(vector)
        #expect(qr.encoded() == vector)
        try qr.validate()
    }

    @Test("Vector 1's fields out of order re-encode in ascending id order to an equal value")
    func emvcoSampleCanonicalOrder() throws {
        let qr = try MerchantQR.parse(Vectors.emvcoSample)
        let canonical = qr.encoded()
        #expect(canonical != Vectors.emvcoSample)
        #expect(canonical.unicodeScalars.count == Vectors.emvcoSample.unicodeScalars.count)
        #expect(try MerchantQR.parse(canonical) == qr)
        let ids = try EMVTLV.parse(canonical, context: "the payload").map(\.id)
        #expect(ids == ["00", "01", "29", "31", "52", "53", "54", "55", "58", "59", "60", "62", "64", "91", "63"])
    }

    @Test("Lengths count characters while the CRC counts UTF-8 bytes: 最佳运输 is 04 long")
    func lengthsCountCharacters() throws {
        let fields = try EMVTLV.parse("0002ZH0104最佳运输0202北京", context: "template 64")
        #expect(fields == [TLV(id: "00", value: "ZH"), TLV(id: "01", value: "最佳运输"), TLV(id: "02", value: "北京")])
        #expect(EMVTLV.encode(fields) == "0002ZH0104最佳运输0202北京")
    }

    @Test("An 80–99 object that does not read as a template is kept raw and written back unchanged")
    func unreservedRaw() throws {
        let text = payload(base(("70", "0002xx"), ("85", "hello")))
        let qr = try MerchantQR.parse(text)
        #expect(qr.unreserved == [.raw(TLV(id: "70", value: "0002xx")), .raw(TLV(id: "85", value: "hello"))])
        #expect(qr.encoded() == text)
    }
}
