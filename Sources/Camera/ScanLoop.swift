import Barcodes
import Dispatch
import Foundation
import Synchronization

/// Decodes one frame: the real `CodeScanner`'s `scan`, or any other scanner with that shape.
/// Called only on the loop's decode thread, so it may keep per-thread state (a zbar scanner).
public typealias FrameDecoder = (LumaFrame) -> [ScannedCode]

/// How a `ScanLoop` runs.
public struct ScanLoopOptions: Sendable, Hashable {
    /// True for a live camera: a frame captured while the decoder is busy replaces the one
    /// waiting, which is dropped and counted, so the decoder always works on the newest frame
    /// (latency over throughput). False for replays and rigs: capture waits for the decoder, so
    /// every frame is decoded and the result does not depend on machine speed.
    public var dropsStaleFrames: Bool
    /// Stop after this many events; nil for no limit.
    public var eventCountMax: Int?
    /// Stop after capturing this many frames (all decoded unless dropped); nil for no limit.
    public var frameCountMax: Int?
    /// How long a code must be out of view before showing it again is a new event
    /// (`ScanDeduplicator.cameraWindow` suits a camera, `.recordingWindow` a replay).
    public var forgetAfter: ScanDeduplicator.Window
    /// How long `run` waits, once the loop is over, for the capture thread to close its source.
    /// A camera notices within one frame or its capture timeout; a pipe whose writer stalls
    /// may never return from `read(2)`, and is then left to end with the process.
    public var captureStopWaitMax: Duration

    public init(
        dropsStaleFrames: Bool = true, eventCountMax: Int? = nil, frameCountMax: Int? = nil,
        forgetAfter: ScanDeduplicator.Window = ScanDeduplicator.recordingWindow, captureStopWaitMax: Duration = .seconds(5)
    ) {
        precondition(eventCountMax.map { $0 >= 1 } ?? true, "eventCountMax is at least 1")
        precondition(frameCountMax.map { $0 >= 1 } ?? true, "frameCountMax is at least 1")
        precondition(captureStopWaitMax >= .zero, "captureStopWaitMax is negative")
        self.dropsStaleFrames = dropsStaleFrames
        self.eventCountMax = eventCountMax
        self.frameCountMax = frameCountMax
        self.forgetAfter = forgetAfter
        self.captureStopWaitMax = captureStopWaitMax
    }
}

/// What a `ScanLoop` has done so far. Read it while the loop runs to measure the sustained rate
/// (`framesDecoded` over time) and whether the decoder keeps up (`framesDropped` growing means
/// it does not; with `dropsStaleFrames` off, capture slows down to the decoder instead).
///
/// At any moment `framesCaptured == framesDecoded + framesDropped + w`, where `w` (0 to 2) is
/// the frame waiting in the mailbox plus the one being decoded: the queue never grows.
public struct ScanLoopStats: Sendable, Hashable {
    /// Frames the source delivered.
    public var framesCaptured = 0
    /// Frames the decoder finished.
    public var framesDecoded = 0
    /// Frames replaced in the mailbox by a newer one before the decoder took them.
    public var framesDropped = 0
    /// Events reported (codes new to the view).
    public var events = 0
    /// Time spent in the decoder, summed over `framesDecoded`.
    public var decodeTime = Duration.zero
    /// The longest time from a frame's capture to an event from it.
    public var latencyMax = Duration.zero
    /// True when the source ended (a file or stream ran out); a camera does not.
    public var sourceEnded = false

    public init() {}
}

/// The live scan loop: capture on one thread, decode on another, joined by a one-frame mailbox.
///
/// The capture thread opens the source (so a camera is opened, read and closed on one thread)
/// and puts each frame in the mailbox; the decode thread makes its decoder, takes frames,
/// decodes them, turns codes into events once per presentation (`ScanDeduplicator`) and reports
/// each with its latency from the frame's capture. Both are plain `Thread`s, because capture
/// blocks in poll/DQBUF or `read(2)` and decoding is long CPU work: neither belongs on Swift
/// concurrency's cooperative pool.
///
/// A loop runs once. It stops when the source ends (after decoding what it delivered), at
/// `eventCountMax` or `frameCountMax`, on `stop()`, or when `shouldStop` (polled every 20 ms,
/// for flags a signal handler sets) turns true.
public final class ScanLoop: Sendable {
    /// How this loop runs.
    public let options: ScanLoopOptions
    private let makeDecoder: @Sendable () -> FrameDecoder
    private let externalStop: @Sendable () -> Bool
    private let mailbox = FrameMailbox()
    private let stopFlag = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)

    /// A loop with `options`, decoding with what `makeDecoder` makes on the decode thread (by
    /// default the real `CodeScanner`: a zbar scanner belongs to one thread).
    public init(
        options: ScanLoopOptions = ScanLoopOptions(),
        shouldStop: @escaping @Sendable () -> Bool = { false },
        makeDecoder: @escaping @Sendable () -> FrameDecoder = { CodeScanner().scan }
    ) {
        self.options = options
        self.externalStop = shouldStop
        self.makeDecoder = makeDecoder
    }

    /// A snapshot of the counters; consistent with itself, safe to read from any thread.
    public var stats: ScanLoopStats { mailbox.stats }

    /// True once the loop has been asked to stop, by `stop()`, a limit or `shouldStop`. Give it
    /// to a source that waits long (a `CameraSession` re-opening a camera).
    public var isStopping: Bool { stopFlag.load(ordering: .acquiring) || externalStop() }

    /// Asks the loop to stop: the decoder finishes its frame, the capture thread its wait.
    /// Safe from any thread, any number of times.
    public func stop() {
        stopFlag.store(true, ordering: .releasing)
        mailbox.cancel()
    }

    /// Runs the loop until it stops, **blocking the calling thread**, and returns the final
    /// counters. `open` runs on the capture thread and makes the source there; `onEvent` is
    /// called on the decode thread, in order, once per event.
    ///
    /// Throws the source's error (including one from `open`) when the source failed before the
    /// loop was stopped; frames it delivered before failing are decoded first.
    @discardableResult
    public func run<Source: FrameSource & ~Copyable & SendableMetatype>(
        opening open: @escaping @Sendable () throws(CameraError) -> Source,
        onEvent: @escaping @Sendable (ScanEvent) -> Void
    ) throws(CameraError) -> ScanLoopStats {
        precondition(!started.exchange(true, ordering: .acquiringAndReleasing), "a ScanLoop runs once")
        let captureDone = DispatchSemaphore(value: 0)
        let decodeDone = DispatchSemaphore(value: 0)
        let captureThread = Thread { [self] in
            capture(open)
            captureDone.signal()
        }
        captureThread.name = "qrpos.capture"
        let decodeThread = Thread { [self] in
            decode(onEvent)
            decodeDone.signal()
        }
        decodeThread.name = "qrpos.decode"
        decodeThread.start()
        captureThread.start()

        // A signal handler can only set a flag, so it is polled here rather than waited on.
        while decodeDone.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            if externalStop() { stop() }
        }
        let stoppedEarly = stopFlag.load(ordering: .acquiring)
        stop()
        _ = captureDone.wait(timeout: .now() + .nanoseconds(Int(options.captureStopWaitMax / .nanoseconds(1))))
        if !stoppedEarly, let failure = mailbox.failure { throw failure }
        return mailbox.stats
    }

    /// The capture thread: opens the source, then moves frames into the mailbox until the
    /// source ends or fails, a limit is reached, or the loop stops.
    private func capture<Source: FrameSource & ~Copyable>(_ open: () throws(CameraError) -> Source) {
        do throws(CameraError) {
            var source = try open()
            var captured = 0
            while !isStopping {
                guard let frame = try source.next() else {
                    mailbox.finish(failure: nil, sourceEnded: true)
                    return
                }
                captured += 1
                guard mailbox.put(frame, replacingWaiting: options.dropsStaleFrames) else { return }
                if let frameCountMax = options.frameCountMax, captured >= frameCountMax {
                    mailbox.finish(failure: nil, sourceEnded: false)
                    return
                }
            }
        } catch {
            mailbox.finish(failure: error, sourceEnded: false)
        }
    }

    /// The decode thread: makes the decoder here, then decodes frames as they come and reports
    /// new codes, until the mailbox is finished and empty or the loop stops.
    private func decode(_ onEvent: (ScanEvent) -> Void) {
        let decode = makeDecoder()
        var deduplicator = ScanDeduplicator(forgetAfter: options.forgetAfter)
        var eventCount = 0
        while let captured = mailbox.take() {
            let started = ContinuousClock.now
            let codes = decode(captured.frame)
            let decodeTime = ContinuousClock.now - started
            var latencyMax = Duration.zero
            var reported = 0
            for code in deduplicator.admit(codes, at: captured.capturedAt) {
                if let eventCountMax = options.eventCountMax, eventCount >= eventCountMax { break }
                let latency = ContinuousClock.now - captured.capturedAt
                onEvent(ScanEvent(code: code, source: captured.source, sequence: captured.sequence, latency: latency))
                eventCount += 1
                reported += 1
                latencyMax = max(latencyMax, latency)
            }
            mailbox.recordDecoded(decodeTime: decodeTime, events: reported, latency: latencyMax)
            if let eventCountMax = options.eventCountMax, eventCount >= eventCountMax {
                stop()
                return
            }
        }
    }
}

/// The one-slot "latest frame" mailbox between the capture and decode threads, with the loop's
/// counters, so a snapshot of them is consistent.
///
/// `@unchecked Sendable` because every stored property is read and written only with
/// `condition` locked; NSCondition, because both sides must sleep until the other acts.
final class FrameMailbox: @unchecked Sendable {
    private enum State {
        /// Frames may come.
        case open
        /// No more frames will come; the one waiting is still taken.
        case finished
        /// The loop stopped: nothing more is taken or put.
        case cancelled
    }

    private let condition = NSCondition()
    private var slot: CapturedFrame?
    private var state = State.open
    private var counters = ScanLoopStats()
    private var sourceFailure: CameraError?

    /// Puts `frame` in the slot. With `replacingWaiting`, a frame still waiting there is dropped
    /// (and counted); without, this waits until the decoder has taken it. False once the loop
    /// stopped.
    func put(_ frame: CapturedFrame, replacingWaiting: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !replacingWaiting {
            while slot != nil, state == .open { condition.wait() }
        }
        counters.framesCaptured += 1
        guard state == .open else { return false }
        if slot != nil { counters.framesDropped += 1 }
        slot = frame
        condition.broadcast()
        return true
    }

    /// The waiting frame, waiting for one if need be; nil once the mailbox is finished and
    /// empty, or cancelled.
    func take() -> CapturedFrame? {
        condition.lock()
        defer { condition.unlock() }
        while slot == nil, state == .open { condition.wait() }
        guard state != .cancelled, let frame = slot else { return nil }
        slot = nil
        condition.broadcast()  // a capture waiting for the slot may go on
        return frame
    }

    /// No more frames: the source ended (`sourceEnded`), failed (`failure`) or hit a limit.
    func finish(failure: CameraError?, sourceEnded: Bool) {
        condition.lock()
        defer { condition.unlock() }
        guard state == .open else { return }
        state = .finished
        sourceFailure = failure
        counters.sourceEnded = sourceEnded
        condition.broadcast()
    }

    /// Stops both sides: waits end, the waiting frame is not decoded.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        state = .cancelled
        condition.broadcast()
    }

    /// Counts one decoded frame.
    func recordDecoded(decodeTime: Duration, events: Int, latency: Duration) {
        condition.lock()
        defer { condition.unlock() }
        counters.framesDecoded += 1
        counters.decodeTime += decodeTime
        counters.events += events
        counters.latencyMax = max(counters.latencyMax, latency)
    }

    var stats: ScanLoopStats {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    /// The error the source failed with, if it did.
    var failure: CameraError? {
        condition.lock()
        defer { condition.unlock() }
        return sourceFailure
    }
}
