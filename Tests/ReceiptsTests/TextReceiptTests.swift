import Payments
import Receipts
import Testing

/// Columns as the test counts them, independently of the renderer: the fixtures hold only ASCII,
/// "…" (one column) and CJK ideographs and punctuation (two).
private func columns(_ line: Substring) -> Int {
    line.unicodeScalars.reduce(0) { width, scalar in
        width + ((0x3000...0x9FFF).contains(scalar.value) || (0xFF00...0xFF60).contains(scalar.value) ? 2 : 1)
    }
}

private func lines(_ text: String) -> [Substring] {
    text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
}

@Suite("Plain-text receipts")
struct TextReceiptTests {
    static let widths = [32, 42, 48]

    @Test("no line is wider than the paper", arguments: widths, [Fixtures.sale, Fixtures.refund, Fixtures.yen, Fixtures.long])
    func fitsWidth(_ width: Int, _ receipt: Receipt) throws {
        let text = TextReceipt.render(try Fixtures.key.sign(receipt), columns: width)
        #expect(text.hasSuffix("\n"))
        for line in lines(text) {
            #expect(columns(line) <= width, "\(columns(line)) columns: \(line)")
            #expect(!line.hasSuffix(" "), "trailing space: \(line)")
        }
        #expect(lines(text).contains { columns($0) == width }, "rules span the paper")
    }

    @Test("long names wrap rather than being cut", arguments: widths)
    func wrapsLongText(_ width: Int) throws {
        let text = TextReceipt.render(try Fixtures.key.sign(Fixtures.long), columns: width)
        let joined = lines(text).map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        #expect(joined.contains(Fixtures.long.merchantName))
        #expect(joined.contains(Fixtures.long.lines[2].name))
        #expect(joined.contains("Supercalifragilisticexpialidociousnoodlesoupwithoutanyspaces"))
        #expect(text.contains("CNY 92233720368547758.07"))
    }

    @Test("the total is written from minor units in the currency's decimals")
    func totals() throws {
        let sale = TextReceipt.render(try Fixtures.key.sign(Fixtures.sale))
        #expect(lines(sale).contains { $0.hasPrefix("TOTAL") && $0.hasSuffix("CNY 12.50") })
        #expect(lines(sale).contains { $0.hasPrefix("  2 x 2.00") && $0.hasSuffix(" 4.00") })
        #expect(lines(sale).contains { $0.hasPrefix("Beef noodles") && $0.hasSuffix(" 8.50") })
        let yen = TextReceipt.render(try Fixtures.key.sign(Fixtures.yen), columns: 42)
        #expect(lines(yen).contains { $0.hasPrefix("TOTAL") && $0.hasSuffix("JPY 1200") })
        #expect(!yen.contains("1200."))
    }

    @Test("a sale has the merchant centred, the details, APPROVED and the key id")
    func saleLayout() throws {
        let signed = try Fixtures.key.sign(Fixtures.sale)
        let text = TextReceipt.render(signed, columns: 32)
        let all = lines(text)
        // "Corner Noodle Bar" is 17 columns: (32 - 17) / 2 = 7 spaces before it.
        #expect(all[0] == "       Corner Noodle Bar")
        #expect(all[1] == "            Shanghai")
        #expect(all.contains("Receipt                T1-000042"))
        #expect(all.contains("Date     2024-05-01 12:34:56 UTC"))
        #expect(all.contains("Terminal                      T1"))
        #expect(all.contains("Method             customer code"))
        #expect(all.contains("Payer                 code …3456"))
        #expect(all.contains { $0.trimmingCharacters(in: .whitespaces) == "APPROVED" })
        #expect(all.last?.contains(signed.keyID) == true)
        #expect(!text.contains("REFUND"))
    }

    @Test("a refund says REFUND and names the original payment", arguments: widths)
    func refundLayout(_ width: Int) throws {
        let text = TextReceipt.render(try Fixtures.key.sign(Fixtures.refund), columns: width)
        let all = lines(text)
        #expect(all.contains { $0.trimmingCharacters(in: .whitespaces) == "REFUND" })
        #expect(all.contains { $0.hasPrefix("Refund of") && $0.hasSuffix("7f3a9c2e11d04b5e") })
        #expect(all.contains { $0.hasPrefix("REFUND TOTAL") && $0.hasSuffix("CNY 4.00") })
    }

    @Test("dates are UTC whatever the machine's zone", arguments: [
        (Int64(0), "1970-01-01 00:00:00 UTC"),
        (951_868_799, "2000-02-29 23:59:59 UTC"),
        (1_714_566_896, "2024-05-01 12:34:56 UTC"),
        (253_402_300_799, "9999-12-31 23:59:59 UTC"),
    ])
    func dates(_ seconds: Int64, _ expected: String) throws {
        var receipt = Fixtures.yen
        receipt.issuedAt = seconds
        let text = TextReceipt.render(try Fixtures.key.sign(receipt), columns: 32)
        #expect(text.contains(expected))
    }

    @Test("control characters never reach the printer")
    func controlCharacters() {
        var receipt = Fixtures.sale
        receipt.merchantName = "Shop\u{1B}@\u{1D}V\u{0}"
        receipt.lines[0].name = "line\nbreak"
        let signed = SignedReceipt(receipt: receipt, keyID: Fixtures.key.keyID, signature: Array(repeating: 0, count: 64))
        let text = TextReceipt.render(signed, columns: 32)
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(text.contains("Shop?@?V?"))
        #expect(lines(text).count == lines(TextReceipt.render(try! Fixtures.key.sign(Fixtures.sale))).count)
    }

    @Test("display width counts CJK and emoji as two columns")
    func displayWidth() {
        #expect(TextReceipt.displayWidth("abc") == 3)
        #expect(TextReceipt.displayWidth("上海") == 4)
        #expect(TextReceipt.displayWidth("ｶﾞ") == 2)
        #expect(TextReceipt.displayWidth("Ａ") == 2)
        #expect(TextReceipt.displayWidth("☕") == 2)
        #expect(TextReceipt.displayWidth("e\u{301}") == 1)
        #expect(TextReceipt.displayWidth("한국") == 4)
        #expect(TextReceipt.displayWidth("…") == 1)
    }
}
