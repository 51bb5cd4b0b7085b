import Barcodes
import Camera
import Foundation
import Glibc
import Testing

@Suite("Frames from YUV4MPEG2 streams")
struct Y4MFrameSourceTests {
    /// Writes `bytes` as a .y4m file and opens it.
    private func open(_ bytes: [UInt8], in directory: TemporaryDirectory, name: String = "clip.y4m") throws -> Y4MFrameSource {
        try Y4MFrameSource(path: directory.write(bytes, to: name))
    }

    /// Reads every frame of `source` until it ends.
    private func readAll(_ source: inout Y4MFrameSource) throws -> [CapturedFrame] {
        var frames: [CapturedFrame] = []
        while let frame = try source.next() { frames.append(frame) }
        return frames
    }

    @Test("4:2:0 with FRAME parameters: the Y plane of each frame, chroma skipped, then the end")
    func yuv420WithFrameParameters() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 4, height: 2, colourSpace: "420jpeg")
        let first: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let second: [UInt8] = [9, 10, 11, 12, 13, 14, 15, 16]
        let bytes = writer.header + writer.frame(first, parameters: "Ip XCOLORRANGE=FULL") + writer.frame(second, parameters: "Ib")
        var source = try open(bytes, in: directory)
        #expect(source.header.width == 4 && source.header.height == 2)
        #expect(source.header.chroma == .c420)
        #expect(source.header.frameRate?.perSecond == 30)
        #expect(source.header.frameByteCount == 8 + 2 + 2)
        let frames = try readAll(&source)
        #expect(frames.map(\.frame.pixels) == [first, second])
        #expect(frames.map(\.sequence) == [0, 1])
        #expect(frames.allSatisfy { $0.source == source.name })
        #expect(try source.next() == nil, "the end stays the end")
    }

    @Test("mono without FRAME parameters, odd size")
    func monoPlain() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 3, height: 3, colourSpace: "mono", tags: "")
        let luma: [UInt8] = Array(10..<19)
        var source = try open(writer.header + writer.frame(luma) + writer.frame(luma.reversed()), in: directory)
        #expect(source.header.chroma == .mono)
        #expect(source.header.frameRate == nil)
        let frames = try readAll(&source)
        #expect(frames.map(\.frame.pixels) == [luma, luma.reversed()])
        #expect(frames.first?.frame.width == 3)
    }

    @Test("no C tag means 4:2:0, with chroma planes rounded up for odd sizes")
    func defaultColourSpace() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 3, height: 3, colourSpace: nil)
        var source = try open(writer.stream([flatFrame(7, width: 3, height: 3), flatFrame(8, width: 3, height: 3)]), in: directory)
        #expect(source.header.colourSpace == "420jpeg")
        #expect(source.header.frameByteCount == 9 + 2 * 2 * 2)
        #expect(try readAll(&source).map { $0.frame.pixels[0] } == [7, 8])
    }

    @Test("every 8-bit colour space: the right number of bytes is skipped after Y",
          arguments: ["420", "420paldv", "420mpeg2", "422", "444", "444alpha", "411"])
    func colourSpaces(colourSpace: String) throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 5, height: 3, colourSpace: colourSpace)
        let frames = [flatFrame(1, width: 5, height: 3), flatFrame(2, width: 5, height: 3), flatFrame(3, width: 5, height: 3)]
        var source = try open(writer.stream(frames), in: directory)
        #expect(source.header.frameByteCount == 15 + writer.chromaByteCount)
        #expect(try readAll(&source).map(\.frame) == frames)
    }

    @Test("a truncated last frame is .badFrame naming the frame and its byte count, after the whole frames")
    func truncatedLastFrame() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 4, height: 4, colourSpace: "420")
        let whole = writer.frame([UInt8](repeating: 50, count: 16))
        let bytes = writer.header + whole + whole.dropLast(5)
        var source = try open(bytes, in: directory)
        #expect(try source.next()?.frame.pixels[0] == 50)
        let error = try #require(cameraError { () throws(CameraError) in _ = try source.next() })
        #expect(error.code == .badFrame)
        #expect(error.message.contains("truncated"))
        #expect(error.message.contains("frame 1"))
        #expect(error.message.contains("19 of its 24 bytes"))
        #expect(error.message.contains(source.name))
    }

    @Test("a stream cut inside the Y plane is truncated too")
    func truncatedInLuma() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 4, height: 4, colourSpace: "mono")
        var source = try open(writer.header + Array("FRAME\n".utf8) + [1, 2, 3], in: directory)
        let error = try #require(cameraError { () throws(CameraError) in _ = try source.next() })
        #expect(error.code == .badFrame)
        #expect(error.message.contains("3 of its 16 bytes"))
    }

    @Test("a stream cut inside a FRAME line is .badFrame")
    func truncatedFrameHeader() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 2, height: 2, colourSpace: "mono")
        var source = try open(writer.header + writer.frame([1, 2, 3, 4]) + Array("FRA".utf8), in: directory)
        _ = try source.next()
        let error = try #require(cameraError { () throws(CameraError) in _ = try source.next() })
        #expect(error.code == .badFrame)
        #expect(error.message.contains("FRAME header"))
    }

    @Test("anything but a FRAME line between frames is .badFrame, quoting what was found")
    func missingFrameMarker() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 2, height: 2, colourSpace: "mono")
        var source = try open(writer.header + Array("FRAMES\n".utf8) + [1, 2, 3, 4], in: directory)
        let error = try #require(cameraError { () throws(CameraError) in _ = try source.next() })
        #expect(error.code == .badFrame)
        #expect(error.message.contains("expected a FRAME header"))
        #expect(error.message.contains("FRAMES"))
    }

    @Test("headers that are not Y4M, or lack W or H, are .badFrame", arguments: [
        ("P5\n4 4\n255\n", "not a YUV4MPEG2 stream"),
        ("YUV4MPEG2 H4 C420\n", "no W"),
        ("YUV4MPEG2 W4 C420\n", "no H"),
        ("YUV4MPEG2 W0 H4\n", "frame side"),
        ("YUV4MPEG2 W4 H4 F30\n", "frame rate"),
        ("", "empty"),
        ("YUV4MPEG2 W4 H4", "ends inside its YUV4MPEG2 header"),
    ])
    func badHeaders(text: String, expected: String) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(Array(text.utf8), to: "bad.y4m")
        let error = try #require(cameraError { () throws(CameraError) in _ = try Y4MFrameSource(path: path) })
        #expect(error.code == .badFrame)
        #expect(error.message.contains(expected), "\(error.message)")
        #expect(error.message.contains(path))
    }

    @Test("high bit depth colour spaces are .formatUnsupported, naming the tag")
    func highBitDepth() throws {
        let error = try #require(cameraError { () throws(CameraError) in
            _ = try Y4MFrameSource.parseHeader(Array("YUV4MPEG2 W4 H4 C420p10".utf8), name: "ten-bit.y4m")
        })
        #expect(error.code == .formatUnsupported)
        #expect(error.message.contains("C420p10"))
    }

    @Test("a missing file is .notFound with ENOENT")
    func missingFile() throws {
        let path = "/tmp/qrpos-no-such-clip-\(getpid()).y4m"
        let error = try #require(cameraError { () throws(CameraError) in _ = try Y4MFrameSource(path: path) })
        #expect(error.code == .notFound)
        #expect(error.errno == ENOENT)
    }

    @Test("a Y4M stream through a pipe, as on stdin: frames larger than the pipe buffer, decoded by zbar")
    func pipe() throws {
        let texts = ["qrpos:pay?id=PIPE-1", "qrpos:pay?id=PIPE-2"]
        let frames = try qrFrames(texts, width: 320, height: 240)
        let writer = Y4MWriter(width: 320, height: 240, colourSpace: "420jpeg")
        let bytes = writer.stream(frames, parameters: "Ip")
        #expect(bytes.count > 65536, "more than one pipe buffer, so the reader must wait for the writer")

        let pipe = Pipe()
        let writing = pipe.fileHandleForWriting
        // A writer on its own thread, as a producer piping into qrpos would be.
        let writerThread = Thread {
            writing.write(Data(bytes))
            try? writing.close()
        }
        writerThread.start()

        var source = try Y4MFrameSource(fileDescriptor: pipe.fileHandleForReading.fileDescriptor, name: "stdin")
        let scanner = CodeScanner(symbologies: [.qrCode])
        var decoded: [String?] = []
        while let captured = try source.next() {
            #expect(captured.source == "stdin")
            decoded.append(contentsOf: scanner.scan(captured.frame).map(\.text))
        }
        #expect(decoded == texts)
    }
}
