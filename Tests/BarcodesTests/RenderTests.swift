import Barcodes
import Foundation
import Testing

/// Every rendering must scan: each is turned back into pixels (by libpng, the PGM reader, or a
/// test-side parser) and read by zbar, and files are also read by the separate `zbarimg` tool.
@Suite("Renderings decode back")
struct RenderTests {
    static let text = "qrpos:pay?to=shop-17&amount=12.50&ref=ÄÖÜ-价格"
    static let paymentCode = "281234567890123456"

    func qr() throws -> QRMatrix { try QREncoder.encode(Self.text) }
    func bars() throws -> [Bool] { try Code128.encode(Self.paymentCode) }

    func expectQR(_ frame: LumaFrame, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(CodeScanner().scan(frame) == [ScannedCode(symbology: .qrCode, data: Array(Self.text.utf8))],
                sourceLocation: sourceLocation)
    }

    func expectCode128(_ frame: LumaFrame, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(CodeScanner().scan(frame) == [ScannedCode(symbology: .code128, data: Array(Self.paymentCode.utf8))],
                sourceLocation: sourceLocation)
    }

    @Test("raster geometry includes the quiet zone", arguments: [(1, 0), (4, 4), (6, 2)])
    func rasterGeometry(moduleSize: Int, quietZone: Int) throws {
        let qr = try qr()
        let frame = Render.raster(qr, moduleSize: moduleSize, quietZone: quietZone)
        #expect(frame.width == (qr.size + 2 * quietZone) * moduleSize)
        #expect(frame.height == frame.width)
        #expect(frame.pixels.allSatisfy { $0 == 0 || $0 == 255 })
        // The top-left finder pattern's corner is dark, the quiet zone light.
        #expect(frame[quietZone * moduleSize, quietZone * moduleSize] == 0)
        if quietZone > 0 { #expect(frame[0, 0] == 255) }
    }

    @Test("QR and Code 128 rasters decode", arguments: [2, 4, 8])
    func raster(scale: Int) throws {
        expectQR(Render.raster(try qr(), moduleSize: scale))
        expectCode128(Render.raster(code128: try bars(), moduleWidth: scale / 2 + 1))
    }

    @Test("PNG and PGM files round-trip exactly and decode", arguments: ["png", "pgm", "PNG"])
    func files(ext: String) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let qrPath = directory.appendingPathComponent("qr.\(ext)").path
        let barsPath = directory.appendingPathComponent("bars.\(ext)").path
        let qrFrame = Render.raster(try qr())
        let barsFrame = Render.raster(code128: try bars())
        try ImageFile.write(qrFrame, to: qrPath)
        try ImageFile.write(barsFrame, to: barsPath)

        let qrBack = try ImageFile.read(path: qrPath)
        #expect(qrBack == qrFrame)
        expectQR(qrBack)
        let barsBack = try ImageFile.read(path: barsPath)
        #expect(barsBack == barsFrame)
        expectCode128(barsBack)
    }

    @Test("the independent zbarimg tool reads the PNG and PGM files", .enabled(if: zbarimgExists, "needs /usr/bin/zbarimg"),
          arguments: ["png", "pgm"])
    func zbarimgReads(ext: String) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let qrPath = directory.appendingPathComponent("qr.\(ext)").path
        let barsPath = directory.appendingPathComponent("bars.\(ext)").path
        try ImageFile.write(Render.raster(try qr()), to: qrPath)
        try ImageFile.write(Render.raster(code128: try bars()), to: barsPath)
        #expect(try zbarimg(qrPath) == [Self.text])
        #expect(try zbarimg(barsPath) == [Self.paymentCode])
    }

    @Test("PNG and PGM bytes of any grey values round-trip exactly")
    func exactBytes() throws {
        let frame = noiseFrame(width: 37, height: 23, seed: 5)
        #expect(try ImageFile.read(bytes: ImageFile.png(frame), name: "noise.png") == frame)
        #expect(try ImageFile.read(bytes: ImageFile.pgm(frame), name: "noise.pgm") == frame)
        #expect(ImageFile.pgm(frame).starts(with: Array("P5\n37 23\n255\n".utf8)))
    }

    @Test("the QR terminal rendering decodes, with and without colours", arguments: [true, false])
    func terminalQR(ansi: Bool) throws {
        let qr = try qr()
        let text = Render.terminal(qr, ansi: ansi)
        let lines = text.split(separator: "\n")
        // Two module rows per line, rounded up.
        #expect(lines.count == (qr.size + 4 + 1) / 2)
        if ansi {
            #expect(lines.allSatisfy { $0.hasPrefix("\u{1B}[38;5;16;48;5;231m") && $0.hasSuffix("\u{1B}[0m") })
        } else {
            #expect(!text.contains("\u{1B}"))
        }
        expectQR(pixels(fromTerminal: text))
    }

    @Test("a QR terminal rendering with an even number of rows decodes")
    func terminalEvenRows() throws {
        let text = Render.terminal(try qr(), quietZone: 3, ansi: false)
        expectQR(pixels(fromTerminal: text))
    }

    @Test("the Code 128 terminal rendering decodes", arguments: [true, false])
    func terminalCode128(ansi: Bool) throws {
        let modules = try bars()
        let text = Render.terminal(code128: modules, ansi: ansi)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { stripSGR(String($0)).count == (modules.count + 21) / 2 })
        #expect(stripSGR(String(lines[0])).count <= 80, "an 18-digit payment code fits an 80-column terminal")
        expectCode128(pixels(fromCode128Terminal: text))
    }

    @Test("the QR SVG decodes", arguments: [(1, 4), (8, 4), (3, 2)])
    func svgQR(moduleSize: Int, quietZone: Int) throws {
        let qr = try qr()
        let svg = Render.svg(qr, moduleSize: moduleSize, quietZone: quietZone)
        let side = qr.size + 2 * quietZone
        #expect(svg.contains("viewBox=\"0 0 \(side) \(side)\""))
        let frame = try rasterize(svg: svg)
        #expect(frame == Render.raster(qr, moduleSize: moduleSize, quietZone: quietZone))
        expectQR(try rasterize(svg: Render.svg(qr, moduleSize: max(moduleSize, 3), quietZone: quietZone)))
    }

    @Test("the Code 128 SVG decodes and matches the raster")
    func svgCode128() throws {
        let modules = try bars()
        let frame = try rasterize(svg: Render.svg(code128: modules))
        #expect(frame == Render.raster(code128: modules))
        expectCode128(frame)
    }
}
