import Camera
import Glibc
import Testing

@Suite("Camera controls by name")
struct ControlTests {
    @Test("control names become --control keys as v4l2-ctl spells them", arguments: [
        ("Brightness", "brightness"),
        ("Exposure Time, Absolute", "exposure_time_absolute"),
        ("Exposure (Absolute)", "exposure_absolute"),
        ("White Balance, Auto & Preset", "white_balance_auto_preset"),
        ("  Gain  ", "gain"),
        ("Focus, Automatic Continuous", "focus_automatic_continuous"),
    ])
    func keys(name: String, key: String) {
        #expect(ControlInfo.key(forName: name) == key)
    }

    @Test("NAME=VALUE parses integers, hex, negatives and on/off", arguments: [
        ("exposure_absolute=200", "exposure_absolute", Int32(200)),
        ("brightness = -12", "brightness", -12),
        ("0x009a0901=0x1", "0x009a0901", 1),
        ("focus_auto=off", "focus_auto", 0),
        ("autogain=ON", "autogain", 1),
    ])
    func parse(text: String, name: String, value: Int32) throws {
        let setting = try #require(ControlSetting(text))
        #expect(setting.name == name)
        #expect(setting.value == value)
    }

    @Test("anything else is not a setting", arguments: ["exposure", "=5", "gain=", "gain=high", "gain=99999999999"])
    func parseFailures(text: String) {
        #expect(ControlSetting(text) == nil)
    }

    @Test("a control is found by its key, by a common alias of its id, or by its numeric id")
    func find() {
        // V4L2_CID_BRIGHTNESS and V4L2_CID_EXPOSURE_ABSOLUTE, from linux/videodev2.h.
        let brightness: UInt32 = 0x0098_0900, exposureAbsolute: UInt32 = 0x009A_0902
        func control(_ id: UInt32, _ name: String) -> ControlInfo {
            ControlInfo(id: id, name: name, key: ControlInfo.key(forName: name), type: "int", minimum: 0,
                        maximum: 255, step: 1, defaultValue: 128, value: 128, isReadOnly: false, isInactive: false)
        }
        let controls = [control(brightness, "Brightness"), control(exposureAbsolute, "Exposure Time, Absolute")]
        #expect(ControlInfo.find("brightness", in: controls)?.name == "Brightness")
        #expect(ControlInfo.find("exposure_time_absolute", in: controls)?.key == "exposure_time_absolute")
        // The older kernel name still finds the renamed control.
        #expect(ControlInfo.find("exposure_absolute", in: controls)?.key == "exposure_time_absolute")
        #expect(ControlInfo.find("0x00980900", in: controls)?.name == "Brightness")
        #expect(ControlInfo.find("focus_absolute", in: controls) == nil)
    }
}

@Suite("What --frames PATH means")
struct FrameInputTests {
    @Test("- is a Y4M stream on standard input")
    func standardInput() throws {
        #expect(try FrameInput(framesArgument: "-") == .standardInput)
        #expect(try FrameInput(framesArgument: "-").name == "stdin")
    }

    @Test("folders, .y4m, images and other files")
    func kinds() throws {
        let directory = try TemporaryDirectory()
        let y4m = try directory.write(Array("YUV4MPEG2 W2 H2 Cmono\n".utf8), to: "a.Y4M")
        let image = try directory.writePGM(flatFrame(1), to: "one.png")
        let list = try directory.write(Array("one.png\n".utf8), to: "frames.list")
        #expect(try FrameInput(framesArgument: directory.path) == .directory(directory.path))
        #expect(try FrameInput(framesArgument: y4m) == .y4mFile(y4m))
        #expect(try FrameInput(framesArgument: image) == .images([image]))
        #expect(try FrameInput(framesArgument: list) == .listFile(list))
        #expect(!FrameInput.device(path: "/dev/video0", settings: CaptureSettings()).name.isEmpty)
        #expect(FrameInput.device(path: "/dev/video0", settings: CaptureSettings()).isLive)
    }

    @Test("a path that does not exist is .notFound")
    func missing() throws {
        let error = try #require(cameraError { () throws(CameraError) in _ = try FrameInput(framesArgument: "/tmp/qrpos-none-\(getpid())") })
        #expect(error.code == .notFound)
    }

    @Test("a list file: comments and blank lines skipped, relative paths from the list's folder, CRLF accepted")
    func listFile() throws {
        let directory = try TemporaryDirectory()
        let first = try directory.writePGM(flatFrame(1), to: "1.pgm")
        try directory.writePGM(flatFrame(2), to: "2.pgm")
        let list = try directory.write(Array("# recorded at till 3\r\n\r\n\(first)\r\n  2.pgm  \r\n".utf8), to: "frames.txt")
        var source = try FileFrameSource(listFile: list)
        #expect(source.paths == [first, directory.path + "/2.pgm"])
        #expect(try source.next()?.frame.pixels[0] == 1)
        #expect(try source.next()?.frame.pixels[0] == 2)
        #expect(try source.next() == nil)
    }

    @Test("a list naming nothing is .notFound")
    func emptyList() throws {
        let directory = try TemporaryDirectory()
        let list = try directory.write(Array("# nothing yet\n".utf8), to: "frames.txt")
        let error = try #require(cameraError { () throws(CameraError) in _ = try FileFrameSource(listFile: list) })
        #expect(error.code == .notFound)
        #expect(error.message.contains(list))
    }
}
