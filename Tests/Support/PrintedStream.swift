// Shared by the receipt tests and the command-line tests: every ESC/POS stream qrpos makes is read back.

import Barcodes

/// Reads an ESC/POS stream the way a printer would, strictly: every command must be one qrpos
/// knows and complete, or the test fails. What it printed: the text lines (in the code page's
/// bytes), the native QR's stored data, the raster images, and whether it ended with a cut.
public struct PrintedStream: Sendable {
    public var lines: [[UInt8]] = []
    /// The last native QR's data, and every one in order (one per receipt in a stream of several).
    public var nativeQR: [UInt8]?
    public var nativeQRs: [[UInt8]] = []
    public var rasters: [Raster] = []
    public var endsWithCut = false
    public var codePage: UInt8?
    /// How many times the stream initialised the printer (ESC @): one per job.
    public var jobs = 0

    public struct Raster: Sendable {
        public let width: Int
        public let height: Int
        public let bits: [UInt8]
    }

    public init(_ bytes: [UInt8]) throws {
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
                case 0x40: i += 2; jobs += 1                       // ESC @ initialise
                case 0x74: try need(3); codePage = bytes[i + 2]; i += 3    // ESC t n
                case 0x45, 0x61, 0x64:                             // ESC E n, ESC a n, ESC d n
                    try need(3)
                    if bytes[i + 1] == 0x61, bytes[i + 2] > 2 { throw ParseError(description: "alignment \(bytes[i + 2])") }
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
                    case 0x41: try check(parameters == [0x32, 0x00], "QR model \(parameters)")
                    case 0x43: try check((1...16).contains(parameters.first ?? 0), "QR module size \(parameters)")
                    case 0x45: try check((0x30...0x33).contains(parameters.first ?? 0), "QR error correction \(parameters)")
                    case 0x50: try check(parameters.first == 0x30, "QR store \(parameters.prefix(2))"); nativeQR = Array(parameters.dropFirst()); nativeQRs.append(nativeQR!)
                    case 0x51: try check(parameters == [0x30], "QR print \(parameters)")
                    default: throw ParseError(description: "unknown QR function \(fn)")
                    }
                    i += 5 + length
                case 0x76:                                          // GS v 0 m xL xH yL yH d…
                    try need(8)
                    guard bytes[i + 2] == 0x30, bytes[i + 3] == 0 else { throw ParseError(description: "raster mode \(bytes[i + 3])") }
                    let rowBytes = Int(bytes[i + 4]) | Int(bytes[i + 5]) << 8, height = Int(bytes[i + 6]) | Int(bytes[i + 7]) << 8
                    try need(8 + rowBytes * height)
                    rasters.append(Raster(width: rowBytes * 8, height: height, bits: Array(bytes[(i + 8)..<(i + 8 + rowBytes * height)])))
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
        try check(line.isEmpty, "text after the last line feed")
    }

    private func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        guard condition else { throw ParseError(description: what()) }
    }

    /// The printed lines as text (ASCII and the code page's bytes as they are).
    public var text: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }

    public struct ParseError: Error, CustomStringConvertible { public let description: String }

}

extension PrintedStream {
    /// A raster as a grey image (black dots 0), for the scanner.
    public func frame(_ raster: Raster) -> LumaFrame {
        var pixels = [UInt8](repeating: 255, count: raster.width * raster.height)
        for y in 0..<raster.height {
            for x in 0..<raster.width where raster.bits[y * raster.width / 8 + x / 8] & (0x80 >> UInt8(x % 8)) != 0 {
                pixels[y * raster.width + x] = 0
            }
        }
        return LumaFrame(width: raster.width, height: raster.height, pixels: pixels)
    }
}

