import Barcodes
import Camera
import Foundation

/// Runs `body` and returns the CameraError it threw, or nil. `#expect(throws:)` cannot return a
/// noncopyable value such as `V4L2Capture`, so device tests go through this.
func cameraError(_ body: () throws(CameraError) -> Void) -> CameraError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

/// A fresh directory under the system temp dir, removed when the test is done with it.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("qrpos-camera-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `bytes` to `name` in this directory and returns its path.
    @discardableResult
    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes `frame` as a binary PGM (P5), built by hand so the fixture does not depend on the
    /// encoder under test elsewhere.
    @discardableResult
    func writePGM(_ frame: LumaFrame, to name: String) throws -> String {
        try write(Array("P5\n\(frame.width) \(frame.height)\n255\n".utf8) + frame.pixels, to: name)
    }
}

/// A frame whose every pixel is `value`, so a test can tell frames apart by content.
func flatFrame(_ value: UInt8, width: Int = 8, height: Int = 4) -> LumaFrame {
    LumaFrame(width: width, height: height, fill: value)
}

/// A QR code for `text` rendered at 4 px a module with the standard 4-module quiet zone.
func qrFrame(_ text: String) throws -> LumaFrame {
    Render.raster(try QREncoder.encode(text), moduleSize: 4, quietZone: 4)
}

/// `frames` side by side on white, tops aligned: several codes in one camera frame.
func sideBySide(_ frames: [LumaFrame], gap: Int = 16) -> LumaFrame {
    let width = frames.map(\.width).reduce(0, +) + gap * (frames.count - 1)
    let height = frames.map(\.height).max()!
    var canvas = LumaFrame(width: width, height: height, fill: 255)
    var left = 0
    for frame in frames {
        for y in 0..<frame.height {
            for x in 0..<frame.width {
                canvas[left + x, y] = frame[x, y]
            }
        }
        left += frame.width + gap
    }
    return canvas
}
