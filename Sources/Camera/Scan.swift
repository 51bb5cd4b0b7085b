import Barcodes

/// A code that came into view: reported once while it stays in view.
public struct ScanEvent: Sendable {
    /// The code.
    public let code: ScannedCode
    /// The frame source it was seen on (a device node or a file).
    public let source: String
    /// The sequence number of the frame it was first seen in.
    public let sequence: UInt64
    /// From capturing that frame to having decoded it.
    public let latency: Duration

    public init(code: ScannedCode, source: String, sequence: UInt64, latency: Duration) {
        self.code = code
        self.source = source
        self.sequence = sequence
        self.latency = latency
    }
}

/// Turns the codes seen frame by frame into events: a code held in view is one event, and only
/// after it has been out of view for the whole window does showing it again make a new one.
/// A code briefly lost (a blurred frame, a hand passing) is therefore not scanned twice.
///
/// A plain value with time passed in, so it is tested without a clock or a camera.
public struct ScanDeduplicator: Sendable {
    /// How long a code must be out of view before it counts as new again.
    public enum Window: Sendable, Hashable {
        /// This many consecutive frames without the code. Independent of frame rate and clock,
        /// so replayed files behave like a live camera.
        case frames(Int)
        /// This much time since the code was last seen. Choose it longer than the frame interval,
        /// or a code in view at a low frame rate counts as new in every frame.
        case duration(Duration)
        /// Both: at least `frames` frames without the code and at least `duration` since it was
        /// last seen. For a live camera, whose decoded frame rate depends on the machine: the
        /// time keeps a fast loop from splitting one presentation at a brief loss (glare, a hand
        /// passing), the frame count keeps a slow one from making a new event of every frame.
        case framesAndDuration(frames: Int, duration: Duration)
    }

    /// The window for a live camera: two decoded frames and half a second without the code.
    /// Half a second covers glare and a hand passing; taking a phone away and showing it again
    /// takes longer.
    public static let cameraWindow = Window.framesAndDuration(frames: 2, duration: .milliseconds(500))
    /// The window for recorded frames: ten frames, a third of a second at 30 fps, and no clock,
    /// so a replay gives the same events on any machine.
    public static let recordingWindow = Window.frames(10)

    private struct Sighting: Sendable {
        var frame: UInt64
        var at: ContinuousClock.Instant
    }

    /// The window this deduplicator forgets codes after.
    public let window: Window
    /// Codes in view or recently lost, with when they were last seen.
    private var lastSeen: [ScannedCode: Sighting] = [:]
    /// Frames admitted so far.
    private var frameCount: UInt64 = 0

    /// A deduplicator that forgets a code once it has been out of view for `window`; ten frames
    /// is a third of a second at 30 fps.
    public init(forgetAfter window: Window = .frames(10)) {
        switch window {
        case .frames(let count): precondition(count > 0, "a window is at least one frame")
        case .duration(let duration): precondition(duration > .zero, "a window is longer than zero")
        case .framesAndDuration(let count, let duration):
            precondition(count > 0 && duration > .zero, "a window is at least one frame and longer than zero")
        }
        self.window = window
    }

    /// Admits the codes decoded from the next frame, captured at `instant`, and returns those that
    /// are new events, each once, in the order given.
    public mutating func admit(_ codes: [ScannedCode], at instant: ContinuousClock.Instant) -> [ScannedCode] {
        frameCount += 1
        let frame = frameCount
        // Forget before admitting, so a code back after the window is new even though it is in
        // view now; this also keeps the table to the codes of the last window.
        lastSeen = lastSeen.filter { !isForgotten($0.value, frame: frame, at: instant) }
        var events: [ScannedCode] = []
        for code in codes {
            if lastSeen[code] == nil, !events.contains(code) {
                events.append(code)
            }
            lastSeen[code] = Sighting(frame: frame, at: instant)
        }
        return events
    }

    private func isForgotten(_ sighting: Sighting, frame: UInt64, at instant: ContinuousClock.Instant) -> Bool {
        switch window {
        case .frames(let count): frame - sighting.frame - 1 >= UInt64(count)
        case .duration(let duration): instant - sighting.at >= duration
        case .framesAndDuration(let count, let duration):
            frame - sighting.frame - 1 >= UInt64(count) && instant - sighting.at >= duration
        }
    }
}

/// What a `scanFrames` run did.
public struct ScanSummary: Sendable, Hashable {
    /// Frames read from the source and decoded.
    public var frameCount = 0
    /// Events reported.
    public var eventCount = 0
    /// True when the run stopped because the source ended.
    public var reachedEndOfStream = false

    public init() {}
}

/// Reads frames from `source`, decodes each with `decode`, and reports every new code (see
/// `ScanDeduplicator`) to `onEvent`, until the source ends, `frameCountMax` frames have been read,
/// `eventCountMax` events reported, or `shouldStop` (checked before each frame) returns true.
///
/// A plain synchronous loop that **blocks the calling thread** whenever the source does: `qrpos
/// scan` runs it on a thread of its own, never on Swift concurrency's cooperative pool. Errors
/// from the source end the loop and are rethrown.
@discardableResult
public func scanFrames<Source: FrameSource & ~Copyable>(
    _ source: inout Source,
    frameCountMax: Int? = nil,
    eventCountMax: Int? = nil,
    deduplicator: ScanDeduplicator = ScanDeduplicator(),
    decode: (LumaFrame) -> [ScannedCode],
    onEvent: (ScanEvent) -> Void,
    shouldStop: () -> Bool = { false }
) throws(CameraError) -> ScanSummary {
    precondition(frameCountMax.map { $0 >= 0 } ?? true, "frameCountMax is negative")
    precondition(eventCountMax.map { $0 >= 0 } ?? true, "eventCountMax is negative")
    var deduplicator = deduplicator
    var summary = ScanSummary()
    func framesDone() -> Bool { frameCountMax.map { summary.frameCount >= $0 } ?? false }
    func eventsDone() -> Bool { eventCountMax.map { summary.eventCount >= $0 } ?? false }
    while !framesDone(), !eventsDone(), !shouldStop() {
        guard let captured = try source.next() else {
            summary.reachedEndOfStream = true
            break
        }
        summary.frameCount += 1
        let codes = decode(captured.frame)
        let decodedAt = ContinuousClock.now
        for code in deduplicator.admit(codes, at: captured.capturedAt) {
            guard !eventsDone() else { break }
            onEvent(ScanEvent(code: code, source: captured.source, sequence: captured.sequence,
                              latency: decodedAt - captured.capturedAt))
            summary.eventCount += 1
        }
    }
    return summary
}
