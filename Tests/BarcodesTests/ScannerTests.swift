import Barcodes
import Testing

@Suite("CodeScanner")
struct ScannerTests {
    @Test("a frame with no code yields nothing", arguments: [0, 128, 255] as [UInt8])
    func blank(fill: UInt8) {
        #expect(CodeScanner().scan(LumaFrame(width: 640, height: 480, fill: fill)) == [])
    }

    @Test("seeded noise yields nothing", arguments: [1, 2, 3, 42] as [UInt64])
    func noise(seed: UInt64) {
        #expect(CodeScanner().scan(noiseFrame(width: 640, height: 480, seed: seed)) == [])
    }

    @Test("a QR code and a barcode in one frame are both found, each only when enabled")
    func both() throws {
        let qr = Render.raster(try QREncoder.encode("qrpos:pay?amount=1250"))
        let bars = Render.raster(code128: try Code128.encode("281234567890123456"))
        var frame = LumaFrame(width: max(qr.width, bars.width), height: qr.height + bars.height)
        for y in 0..<qr.height { for x in 0..<qr.width { frame[x, y] = qr[x, y] } }
        for y in 0..<bars.height { for x in 0..<bars.width { frame[x, qr.height + y] = bars[x, y] } }

        let all = CodeScanner().scan(frame)
        #expect(Set(all) == [ScannedCode(symbology: .qrCode, data: Array("qrpos:pay?amount=1250".utf8)),
                             ScannedCode(symbology: .code128, data: Array("281234567890123456".utf8))])
        #expect(CodeScanner(symbologies: [.qrCode]).scan(frame).map(\.symbology) == [.qrCode])
        #expect(CodeScanner(symbologies: [.code128]).scan(frame).map(\.symbology) == [.code128])
    }

    @Test("one scanner reads many frames in turn, and density 2 still reads")
    func reuse() throws {
        for density in [1, 2] {
            let scanner = CodeScanner(density: density)
            for n in 1...5 {
                let text = "receipt \(n)"
                #expect(scanner.scan(Render.raster(try QREncoder.encode(text))).first?.text == text)
                #expect(scanner.scan(LumaFrame(width: 320, height: 240)) == [])
            }
        }
    }

    @Test("a small code inside a large noisy frame is found")
    func inNoise() throws {
        let qr = Render.raster(try QREncoder.encode("found me"), moduleSize: 3)
        var frame = noiseFrame(width: 640, height: 480, seed: 9)
        for y in 0..<qr.height { for x in 0..<qr.width { frame[200 + x, 150 + y] = qr[x, y] } }
        #expect(CodeScanner().scan(frame).first?.text == "found me")
    }
}
