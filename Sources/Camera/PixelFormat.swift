import Barcodes

/// A V4L2 pixel format: the kernel's little-endian fourcc (`v4l2_fourcc('Y','U','Y','V')`) and
/// the four characters people read ("YUYV").
public struct PixelFormat: Sendable, Hashable, CustomStringConvertible {
    /// The fourcc as V4L2 stores it: the first character in the lowest byte.
    public let fourcc: UInt32

    /// The format with this fourcc value.
    public init(fourcc: UInt32) {
        self.fourcc = fourcc
    }

    /// The format named by exactly four ASCII characters, such as "GREY"; nil for anything else.
    public init?(_ code: String) {
        let bytes = Array(code.utf8)
        guard bytes.count == 4, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        fourcc = bytes.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }

    /// The four characters ("YUYV"); a fourcc with non-printable bytes is shown as hex instead.
    public var code: String {
        let bytes = (0..<4).map { UInt8(truncatingIfNeeded: fourcc >> (8 * UInt32($0))) }
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return "0x" + String(fourcc, radix: 16)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { code }

    /// 8-bit greyscale: already luma.
    public static let grey = PixelFormat(fourcc: 0x5945_5247)  // "GREY"
    /// Packed 4:2:2, Y0 U Y1 V: what webcams and vivid offer uncompressed.
    public static let yuyv = PixelFormat(fourcc: 0x5659_5559)  // "YUYV"
    /// Packed 4:2:2, Y0 V Y1 U.
    public static let yvyu = PixelFormat(fourcc: 0x5559_5659)  // "YVYU"
    /// Packed 4:2:2, U Y0 V Y1.
    public static let uyvy = PixelFormat(fourcc: 0x5956_5955)  // "UYVY"
    /// Packed 4:2:2, V Y0 U Y1.
    public static let vyuy = PixelFormat(fourcc: 0x5955_5956)  // "VYUY"
    /// Planar 4:2:0 (I420): a full Y plane, then U, then V. libv4l2 converts MJPEG and most
    /// other formats to it.
    public static let yuv420 = PixelFormat(fourcc: 0x3231_5559)  // "YU12"
    /// Planar 4:2:0: a full Y plane, then V, then U. libv4l2 can convert to it too.
    public static let yvu420 = PixelFormat(fourcc: 0x3231_5659)  // "YV12"
    /// Semi-planar 4:2:0: a full Y plane, then interleaved UV.
    public static let nv12 = PixelFormat(fourcc: 0x3231_564E)  // "NV12"
    /// Semi-planar 4:2:0: a full Y plane, then interleaved VU.
    public static let nv21 = PixelFormat(fourcc: 0x3132_564E)  // "NV21"
    /// Motion JPEG: compressed, so luma only comes through libv4l2's conversion.
    public static let mjpeg = PixelFormat(fourcc: 0x4750_4A4D)  // "MJPG"
}

/// Where the luma samples of one row sit in a frame of some pixel format: sample `x` of row `y`
/// is byte `y * bytesPerLine + offset + x * step`. Every format qrpos captures has the full-size
/// Y channel at such positions, so taking luma is a strided copy and never a colour conversion.
public struct LumaLayout: Sendable, Hashable {
    /// The byte of the first Y sample within a row.
    public let offset: Int
    /// Bytes from one Y sample to the next within a row.
    public let step: Int

    /// A layout with explicit offset and step.
    public init(offset: Int, step: Int) {
        precondition(offset >= 0 && step >= 1 && offset < step, "Y sample \(offset) outside a \(step)-byte pixel")
        self.offset = offset
        self.step = step
    }

    /// One byte per pixel (GREY, and the Y plane of planar and semi-planar formats).
    public static let grey = LumaLayout(offset: 0, step: 1)
    /// Packed 4:2:2 with Y on even bytes (YUYV, YVYU).
    public static let yFirst422 = LumaLayout(offset: 0, step: 2)
    /// Packed 4:2:2 with Y on odd bytes (UYVY, VYUY).
    public static let chromaFirst422 = LumaLayout(offset: 1, step: 2)

    /// The layout of `format`'s luma, or nil when luma cannot be copied out of it (MJPEG, RGB, …).
    public init?(_ format: PixelFormat) {
        switch format {
        case .grey, .yuv420, .yvu420, .nv12, .nv21: self = .grey
        case .yuyv, .yvyu: self = .yFirst422
        case .uyvy, .vyuy: self = .chromaFirst422
        default: return nil
        }
    }

    /// The smallest row stride a `width`-pixel row can have.
    public func packedBytesPerLine(width: Int) -> Int { width * step }

    /// Copies the `width` x `height` luma out of `bytes`, whose rows are `bytesPerLine` bytes apart
    /// (a driver may pad rows; 0 means unpadded, as V4L2 allows). Returns nil when `bytes` is too
    /// short or a row cannot hold `width` pixels: a short frame is the world's fault, not a bug.
    public func extract(
        from bytes: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int
    ) -> LumaFrame? {
        precondition(width > 0 && height > 0, "a frame has at least one pixel")
        let stride = bytesPerLine == 0 ? packedBytesPerLine(width: width) : bytesPerLine
        guard stride >= packedBytesPerLine(width: width),
              bytes.count >= stride * (height - 1) + packedBytesPerLine(width: width)
        else { return nil }
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height) { out, initialized in
            for y in 0..<height {
                let row = y * stride + offset
                let target = y * width
                if step == 1 {
                    // GREY rows are contiguous: copy each row in one go.
                    UnsafeMutableRawPointer(out.baseAddress! + target)
                        .copyMemory(from: bytes.baseAddress! + row, byteCount: width)
                } else {
                    for x in 0..<width {
                        out[target + x] = bytes[row + x * step]
                    }
                }
            }
            initialized = width * height
        }
        return LumaFrame(width: width, height: height, pixels: pixels)
    }

    /// `extract(from:width:height:bytesPerLine:)` over an array, for tests and file formats.
    public func extract(from bytes: [UInt8], width: Int, height: Int, bytesPerLine: Int) -> LumaFrame? {
        bytes.withUnsafeBytes { extract(from: $0, width: width, height: height, bytesPerLine: bytesPerLine) }
    }
}
