import Barcodes
import Glibc

/// Frames from a YUV4MPEG2 (Y4M) stream: a file, standard input, or any readable descriptor.
/// Y4M is what `ffmpeg -f yuv4mpegpipe` and most video tools write, so a rig can pipe recorded
/// or synthetic video straight into `qrpos scan --frames -`.
///
/// The stream is a header line (`YUV4MPEG2 W640 H480 F30:1 C420jpeg …`), then per frame a
/// `FRAME` line (optionally with parameters) and the raw planes. Only the Y plane is kept; the
/// chroma planes are read past. 8-bit colour spaces only: 420jpeg, 420paldv, 420mpeg2, 420, 422,
/// 444, 444alpha, 411 and mono.
///
/// Owns its descriptor when it opened it (or was told to), closing it in `deinit`. `next()`
/// **blocks the calling thread** in `read(2)`: a pipe waits for its writer.
public struct Y4MFrameSource: ~Copyable, FrameSource {
    /// How the chroma planes are subsampled, which decides how many bytes follow the Y plane.
    public enum Chroma: String, Sendable, Hashable {
        /// 4:2:0: two planes of ⌈W/2⌉ x ⌈H/2⌉ (420jpeg, 420paldv, 420mpeg2, 420).
        case c420
        /// 4:2:2: two planes of ⌈W/2⌉ x H.
        case c422
        /// 4:4:4: two planes of W x H.
        case c444
        /// 4:4:4 and an alpha plane: three planes of W x H.
        case c444alpha
        /// 4:1:1: two planes of ⌈W/4⌉ x H.
        case c411
        /// Luma only.
        case mono

        /// The `C` tag values of 8-bit streams and what they mean.
        static let byTag: [String: Chroma] = [
            "420jpeg": .c420, "420paldv": .c420, "420mpeg2": .c420, "420": .c420,
            "422": .c422, "444": .c444, "444alpha": .c444alpha, "411": .c411, "mono": .mono,
        ]

        /// Bytes after the Y plane of a `width` x `height` frame.
        func chromaByteCount(width: Int, height: Int) -> Int {
            switch self {
            case .c420: 2 * ((width + 1) / 2) * ((height + 1) / 2)
            case .c422: 2 * ((width + 1) / 2) * height
            case .c444: 2 * width * height
            case .c444alpha: 3 * width * height
            case .c411: 2 * ((width + 3) / 4) * height
            case .mono: 0
            }
        }
    }

    /// A frame rate as the `F` tag writes it: frames per `denominator` seconds.
    public struct FrameRate: Sendable, Hashable {
        public let numerator: Int
        public let denominator: Int
        /// Frames per second.
        public var perSecond: Double { Double(numerator) / Double(denominator) }
    }

    /// What the stream header says.
    public struct Header: Sendable, Hashable {
        public let width: Int
        public let height: Int
        /// The `C` tag as written ("420jpeg" when the header has none, as the format defines).
        public let colourSpace: String
        public let chroma: Chroma
        /// The `F` tag, if given.
        public let frameRate: FrameRate?

        /// Bytes of one frame's planes (the FRAME line not included).
        public var frameByteCount: Int { width * height + chroma.chromaByteCount(width: width, height: height) }
    }

    /// The longest stream header or FRAME line accepted; real ones are under 100 bytes, and a
    /// limit keeps a file that is not Y4M from being read whole in search of a newline.
    public static let headerLengthMax = 4096
    /// The largest frame side accepted: 8K video, far beyond what QR scanning needs.
    public static let frameSideMax = 8192

    /// The parsed stream header.
    public let header: Header
    /// The file path, or "stdin": frames carry it as their `source`.
    public let name: String
    private var reader: DescriptorReader
    private let closesDescriptor: Bool
    private var sequence: UInt64 = 0

    /// Opens the Y4M file at `path` and reads its header. Throws `.notFound` or
    /// `.permissionDenied` from `open`, `.badFrame` for a header that is not Y4M, and
    /// `.formatUnsupported` for a colour space that is not 8-bit.
    public init(path: String) throws(CameraError) {
        let fd = try systemCall("open", device: path) { open(path, O_RDONLY | O_CLOEXEC) }
        try self.init(fileDescriptor: fd, name: path, closesDescriptor: true)
    }

    /// Reads a Y4M stream from `fileDescriptor` (a pipe, a socket, a file), starting with its
    /// header, which this reads now (blocking until it arrives). Closes the descriptor in
    /// `deinit`, and on a failure here, only when `closesDescriptor` is true.
    public init(fileDescriptor: Int32, name: String, closesDescriptor: Bool = false) throws(CameraError) {
        var reader = DescriptorReader(fd: fileDescriptor, name: name)
        do throws(CameraError) {
            let line: [UInt8]
            switch try reader.readLine(lengthMax: Self.headerLengthMax) {
            case .line(let bytes): line = bytes
            case .endOfStream:
                throw CameraError(code: .badFrame, message: "\(name) is empty, not a YUV4MPEG2 stream", device: name)
            case .truncated:
                throw CameraError(code: .badFrame, message: "\(name) ends inside its YUV4MPEG2 header", device: name)
            }
            header = try Self.parseHeader(line, name: name)
        } catch {
            // self is not initialised, so deinit will not run: close here.
            if closesDescriptor { _ = close(fileDescriptor) }
            throw error
        }
        self.reader = reader
        self.name = name
        self.closesDescriptor = closesDescriptor
    }

    /// Standard input as a Y4M stream, named "stdin"; descriptor 0 is left open.
    public static func standardInput() throws(CameraError) -> Y4MFrameSource {
        try Y4MFrameSource(fileDescriptor: STDIN_FILENO, name: "stdin")
    }

    deinit {
        if closesDescriptor { _ = close(reader.fd) }
    }

    /// The next frame's Y plane, or nil when the stream ends cleanly after a whole frame.
    /// Throws `.badFrame` when the stream ends inside a frame or a FRAME line, or when something
    /// other than a FRAME line follows a frame; `.ioctlFailed` when `read(2)` fails.
    public mutating func next() throws(CameraError) -> CapturedFrame? {
        let index = sequence
        switch try reader.readLine(lengthMax: Self.headerLengthMax) {
        case .endOfStream:
            return nil
        case .truncated(let bytes):
            throw CameraError(
                code: .badFrame,
                message: "\(name) is truncated: frame \(index) ends inside its FRAME header "
                    + "(\(bytes.count) bytes, no newline)",
                device: name, operation: "read")
        case .line(let bytes):
            // "FRAME", alone or followed by a space and parameters (which qrpos does not need).
            let marker = Array("FRAME".utf8)
            guard bytes.starts(with: marker), bytes.count == marker.count || bytes[marker.count] == UInt8(ascii: " ") else {
                throw CameraError(
                    code: .badFrame,
                    message: "\(name): expected a FRAME header before frame \(index), found \"\(Self.printable(bytes))\"",
                    device: name)
            }
        }

        let width = header.width, height = header.height
        let lumaCount = width * height
        var readCount = 0
        var failure: CameraError?
        let pixels = [UInt8](unsafeUninitializedCapacity: lumaCount) { buffer, initialized in
            do throws(CameraError) {
                readCount = try reader.read(into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
            }
            initialized = readCount
        }
        if let failure { throw failure }
        let chromaCount = header.chroma.chromaByteCount(width: width, height: height)
        if readCount == lumaCount {
            readCount += try reader.skip(chromaCount)
        }
        guard readCount == lumaCount + chromaCount else {
            throw CameraError(
                code: .badFrame,
                message: "\(name) is truncated: frame \(index) has \(readCount) of its \(header.frameByteCount) bytes",
                device: name, operation: "read")
        }
        sequence += 1
        return CapturedFrame(frame: LumaFrame(width: width, height: height, pixels: pixels), sequence: index,
                             capturedAt: .now, source: name)
    }

    /// Parses a stream header line (without its newline): the `YUV4MPEG2` magic, then
    /// space-separated tags, each a letter and a value. W and H are required; F, C, I, A and X
    /// are optional and unknown tags are ignored, as the format asks of readers.
    public static func parseHeader(_ line: [UInt8], name: String) throws(CameraError) -> Header {
        func malformed(_ why: String) -> CameraError {
            CameraError(code: .badFrame, message: "\(name) has a bad YUV4MPEG2 header: \(why)", device: name)
        }
        let magic = Array("YUV4MPEG2".utf8)
        guard line.starts(with: magic), line.count == magic.count || line[magic.count] == UInt8(ascii: " ") else {
            throw CameraError(code: .badFrame,
                              message: "\(name) is not a YUV4MPEG2 stream (it starts \"\(printable(line))\")",
                              device: name)
        }
        var width: Int?
        var height: Int?
        var colourSpace = "420jpeg"
        var frameRate: FrameRate?
        for token in line[magic.count...].split(separator: UInt8(ascii: " ")) {
            let value = String(decoding: token.dropFirst(), as: UTF8.self)
            switch token.first {
            case UInt8(ascii: "W"), UInt8(ascii: "H"):
                guard let side = Int(value), (1...frameSideMax).contains(side) else {
                    throw malformed("\(printable(Array(token))) is not a frame side from 1 to \(frameSideMax)")
                }
                if token.first == UInt8(ascii: "W") { width = side } else { height = side }
            case UInt8(ascii: "F"):
                let parts = value.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let numerator = Int(parts[0]), let denominator = Int(parts[1]),
                      numerator >= 0, denominator > 0
                else { throw malformed("frame rate F\(value) is not N:D") }
                frameRate = FrameRate(numerator: numerator, denominator: denominator)
            case UInt8(ascii: "C"):
                colourSpace = value
            default:
                continue  // I (interlacing), A (aspect), X (extensions): nothing luma depends on.
            }
        }
        guard let width else { throw malformed("no W (width) tag") }
        guard let height else { throw malformed("no H (height) tag") }
        guard let chroma = Chroma.byTag[colourSpace] else {
            let known = Chroma.byTag.keys.sorted().joined(separator: ", ")
            throw CameraError(
                code: .formatUnsupported,
                message: "\(name) uses colour space C\(colourSpace), which qrpos does not read (8-bit only: \(known))",
                device: name)
        }
        return Header(width: width, height: height, colourSpace: colourSpace, chroma: chroma, frameRate: frameRate)
    }

    /// Up to 24 bytes of `bytes` for an error message, with anything unprintable as '?'.
    static func printable(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(24).map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
            + (bytes.count > 24 ? "…" : "")
    }
}

/// Buffered reading from a descriptor the caller owns, with `read(2)` on the one errno path.
struct DescriptorReader {
    /// How one line read ended.
    enum Line {
        /// A whole line, without its newline.
        case line([UInt8])
        /// The stream ended before any byte of the line.
        case endOfStream
        /// The stream ended inside the line: these bytes came, no newline.
        case truncated([UInt8])
    }

    /// Bytes asked of the kernel at once: large enough that a 720p frame is a few reads.
    static let chunkByteCount = 1 << 16

    let fd: Int32
    let name: String
    /// Bytes read ahead: `storage[position..<end]` are not consumed yet.
    private var storage: [UInt8] = []
    private var position = 0
    private var end = 0

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// One `read(2)` into `destination`; 0 at end of stream.
    private static func readSome(
        _ fd: Int32, name: String, into destination: UnsafeMutableRawBufferPointer
    ) throws(CameraError) -> Int {
        let count = min(destination.count, Int(Int32.max))
        return Int(try systemCall("read", device: name) { Int32(Glibc.read(fd, destination.baseAddress, count)) })
    }

    /// Refills the read-ahead once everything in it is consumed; false at end of stream.
    private mutating func refill() throws(CameraError) -> Bool {
        precondition(position == end, "refilling over unread bytes")
        if storage.isEmpty { storage = [UInt8](repeating: 0, count: Self.chunkByteCount) }
        let fd = self.fd, name = self.name
        let count = try withMutableBytes(of: &storage) { (bytes) throws(CameraError) -> Int in try Self.readSome(fd, name: name, into: bytes) }
        position = 0
        end = count
        return count > 0
    }

    /// The bytes up to the next newline. Throws `.badFrame` when there are more than
    /// `lengthMax` of them.
    mutating func readLine(lengthMax: Int) throws(CameraError) -> Line {
        var line: [UInt8] = []
        while true {
            if position == end, try !refill() {
                return line.isEmpty ? .endOfStream : .truncated(line)
            }
            let newline = storage[position..<end].firstIndex(of: UInt8(ascii: "\n"))
            line += storage[position..<(newline ?? end)]
            position = newline.map { $0 + 1 } ?? end
            guard line.count <= lengthMax else {
                throw CameraError(code: .badFrame, message: "\(name) has a header line longer than \(lengthMax) bytes",
                                  device: name)
            }
            if newline != nil { return .line(line) }
        }
    }

    /// Fills `destination` from the read-ahead, then straight from the descriptor (no second
    /// copy of a large frame); returns how many bytes came, fewer than asked only at end of
    /// stream.
    mutating func read(into destination: UnsafeMutableRawBufferPointer) throws(CameraError) -> Int {
        let buffered = min(end - position, destination.count)
        if buffered > 0 {
            let start = position
            storage.withUnsafeBytes { source in
                destination.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: buffered)
            }
            position += buffered
        }
        var filled = buffered
        while filled < destination.count {
            let count = try Self.readSome(fd, name: name, into: UnsafeMutableRawBufferPointer(rebasing: destination[filled...]))
            if count == 0 { break }
            filled += count
        }
        return filled
    }

    /// Reads past `count` bytes; returns how many there were, fewer only at end of stream.
    mutating func skip(_ count: Int) throws(CameraError) -> Int {
        var skipped = 0
        while skipped < count {
            if position == end, try !refill() { break }
            let step = min(end - position, count - skipped)
            position += step
            skipped += step
        }
        return skipped
    }
}

/// `Array.withUnsafeMutableBytes` keeping `body`'s typed error (the standard one rethrows
/// `any Error`).
func withMutableBytes<Result>(
    of array: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(CameraError) -> Result
) throws(CameraError) -> Result {
    let outcome = array.withUnsafeMutableBytes { bytes in
        Swift.Result { () throws(CameraError) -> Result in try body(bytes) }
    }
    return try outcome.get()
}
