import CV4L2
import Glibc

/// An ioctl request code with the name errors report. The codes come from the CV4L2 shim because
/// `_IOR`/`_IOWR` macros do not import into Swift.
struct IoctlRequest: Sendable {
    let name: String
    let code: UInt

    static let queryCapability = IoctlRequest(name: "VIDIOC_QUERYCAP", code: qrpos_VIDIOC_QUERYCAP())
    static let enumerateFormat = IoctlRequest(name: "VIDIOC_ENUM_FMT", code: qrpos_VIDIOC_ENUM_FMT())
    static let enumerateFrameSizes = IoctlRequest(name: "VIDIOC_ENUM_FRAMESIZES", code: qrpos_VIDIOC_ENUM_FRAMESIZES())
    static let enumerateFrameIntervals = IoctlRequest(name: "VIDIOC_ENUM_FRAMEINTERVALS", code: qrpos_VIDIOC_ENUM_FRAMEINTERVALS())
    static let setFormat = IoctlRequest(name: "VIDIOC_S_FMT", code: qrpos_VIDIOC_S_FMT())
    static let requestBuffers = IoctlRequest(name: "VIDIOC_REQBUFS", code: qrpos_VIDIOC_REQBUFS())
    static let queryBuffer = IoctlRequest(name: "VIDIOC_QUERYBUF", code: qrpos_VIDIOC_QUERYBUF())
    static let queueBuffer = IoctlRequest(name: "VIDIOC_QBUF", code: qrpos_VIDIOC_QBUF())
    static let dequeueBuffer = IoctlRequest(name: "VIDIOC_DQBUF", code: qrpos_VIDIOC_DQBUF())
    static let streamOn = IoctlRequest(name: "VIDIOC_STREAMON", code: qrpos_VIDIOC_STREAMON())
    static let streamOff = IoctlRequest(name: "VIDIOC_STREAMOFF", code: qrpos_VIDIOC_STREAMOFF())
    static let queryControl = IoctlRequest(name: "VIDIOC_QUERYCTRL", code: qrpos_VIDIOC_QUERYCTRL())
    static let setControl = IoctlRequest(name: "VIDIOC_S_CTRL", code: qrpos_VIDIOC_S_CTRL())
    static let getControl = IoctlRequest(name: "VIDIOC_G_CTRL", code: qrpos_VIDIOC_G_CTRL())
}

/// One capture buffer the driver shares with us, mapped with `v4l2_mmap`.
struct MappedBuffer {
    let address: UnsafeMutableRawPointer
    let length: Int
}

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE` as the `__u32` the structs hold.
let captureBufferType = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue

/// An open V4L2 device: owns the fd (registered with libv4l2) and the buffers mapped from it.
/// `deinit` undoes everything in the order the kernel and libv4l2 need: STREAMOFF, `v4l2_munmap`
/// every buffer (libv4l2's converted buffers vanish at close, so unmapping after it could hit
/// someone else's mapping), then `v4l2_close`.
struct VideoDeviceHandle: ~Copyable {
    /// The device node, for error messages.
    let path: String
    let fd: Int32
    /// The driver's answer to VIDIOC_QUERYCAP.
    let capability: v4l2_capability
    /// Buffers mapped so far, by V4L2 buffer index.
    var mappings: [MappedBuffer] = []
    var isStreaming = false

    /// Opens `path` read-write and non-blocking (DQBUF must never block: `poll` does the waiting,
    /// with a timeout), checks it is a V4L2 device and hands it to libv4l2.
    ///
    /// `open(2)` and VIDIOC_QUERYCAP run before libv4l2 sees the fd, rather than `v4l2_open`:
    /// `v4l2_open` on a node that is not a V4L2 device prints two lines to stderr and fails with a
    /// bare ENOTTY, while this way the error names VIDIOC_QUERYCAP and nothing is printed.
    /// `v4l2_fd_open` then does exactly what `v4l2_open` would have done next.
    init(opening path: String) throws(CameraError) {
        let fd = try systemCall("open", device: path) { open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC) }
        do throws(CameraError) {
            var capability = v4l2_capability()
            // libv4l2 passes ioctls on fds it does not manage straight to the kernel.
            try systemCall(IoctlRequest.queryCapability.name, device: path) {
                qrpos_v4l2_ioctl(fd, IoctlRequest.queryCapability.code, &capability)
            }
            // Emulated formats are listed too, so ENUM_FMT shows what libv4l2 can convert to.
            try systemCall("v4l2_fd_open", device: path) {
                v4l2_fd_open(fd, V4L2_ENABLE_ENUM_FMT_EMULATION)
            }
            self.path = path
            self.fd = fd
            self.capability = capability
        } catch {
            // v4l2_fd_open leaves the fd open when it fails, and self was never initialised, so
            // deinit will not run: close it here.
            _ = close(fd)
            throw error
        }
    }

    deinit {
        if isStreaming {
            var type = Int32(bitPattern: captureBufferType)
            _ = qrpos_v4l2_ioctl(fd, IoctlRequest.streamOff.code, &type)  // fails only if unplugged: nothing to undo then
        }
        for mapping in mappings {
            _ = v4l2_munmap(mapping.address, mapping.length)
        }
        _ = v4l2_close(fd)
    }

    /// The capabilities of this node: `device_caps` when the driver fills it (a multi-node driver
    /// reports the union of all its nodes in `capabilities`).
    var deviceCapabilities: UInt32 {
        capability.capabilities & UInt32(truncatingIfNeeded: V4L2_CAP_DEVICE_CAPS) != 0
            ? capability.device_caps : capability.capabilities
    }

    /// Runs `request` through libv4l2 with `argument` as its struct, on the one errno path.
    @discardableResult
    func ioctl<Argument>(
        _ request: IoctlRequest, _ argument: inout Argument, tolerating tolerated: [Int32] = []
    ) throws(CameraError) -> SystemCallOutcome {
        let fd = self.fd
        return try systemCall(request.name, device: path, tolerating: tolerated) {
            withUnsafeMutableBytes(of: &argument) { qrpos_v4l2_ioctl(fd, request.code, $0.baseAddress) }
        }
    }

    /// Waits until a frame can be dequeued or `timeoutMilliseconds` pass; false on timeout.
    /// **Blocks the calling thread** in `poll(2)`.
    func waitForFrame(timeoutMilliseconds: Int32) throws(CameraError) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = try systemCall("poll", device: path) { poll(&descriptor, 1, timeoutMilliseconds) }
        return ready > 0
    }
}

/// Reads a NUL-terminated C char array that Swift imported as a tuple.
func string<Tuple>(fromCharacters tuple: Tuple) -> String {
    withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}
