/// An 8-bit grayscale image, one byte per pixel, rows top to bottom with no padding: the form
/// zbar scans (fourcc Y800/GREY) and every renderer and camera in qrpos produces.
public struct LumaFrame: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height` bytes; 0 is black, 255 is white.
    public var pixels: [UInt8]

    /// A frame of `width` x `height` pixels, all of value `fill`.
    public init(width: Int, height: Int, fill: UInt8 = 255) {
        precondition(width > 0 && height > 0, "a frame has at least one pixel")
        self.width = width
        self.height = height
        self.pixels = [UInt8](repeating: fill, count: width * height)
    }

    /// A frame over existing pixels; `pixels.count` must be `width * height`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height,
                      "pixel count \(pixels.count) does not match \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(x: Int, y: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }
}
