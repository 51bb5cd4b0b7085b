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
}

/// Frames read from PGM or PNG files, in order, optionally looping: for replaying recorded
/// scans and for tests. Each file is read when its frame is asked for, so a file that goes
/// missing fails at that frame.
public struct FileFrameSource: FrameSource, Sendable {
    /// File name extensions (lowercase) a directory source picks up.
    public static let imageExtensions: Set<String> = ["pgm", "png"]
    /// The most files a directory source takes; more is a mistake, not a recording.
    public static let fileCountMax = 100_000

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
