import Barcodes
import Camera
import Dispatch
import Foundation
import Synchronization
import Testing

/// A source that tells `ended` when its inner Y4M stream runs out: lets a test hold the decoder
/// until capture is done, so "frames were dropped" follows from the order of events, not speed.
private struct SignallingSource: ~Copyable, FrameSource {
    var inner: Y4MFrameSource
    let ended: DispatchSemaphore
    var name: String { inner.name }

    mutating func next() throws(CameraError) -> CapturedFrame? {
        let frame = try inner.next()
        if frame == nil { ended.signal() }
        return frame
    }
}

/// A generous bound on waits that only a hang would reach, so a loaded machine never fails a test.
private let hangTimeout = DispatchTimeInterval.seconds(60)

@Suite("The threaded scan loop: capture thread, decode thread, one-frame mailbox")
struct ScanLoopTests {
    private let payA = "qrpos:pay?id=A-0001&amount=1250"
    private let payB = "qrpos:pay?id=B-0002&amount=990"

    /// Writes `texts` (nil: blank) as a mono Y4M file of QR frames; returns its path.
    private func y4mFile(_ texts: [String?], in directory: TemporaryDirectory) throws -> String {
        let frames = try qrFrames(texts)
        return try directory.write(Y4MWriter(width: 200, height: 200, colourSpace: "mono").stream(frames), to: "clip.y4m")
    }

    @Test("a Y4M file through both threads: every frame decoded, one event per presentation, in order")
    func y4mReplay() throws {
        let directory = try TemporaryDirectory()
        let path = try y4mFile([payA, payA, payA, nil, nil, payA, nil, payB, payB], in: directory)
        let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false, forgetAfter: .frames(2)))
        let events = Collector<ScanEvent>()
        let stats = try loop.run(opening: { () throws(CameraError) in try Y4MFrameSource(path: path) }, onEvent: events.append)

        #expect(events.all.map(\.code.text) == [payA, payA, payB])
        #expect(events.all.map(\.sequence) == [0, 5, 7])
        #expect(events.all.allSatisfy { $0.source == path && $0.latency >= .zero })
        #expect(stats.framesCaptured == 9)
        #expect(stats.framesDecoded == 9)
        #expect(stats.framesDropped == 0)
        #expect(stats.events == 3)
        #expect(stats.sourceEnded)
        #expect(stats.latencyMax >= .zero)
    }

    @Test("a folder, a list file and a Y4M file, each named by --frames, give the same events")
    func frameInputs() throws {
        let directory = try TemporaryDirectory()
        let texts: [String?] = [payA, payA, nil, nil, nil, payB]
        let frames = try qrFrames(texts)
        let folder = directory.path + "/folder"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var names: [String] = []
        for (index, frame) in frames.enumerated() {
            let name = String(format: "%03d.pgm", index)
            try directory.writePGM(frame, to: "folder/" + name)
            names.append("folder/" + name)
        }
        let list = try directory.write(Array(("# a recording\n\n" + names.joined(separator: "\n") + "\n").utf8), to: "frames.txt")
        // A Y4M file need not be named .y4m: it is known by its first bytes.
        let y4m = try directory.write(Y4MWriter(width: 200, height: 200, colourSpace: "mono").stream(frames), to: "clip.raw")

        let expected: [(String, FrameInput)] = [(folder, .directory(folder)), (list, .listFile(list)), (y4m, .y4mFile(y4m))]
        for (argument, kind) in expected {
            let input = try FrameInput(framesArgument: argument)
            #expect(input == kind)
            #expect(!input.isLive)
            let events = Collector<ScanEvent>()
            let stats = try ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false, forgetAfter: .frames(2)))
                .run(opening: { () throws(CameraError) in try input.open() }, onEvent: events.append)
            #expect(events.all.map(\.code.text) == [payA, payB], "\(argument)")
            #expect(events.all.map(\.sequence) == [0, 5], "\(argument)")
            #expect(stats.framesDecoded == 6, "\(argument)")
        }
    }

    @Test("eventCountMax stops at exactly that many events, before the source ends")
    func eventLimit() throws {
        let directory = try TemporaryDirectory()
        let texts: [String?] = (1...8).map { "CODE-\($0)" }
        let path = try y4mFile(texts, in: directory)
        let events = Collector<ScanEvent>()
        let stats = try ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false, eventCountMax: 2))
            .run(opening: { () throws(CameraError) in try Y4MFrameSource(path: path) }, onEvent: events.append)
        #expect(events.all.map(\.code.text) == ["CODE-1", "CODE-2"])
        #expect(stats.events == 2)
        #expect(stats.framesDecoded == 2)
        #expect(!stats.sourceEnded)
    }

    @Test("frameCountMax stops capture after that many frames, all of them decoded")
    func frameLimit() throws {
        let directory = try TemporaryDirectory()
        let path = try y4mFile(["CODE-1", "CODE-2", "CODE-3", "CODE-4"], in: directory)
        let events = Collector<ScanEvent>()
        let stats = try ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false, frameCountMax: 3))
            .run(opening: { () throws(CameraError) in try Y4MFrameSource(path: path) }, onEvent: events.append)
        #expect(events.all.map(\.code.text) == ["CODE-1", "CODE-2", "CODE-3"])
        #expect(stats.framesCaptured == 3 && stats.framesDecoded == 3)
    }

    @Test("a slow decoder with dropping on: stale frames are dropped and counted, the newest is decoded")
    func dropsStaleFrames() throws {
        let directory = try TemporaryDirectory()
        let frameCount = 12
        let texts: [String?] = (0..<frameCount).map { "CODE-\($0)" }
        let path = try y4mFile(texts, in: directory)
        let captureEnded = DispatchSemaphore(value: 0)
        let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: true), makeDecoder: {
            // The real scanner, slowed down: its first frame waits until capture has delivered
            // every frame, so all but that one and the newest must be dropped.
            let scanner = CodeScanner(symbologies: [.qrCode])
            var isFirst = true
            return { frame in
                if isFirst {
                    isFirst = false
                    _ = captureEnded.wait(timeout: .now() + hangTimeout)
                }
                Thread.sleep(forTimeInterval: 0.005)
                return scanner.scan(frame)
            }
        })
        let events = Collector<ScanEvent>()
        let stats = try loop.run(opening: { () throws(CameraError) in
            SignallingSource(inner: try Y4MFrameSource(path: path), ended: captureEnded)
        }, onEvent: events.append)

        #expect(stats.framesCaptured == frameCount)
        #expect(stats.framesDecoded + stats.framesDropped == frameCount)
        #expect(stats.framesDecoded <= 2)
        #expect(stats.framesDropped >= frameCount - 2)
        #expect(events.all.last?.code.text == "CODE-\(frameCount - 1)", "the newest frame is always decoded")
        #expect(events.all.map(\.sequence) == events.all.map(\.sequence).sorted())
        #expect(stats.events == events.all.count)
    }

    @Test("the same slow decoder with dropping off: capture waits, nothing is dropped")
    func keepsEveryFrame() throws {
        let directory = try TemporaryDirectory()
        let texts: [String?] = (0..<6).map { "CODE-\($0)" }
        let path = try y4mFile(texts, in: directory)
        let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false), makeDecoder: {
            let scanner = CodeScanner(symbologies: [.qrCode])
            return { frame in
                Thread.sleep(forTimeInterval: 0.02)
                return scanner.scan(frame)
            }
        })
        let events = Collector<ScanEvent>()
        let stats = try loop.run(opening: { () throws(CameraError) in try Y4MFrameSource(path: path) }, onEvent: events.append)
        #expect(events.all.map(\.code.text) == texts)
        #expect(stats.framesDropped == 0)
        #expect(stats.framesDecoded == 6)
    }

    @Test("a stream that fails mid-way: the frames before are decoded, then run throws the source's error")
    func sourceFailure() throws {
        let directory = try TemporaryDirectory()
        let writer = Y4MWriter(width: 200, height: 200, colourSpace: "mono")
        let whole = writer.stream(try qrFrames([payA, nil, payB]))
        let path = try directory.write(Array(whole.dropLast(100)), to: "cut.y4m")
        let events = Collector<ScanEvent>()
        let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false))
        let error = try #require(cameraError { () throws(CameraError) in
            try loop.run(opening: { () throws(CameraError) in try Y4MFrameSource(path: path) }, onEvent: events.append)
        })
        #expect(error.code == .badFrame)
        #expect(error.message.contains("frame 2"))
        #expect(events.all.map(\.code.text) == [payA])
        #expect(loop.stats.framesDecoded == 2)
    }

    @Test("a source that cannot be opened fails run with its error")
    func openFailure() throws {
        let loop = ScanLoop()
        let error = try #require(cameraError { () throws(CameraError) in
            try loop.run(opening: { () throws(CameraError) in try Y4MFrameSource(path: "/tmp/qrpos-missing-\(UUID()).y4m") },
                         onEvent: { _ in })
        })
        #expect(error.code == .notFound)
    }

    @Test("an endless source stops when shouldStop turns true (as on SIGINT), without an error")
    func externalStop() throws {
        let directory = try TemporaryDirectory()
        let paths = try qrFrames([payA, nil]).enumerated().map { try directory.writePGM($1, to: "\($0).pgm") }
        let stopRequested = Atomic<Bool>(false)
        let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: true, forgetAfter: .frames(1)),
                            shouldStop: { stopRequested.load(ordering: .relaxed) })
        let events = Collector<ScanEvent>()
        let stats = try loop.run(opening: { FileFrameSource(paths: paths, loop: true) }, onEvent: { event in
            events.append(event)
            if events.all.count == 3 { stopRequested.store(true, ordering: .relaxed) }
        })
        #expect(events.all.count >= 3)
        #expect(events.all.allSatisfy { $0.code.text == payA })
        #expect(!stats.sourceEnded)
        #expect(loop.isStopping)
        #expect(stats.framesCaptured >= stats.framesDecoded + stats.framesDropped)
    }
}
