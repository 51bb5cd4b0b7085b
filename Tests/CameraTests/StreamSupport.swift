import Barcodes
import Camera
import Foundation
import Synchronization

/// A YUV4MPEG2 stream written by hand, so a test states exactly which bytes the reader sees.
struct Y4MWriter {
    var width: Int
    var height: Int
    /// The C tag, or nil to leave it out (which means 420jpeg).
    var colourSpace: String? = "420jpeg"
    /// Extra header tags, e.g. "F30:1 Ip A1:1".
    var tags = "F30:1 Ip A1:1"

    /// Bytes of the chroma planes after each Y plane, by the C tag (what the format defines).
    var chromaByteCount: Int {
        let halfWidth = (width + 1) / 2, halfHeight = (height + 1) / 2
        switch colourSpace ?? "420jpeg" {
        case "mono": return 0
        case "422": return 2 * halfWidth * height
        case "444": return 2 * width * height
        case "444alpha": return 3 * width * height
        case "411": return 2 * ((width + 3) / 4) * height
        default: return 2 * halfWidth * halfHeight
        }
    }

    var header: [UInt8] {
        var line = "YUV4MPEG2 W\(width) H\(height)"
        if !tags.isEmpty { line += " " + tags }
        if let colourSpace { line += " C\(colourSpace)" }
        return Array((line + "\n").utf8)
    }

    /// One frame: its FRAME line (with `parameters` when given), the Y plane, then chroma of
    /// value 128 (neutral), which the reader must skip.
    func frame(_ luma: [UInt8], parameters: String? = nil) -> [UInt8] {
        precondition(luma.count == width * height, "luma is \(luma.count) bytes, not \(width)x\(height)")
        let marker = parameters.map { "FRAME \($0)\n" } ?? "FRAME\n"
        return Array(marker.utf8) + luma + [UInt8](repeating: 128, count: chromaByteCount)
    }

    /// A whole stream of `frames`.
    func stream(_ frames: [LumaFrame], parameters: String? = nil) -> [UInt8] {
        frames.reduce(header) { $0 + frame($1.pixels, parameters: parameters) }
    }
}

/// `frame` on a white canvas of `width` x `height`, top left: every frame of a stream has one size.
func padded(_ frame: LumaFrame, width: Int, height: Int) -> LumaFrame {
    var canvas = LumaFrame(width: width, height: height, fill: 255)
    for y in 0..<min(frame.height, height) {
        for x in 0..<min(frame.width, width) {
            canvas[x, y] = frame[x, y]
        }
    }
    return canvas
}

/// QR frames of one size for `texts` (nil: a blank frame), for stream tests.
func qrFrames(_ texts: [String?], width: Int = 200, height: Int = 200) throws -> [LumaFrame] {
    try texts.map { text in
        guard let text else { return LumaFrame(width: width, height: height, fill: 255) }
        return padded(try qrFrame(text), width: width, height: height)
    }
}

/// Collects values from several threads.
final class Collector<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func append(_ value: Value) {
        values.withLock { $0.append(value) }
    }

    var all: [Value] { values.withLock { $0 } }
}
