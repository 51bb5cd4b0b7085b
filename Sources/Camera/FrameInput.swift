import Glibc

/// Where frames come from, as a plain value: what `qrpos scan` was told to read. `open` makes
/// the source, and every kind of source is then the one type `AnyFrameSource`, so the scan loop,
/// the CLI and a rig treat a camera and a recording alike.
public enum FrameInput: Sendable, Hashable {
    /// A V4L2 camera, wrapped in a `CameraSession` so it survives being unplugged.
    case device(path: String, settings: CaptureSettings)
    /// PGM or PNG files, played in this order.
    case images([String])
    /// The PGM and PNG files in a folder, sorted by name.
    case directory(String)
    /// A text file naming image files, one a line.
    case listFile(String)
    /// A YUV4MPEG2 file.
    case y4mFile(String)
    /// A YUV4MPEG2 stream on standard input.
    case standardInput

    /// What `qrpos scan --frames ARGUMENT` means: `-` is a Y4M stream on standard input; a
    /// folder, its images; a file named `.y4m` or starting with `YUV4MPEG2`, a Y4M file; a
    /// `.pgm` or `.png` file, that one image; any other file, a list of image paths. Throws
    /// `.notFound` or `.permissionDenied` when the path cannot be examined.
    public init(framesArgument argument: String) throws(CameraError) {
        if argument == "-" {
            self = .standardInput
            return
        }
        var status = stat()
        try systemCall("stat", device: argument) { stat(argument, &status) }
        if status.st_mode & S_IFMT == S_IFDIR {
            self = .directory(argument)
            return
        }
        let lowercased = argument.lowercased()
        if lowercased.hasSuffix(".y4m") {
            self = .y4mFile(argument)
        } else if lowercased.hasSuffix(".pgm") || lowercased.hasSuffix(".png") {
            self = .images([argument])
        } else if try Self.startsWithY4MMagic(argument) {
            self = .y4mFile(argument)
        } else {
            self = .listFile(argument)
        }
    }

    /// True when the file at `path` starts with the YUV4MPEG2 magic.
    private static func startsWithY4MMagic(_ path: String) throws(CameraError) -> Bool {
        let fd = try systemCall("open", device: path) { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        var reader = DescriptorReader(fd: fd, name: path)
        let magic = Array("YUV4MPEG2".utf8)
        var head = [UInt8](repeating: 0, count: magic.count)
        let count = try withMutableBytes(of: &head) { (bytes) throws(CameraError) -> Int in try reader.read(into: bytes) }
        return count == magic.count && head == magic
    }

    /// What frames from this input carry as their source, for logs.
    public var name: String {
        switch self {
        case .device(let path, _): path
        case .images(let paths): paths.count == 1 ? paths[0] : "files"
        case .directory(let path), .listFile(let path), .y4mFile(let path): path
        case .standardInput: "stdin"
        }
    }

    /// True for a live camera, whose stale frames a scan loop should drop; false for recorded
    /// frames, which a rig wants every one of decoded.
    public var isLive: Bool {
        if case .device = self { return true }
        return false
    }

    /// Opens the source. For a device: a `CameraSession` whose events go to `onCameraEvent` and
    /// which stops waiting for a lost camera once `shouldStop` is true; both are unused for
    /// other inputs. Blocks while a device opens or a stream's header arrives, so call it on the
    /// thread that will read the frames.
    public func open(
        onCameraEvent: @escaping (CameraSessionEvent) -> Void = { _ in },
        shouldStop: @escaping () -> Bool = { false }
    ) throws(CameraError) -> AnyFrameSource {
        switch self {
        case .device(let path, let settings):
            .camera(try CameraSession(device: path, settings: settings, onEvent: onCameraEvent, shouldStop: shouldStop))
        case .images(let paths):
            .images(FileFrameSource(paths: paths, name: name))
        case .directory(let path):
            .images(try FileFrameSource(directory: path))
        case .listFile(let path):
            .images(try FileFrameSource(listFile: path))
        case .y4mFile(let path):
            .y4m(try Y4MFrameSource(path: path))
        case .standardInput:
            .y4m(try Y4MFrameSource.standardInput())
        }
    }
}

/// Any frame source qrpos has, as one type: a camera session, image files, or a Y4M stream.
/// Noncopyable because a camera and a Y4M file own descriptors.
public enum AnyFrameSource: ~Copyable, FrameSource {
    case camera(CameraSession<V4L2Capture>)
    case images(FileFrameSource)
    case y4m(Y4MFrameSource)

    /// The next frame from whichever source this is; see each type for how it blocks and fails.
    public mutating func next() throws(CameraError) -> CapturedFrame? {
        // A noncopyable payload cannot be mutated in place: take it out, use it, put it back.
        switch consume self {
        case .camera(var session):
            let result = Result { () throws(CameraError) -> CapturedFrame? in try session.next() }
            self = .camera(session)
            return try result.get()
        case .images(var files):
            let result = Result { () throws(CameraError) -> CapturedFrame? in try files.next() }
            self = .images(files)
            return try result.get()
        case .y4m(var stream):
            let result = Result { () throws(CameraError) -> CapturedFrame? in try stream.next() }
            self = .y4m(stream)
            return try result.get()
        }
    }

    public var name: String {
        switch self {
        case .camera(let session): session.name
        case .images(let files): files.name
        case .y4m(let stream): stream.name
        }
    }

    public var details: String {
        switch self {
        case .camera(let session): session.details
        case .images(let files): files.details
        case .y4m(let stream): "\(stream.name) Y4M \(stream.header.width)x\(stream.header.height) C\(stream.header.colourSpace)"
        }
    }
}
