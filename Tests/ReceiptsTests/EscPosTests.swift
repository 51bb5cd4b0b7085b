import Barcodes
import Payments
import QrposTestSupport
import Receipts
import Testing

@Suite("ESC/POS receipts, read back as a printer would")
struct EscPosTests {
    let signed = try! Fixtures.key.sign(Fixtures.sale)

    @Test("an 80 mm printer: known, complete commands; the native QR carries the verification string; it ends with a cut")
    func nativeQR() throws {
        let out = try EscPos.render(signed, profile: .epson80)
        let printed = try PrintedStream(out.bytes)
        #expect(printed.codePage == 19)
        #expect(printed.nativeQR.map { String(decoding: $0, as: UTF8.self) } == (try ReceiptCodec.stamp(signed)))
        #expect(printed.rasters.isEmpty && printed.endsWithCut)
        let text = printed.lines.map { String(decoding: $0, as: UTF8.self) }
        #expect(text.contains { $0.contains("Corner Noodle Bar") } && text.contains { $0.contains("12.50") })
        #expect(printed.lines.allSatisfy { $0.count <= 48 }, "no line wider than the paper")
        #expect(out.replaced == ["… → ."], "the payer's masked code; everything else is in cp858")
    }

    @Test("a 58 mm printer without QR or cutter: the QR as a raster zbar reads back, no cut")
    func rasterQR() throws {
        let out = try EscPos.render(signed, profile: .cheap58)
        let printed = try PrintedStream(out.bytes)
        #expect(printed.nativeQR == nil && !printed.endsWithCut)
        let raster = try #require(printed.rasters.first)
        #expect(raster.width <= 384)
        let read = CodeScanner().scan(printed.frame(raster)).compactMap(\.text)
        #expect(read == [try ReceiptCodec.stamp(signed)])
        #expect(printed.lines.allSatisfy { $0.count <= 32 })
    }

    @Test("text the code page cannot show is transliterated and reported, never dropped")
    func transliteration() throws {
        var receipt = Fixtures.sale
        receipt.merchantName = "Café Ōsaka 東京 €5"
        let out = try EscPos.render(try Fixtures.key.sign(receipt), profile: .cheap58)   // cp437: é yes, Ō and € no
        let printed = try PrintedStream(out.bytes)
        let first = try #require(printed.lines.first)
        #expect(first.contains(0x82), "é is 0x82 in cp437")
        #expect(out.replaced.contains("Ō → O") && out.replaced.contains("東 → ??") && out.replaced.contains("€ → ?"), "\(out.replaced)")
        #expect(String(decoding: first.filter { $0 < 0x80 }, as: UTF8.self).contains("Osaka ???? ?5"))
        // cp858 has €.
        let euro = try EscPos.render(try Fixtures.key.sign(receipt), profile: .epson80)
        #expect(try #require(try PrintedStream(euro.bytes).lines.first).contains(0xD5) && !euro.replaced.contains("€ → ?"))
    }

    @Test("the native QR's module size is worked out from the capacity table, as libqrencode sizes the same text")
    func moduleCount() throws {
        for length in [1, 14, 15, 100, 400, 413, 700, 1_500, 2_331] {
            let text = String(repeating: "x", count: length)
            #expect(EscPos.qrModules(bytes: length) == (try QREncoder.encode(text).size), "\(length) bytes")
        }
    }

    @Test("every fixture receipt renders to a stream the strict reader accepts, on both profiles")
    func everyFixture() throws {
        for receipt in [Fixtures.sale, Fixtures.refund, Fixtures.yen, Fixtures.long] {
            for profile in [PrinterProfile.epson80, .cheap58] {
                _ = try PrintedStream(try EscPos.render(try Fixtures.key.sign(receipt), profile: profile).bytes)
            }
        }
    }
}

@Suite("The receipt as a page")
struct HTMLReceiptTests {
    @Test("a self-contained page: every field escaped, no script or outside resource, the QR of the verification string")
    func page() throws {
        var receipt = Fixtures.sale
        receipt.merchantName = "Tom & Jerry's <b>Noodles</b> \"best\""
        let signed = try Fixtures.key.sign(receipt)
        let html = try HTMLReceipt.render(signed)
        #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</html>\n"))
        #expect(html.contains("Tom &amp; Jerry&#39;s &lt;b&gt;Noodles&lt;/b&gt; &quot;best&quot;"))
        #expect(!html.contains("<b>Noodles"), "nothing the merchant typed becomes markup")
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="), "no script, no outside resource")
        // The whole receipt as text, so anyone can check every field on the page.
        #expect(html.contains(HTMLReceipt.escape(try ReceiptCodec.compact(signed))))
        // The QR is Render.svg's (which the Barcodes tests read back with zbar) of exactly the stamp.
        #expect(html.contains(Render.svg(try QREncoder.encode(try ReceiptCodec.stamp(signed)), moduleSize: 3)))
        #expect(html.contains("CNY 12.50") && html.contains("Tea (2 × 2.00)"))
        #expect(try HTMLReceipt.render(try Fixtures.key.sign(Fixtures.refund)).contains("Refund total"))
    }
}
