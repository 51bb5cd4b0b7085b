import Barcodes
import SeededRandom
import Foundation
import Testing

// Test fixtures are generated here by code: payloads, hand-built PNG files, and parsers that turn
// the terminal and SVG renderings back into pixels so zbar can judge them.

// MARK: Deterministic randomness

// SplitMix64 (module SeededRandom): a failing payload is rebuilt from the test's arguments.

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

func noiseFrame(width: Int, height: Int, seed: UInt64) -> LumaFrame {
    LumaFrame(width: width, height: height, pixels: randomBytes(width * height, seed: seed))
}

// MARK: Payloads

/// The kinds of QR payload the round-trip tests cover.
enum PayloadKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case digits, ascii, utf8, base64, binary

    var testDescription: String { rawValue }

    /// A payload of exactly `byteCount` bytes of this kind.
    func payload(byteCount: Int) -> [UInt8] {
        var rng = SplitMix64(seed: UInt64(byteCount) &* 31 &+ UInt64(rawValue.utf8.count))
        switch self {
        case .digits:
            return (0..<byteCount).map { _ in UInt8(ascii: "0") + UInt8.random(in: 0...9, using: &rng) }
        case .ascii:
            return (0..<byteCount).map { _ in UInt8.random(in: 0x20...0x7E, using: &rng) }
        case .utf8:
            // Multi-byte characters (2, 3 and 4 bytes), topped up with ASCII to the exact size.
            let pieces = ["价格", "€", "Grüße", "支付成功", "🙂", "こんにちは", "Ω", "收据 №"]
            var bytes: [UInt8] = []
            while true {
                let piece = Array(pieces.randomElement(using: &rng)!.utf8)
                if bytes.count + piece.count > byteCount { break }
                bytes += piece
            }
            while bytes.count < byteCount { bytes.append(UInt8(ascii: "a")) }
            return bytes
        case .base64:
            let source = randomBytes(byteCount, seed: UInt64(byteCount))
            return Array(Data(source).base64EncodedString().utf8.prefix(byteCount))
        case .binary:
            var bytes = randomBytes(byteCount, seed: UInt64(byteCount) &+ 7)
            // NUL every 7th byte, so every size has one.
            for i in stride(from: 0, to: bytes.count, by: 7) { bytes[i] = 0 }
            return bytes
        }
    }

    /// Text kinds go through the string encoder, which lets libqrencode pick segments; binary through bytes.
    func encode(_ payload: [UInt8], errorCorrection: ErrorCorrection = .medium) throws -> QRMatrix {
        switch self {
        case .binary: try QREncoder.encode(bytes: payload, errorCorrection: errorCorrection)
        default: try QREncoder.encode(String(decoding: payload, as: UTF8.self), errorCorrection: errorCorrection)
        }
    }
}

// MARK: Files and the zbarimg command

/// A fresh directory under the system temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("BarcodesTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

let zbarimgPath = "/usr/bin/zbarimg"
let zbarimgExists = FileManager.default.isExecutableFile(atPath: zbarimgPath)

/// Decodes an image file with the independent `zbarimg -q --raw` and returns each line it printed.
func zbarimg(_ path: String) throws -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: zbarimgPath)
    process.arguments = ["-q", "--raw", path]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}

// MARK: Reading renderings back into pixels

/// Turns a QR terminal rendering back into pixels: each half-block character is two module
/// pixels stacked (top, bottom), scaled up by `scale`. SGR escape sequences are dropped.
func pixels(fromTerminal text: String, scale: Int = 4) -> LumaFrame {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { stripSGR(String($0)) }
    let width = lines[0].count
    var modules: [[Bool]] = []
    for line in lines {
        #expect(line.count == width, "every line of the rendering has the same width")
        var top: [Bool] = [], bottom: [Bool] = []
        for character in line {
            switch character {
            case "█": top.append(true); bottom.append(true)
            case "▀": top.append(true); bottom.append(false)
            case "▄": top.append(false); bottom.append(true)
            case " ": top.append(false); bottom.append(false)
            default: Issue.record("unexpected character \(character) in terminal rendering")
            }
        }
        modules += [top, bottom]
    }
    return scaleUp(modules, scaleX: scale, scaleY: scale)
}

/// Turns a Code 128 terminal rendering (half blocks, two modules a column) back into pixels.
func pixels(fromCode128Terminal text: String, scaleX: Int = 2, scaleY: Int = 20) -> LumaFrame {
    let lines = text.split(separator: "\n").map { stripSGR(String($0)) }
    let modules = lines.map { line in
        line.flatMap { character -> [Bool] in
            switch character {
            case "█": return [true, true]
            case "▌": return [true, false]
            case "▐": return [false, true]
            case " ": return [false, false]
            default:
                Issue.record("unexpected character \(character)")
                return [false, false]
            }
        }
    }
    return scaleUp(modules, scaleX: scaleX, scaleY: scaleY)
}

func stripSGR(_ line: String) -> String {
    line.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
}

func scaleUp(_ modules: [[Bool]], scaleX: Int, scaleY: Int) -> LumaFrame {
    let width = modules[0].count * scaleX
    var frame = LumaFrame(width: width, height: modules.count * scaleY)
    for (y, row) in modules.enumerated() {
        for (x, dark) in row.enumerated() where dark {
            for py in (y * scaleY)..<((y + 1) * scaleY) {
                for px in (x * scaleX)..<((x + 1) * scaleX) { frame[px, py] = 0 }
            }
        }
    }
    return frame
}

struct SVGError: Error, CustomStringConvertible {
    let description: String
}

/// Rasterises exactly the SVG subset `Render.svg` emits: an `<svg>` with integer `width`,
/// `height` and `viewBox="0 0 W H"`, a white `<rect>` covering the view box, and one black `<path>`
/// whose `d` is a list of `Mx,yh…v…h-…z` rectangles. Anything else is an error, so a change in the
/// output that a real renderer might draw differently does not pass unnoticed.
func rasterize(svg: String) throws -> LumaFrame {
    func attribute(_ name: String, in text: Substring) throws -> String {
        guard let start = text.range(of: " \(name)=\"") else { throw SVGError(description: "no \(name)") }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { throw SVGError(description: "unterminated \(name)") }
        return String(rest[..<end])
    }
    guard svg.hasPrefix("<svg "), let openEnd = svg.firstIndex(of: ">") else { throw SVGError(description: "no <svg>") }
    let open = svg[..<openEnd]
    guard try attribute("xmlns", in: open) == "http://www.w3.org/2000/svg",
          try attribute("shape-rendering", in: open) == "crispEdges" else {
        throw SVGError(description: "missing namespace or crispEdges")
    }
    guard let width = Int(try attribute("width", in: open)), let height = Int(try attribute("height", in: open)) else {
        throw SVGError(description: "width/height not integers")
    }
    let box = try attribute("viewBox", in: open).split(separator: " ").compactMap { Int($0) }
    guard box.count == 4, box[0] == 0, box[1] == 0, width % box[2] == 0, height % box[3] == 0 else {
        throw SVGError(description: "unsupported viewBox \(box)")
    }
    let scaleX = width / box[2], scaleY = height / box[3]
    let body = svg[svg.index(after: openEnd)...]
    let expectedRect = "<rect width=\"\(box[2])\" height=\"\(box[3])\" fill=\"#fff\"/>"
    guard body.hasPrefix(expectedRect) else { throw SVGError(description: "no white background rect") }
    let afterRect = body.dropFirst(expectedRect.count)
    guard afterRect.hasPrefix("<path fill=\"#000\" d=\""), afterRect.hasSuffix("\"/></svg>\n") else {
        throw SVGError(description: "unexpected elements after the rect")
    }
    let d = try attribute("d", in: afterRect)

    var frame = LumaFrame(width: width, height: height, fill: 255)
    // Each rectangle: M x , y h w v h h - w z
    let scanner = Scanner(string: d)
    scanner.charactersToBeSkipped = nil
    while !scanner.isAtEnd {
        guard scanner.scanString("M") != nil, let x = scanner.scanInt(), scanner.scanString(",") != nil,
              let y = scanner.scanInt(), scanner.scanString("h") != nil, let w = scanner.scanInt(),
              scanner.scanString("v") != nil, let h = scanner.scanInt(), scanner.scanString("h-") != nil,
              let back = scanner.scanInt(), scanner.scanString("z") != nil, back == w, w > 0, h > 0 else {
            throw SVGError(description: "unsupported path data near offset \(scanner.currentIndex.utf16Offset(in: d))")
        }
        for py in (y * scaleY)..<((y + h) * scaleY) {
            for px in (x * scaleX)..<((x + w) * scaleX) { frame[px, py] = 0 }
        }
    }
    return frame
}

// MARK: Hand-built PNG files

/// A minimal PNG encoder written independently of libpng, so the reader is tested on files it did
/// not make: one IDAT of stored (uncompressed) deflate blocks and filter type 0 on every row.
enum HandPNG {
    enum ColorType: UInt8 { case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6 }

    /// A PNG from raw scanlines (`rows`, without filter bytes, already packed for `bitDepth`).
    static func file(width: Int, height: Int, colorType: ColorType, bitDepth: UInt8, rows: [[UInt8]],
                     palette: [[UInt8]]? = nil) -> [UInt8] {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [bitDepth, colorType.rawValue, 0, 0, 0]
        bytes += chunk("IHDR", header)
        if let palette { bytes += chunk("PLTE", palette.flatMap { $0 }) }
        var raw: [UInt8] = []
        for row in rows { raw.append(0); raw += row }
        bytes += chunk("IDAT", zlibStored(raw))
        bytes += chunk("IEND", [])
        return bytes
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typed + bigEndian(crc32(typed))
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let count = min(65535, data.count - offset)
            let final: UInt8 = offset + count == data.count ? 1 : 0
            out += [final, UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8((~count >> 8) & 0xFF)]
            out += data[offset..<(offset + count)]
            offset += count
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + bigEndian(b << 16 | a)
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
