import Barcodes
import Foundation
import Testing

@Suite("Image files")
struct ImageFileTests {
    func readError(_ bytes: [UInt8], name: String = "test") -> BarcodeError? {
        do {
            _ = try ImageFile.read(bytes: bytes, name: name)
            return nil
        } catch {
            return error
        }
    }

    // MARK: PGM

    @Test("plain P2 with comments and maxval 15 is scaled to 8 bits")
    func plainPGM() throws {
        let text = "P2\n# made by hand\n4 2 # width height\n15\n0 1 2 3\n# a comment between rows\n12 13 14 15\n"
        let frame = try ImageFile.read(bytes: Array(text.utf8), name: "plain.pgm")
        #expect(frame.width == 4 && frame.height == 2)
        #expect(frame.pixels == [0, 17, 34, 51, 204, 221, 238, 255])
    }

    @Test("binary P5 with 16-bit samples (maxval 65535) is scaled to 8 bits, most significant byte first")
    func sixteenBit() throws {
        let header = Array("P5\r\n# sixteen\r\n3 1\r\n65535\n".utf8)
        let frame = try ImageFile.read(bytes: header + [0x00, 0x00, 0x80, 0x80, 0xFF, 0xFF], name: "16.pgm")
        #expect(frame.pixels == [0, 128, 255])
    }

    @Test("P5 with maxval 1000 (two bytes a sample) and maxval 1 (one byte)")
    func otherMaxvals() throws {
        let wide = try ImageFile.read(bytes: Array("P5 2 1 1000\n".utf8) + [0x01, 0xF4, 0x03, 0xE8], name: "w")
        #expect(wide.pixels == [128, 255])
        let bilevel = try ImageFile.read(bytes: Array("P5 2 1 1 ".utf8) + [1, 0], name: "b")
        #expect(bilevel.pixels == [255, 0])
    }

    @Test("a QR code survives a 16-bit P5 and a P2 file")
    func qrThroughPGM() throws {
        let frame = Render.raster(try QREncoder.encode("sixteen bits"))
        var p5 = Array("P5\n\(frame.width) \(frame.height)\n65535\n".utf8)
        for pixel in frame.pixels { let v = UInt16(pixel) * 257; p5 += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        let p2 = "P2 \(frame.width) \(frame.height) 255\n" + frame.pixels.map(String.init).joined(separator: " ")
        for bytes in [p5, Array(p2.utf8)] {
            let back = try ImageFile.read(bytes: bytes, name: "qr.pgm")
            #expect(back == frame)
            #expect(CodeScanner().scan(back).first?.text == "sixteen bits")
        }
    }

    @Test("broken PGM files are clear errors", arguments: [
        ("P5\n4 4\n255\n" + String(repeating: "x", count: 10), BarcodeError.Code.malformedImage, "truncated"),
        ("P5\n4 4\n255", .malformedImage, "truncated"),
        ("P2\n2 2\n255\n1 2 3", .malformedImage, "truncated"),
        ("P5\nabc 4\n255\n", .malformedImage, "width"),
        ("P5\n4 4\n", .malformedImage, "maxval"),
        ("P5\n4x 4\n255\n", .malformedImage, "width"),
        ("P5\n4 4\n0\n", .malformedImage, "maxval"),
        ("P5\n4 4\n70000\n", .malformedImage, "maxval"),
        ("P5\n0 4\n255\n", .malformedImage, "no pixels"),
        ("P5\n1234567890 4\n255\n", .malformedImage, "digits"),
        ("P5\n100000 100000\n255\n", .imageTooLarge, "too large"),
        ("P2\n2 1\n9\n3 10\n", .malformedImage, "above maxval"),
        ("P2\n2 1\n9\n3 -1\n", .malformedImage, "pixel 1"),
        ("P6\n1 1\n255\nabc", .unsupportedImage, "P6"),
        ("GIF89a", .unknownImageFormat, "not a PGM or PNG"),
        ("P", .unknownImageFormat, "not a PGM or PNG"),
        ("", .malformedImage, "empty"),
    ])
    func brokenPGM(text: String, code: BarcodeError.Code, phrase: String) throws {
        let error = try #require(readError(Array(text.utf8), name: "broken.pgm"))
        #expect(error.code == code)
        #expect(error.message.hasPrefix("broken.pgm: "))
        #expect(error.message.contains(phrase), "\(error.message)")
    }

    // MARK: PNG

    @Test("corrupted and truncated PNG bytes are clear errors, never a crash")
    func brokenPNG() throws {
        let png = try ImageFile.png(Render.raster(try QREncoder.encode("png")))
        var flipped = png
        for i in stride(from: 60, to: png.count - 20, by: 13) { flipped[i] ^= 0x5A }
        var badCRC = png
        badCRC[29] ^= 0xFF  // inside the IHDR CRC
        for (bytes, label) in [(flipped, "flipped"), (badCRC, "bad CRC"), (Array(png.prefix(png.count / 2)), "half"),
                               (Array(png.prefix(8)), "signature only"), (Array(png.prefix(20)), "cut header")] {
            let error = try #require(readError(bytes, name: "broken.png"), "\(label)")
            #expect(error.code == .malformedImage, "\(label)")
            #expect(error.message.hasPrefix("broken.png: bad PNG: "), "\(label): \(error.message)")
            #expect(error.message.count > "broken.png: bad PNG: ".count, "\(label)")
        }
    }

    @Test("a PNG that claims a huge size is refused before allocating")
    func hugePNG() throws {
        let bytes = HandPNG.file(width: 100_000, height: 100_000, colorType: .gray, bitDepth: 8, rows: [[0]])
        #expect(readError(bytes)?.code == .imageTooLarge)
    }

    /// A QR raster re-encoded in one PNG colour type, with light modules in a colour that must
    /// come out white and dark ones black.
    enum Variant: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case gray1, gray8, gray16, grayAlpha8, rgb8, rgb16, rgba8, transparentRGBA8, palette8, palette1
        var testDescription: String { rawValue }

        func png(_ frame: LumaFrame) -> [UInt8] {
            let rows = (0..<frame.height).map { y in (0..<frame.width).map { x in frame[x, y] } }
            func file(_ type: HandPNG.ColorType, _ depth: UInt8, palette: [[UInt8]]? = nil, _ pixel: (UInt8) -> [UInt8]) -> [UInt8] {
                HandPNG.file(width: frame.width, height: frame.height, colorType: type, bitDepth: depth,
                             rows: rows.map { $0.flatMap(pixel) }, palette: palette)
            }
            func packed(_ type: HandPNG.ColorType, palette: [[UInt8]]? = nil, bit: (UInt8) -> Bool) -> [UInt8] {
                let packedRows = rows.map { row in
                    stride(from: 0, to: row.count, by: 8).map { start in
                        var byte: UInt8 = 0
                        for i in 0..<8 where start + i < row.count && bit(row[start + i]) { byte |= 0x80 >> UInt8(i) }
                        return byte
                    }
                }
                return HandPNG.file(width: frame.width, height: frame.height, colorType: type, bitDepth: 1,
                                    rows: packedRows, palette: palette)
            }
            switch self {
            case .gray1: return packed(.gray) { $0 == 255 }
            case .gray8: return file(.gray, 8) { [$0] }
            case .gray16: return file(.gray, 16) { [$0, $0] }
            case .grayAlpha8: return file(.grayAlpha, 8) { [$0, 255] }
            case .rgb8: return file(.rgb, 8) { [$0, $0, $0] }
            case .rgb16: return file(.rgb, 16) { [$0, $0, $0, $0, $0, $0] }
            case .rgba8: return file(.rgba, 8) { [$0, $0, $0, 255] }
            // Light pixels are transparent black: only compositing onto white makes them light.
            case .transparentRGBA8: return file(.rgba, 8) { $0 == 0 ? [0, 0, 0, 255] : [0, 0, 0, 0] }
            case .palette8: return file(.palette, 8, palette: [[255, 0, 0], [0, 0, 0], [255, 255, 255]]) { $0 == 0 ? [1] : [2] }
            case .palette1: return packed(.palette, palette: [[0, 0, 0], [255, 255, 255]]) { $0 == 255 }
            }
        }
    }

    @Test("PNG of any colour type reads as grey and decodes", arguments: Variant.allCases)
    func colourTypes(variant: Variant) throws {
        let frame = Render.raster(try QREncoder.encode("colour \(variant.rawValue)"), moduleSize: 3)
        let back = try ImageFile.read(bytes: variant.png(frame), name: "\(variant).png")
        #expect(back == frame)
        #expect(CodeScanner().scan(back).first?.text == "colour \(variant.rawValue)")
    }

    @Test("colours become their grey value")
    func colourToGrey() throws {
        let row: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128]
        let frame = try ImageFile.read(bytes: HandPNG.file(width: 4, height: 1, colorType: .rgb, bitDepth: 8, rows: [row]), name: "rgb")
        // Green is the brightest primary and blue the darkest; grey stays grey.
        #expect(frame.pixels[1] > frame.pixels[0] && frame.pixels[0] > frame.pixels[2])
        #expect(abs(Int(frame.pixels[3]) - 128) <= 1)
    }

    // MARK: Files

    @Test("file-system failures carry errno and the path")
    func fileSystem() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.png").path
        do {
            _ = try ImageFile.read(path: missing)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .fileSystem)
            #expect(error.systemError == ENOENT)
            #expect(error.message.contains(missing))
        }
        do {
            _ = try ImageFile.read(path: directory.path)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .fileSystem)
            #expect(error.systemError == EISDIR)
        }
        let frame = LumaFrame(width: 2, height: 2)
        do {
            try ImageFile.write(frame, to: directory.appendingPathComponent("no/such/dir.png").path)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .fileSystem)
        }
        do {
            try ImageFile.write(frame, to: directory.appendingPathComponent("image.gif").path)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .unknownImageFormat)
        }
        let empty = directory.appendingPathComponent("empty.pgm").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(throws: BarcodeError(.malformedImage, "\(empty): empty file, expected a PGM or PNG image")) {
            try ImageFile.read(path: empty)
        }
    }
}
