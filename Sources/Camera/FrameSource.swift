import Barcodes
import Glibc

/// One frame from a source, with where and when it came from.
public struct CapturedFrame: Sendable {
    /// The frame's luma.
    public let frame: LumaFrame
    /// The source's frame counter: the driver's sequence number for a camera (a gap means the
    /// driver dropped frames), the position in the stream for files.
    public let sequence: UInt64
    /// When the frame was captured; scan latency is measured from here.
    public let capturedAt: ContinuousClock.Instant
    /// Where the frame came from: a device node or an image file path.
    public let source: String

    public init(frame: LumaFrame, sequence: UInt64, capturedAt: ContinuousClock.Instant, source: String) {
        self.frame = frame
        self.sequence = sequence
        self.capturedAt = capturedAt
        self.source = source
    }
}

/// Anything frames come from: a camera, or image files replayed. Noncopyable sources (which own
/// a device) conform too.
public protocol FrameSource: ~Copyable {
    /// The next frame, or nil when the stream has ended. May block the calling thread (a camera
    /// waits for the sensor); see the conforming type.
    mutating func next() throws(CameraError) -> CapturedFrame?
    /// What this source reads from, for logs and errors.
    var name: String { get }
    /// One line for a log saying what was opened: for a camera, the format it negotiated.
    var details: String { get }
}

extension FrameSource where Self: ~Copyable {
    /// The name: files have nothing more worth logging.
    public var details: String { name }
}

/// Frames read from PGM or PNG files, in order, optionally looping: for replaying recorded
/// scans and for tests. Each file is read when its frame is asked for, so a file that goes
/// missing fails at that frame.
public struct FileFrameSource: FrameSource, Sendable {
    /// File name extensions (lowercase) a directory source picks up.
    public static let imageExtensions: Set<String> = ["pgm", "png"]
    /// The most files a directory or list source takes; more is a mistake, not a recording.
    public static let fileCountMax = 100_000
    /// The longest line a list file may have (PATH_MAX).
    public static let pathLengthMax = 4096

    /// The files, in the order they are played.
    public let paths: [String]
    /// True when the source starts over after the last file instead of ending.
    public let loops: Bool
    public let name: String
    private var position = 0
    private var sequence: UInt64 = 0

    /// Plays `paths` in the given order. `name` defaults to "files".
    public init(paths: [String], loop: Bool = false, name: String = "files") {
        precondition(paths.count <= Self.fileCountMax, "\(paths.count) files is more than \(Self.fileCountMax)")
        self.paths = paths
        self.loops = loop
        self.name = name
    }

    /// Plays every `.pgm` and `.png` file in `directory` (not its subdirectories), sorted by name
    /// in byte order, so zero-pad numbered names. Throws `.notFound` when the directory does not
    /// exist or holds no such file, `.badFrame` when it holds more than `fileCountMax`.
    public init(directory: String, loop: Bool = false) throws(CameraError) {
        var opened: OpaquePointer?
        try systemCall("opendir", device: directory) {
            opened = opendir(directory)
            return opened == nil ? -1 : 0
        }
        let stream = opened!
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = string(fromCharacters: entry.pointee.d_name)
            guard let dot = name.lastIndex(of: "."),
                  Self.imageExtensions.contains(name[name.index(after: dot)...].lowercased())
            else { continue }
            // readdir's order is arbitrary, so cutting the list short would keep a random subset.
            guard names.count < Self.fileCountMax else {
                throw CameraError(code: .badFrame, message: "\(directory) holds more than \(Self.fileCountMax) images",
                                  device: directory)
            }
            names.append(name)
        }
        guard !names.isEmpty else {
            throw CameraError(code: .notFound, message: "\(directory) holds no .pgm or .png files", device: directory)
        }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        self.init(paths: names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).map { prefix + $0 },
                  loop: loop, name: directory)
    }

    /// Plays the image files named in the text file at `listFile`, one path a line, in order.
    /// Blank lines and lines starting with `#` are skipped; a relative path is taken from the
    /// list's own folder, so a recording and its list move together. Throws `.notFound` when the
    /// list cannot be opened or names no file, `.badFrame` when it names more than
    /// `fileCountMax` or has a line longer than `pathLengthMax`. The images themselves are
    /// checked as they are played.
    public init(listFile: String, loop: Bool = false) throws(CameraError) {
        let fd = try systemCall("open", device: listFile) { open(listFile, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        var reader = DescriptorReader(fd: fd, name: listFile)
        let folder = listFile.lastIndex(of: "/").map { String(listFile[...$0]) } ?? ""
        var paths: [String] = []
        lines: while true {
            let bytes: [UInt8]
            switch try reader.readLine(lengthMax: Self.pathLengthMax) {
            case .endOfStream: break lines
            case .line(let line), .truncated(let line): bytes = line
            }
            // Trimmed on both ends, which also takes the \r of a list written on Windows.
            let text = String(decoding: bytes, as: UTF8.self)
            let line = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            guard paths.count < Self.fileCountMax else {
                throw CameraError(code: .badFrame, message: "\(listFile) names more than \(Self.fileCountMax) images",
                                  device: listFile)
            }
            paths.append(line.hasPrefix("/") ? line : folder + line)
        }
        guard !paths.isEmpty else {
            throw CameraError(code: .notFound, message: "\(listFile) names no image files", device: listFile)
        }
        self.init(paths: paths, loop: loop, name: listFile)
    }

    /// The next file's frame, or nil after the last one (never, when looping over at least one
    /// file). Throws `.notFound` or `.permissionDenied` for a file that cannot be opened and
    /// `.badFrame` for one that is not a readable PGM or PNG. Reads the disk on the calling thread.
    public mutating func next() throws(CameraError) -> CapturedFrame? {
        if position == paths.count {
            guard loops, !paths.isEmpty else { return nil }
            position = 0
        }
        let path = paths[position]
        // access(2) first so a missing file is `.notFound` with its errno, whatever ImageFile throws.
        try systemCall("open", device: path) { access(path, R_OK) }
        let frame: LumaFrame
        do {
            frame = try ImageFile.read(path: path)
        } catch {
            throw CameraError(code: .badFrame, message: "cannot read \(path) as a PGM or PNG image: \(error)", device: path)
        }
        defer {
            position += 1
            sequence += 1
        }
        return CapturedFrame(frame: frame, sequence: sequence, capturedAt: .now, source: path)
    }
}
