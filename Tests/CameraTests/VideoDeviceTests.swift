@testable import Camera
import Glibc
import Testing

@Suite("V4L2 devices, against the real kernel (no camera on this machine)")
struct VideoDeviceTests {
    @Test("opening a missing node is .notFound with ENOENT, naming the device")
    func missingNode() throws {
        let path = "/dev/video-nonexistent"
        let error = try #require(cameraError { () throws(CameraError) in _ = try V4L2Capture(path: path) })
        #expect(error.code == .notFound)
        #expect(error.errno == ENOENT)
        #expect(error.device == path)
        #expect(error.operation == "open")
        #expect(error.message.contains(path))
        #expect(error.description == error.message)
    }

    @Test("/dev/null is .notAVideoDevice: VIDIOC_QUERYCAP fails with ENOTTY")
    func devNull() throws {
        let error = try #require(cameraError { () throws(CameraError) in _ = try V4L2Capture(path: "/dev/null") })
        #expect(error.code == .notAVideoDevice)
        #expect(error.errno == ENOTTY)
        #expect(error.operation == "VIDIOC_QUERYCAP")
        #expect(error.message.contains("VIDIOC_QUERYCAP"))
        #expect(error.message.contains("/dev/null"))
    }

    @Test("a regular file is not a video device either")
    func regularFile() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write([1, 2, 3], to: "not-a-camera")
        let error = try #require(cameraError { () throws(CameraError) in _ = try VideoDevices.info(path: file) })
        #expect(error.code == .notAVideoDevice)
        #expect(error.errno == ENOTTY)
    }

    @Test("a directory is not a video device (open fails with EISDIR)")
    func directory() throws {
        let directory = try TemporaryDirectory()
        let error = try #require(cameraError { () throws(CameraError) in _ = try V4L2Capture(path: directory.path) })
        #expect(error.code == .notAVideoDevice)
        #expect(error.errno == EISDIR)
        #expect(error.operation == "open")
    }

    @Test("info on a missing node throws .notFound too")
    func infoOnMissingNode() throws {
        let error = try #require(cameraError { () throws(CameraError) in _ = try VideoDevices.info(path: "/dev/video-nonexistent") })
        #expect(error.code == .notFound)
    }

    @Test("listing devices works when there are none, and only lists /dev/videoN")
    func listDevices() {
        let devices = VideoDevices.list()
        #expect(devices.allSatisfy { $0.path.hasPrefix("/dev/video") })
    }

    @Test("device nodes are found by name and sorted by number")
    func deviceNodeOrder() throws {
        let directory = try TemporaryDirectory()
        for name in ["video10", "video2", "video0", "videox", "video", "media0"] {
            try directory.write([], to: name)
        }
        #expect(VideoDevices.deviceNodes(in: directory.path) == ["video0", "video2", "video10"].map { directory.path + "/" + $0 })
        #expect(VideoDevices.deviceNodes(in: directory.path + "/missing").isEmpty)
    }

    @Test("poll timeouts round up to whole milliseconds and never reach zero",
          arguments: [(Duration.milliseconds(2000), Int32(2000)), (.microseconds(1500), 2), (.nanoseconds(1), 1), (.zero, 1)])
    func pollTimeout(duration: Duration, milliseconds: Int32) {
        #expect(V4L2Capture.pollMilliseconds(duration) == milliseconds)
    }

    @Test("errno values map to codes in one place", arguments: [
        (ENOENT, "open", CameraError.Code.notFound),
        (EACCES, "open", .permissionDenied),
        (ENODEV, "VIDIOC_DQBUF", .unplugged),
        (ENOTTY, "VIDIOC_QUERYCAP", .notAVideoDevice),
        (ENOTTY, "VIDIOC_ENUM_FRAMESIZES", .ioctlFailed),
        (EBUSY, "VIDIOC_S_FMT", .ioctlFailed),
    ])
    func errnoMapping(errorNumber: Int32, operation: String, code: CameraError.Code) {
        let error = CameraError(errorNumber: errorNumber, operation: operation, device: "/dev/video7")
        #expect(error.code == code)
        #expect(error.message.contains(operation))
        #expect(error.message.contains("/dev/video7"))
        #expect(error.message.contains(CameraError.errnoName(errorNumber)))
    }
}
