import CV4L2
import Glibc

/// What one V4L2 device node says about itself: identity, capabilities and every capture format,
/// frame size and frame rate it offers. Codable so `qrpos devices --json` can print it.
public struct VideoDeviceInfo: Sendable, Hashable, Codable {
    /// One frame size of a format and its frame rates.
    public struct SizeInfo: Sendable, Hashable, Codable {
        public let width: Int
        public let height: Int
        /// Frames per second, as the driver enumerates them. For a stepwise or continuous range
        /// this holds the two ends only: slowest first, then fastest.
        public let framesPerSecond: [Double]

        public init(width: Int, height: Int, framesPerSecond: [Double]) {
            self.width = width
            self.height = height
            self.framesPerSecond = framesPerSecond
        }
    }

    /// One capture pixel format.
    public struct FormatInfo: Sendable, Hashable, Codable {
        /// The four characters ("YUYV").
        public let fourcc: String
        /// The driver's description ("YUYV 4:2:2").
        public let description: String
        /// True when libv4l2 makes this format by converting another one in software.
        public let isEmulated: Bool
        /// The frame sizes. For a stepwise or continuous range this holds the two ends only:
        /// smallest first, then largest.
        public let sizes: [SizeInfo]
        /// True when `sizes` are the two ends of a range the driver takes any size within.
        public let isSizeRange: Bool

        public init(fourcc: String, description: String, isEmulated: Bool, sizes: [SizeInfo], isSizeRange: Bool = false) {
            self.fourcc = fourcc
            self.description = description
            self.isEmulated = isEmulated
            self.sizes = sizes
            self.isSizeRange = isSizeRange
        }
    }

    /// The device node, such as "/dev/video0".
    public let path: String
    /// The kernel driver ("uvcvideo", "vivid").
    public let driver: String
    /// The device's name ("HD Pro Webcam C920").
    public let card: String
    /// Where it is attached ("usb-0000:00:14.0-1").
    public let busInfo: String
    /// True when this node captures single-planar video (VIDEO_CAPTURE).
    public let canCapture: Bool
    /// True when this node supports streaming I/O, which `V4L2Capture` needs.
    public let canStream: Bool
    /// The capture formats, empty when the node cannot capture.
    public let formats: [FormatInfo]
    /// The controls (brightness, exposure, focus, …) with their ranges and current values;
    /// the names in `key` are what `qrpos scan --control` takes.
    public let controls: [ControlInfo]

    public init(
        path: String, driver: String, card: String, busInfo: String,
        canCapture: Bool, canStream: Bool, formats: [FormatInfo], controls: [ControlInfo] = []
    ) {
        self.path = path
        self.driver = driver
        self.card = card
        self.busInfo = busInfo
        self.canCapture = canCapture
        self.canStream = canStream
        self.formats = formats
        self.controls = controls
    }
}

/// Finding and describing V4L2 devices.
public enum VideoDevices {
    /// The most entries any one enumeration reads; a driver that never ends a list is a driver
    /// bug, and this keeps it from hanging `qrpos devices`.
    public static let enumerationCountMax = 256

    /// Every `/dev/videoN` node that opens as a V4L2 device, in N order. Nodes that fail to open
    /// (busy, no permission, not V4L2) are left out; call `info(path:)` on one to learn why.
    /// Empty when there are none.
    public static func list() -> [VideoDeviceInfo] {
        nodePaths().compactMap { try? info(path: $0) }
    }

    /// Every `/dev/videoN` node, in N order, whether or not it opens: for callers that want to
    /// say why a node is missing from `list()`. Empty when there are none.
    public static func nodePaths() -> [String] {
        deviceNodes(in: "/dev")
    }

    /// Opens `path` and describes it: VIDIOC_QUERYCAP, then for a capture node VIDIOC_ENUM_FMT,
    /// VIDIOC_ENUM_FRAMESIZES, VIDIOC_ENUM_FRAMEINTERVALS and VIDIOC_QUERYCTRL. Does not start
    /// streaming.
    public static func info(path: String) throws(CameraError) -> VideoDeviceInfo {
        let device = try VideoDeviceHandle(opening: path)
        let capabilities = device.deviceCapabilities
        let canCapture = capabilities & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0
        return VideoDeviceInfo(
            path: path,
            driver: string(fromCharacters: device.capability.driver),
            card: string(fromCharacters: device.capability.card),
            busInfo: string(fromCharacters: device.capability.bus_info),
            canCapture: canCapture,
            canStream: capabilities & UInt32(V4L2_CAP_STREAMING) != 0,
            formats: canCapture ? try device.formats() : [],
            controls: canCapture ? try device.controls() : []
        )
    }

    /// The `videoN` nodes in `directory`, sorted by N (so video10 follows video9).
    static func deviceNodes(in directory: String) -> [String] {
        // Listing never throws: no /dev (a container) just means no cameras.
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var numbered: [(number: Int, path: String)] = []
        while let entry = readdir(stream) {
            let name = string(fromCharacters: entry.pointee.d_name)
            guard name.hasPrefix("video"), let number = Int(name.dropFirst("video".count)) else { continue }
            numbered.append((number, directory + "/" + name))
        }
        return numbered.sorted { $0.number < $1.number }.map(\.path)
    }
}

/// One capture format as VIDIOC_ENUM_FMT reports it.
struct FormatDescription {
    let format: PixelFormat
    let description: String
    let isEmulated: Bool
}

extension VideoDeviceHandle {
    /// The capture formats, libv4l2's emulated ones included. An ENUM_* list ends with EINVAL.
    func formatDescriptions() throws(CameraError) -> [FormatDescription] {
        var result: [FormatDescription] = []
        for index in 0..<VideoDevices.enumerationCountMax {
            var descriptor = v4l2_fmtdesc()
            descriptor.index = UInt32(index)
            descriptor.type = captureBufferType
            guard case .completed = try ioctl(.enumerateFormat, &descriptor, tolerating: [EINVAL]) else { break }
            result.append(FormatDescription(
                format: PixelFormat(fourcc: descriptor.pixelformat),
                description: string(fromCharacters: descriptor.description),
                isEmulated: descriptor.flags & UInt32(V4L2_FMT_FLAG_EMULATED) != 0
            ))
        }
        return result
    }

    /// Every capture format with its sizes and frame rates.
    func formats() throws(CameraError) -> [VideoDeviceInfo.FormatInfo] {
        var result: [VideoDeviceInfo.FormatInfo] = []
        for description in try formatDescriptions() {
            var sizes: [VideoDeviceInfo.SizeInfo] = []
            let (frameSizes, isRange) = try frameSizes(of: description.format)
            for (width, height) in frameSizes {
                sizes.append(VideoDeviceInfo.SizeInfo(
                    width: Int(width), height: Int(height),
                    framesPerSecond: try framesPerSecond(of: description.format, width: width, height: height)
                ))
            }
            result.append(VideoDeviceInfo.FormatInfo(
                fourcc: description.format.code, description: description.description,
                isEmulated: description.isEmulated, sizes: sizes, isSizeRange: isRange
            ))
        }
        return result
    }

    /// The frame sizes of `format`, and whether they are the two ends of a range. Drivers that do
    /// not implement ENUM_FRAMESIZES (ENOTTY) just have none listed.
    func frameSizes(of format: PixelFormat) throws(CameraError) -> (sizes: [(UInt32, UInt32)], isRange: Bool) {
        var sizes: [(UInt32, UInt32)] = []
        for index in 0..<VideoDevices.enumerationCountMax {
            var size = v4l2_frmsizeenum()
            size.index = UInt32(index)
            size.pixel_format = format.fourcc
            guard case .completed = try ioctl(.enumerateFrameSizes, &size, tolerating: [EINVAL, ENOTTY]) else { break }
            if size.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                sizes.append((size.discrete.width, size.discrete.height))
            } else {
                // Stepwise and continuous ranges are one entry (index 0) describing the range.
                sizes.append((size.stepwise.min_width, size.stepwise.min_height))
                sizes.append((size.stepwise.max_width, size.stepwise.max_height))
                return (sizes, true)
            }
        }
        return (sizes, false)
    }

    /// The frame rates of `format` at one size; intervals are seconds per frame, so rates are
    /// their inverses.
    func framesPerSecond(of format: PixelFormat, width: UInt32, height: UInt32) throws(CameraError) -> [Double] {
        func rate(_ interval: v4l2_fract) -> Double? {
            interval.numerator == 0 ? nil : Double(interval.denominator) / Double(interval.numerator)
        }
        var rates: [Double] = []
        for index in 0..<VideoDevices.enumerationCountMax {
            var interval = v4l2_frmivalenum()
            interval.index = UInt32(index)
            interval.pixel_format = format.fourcc
            interval.width = width
            interval.height = height
            guard case .completed = try ioctl(.enumerateFrameIntervals, &interval, tolerating: [EINVAL, ENOTTY]) else { break }
            if interval.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue {
                rate(interval.discrete).map { rates.append($0) }
            } else {
                // The longest interval is the slowest rate.
                rate(interval.stepwise.max).map { rates.append($0) }
                rate(interval.stepwise.min).map { rates.append($0) }
                break
            }
        }
        return rates
    }
}
