import Barcodes
import Camera
import Glibc
import Testing

@Suite("Frames replayed from PGM and PNG files")
struct FileFrameSourceTests {
    @Test("files play in the given order, then the source ends")
    func inOrder() throws {
        let directory = try TemporaryDirectory()
        let paths = try [30, 10, 20].map { try directory.writePGM(flatFrame(UInt8($0)), to: "f\($0).pgm") }
        var source = FileFrameSource(paths: paths)
        for (index, path) in paths.enumerated() {
            let captured = try #require(try source.next())
            #expect(captured.frame == flatFrame(UInt8([30, 10, 20][index])))
            #expect(captured.sequence == UInt64(index))
            #expect(captured.source == path)
        }
        #expect(try source.next() == nil)
        #expect(try source.next() == nil)
    }

    @Test("a directory plays its .pgm and .png files sorted by name, skipping everything else")
    func directory() throws {
        let directory = try TemporaryDirectory()
        try directory.writePGM(flatFrame(2), to: "002.pgm")
        try directory.writePGM(flatFrame(1), to: "001.PGM")
        try directory.write(try ImageFile.png(flatFrame(3)), to: "003.png")
        try directory.write(Array("not an image".utf8), to: "notes.txt")
        var source = try FileFrameSource(directory: directory.path)
        #expect(source.name == directory.path)
        var values: [UInt8] = []
        while let captured = try source.next() {
            values.append(captured.frame.pixels[0])
        }
        #expect(values == [1, 2, 3])
    }

    @Test("a looping source starts over and keeps counting")
    func loops() throws {
        let directory = try TemporaryDirectory()
        let paths = try [5, 6].map { try directory.writePGM(flatFrame(UInt8($0)), to: "\($0).pgm") }
        var source = FileFrameSource(paths: paths, loop: true)
        var seen: [(UInt8, UInt64)] = []
        for _ in 0..<5 {
            let captured = try #require(try source.next())
            seen.append((captured.frame.pixels[0], captured.sequence))
        }
        #expect(seen.map(\.0) == [5, 6, 5, 6, 5])
        #expect(seen.map(\.1) == [0, 1, 2, 3, 4])
    }

    @Test("a missing file is .notFound with ENOENT and its path, at that frame")
    func missingFile() throws {
        let directory = try TemporaryDirectory()
        let present = try directory.writePGM(flatFrame(1), to: "present.pgm")
        let missing = directory.path + "/missing.pgm"
        var source = FileFrameSource(paths: [present, missing])
        _ = try source.next()
        let error = try #require(cameraError { () throws(CameraError) in _ = try source.next() })
        #expect(error.code == .notFound)
        #expect(error.errno == ENOENT)
        #expect(error.device == missing)
        #expect(error.message.contains(missing))
    }

    @Test("a file that is not an image is .badFrame, naming the file")
    func corruptFile() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write(Array("P5\n4 4\n255\nshort".utf8), to: "broken.pgm")
        var source = FileFrameSource(paths: [path])
        let error = try #require(cameraError { () throws(CameraError) in _ = try source.next() })
        #expect(error.code == .badFrame)
        #expect(error.message.contains(path))
    }

    @Test("a missing directory is .notFound with ENOENT")
    func missingDirectory() throws {
        let path = "/tmp/qrpos-no-such-directory-\(getpid())"
        let error = try #require(cameraError { () throws(CameraError) in _ = try FileFrameSource(directory: path) })
        #expect(error.code == .notFound)
        #expect(error.errno == ENOENT)
        #expect(error.message.contains(path))
    }

    @Test("a directory without images is .notFound, not an empty stream")
    func emptyDirectory() throws {
        let directory = try TemporaryDirectory()
        try directory.write([], to: "readme.txt")
        let error = try #require(cameraError { () throws(CameraError) in _ = try FileFrameSource(directory: directory.path) })
        #expect(error.code == .notFound)
        #expect(error.message.contains(directory.path))
    }
}
