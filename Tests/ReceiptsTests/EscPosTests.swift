import Barcodes
import Payments
import Receipts
import Testing

/// Reads an ESC/POS stream the way a printer would, strictly: every command must be one qrpos
/// knows and complete, or the test fails. What it printed: the text lines (in the code page's
/// bytes), the native QR's stored data, the raster images, and whether it ended with a cut.
struct PrintedStream {
    var lines: [[UInt8]] = []
    var nativeQR: [UInt8]?
    var rasters: [(width: Int, height: Int, bits: [UInt8])] = []
    var endsWithCut = false
    var codePage: UInt8?

    init(_ bytes: [UInt8]) throws {
        var i = 0
        var line: [UInt8] = []
        func need(_ n: Int) throws {
            guard i + n <= bytes.count else { throw ParseError(description: "command at \(i) cut short (\(bytes.count - i) of \(n) bytes)") }
        }
        while i < bytes.count {
            endsWithCut = false
            let b = bytes[i]
            switch b {
            case 0x0A:
                lines.append(line)
                line = []
                i += 1
            case 0x1B:
                try need(2)
                switch bytes[i + 1] {
                case 0x40: i += 2                                  // ESC @ initialise
                case 0x74: try need(3); codePage = bytes[i + 2]; i += 3    // ESC t n
                case 0x45, 0x61, 0x64:                             // ESC E n, ESC a n, ESC d n
                    try need(3)
                    if bytes[i + 1] == 0x61 { #expect(bytes[i + 2] <= 2, "alignment \(bytes[i + 2])") }
                    i += 3
                default: throw ParseError(description: "unknown ESC \(bytes[i + 1]) at \(i)")
                }
            case 0x1D:
                try need(2)
                switch bytes[i + 1] {
                case 0x56:                                          // GS V m [n]
                    try need(3)
                    let m = bytes[i + 2]
                    if m == 65 || m == 66 { try need(4); i += 4 } else if m <= 1 || m == 48 || m == 49 { i += 3 } else {
                        throw ParseError(description: "unknown cut mode \(m)")
                    }
                    endsWithCut = true
                case 0x28:                                          // GS ( k pL pH cn fn …
                    try need(7)
                    guard bytes[i + 2] == 0x6B, bytes[i + 5] == 0x31 else { throw ParseError(description: "GS ( other than a QR at \(i)") }
                    let length = Int(bytes[i + 3]) | Int(bytes[i + 4]) << 8
                    try need(5 + length)
                    let fn = bytes[i + 6], parameters = Array(bytes[(i + 7)..<(i + 5 + length)])
                    switch fn {
                    case 0x41: #expect(parameters == [0x32, 0x00], "model 2")
                    case 0x43: #expect((1...16).contains(parameters.first ?? 0), "module size")
                    case 0x45: #expect((0x30...0x33).contains(parameters.first ?? 0), "error correction")
                    case 0x50: #expect(parameters.first == 0x30); nativeQR = Array(parameters.dropFirst())
                    case 0x51: #expect(parameters == [0x30])
                    default: throw ParseError(description: "unknown QR function \(fn)")
                    }
                    i += 5 + length
                case 0x76:                                          // GS v 0 m xL xH yL yH d…
                    try need(8)
                    guard bytes[i + 2] == 0x30, bytes[i + 3] == 0 else { throw ParseError(description: "raster mode \(bytes[i + 3])") }
                    let rowBytes = Int(bytes[i + 4]) | Int(bytes[i + 5]) << 8, height = Int(bytes[i + 6]) | Int(bytes[i + 7]) << 8
                    try need(8 + rowBytes * height)
                    rasters.append((rowBytes * 8, height, Array(bytes[(i + 8)..<(i + 8 + rowBytes * height)])))
                    i += 8 + rowBytes * height
                default: throw ParseError(description: "unknown GS \(bytes[i + 1]) at \(i)")
                }
            case 0x20..<0x7F, 0x80...0xFF:
                line.append(b)
                i += 1
            default:
                throw ParseError(description: "control byte \(b) at \(i)")
            }
        }
        #expect(line.isEmpty, "text after the last line feed")
    }

    struct ParseError: Error, CustomStringConvertible { let description: String }

    /// A raster as a grey image (black dots 0), for the scanner.
    func frame(_ raster: (width: Int, height: Int, bits: [UInt8])) -> LumaFrame {
        var pixels = [UInt8](repeating: 255, count: raster.width * raster.height)
        for y in 0..<raster.height {
            for x in 0..<raster.width where raster.bits[y * raster.width / 8 + x / 8] & (0x80 >> UInt8(x % 8)) != 0 {
                pixels[y * raster.width + x] = 0
            }
        }
        return LumaFrame(width: raster.width, height: raster.height, pixels: pixels)
    }
}

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
