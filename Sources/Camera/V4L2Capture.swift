import Barcodes
import CV4L2
import Glibc

/// The format a `V4L2Capture` negotiated with its driver.
public struct CaptureFormat: Sendable, Hashable {
    /// The pixel format frames arrive in.
    public let pixelFormat: PixelFormat
    /// The frame size the driver chose (it may differ from the size asked for).
    public let width: Int
    public let height: Int
    /// Bytes from one row to the next, padding included.
    public let bytesPerLine: Int
    /// True when libv4l2 converts frames in software (an MJPEG-only webcam, say).
    public let isEmulated: Bool
}

/// What to ask of a camera when opening it: everything `V4L2Capture` negotiates or sets, so a
/// `CameraSession` can ask the same again when the camera comes back.
public struct CaptureSettings: Sendable, Hashable {
    /// The frame size to ask for; the driver picks the nearest it has.
    public var width: Int
    public var height: Int
    /// How many mmap buffers to ask for; the driver may grant more (up to `bufferCountMax`).
    public var bufferCount: Int
    /// How long `next()` waits for a frame before throwing `.timeout`.
    public var timeoutMilliseconds: Int
    /// Controls to set after the format, in this order (so an automatic mode can be switched off
    /// before the manual value it governs is set).
    public var controls: [ControlSetting]

    public init(
        width: Int = 640, height: Int = 480, bufferCount: Int = 4, timeoutMilliseconds: Int = 2000,
        controls: [ControlSetting] = []
    ) {
        self.width = width
        self.height = height
        self.bufferCount = bufferCount
        self.timeoutMilliseconds = timeoutMilliseconds
        self.controls = controls
    }
}

/// Live frames from a V4L2 camera through libv4l2, with memory-mapped streaming I/O.
///
/// Owns the device fd and the mapped buffers; dropping it stops streaming, unmaps and closes.
/// `next()` **blocks the calling thread** for up to `timeoutMilliseconds`, so run a capture on a
/// thread of its own (as `qrpos scan` does), never on Swift concurrency's cooperative pool.
///
/// Format negotiation takes luma without colour conversion wherever it can: native GREY, then
/// native packed 4:2:2 (YUYV and kin, taking the Y bytes), then native 4:2:0 with a Y plane, and
/// only then YU12/YV12 converted by libv4l2, whose Y plane comes first. libv4l2 converts only to
/// RGB24, BGR24, YU12 and YV12, so GREY or YUYV cannot be asked of it by conversion.
public struct V4L2Capture: ~Copyable, FrameSource {
    /// The most buffers a capture may ask the driver for.
    public static let bufferCountMax = 32
    /// The largest frame side accepted from a driver; larger would be a driver bug or a camera
    /// far beyond what QR scanning needs.
    public static let frameSideMax = 8192

    /// The device node.
    public let path: String
    /// What was negotiated.
    public let format: CaptureFormat
    /// How long `next()` waits for a frame before throwing `.timeout`.
    public let timeoutMilliseconds: Int
    /// The controls set at open, as the driver read them back.
    public let appliedControls: [ControlInfo]
    private let layout: LumaLayout
    private var device: VideoDeviceHandle

    /// The device node: frames from this source carry it as their `source`.
    public var name: String { path }

    /// The device, the negotiated format and the controls set, for the log line at open.
    public var details: String {
        var text = "\(path) \(format.pixelFormat) \(format.width)x\(format.height)"
        if format.isEmulated { text += " (converted by libv4l2)" }
        let controls = appliedControls.map { "\($0.key)=\($0.value.map(String.init) ?? "?")" }
        if !controls.isEmpty { text += ", controls " + controls.joined(separator: " ") }
        return text
    }

    /// Opens `path`, negotiates a luma-friendly format near `width` x `height`, maps
    /// `bufferCount` buffers, queues them all and starts streaming.
    ///
    /// Throws `.notFound`, `.permissionDenied`, `.notAVideoDevice`, `.noCaptureSupport`,
    /// `.formatUnsupported`, `.unplugged` or `.ioctlFailed`, each naming the device and the
    /// failing call.
    public init(
        path: String, width: Int = 640, height: Int = 480, bufferCount: Int = 4,
        timeoutMilliseconds: Int = 2000
    ) throws(CameraError) {
        try self.init(path: path, settings: CaptureSettings(
            width: width, height: height, bufferCount: bufferCount, timeoutMilliseconds: timeoutMilliseconds))
    }

    /// Opens `path` as `settings` say: negotiates the format (VIDIOC_S_FMT), sets the controls
    /// in order (VIDIOC_QUERYCTRL, VIDIOC_S_CTRL), maps the buffers and starts streaming.
    ///
    /// Throws as `init(path:width:height:bufferCount:timeoutMilliseconds:)` does, and
    /// `.controlNotFound` or `.controlRejected` for a control the device does not have or
    /// refuses: a setting asked for is never silently skipped.
    public init(path: String, settings: CaptureSettings) throws(CameraError) {
        let width = settings.width, height = settings.height
        let bufferCount = settings.bufferCount, timeoutMilliseconds = settings.timeoutMilliseconds
        precondition((1...Self.frameSideMax).contains(width) && (1...Self.frameSideMax).contains(height),
                     "frame size \(width)x\(height) out of range")
        precondition((1...Self.bufferCountMax).contains(bufferCount), "buffer count \(bufferCount) out of range")
        precondition(timeoutMilliseconds > 0 && timeoutMilliseconds <= Int(Int32.max), "timeout must be positive")

        // Every step below may throw; `device` then releases whatever was set up so far.
        var device = try VideoDeviceHandle(opening: path)
        let capabilities = device.deviceCapabilities
        guard capabilities & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0 else {
            let multiplanar = capabilities & UInt32(V4L2_CAP_VIDEO_CAPTURE_MPLANE) != 0
            throw CameraError(
                code: .noCaptureSupport,
                message: multiplanar
                    ? "\(path) only captures multi-planar video, which qrpos does not support"
                    : "\(path) is a V4L2 device but cannot capture video",
                device: path)
        }
        guard capabilities & UInt32(V4L2_CAP_STREAMING) != 0 else {
            throw CameraError(code: .noCaptureSupport,
                              message: "\(path) cannot capture with streaming I/O", device: path)
        }
        let format = try device.negotiateFormat(width: width, height: height)
        guard let layout = LumaLayout(format.pixelFormat) else {
            preconditionFailure("negotiation accepted \(format.pixelFormat), which has no luma layout")
        }
        var applied: [ControlInfo] = []
        if !settings.controls.isEmpty {
            let available = try device.controls()
            for setting in settings.controls {
                applied.append(try device.setControl(setting, among: available))
            }
        }
        try device.mapBuffers(count: bufferCount)
        try device.startStreaming()

        self.path = path
        self.format = format
        self.timeoutMilliseconds = timeoutMilliseconds
        self.appliedControls = applied
        self.layout = layout
        self.device = device
    }

    /// The next frame's luma. **Blocks the calling thread** in `poll(2)` until a frame is ready,
    /// for at most `timeoutMilliseconds`, then dequeues it, copies the luma out and queues the
    /// buffer straight back. Frames the driver marks as corrupted are skipped. Never returns nil:
    /// a camera does not end.
    ///
    /// Throws `.timeout` when no frame arrives in time, `.unplugged` when the camera went away,
    /// `.badFrame` when a buffer is too short for the negotiated format.
    public mutating func next() throws(CameraError) -> CapturedFrame? {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(timeoutMilliseconds)
        while true {
            let remaining = deadline - clock.now
            guard remaining > .zero,
                  try device.waitForFrame(timeoutMilliseconds: Self.pollMilliseconds(remaining))
            else {
                throw CameraError(
                    code: .timeout, message: "no frame from \(path) within \(timeoutMilliseconds) ms",
                    device: path, operation: "poll")
            }
            var buffer = v4l2_buffer()
            buffer.type = captureBufferType
            buffer.memory = V4L2_MEMORY_MMAP.rawValue
            // poll can report readiness that libv4l2 then consumes (a frame it failed to convert),
            // so EAGAIN here means: wait again.
            guard case .completed = try device.ioctl(.dequeueBuffer, &buffer, tolerating: [EAGAIN]) else {
                continue
            }
            let now = clock.now
            // VIDIOC_QBUF writes the buffer's new (queued) state back into the struct: sequence 0,
            // other flags, no timestamp. Keep what DQBUF said.
            let dequeued = buffer
            // Copy first, then hand the buffer straight back so the driver never runs short.
            let frame = device.luma(in: dequeued, format: format, layout: layout)
            try device.ioctl(.queueBuffer, &buffer)

            if dequeued.flags & UInt32(V4L2_BUF_FLAG_ERROR) != 0 { continue }
            guard let frame else {
                throw CameraError(
                    code: .badFrame,
                    message: "frame \(dequeued.sequence) from \(path) has \(dequeued.bytesused) bytes, "
                        + "too few for \(format.pixelFormat) \(format.width)x\(format.height)",
                    device: path, operation: "VIDIOC_DQBUF")
            }
            return CapturedFrame(
                frame: frame, sequence: UInt64(dequeued.sequence),
                capturedAt: Self.captureInstant(of: dequeued, now: now), source: path)
        }
    }

    /// Every control the camera offers, with its current value (VIDIOC_QUERYCTRL, VIDIOC_G_CTRL).
    public func controls() throws(CameraError) -> [ControlInfo] {
        try device.controls()
    }

    /// Sets one control while streaming (VIDIOC_S_CTRL) and returns it as read back. Throws
    /// `.controlNotFound`, `.controlRejected` or `.unplugged`.
    @discardableResult
    public func setControl(_ setting: ControlSetting) throws(CameraError) -> ControlInfo {
        try device.setControl(setting, among: try device.controls())
    }

    /// A poll timeout in whole milliseconds, rounded up so a sub-millisecond remainder still waits.
    static func pollMilliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(1, milliseconds))
    }

    /// When the sensor delivered `buffer`, on the `ContinuousClock`: the driver stamps buffers with
    /// CLOCK_MONOTONIC, which is not what `ContinuousClock` reads, so the buffer's age is measured
    /// on CLOCK_MONOTONIC and subtracted from `now`. Scan latency then includes the time the frame
    /// waited in the queue. Without a monotonic stamp, or with a nonsensical age, it is `now`.
    static func captureInstant(of buffer: v4l2_buffer, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        let monotonic = UInt32(V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
        guard buffer.flags & UInt32(V4L2_BUF_FLAG_TIMESTAMP_MASK) == monotonic else { return now }
        var current = timespec()
        guard clock_gettime(CLOCK_MONOTONIC, &current) == 0 else { return now }
        let age = Duration.seconds(Int64(current.tv_sec) - Int64(buffer.timestamp.tv_sec))
            + .nanoseconds(Int64(current.tv_nsec) - Int64(buffer.timestamp.tv_usec) * 1000)
        guard age >= .zero, age < .seconds(10) else { return now }
        return now - age
    }
}

extension VideoDeviceHandle {
    /// Pixel formats whose luma is taken without conversion, best first: GREY is luma already,
    /// packed 4:2:2 costs a strided copy, 4:2:0 planes come last only because cameras that offer
    /// them natively also offer the others.
    static let nativePreference: [PixelFormat] = [.grey, .yuyv, .yvyu, .uyvy, .vyuy, .nv12, .nv21, .yuv420, .yvu420]
    /// What libv4l2 can convert to that has a Y plane.
    static let emulatedPreference: [PixelFormat] = [.yuv420, .yvu420]

    /// Picks the best format the device offers, sets it with VIDIOC_S_FMT at about
    /// `width` x `height`, and returns what the driver actually chose.
    func negotiateFormat(width: Int, height: Int) throws(CameraError) -> CaptureFormat {
        let offered = try formatDescriptions()
        let native = Set(offered.filter { !$0.isEmulated }.map(\.format))
        let emulated = Set(offered.filter(\.isEmulated).map(\.format))
        guard let choice = Self.nativePreference.first(where: native.contains)
            ?? Self.emulatedPreference.first(where: emulated.contains)
        else {
            let list = offered.map(\.format.code).joined(separator: ", ")
            throw CameraError(
                code: .formatUnsupported,
                message: "\(path) offers no format qrpos can take luma from (offered: \(list.isEmpty ? "none" : list))",
                device: path, operation: "VIDIOC_ENUM_FMT")
        }

        var request = v4l2_format()
        request.type = captureBufferType
        request.fmt.pix.width = UInt32(width)
        request.fmt.pix.height = UInt32(height)
        request.fmt.pix.pixelformat = choice.fourcc
        request.fmt.pix.field = V4L2_FIELD_NONE.rawValue
        try ioctl(.setFormat, &request)

        // The driver may adjust every field; trust only what it returned.
        let granted = request.fmt.pix
        let pixelFormat = PixelFormat(fourcc: granted.pixelformat)
        let side = 1...V4L2Capture.frameSideMax
        guard let layout = LumaLayout(pixelFormat),
              side.contains(Int(granted.width)), side.contains(Int(granted.height))
        else {
            throw CameraError(
                code: .formatUnsupported,
                message: "\(path) was asked for \(choice) \(width)x\(height) and set \(pixelFormat) "
                    + "\(granted.width)x\(granted.height), which qrpos cannot use",
                device: path, operation: "VIDIOC_S_FMT")
        }
        // bytesperline 0 means unpadded rows (V4L2 allows drivers to leave it to the format).
        let bytesPerLine = granted.bytesperline == 0
            ? layout.packedBytesPerLine(width: Int(granted.width)) : Int(granted.bytesperline)
        guard bytesPerLine >= layout.packedBytesPerLine(width: Int(granted.width)) else {
            throw CameraError(
                code: .formatUnsupported,
                message: "\(path) reports \(bytesPerLine) bytes per line, too few for \(pixelFormat) width \(granted.width)",
                device: path, operation: "VIDIOC_S_FMT")
        }
        return CaptureFormat(
            pixelFormat: pixelFormat, width: Int(granted.width), height: Int(granted.height),
            bytesPerLine: bytesPerLine, isEmulated: emulated.contains(pixelFormat) && !native.contains(pixelFormat))
    }

    /// VIDIOC_REQBUFS for up to `count` mmap buffers, then VIDIOC_QUERYBUF and `v4l2_mmap` for
    /// each one the driver granted, then VIDIOC_QBUF them all so capture can start.
    mutating func mapBuffers(count: Int) throws(CameraError) {
        precondition(mappings.isEmpty, "buffers are mapped once")
        var request = v4l2_requestbuffers()
        request.count = UInt32(count)
        request.type = captureBufferType
        request.memory = V4L2_MEMORY_MMAP.rawValue
        try ioctl(.requestBuffers, &request)
        guard request.count > 0 else {
            throw CameraError(code: .ioctlFailed, message: "\(path) granted no capture buffers",
                              device: path, operation: IoctlRequest.requestBuffers.name)
        }
        // A driver may grant more than asked (it has a minimum); map what it granted, within reason.
        guard request.count <= UInt32(V4L2Capture.bufferCountMax) else {
            throw CameraError(code: .ioctlFailed, message: "\(path) granted \(request.count) capture buffers, "
                              + "more than \(V4L2Capture.bufferCountMax)",
                              device: path, operation: IoctlRequest.requestBuffers.name)
        }

        let fd = self.fd
        // MAP_FAILED is a cast macro, which Swift does not import.
        let mapFailed = UnsafeMutableRawPointer(bitPattern: -1)
        for index in 0..<request.count {
            var buffer = v4l2_buffer()
            buffer.index = index
            buffer.type = captureBufferType
            buffer.memory = V4L2_MEMORY_MMAP.rawValue
            try ioctl(.queryBuffer, &buffer)
            let length = Int(buffer.length)
            let offset = Int64(buffer.m.offset)
            var address: UnsafeMutableRawPointer?
            try systemCall("v4l2_mmap", device: path) {
                address = v4l2_mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset)
                return address == nil || address == mapFailed ? -1 : 0
            }
            mappings.append(MappedBuffer(address: address!, length: length))
        }
        for index in 0..<request.count {
            var buffer = v4l2_buffer()
            buffer.index = index
            buffer.type = captureBufferType
            buffer.memory = V4L2_MEMORY_MMAP.rawValue
            try ioctl(.queueBuffer, &buffer)
        }
    }

    /// VIDIOC_STREAMON; from here on `deinit` issues VIDIOC_STREAMOFF.
    mutating func startStreaming() throws(CameraError) {
        var type = Int32(bitPattern: captureBufferType)
        try ioctl(.streamOn, &type)
        isStreaming = true
    }

    /// The luma of dequeued `buffer`, or nil when its index is unknown or it is too short.
    func luma(in buffer: v4l2_buffer, format: CaptureFormat, layout: LumaLayout) -> LumaFrame? {
        guard Int(buffer.index) < mappings.count else { return nil }
        let mapping = mappings[Int(buffer.index)]
        // Capture drivers set bytesused; a zero from an old driver means the whole buffer.
        let used = buffer.bytesused == 0 ? mapping.length : min(Int(buffer.bytesused), mapping.length)
        return layout.extract(
            from: UnsafeRawBufferPointer(start: mapping.address, count: used),
            width: format.width, height: format.height, bytesPerLine: format.bytesPerLine)
    }
}
