import CPNG

/// Reading and writing grey images as PGM or PNG files, the formats `qrpos` takes and makes.
///
/// Everything is converted to, or written from, a ``LumaFrame``: 8-bit grey, which is what zbar
/// scans. PNG goes through libpng's simplified API (`png_image_*`), which reports errors in
/// `png_image.message` rather than by `longjmp`, so a broken file is a thrown error, never a crash.
public enum ImageFile {
    /// The widest or tallest image accepted. Checked before any pixel buffer is allocated, so a
    /// 20-byte header that claims 10⁹×10⁹ pixels is an error and not an allocation failure.
    public static let sideMax = 32_768
    /// The most pixels accepted in one image (256 MiB of grey).
    public static let pixelCountMax = 1 << 28
    /// The largest file `read(path:)` will load.
    public static let fileByteCountMax = 512 << 20

    private static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    // MARK: Reading

    /// Reads a PGM or PNG file into 8-bit grey; the format is detected by its magic bytes, not
    /// its name. See ``read(bytes:name:)`` for what is accepted.
    public static func read(path: String) throws(BarcodeError) -> LumaFrame {
        let bytes = try FileIO.readAll(path: path, byteCountMax: fileByteCountMax)
        return try read(bytes: bytes, name: path)
    }

    /// Decodes an image held in memory (for example stdin, `-`); `name` only labels error messages.
    ///
    /// - PGM, binary (`P5`) or plain (`P2`), with `#` comments and any maxval up to 65535;
    ///   samples are scaled to 0…255.
    /// - PNG of any colour type and bit depth, converted to grey by
    ///   `png_image_begin_read_from_memory` / `png_image_finish_read` with `PNG_FORMAT_GRAY`.
    ///   Transparent pixels are composited onto white, the paper a code is printed on.
    public static func read(bytes: [UInt8], name: String) throws(BarcodeError) -> LumaFrame {
        if bytes.isEmpty {
            throw BarcodeError(.malformedImage, "\(name): empty file, expected a PGM or PNG image")
        }
        if bytes.starts(with: pngSignature) {
            return try readPNG(bytes, name: name)
        }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P") {
            switch bytes[1] {
            case UInt8(ascii: "5"), UInt8(ascii: "2"):
                var parser = PGMParser(bytes: bytes, name: name)
                return try parser.parse()
            case UInt8(ascii: "1"), UInt8(ascii: "3"), UInt8(ascii: "4"), UInt8(ascii: "6"), UInt8(ascii: "7"):
                let magic = String(decoding: bytes[0..<2], as: UTF8.self)
                throw BarcodeError(.unsupportedImage,
                                   "\(name): netpbm type \(magic) is not supported; use PGM (P5 or P2) or PNG")
            default:
                break
            }
        }
        throw BarcodeError(.unknownImageFormat, "\(name): not a PGM or PNG image (unrecognised first bytes)")
    }

    private static func readPNG(_ bytes: [UInt8], name: String) throws(BarcodeError) -> LumaFrame {
        // libpng keeps the memory pointer from begin_read until finish_read, so both calls run
        // inside one withUnsafeBytes: the buffer is borrowed for exactly that long.
        let result: Result<LumaFrame, BarcodeError> = bytes.withUnsafeBytes { source in
            var image = png_image()
            image.version = png_uint_32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&image, source.baseAddress, source.count) != 0 else {
                // On failure libpng has already released image.opaque.
                return .failure(BarcodeError(.malformedImage, "\(name): bad PNG: \(message(of: &image))"))
            }
            let width = Int(image.width), height = Int(image.height)
            do throws(BarcodeError) {
                try checkSize(width: width, height: height, name: name)
            } catch {
                png_image_free(&image)
                return .failure(error)
            }
            image.format = png_uint_32(PNG_FORMAT_GRAY)
            var white = png_color(red: 255, green: 255, blue: 255)
            var pixels = [UInt8](repeating: 255, count: width * height)
            let finished = pixels.withUnsafeMutableBytes { buffer in
                png_image_finish_read(&image, &white, buffer.baseAddress, png_int_32(width), nil)
            }
            // finish_read frees image.opaque whether it succeeds or fails.
            guard finished != 0 else {
                return .failure(BarcodeError(.malformedImage, "\(name): bad PNG: \(message(of: &image))"))
            }
            return .success(LumaFrame(width: width, height: height, pixels: pixels))
        }
        return try result.get()
    }

    /// The NUL-terminated `png_image.message`, or a fallback when libpng left it empty.
    private static func message(of image: inout png_image) -> String {
        let text = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "libpng failed without a message" : text
    }

    static func checkSize(width: Int, height: Int, name: String) throws(BarcodeError) {
        guard width > 0, height > 0 else {
            throw BarcodeError(.malformedImage, "\(name): image has no pixels (\(width)x\(height))")
        }
        guard width <= sideMax, height <= sideMax, width * height <= pixelCountMax else {
            throw BarcodeError(.imageTooLarge,
                               "\(name): \(width)x\(height) image is too large (at most \(sideMax) per side and \(pixelCountMax) pixels)")
        }
    }

    // MARK: Writing

    /// The frame as a binary PGM (`P5`, maxval 255): a short text header, then the pixels as they are.
    public static func pgm(_ frame: LumaFrame) -> [UInt8] {
        var bytes = Array("P5\n\(frame.width) \(frame.height)\n255\n".utf8)
        bytes.append(contentsOf: frame.pixels)
        return bytes
    }

    /// The frame as an 8-bit greyscale PNG, made by `png_image_write_to_memory`.
    public static func png(_ frame: LumaFrame) throws(BarcodeError) -> [UInt8] {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(frame.width)
        image.height = png_uint_32(frame.height)
        image.format = png_uint_32(PNG_FORMAT_GRAY)
        // The first call, with no memory, only measures; libpng has no cheap exact bound to allocate.
        var size = 0
        let measured = frame.pixels.withUnsafeBytes {
            png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil)
        }
        guard measured != 0 else {
            throw BarcodeError(.encoderFailed, "cannot encode PNG: \(message(of: &image))")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = bytes.withUnsafeMutableBytes { output in
            frame.pixels.withUnsafeBytes {
                png_image_write_to_memory(&image, output.baseAddress, &size, 0, $0.baseAddress, 0, nil)
            }
        }
        guard written != 0 else {
            throw BarcodeError(.encoderFailed, "cannot encode PNG: \(message(of: &image))")
        }
        bytes.removeLast(bytes.count - size)
        return bytes
    }

    /// Writes the frame as PNG or PGM, chosen by the extension of `path` (`.png` or `.pgm`, any case).
    public static func write(_ frame: LumaFrame, to path: String) throws(BarcodeError) {
        let lower = path.lowercased()
        let bytes: [UInt8]
        if lower.hasSuffix(".png") {
            bytes = try png(frame)
        } else if lower.hasSuffix(".pgm") {
            bytes = pgm(frame)
        } else {
            throw BarcodeError(.unknownImageFormat, "\(path): cannot tell the image format; name it .png or .pgm")
        }
        try FileIO.writeAll(bytes, to: path)
    }
}

/// A parser for the netpbm grey formats: `P5` (binary) and `P2` (plain text).
///
/// The header is `magic width height maxval`, separated by whitespace, with `#` comments running
/// to the end of a line; a single whitespace byte then separates it from a P5 raster. Samples are
/// one byte when maxval < 256, else two bytes, most significant first.
private struct PGMParser {
    let bytes: [UInt8]
    let name: String
    var index = 2

    init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    mutating func parse() throws(BarcodeError) -> LumaFrame {
        let plain = bytes[1] == UInt8(ascii: "2")
        let width = try number("width")
        let height = try number("height")
        let maxval = try number("maxval")
        try ImageFile.checkSize(width: width, height: height, name: name)
        guard (1...65535).contains(maxval) else {
            throw malformed("maxval \(maxval) is outside 1…65535")
        }
        let count = width * height
        var pixels = [UInt8](repeating: 0, count: count)
        if plain {
            for i in 0..<count {
                pixels[i] = try scaled(number("pixel \(i)", truncatedIfMissing: true), maxval: maxval, index: i)
            }
        } else {
            // Exactly one whitespace byte ends the header; the raster may start with any byte value.
            guard index < bytes.count, isSpace(bytes[index]) else {
                throw truncated("no pixel data after the header")
            }
            index += 1
            let sampleSize = maxval < 256 ? 1 : 2
            let available = bytes.count - index
            guard available >= count * sampleSize else {
                throw truncated("\(count * sampleSize) bytes of pixel data expected, \(available) found")
            }
            for i in 0..<count {
                let sample = sampleSize == 1
                    ? Int(bytes[index + i])
                    : Int(bytes[index + 2 * i]) << 8 | Int(bytes[index + 2 * i + 1])
                pixels[i] = try scaled(sample, maxval: maxval, index: i)
            }
        }
        return LumaFrame(width: width, height: height, pixels: pixels)
    }

    /// A sample of 0…maxval as 0…255, rounded to nearest.
    private func scaled(_ sample: Int, maxval: Int, index: Int) throws(BarcodeError) -> UInt8 {
        guard sample <= maxval else {
            throw malformed("pixel \(index) is \(sample), above maxval \(maxval)")
        }
        return UInt8((sample * 255 + maxval / 2) / maxval)
    }

    /// The next unsigned decimal number, skipping whitespace and comments before it.
    private mutating func number(_ field: String, truncatedIfMissing: Bool = false) throws(BarcodeError) -> Int {
        skipSpaceAndComments()
        guard index < bytes.count else {
            throw truncatedIfMissing ? truncated("file ends before \(field)") : malformed("file ends before \(field)")
        }
        var value = 0
        var digits = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
            // Nine digits are more than any valid field, and keep the arithmetic far from overflow.
            guard digits <= 9 else { throw malformed("\(field) has too many digits") }
        }
        guard digits > 0 else {
            throw malformed("expected a number for \(field), found byte 0x\(String(bytes[index], radix: 16))")
        }
        if index < bytes.count, !isSpace(bytes[index]), bytes[index] != UInt8(ascii: "#") {
            throw malformed("\(field) is followed by byte 0x\(String(bytes[index], radix: 16)) instead of whitespace")
        }
        return value
    }

    private mutating func skipSpaceAndComments() {
        while index < bytes.count {
            if isSpace(bytes[index]) {
                index += 1
            } else if bytes[index] == UInt8(ascii: "#") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n"), bytes[index] != UInt8(ascii: "\r") {
                    index += 1
                }
            } else {
                return
            }
        }
    }

    private func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    private func malformed(_ detail: String) -> BarcodeError {
        BarcodeError(.malformedImage, "\(name): malformed PGM: \(detail)")
    }

    private func truncated(_ detail: String) -> BarcodeError {
        BarcodeError(.malformedImage, "\(name): truncated PGM: \(detail)")
    }
}
