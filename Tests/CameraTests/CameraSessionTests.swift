import Barcodes
import Camera
import Glibc
import Synchronization
import Testing

/// What one opened stand-in camera does, step by step, and then ends (a real camera never ends;
/// ending lets a test stop reading).
private enum Step {
    /// A flat frame of this value.
    case frame(UInt8)
    /// A QR frame for this text.
    case code(String)
    /// A failure, as the kernel would cause it.
    case fail(CameraError)
}

/// A stand-in for an open camera: the only fake here, and only of the kernel's timing. Its
/// sequence numbers start at 0 like a driver's after VIDIOC_STREAMON.
private struct ScriptedCamera: FrameSource {
    var steps: [Step]
    let name = "/dev/video9"
    private var sequence: UInt64 = 0

    init(_ steps: [Step]) { self.steps = steps }

    mutating func next() throws(CameraError) -> CapturedFrame? {
        guard !steps.isEmpty else { return nil }
        let frame: LumaFrame
        switch steps.removeFirst() {
        case .frame(let value): frame = flatFrame(value)
        case .code(let text): frame = (try? qrFrames([text]).first) ?? flatFrame(0)
        case .fail(let error): throw error
        }
        defer { sequence += 1 }
        return CapturedFrame(frame: frame, sequence: sequence, capturedAt: .now, source: name)
    }
}

/// Opens stand-in cameras in the order scripted: each element is what one open returns.
private final class Opener {
    enum Outcome {
        case camera([Step])
        case fail(CameraError)
    }

    private var outcomes: [Outcome]
    private(set) var openCount = 0
    /// What to answer once the script is used up.
    private let afterwards: CameraError

    init(_ outcomes: [Outcome], afterwards: CameraError = missing) {
        self.outcomes = outcomes
        self.afterwards = afterwards
    }

    func open() throws(CameraError) -> ScriptedCamera {
        openCount += 1
        guard !outcomes.isEmpty else { throw afterwards }
        switch outcomes.removeFirst() {
        case .camera(let steps): return ScriptedCamera(steps)
        case .fail(let error): throw error
        }
    }
}

/// The errors the kernel gives: ENODEV on an open fd when the camera goes, ENOENT while its
/// node is gone, EACCES while udev has not yet given it to the video group.
private let unplugged = CameraError(errorNumber: ENODEV, operation: "VIDIOC_DQBUF", device: "/dev/video9")
private let missing = CameraError(errorNumber: ENOENT, operation: "open", device: "/dev/video9")
private let notYetReadable = CameraError(errorNumber: EACCES, operation: "open", device: "/dev/video9")
private let noFrame = CameraError(code: .timeout, message: "no frame from /dev/video9 within 2000 ms",
                                  device: "/dev/video9", operation: "poll")

/// Backoff short enough that a test does not wait; timing is never asserted.
private let quick = ReconnectBackoff(initialDelay: .milliseconds(1), delayMax: .milliseconds(4))

/// The events of a session, as short names a test can compare.
private func label(_ event: CameraSessionEvent) -> String {
    switch event {
    case .opened: "opened"
    case .unplugged(let error): "unplugged(\(error.code))"
    case .frameTimeout(_, let streak): "timeout(\(streak))"
    case .stalled(_, let count): "stalled(\(count))"
    case .reopenFailed(let error, let attempt, _): "reopenFailed(\(error.code), \(attempt))"
    case .back(_, let attempts, _): "back(\(attempts))"
    }
}

@Suite("A camera session rides out unplugs and stalls")
struct CameraSessionTests {
    @Test("the kernel's errors map to the codes the session acts on")
    func kernelErrors() {
        #expect(unplugged.code == .unplugged)
        #expect(missing.code == .notFound)
        #expect(notYetReadable.code == .permissionDenied)
    }

    @Test("unplugged, three failed re-opens, back: frames go on, sequence numbers keep growing")
    func unplugAndReturn() throws {
        let opener = Opener([
            .camera([.frame(1), .frame(2), .frame(3), .fail(unplugged)]),
            .fail(missing), .fail(unplugged), .fail(notYetReadable),
            .camera([.frame(4), .frame(5)]),
        ])
        var events: [String] = []
        var session = try CameraSession(name: "/dev/video9", backoff: quick, onEvent: { events.append(label($0)) },
                                        open: opener.open)
        var frames: [CapturedFrame] = []
        while let frame = try session.next() { frames.append(frame) }

        #expect(frames.map { $0.frame.pixels[0] } == [1, 2, 3, 4, 5])
        #expect(frames.map(\.sequence) == [0, 1, 2, 3, 4], "the driver restarts at 0; the session does not")
        #expect(events == [
            "opened", "unplugged(unplugged)",
            "reopenFailed(notFound, 1)", "reopenFailed(unplugged, 2)", "reopenFailed(permissionDenied, 3)",
            "back(4)",
        ])
        #expect(session.reconnectCount == 1)
        #expect(opener.openCount == 5)
        let isLost = session.isLost
        #expect(!isLost)
    }

    @Test("a node that vanishes (ENOENT mid-stream) is an unplug too")
    func vanishedNode() throws {
        let opener = Opener([.camera([.frame(1), .fail(missing)]), .camera([.frame(2)])])
        var events: [String] = []
        var session = try CameraSession(name: "/dev/video9", backoff: quick, onEvent: { events.append(label($0)) },
                                        open: opener.open)
        #expect(try session.next()?.frame.pixels[0] == 1)
        #expect(try session.next()?.frame.pixels[0] == 2)
        #expect(events == ["opened", "unplugged(notFound)", "back(1)"])
    }

    @Test("timeouts below the limit are waited out; a streak of them re-opens the camera")
    func stall() throws {
        let opener = Opener([
            .camera([.frame(1), .fail(noFrame), .fail(noFrame), .frame(2), .fail(noFrame), .fail(noFrame), .fail(noFrame)]),
            .camera([.frame(3)]),
        ])
        var events: [String] = []
        var session = try CameraSession(name: "/dev/video9", backoff: quick, stallTimeoutCountMax: 3,
                                        onEvent: { events.append(label($0)) }, open: opener.open)
        var values: [UInt8] = []
        while let frame = try session.next() { values.append(frame.frame.pixels[0]) }
        #expect(values == [1, 2, 3])
        #expect(events == ["opened", "timeout(1)", "timeout(2)", "timeout(1)", "timeout(2)", "stalled(3)", "back(1)"])
    }

    @Test("a stop request while the camera is away ends the stream instead of waiting forever")
    func stopWhileAway() throws {
        let opener = Opener([.camera([.frame(1), .fail(unplugged)])], afterwards: missing)
        var failedAttempts = 0
        var session = try CameraSession(
            name: "/dev/video9", backoff: quick,
            onEvent: { if case .reopenFailed = $0 { failedAttempts += 1 } },
            shouldStop: { failedAttempts >= 3 }, open: opener.open)
        #expect(try session.next() != nil)
        #expect(try session.next() == nil)
        #expect(failedAttempts == 3)
        let isLost = session.isLost
        #expect(isLost)
        #expect(session.details.contains("lost"))
    }

    @Test("a camera missing at start is an error at once, not a wait")
    func missingAtStart() throws {
        let opener = Opener([.fail(missing)])
        let error = try #require(cameraError { () throws(CameraError) in
            _ = try CameraSession(name: "/dev/video9", backoff: quick, open: opener.open)
        })
        #expect(error.code == .notFound)
        #expect(opener.openCount == 1)
    }

    @Test("other errors from the camera are thrown as they are, without re-opening")
    func otherErrors() throws {
        let broken = CameraError(code: .badFrame, message: "frame 7 from /dev/video9 has 10 bytes", device: "/dev/video9")
        let opener = Opener([.camera([.frame(1), .fail(broken)])])
        var session = try CameraSession(name: "/dev/video9", backoff: quick, open: opener.open)
        _ = try session.next()
        let error = try #require(cameraError { () throws(CameraError) in _ = try session.next() })
        #expect(error.code == .badFrame)
        #expect(opener.openCount == 1)
    }

    @Test("backoff doubles from its first delay up to its cap")
    func backoff() {
        let backoff = ReconnectBackoff(initialDelay: .milliseconds(100), delayMax: .seconds(2))
        #expect((1...7).map(backoff.delay(afterAttempt:)) == [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
            .seconds(2), .seconds(2),
        ])
        #expect(backoff.delay(afterAttempt: 1000) == .seconds(2))
    }

    @Test("in the threaded loop: a code before and after an unplug is two events, numbered across it")
    func sessionInLoop() throws {
        let payA = "qrpos:pay?id=A-0001&amount=1250"
        let events = Collector<ScanEvent>()
        let cameraEvents = Collector<String>()
        let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: false, forgetAfter: .frames(2)))
        let stats = try loop.run(opening: { () throws(CameraError) in
            let opener = Opener([
                .camera([.code(payA), .code(payA), .fail(unplugged)]),
                .fail(missing),
                .camera([.frame(255), .frame(255), .code(payA), .code(payA)]),
            ])
            return try CameraSession(name: "/dev/video9", backoff: quick, onEvent: { cameraEvents.append(label($0)) },
                                     shouldStop: { loop.isStopping }, open: opener.open)
        }, onEvent: events.append)

        #expect(events.all.map(\.code.text) == [payA, payA])
        #expect(events.all.map(\.sequence) == [0, 4])
        #expect(cameraEvents.all == ["opened", "unplugged(unplugged)", "reopenFailed(notFound, 1)", "back(2)"])
        #expect(stats.framesDecoded == 6)
    }
}
