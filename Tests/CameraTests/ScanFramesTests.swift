import Barcodes
import Camera
import Testing

@Suite("The scan loop over replayed frames")
struct ScanFramesTests {
    @Test("QR frames rendered by QREncoder, decoded by zbar: one event per appearance")
    func realQRCodes() throws {
        let directory = try TemporaryDirectory()
        let payA = try qrFrame("qrpos:pay?id=A-0001&amount=1250")
        let payB = try qrFrame("qrpos:pay?id=B-0002&amount=990")
        let blank = LumaFrame(width: payA.width, height: payA.height, fill: 255)
        let frames = [payA, payA, payA, blank, blank, payA, sideBySide([payA, payB]), payB]
        let paths = try frames.enumerated().map { try directory.writePGM($1, to: String(format: "%03d.pgm", $0)) }

        var source = try FileFrameSource(directory: directory.path)
        let scanner = CodeScanner(symbologies: [.qrCode])
        var events: [ScanEvent] = []
        let summary = try scanFrames(
            &source, deduplicator: ScanDeduplicator(forgetAfter: .frames(2)),
            decode: { scanner.scan($0) }, onEvent: { events.append($0) })

        #expect(events.map(\.code.text) == [
            "qrpos:pay?id=A-0001&amount=1250", "qrpos:pay?id=A-0001&amount=1250", "qrpos:pay?id=B-0002&amount=990",
        ])
        #expect(events.map(\.code.symbology) == [.qrCode, .qrCode, .qrCode])
        #expect(events.map(\.sequence) == [0, 5, 6])
        #expect(events.map(\.source) == [paths[0], paths[5], paths[6]])
        #expect(events.allSatisfy { $0.latency >= .zero })
        #expect(summary.frameCount == 8)
        #expect(summary.eventCount == 3)
        #expect(summary.reachedEndOfStream)
    }

    /// A stand-in decoder for loop mechanics only: a frame of value v holds code "v" (255 holds none).
    private func decodeFlat(_ frame: LumaFrame) -> [ScannedCode] {
        frame.pixels[0] == 255 ? [] : [ScannedCode(symbology: .qrCode, data: Array(String(frame.pixels[0]).utf8))]
    }

    private func source(_ values: [UInt8], in directory: TemporaryDirectory) throws -> FileFrameSource {
        let paths = try values.enumerated().map { try directory.writePGM(flatFrame($1), to: "\($0).pgm") }
        return FileFrameSource(paths: paths)
    }

    @Test("frameCountMax stops after that many frames, end of stream not reached")
    func frameLimit() throws {
        let directory = try TemporaryDirectory()
        var frames = try source([1, 2, 3, 4], in: directory)
        var events: [ScanEvent] = []
        let summary = try scanFrames(&frames, frameCountMax: 2, decode: decodeFlat, onEvent: { events.append($0) })
        #expect(summary.frameCount == 2)
        #expect(!summary.reachedEndOfStream)
        #expect(events.compactMap(\.code.text) == ["1", "2"])
        // The source is left where the loop stopped.
        #expect(try frames.next()?.frame.pixels[0] == 3)
    }

    @Test("eventCountMax stops at exactly that many events, even within one frame")
    func eventLimit() throws {
        let directory = try TemporaryDirectory()
        var frames = try source([255, 1, 2], in: directory)
        var events: [ScanEvent] = []
        let decodeTwo: (LumaFrame) -> [ScannedCode] = { frame in
            frame.pixels[0] == 255 ? [] : [ScannedCode(symbology: .qrCode, data: [1]), ScannedCode(symbology: .qrCode, data: [2])]
        }
        let summary = try scanFrames(&frames, eventCountMax: 1, decode: decodeTwo, onEvent: { events.append($0) })
        #expect(events.map(\.code.data) == [[1]])
        #expect(summary.eventCount == 1)
        #expect(summary.frameCount == 2)
    }

    @Test("shouldStop ends the loop before the next frame")
    func stop() throws {
        let directory = try TemporaryDirectory()
        var frames = try source([1, 2, 3], in: directory)
        var eventCount = 0
        let summary = try scanFrames(
            &frames, decode: decodeFlat, onEvent: { _ in eventCount += 1 }, shouldStop: { eventCount >= 1 })
        #expect(summary.frameCount == 1)
    }

    @Test("a source error ends the loop and is rethrown, after the frames before it were scanned")
    func sourceError() throws {
        let directory = try TemporaryDirectory()
        let good = try directory.writePGM(flatFrame(7), to: "good.pgm")
        var frames = FileFrameSource(paths: [good, directory.path + "/gone.pgm"])
        var events: [ScanEvent] = []
        let error = try #require(cameraError { () throws(CameraError) in
            try scanFrames(&frames, decode: decodeFlat, onEvent: { events.append($0) })
        })
        #expect(error.code == .notFound)
        #expect(events.compactMap(\.code.text) == ["7"])
    }
}
