import Glibc

/// Why a camera or frame source failed, with where it happened: the one error every `Camera` API
/// throws. The CLI prints `description` as one line.
public struct CameraError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, for callers that react differently (retry on `.unplugged`,
    /// tell the user to fix permissions on `.permissionDenied`, …).
    public enum Code: Sendable, Hashable {
        /// The device node or file does not exist (`ENOENT`, `ENXIO`).
        case notFound
        /// The node exists but this user may not open it (`EACCES`, `EPERM`); usually the `video` group.
        case permissionDenied
        /// The node is not a V4L2 device (`VIDIOC_QUERYCAP` fails with `ENOTTY`, or it is a directory).
        case notAVideoDevice
        /// A V4L2 device, but not a single-planar capture device with streaming I/O.
        case noCaptureSupport
        /// The device went away while open (`ENODEV`): the camera was unplugged.
        case unplugged
        /// The device offers no format qrpos can take luma from, or it substituted one.
        case formatUnsupported
        /// No frame arrived within the capture's timeout.
        case timeout
        /// Any other failed system call or ioctl; `errno` says why.
        case ioctlFailed
        /// A frame was required but the source has ended.
        case endOfStream
        /// A frame arrived but cannot be used: too short for its format, an unreadable image file,
        /// or a Y4M stream that is malformed or truncated.
        case badFrame
        /// The device has no control by the name given (see `qrpos devices` for the names).
        case controlNotFound
        /// The device has the control but refuses the value: out of range, read-only, or a type
        /// that needs extended controls.
        case controlRejected
    }

    /// What kind of failure this is.
    public let code: Code
    /// One human sentence naming the device, the operation and the cause.
    public let message: String
    /// The device node or file path this happened on.
    public let device: String
    /// The system call or ioctl that failed (`"open"`, `"VIDIOC_QUERYCAP"`, `"poll"`, …), if any.
    public let operation: String?
    /// The errno it failed with, if it was a system call.
    public let errno: Int32?

    /// An error with every field given.
    public init(code: Code, message: String, device: String, operation: String? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.device = device
        self.operation = operation
        self.errno = errno
    }

    public var description: String { message }
}

extension CameraError {
    /// The error for system call `operation` failing with `errorNumber` on `device`: the only place
    /// errno values become codes, so `ENODEV` means `.unplugged` everywhere. Public so a test can
    /// stand in for the kernel with the very errors it would cause.
    public init(errorNumber: Int32, operation: String, device: String) {
        let code: Code
        let hint: String
        switch errorNumber {
        case ENOENT, ENXIO:
            code = .notFound
            hint = "no such device"
        case EACCES, EPERM:
            code = .permissionDenied
            hint = "permission denied (is the user in the video group?)"
        case ENODEV:
            code = .unplugged
            hint = "the camera was unplugged"
        case ENOTTY where operation == "VIDIOC_QUERYCAP", EISDIR:
            code = .notAVideoDevice
            hint = "not a V4L2 video device"
        default:
            code = .ioctlFailed
            hint = ""
        }
        let cause = "\(Self.errnoName(errorNumber)): \(String(cString: strerror(errorNumber)))"
        let message = hint.isEmpty
            ? "\(operation) on \(device) failed: \(cause)"
            : "\(operation) on \(device) failed: \(hint) (\(cause))"
        self.init(code: code, message: message, device: device, operation: operation, errno: errorNumber)
    }

    /// Symbolic names for the errno values a camera really returns; people search for `ENODEV`,
    /// not for its number.
    static func errnoName(_ errorNumber: Int32) -> String {
        switch errorNumber {
        case ENOENT: "ENOENT"
        case ENXIO: "ENXIO"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case ENODEV: "ENODEV"
        case ENOTTY: "ENOTTY"
        case EISDIR: "EISDIR"
        case ENOTDIR: "ENOTDIR"
        case EINVAL: "EINVAL"
        case EBUSY: "EBUSY"
        case EIO: "EIO"
        case ENOMEM: "ENOMEM"
        case EAGAIN: "EAGAIN"
        case EPIPE: "EPIPE"
        default: "errno \(errorNumber)"
        }
    }
}

/// How a system call ended when the caller chose to tolerate some errno values.
enum SystemCallOutcome {
    /// It succeeded with this (non-negative) result.
    case completed(Int32)
    /// It failed with one of the tolerated errno values (`EAGAIN` from a non-blocking `DQBUF`,
    /// `EINVAL` at the end of an `ENUM_*` list).
    case refused(errno: Int32)
}

/// The one errno path: runs `call`, retries it while it fails with `EINTR` (a signal is not a
/// camera failure), returns tolerated errno values to the caller and throws every other failure
/// as a `CameraError` naming `operation` and `device`. `call` returns -1 and sets errno on
/// failure, as open, ioctl and poll do.
@discardableResult
func systemCall(
    _ operation: String, device: String, tolerating tolerated: [Int32], _ call: () -> Int32
) throws(CameraError) -> SystemCallOutcome {
    while true {
        let result = call()
        if result != -1 { return .completed(result) }
        let errorNumber = errno
        if errorNumber == EINTR { continue }
        if tolerated.contains(errorNumber) { return .refused(errno: errorNumber) }
        throw CameraError(errorNumber: errorNumber, operation: operation, device: device)
    }
}

/// `systemCall` for calls that cannot be tolerated: returns the non-negative result.
@discardableResult
func systemCall(_ operation: String, device: String, _ call: () -> Int32) throws(CameraError) -> Int32 {
    switch try systemCall(operation, device: device, tolerating: [], call) {
    case .completed(let result): return result
    case .refused: preconditionFailure("nothing was tolerated")
    }
}
