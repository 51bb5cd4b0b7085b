import Glibc

/// What a `CameraSession` reports about its camera, as it happens, on the thread calling `next()`.
public enum CameraSessionEvent: Sendable {
    /// The camera opened for the first time; `details` says with what format.
    case opened(details: String)
    /// The camera went away mid-stream (`ENODEV`, or its node vanished): no frames until it is
    /// back. The session has already closed it, which some drivers need before the device can
    /// come back.
    case unplugged(CameraError)
    /// No frame arrived within the capture timeout, `streak` times in a row (below the stall
    /// threshold): the session keeps waiting.
    case frameTimeout(CameraError, streak: Int)
    /// No frame for `timeoutCount` timeouts in a row: the session closes the camera and opens it
    /// again, as if it had been unplugged (a wedged USB camera usually recovers this way).
    case stalled(CameraError, timeoutCount: Int)
    /// Opening the camera again failed (attempt `attempt` since it was lost); the next attempt
    /// comes after `retryAfter`.
    case reopenFailed(CameraError, attempt: Int, retryAfter: Duration)
    /// The camera is open and streaming again after `attempts` attempts, `downtime` after it was
    /// lost; `details` says with what format.
    case back(details: String, attempts: Int, downtime: Duration)
}

/// The wait between attempts to open a lost camera: `initialDelay`, doubling with every failed
/// attempt, never more than `delayMax`. Short at first, because a replugged camera is usually
/// back within a second; capped, so a camera that returns after minutes is found quickly.
public struct ReconnectBackoff: Sendable, Hashable {
    /// The wait after the first failed attempt.
    public let initialDelay: Duration
    /// The longest wait between attempts.
    public let delayMax: Duration

    public init(initialDelay: Duration = .milliseconds(100), delayMax: Duration = .seconds(2)) {
        precondition(initialDelay > .zero && delayMax >= initialDelay, "backoff \(initialDelay)…\(delayMax) is not a range")
        self.initialDelay = initialDelay
        self.delayMax = delayMax
    }

    /// The wait after failed attempt `attempt` (1 for the first).
    public func delay(afterAttempt attempt: Int) -> Duration {
        precondition(attempt >= 1, "attempts count from 1")
        var delay = initialDelay
        for _ in 1..<min(attempt, 64) {
            delay *= 2
            if delay >= delayMax { return delayMax }
        }
        return delay
    }
}

/// A camera that survives being unplugged: owns a source opened by `open` (a `V4L2Capture` in
/// the program, a stand-in in tests), and when it fails with `.unplugged` or `.notFound`, or
/// times out `stallTimeoutCountMax` times in a row, closes it, reports it, and opens it again
/// with `backoff` until that works, then carries on streaming. The caller just sees a pause in
/// frames, and the events.
///
/// Sequence numbers continue across re-opens (a driver starts again from 0), so they only grow.
/// Every other error from the source is thrown as it is. The first open is not retried: a camera
/// that is not there at start is a mistake to report, not an outage to wait out.
///
/// Like its source, `next()` **blocks the calling thread**, here also while waiting for the
/// camera to come back; `shouldStop` is checked between attempts and ends the wait.
public struct CameraSession<Source: FrameSource & ~Copyable>: ~Copyable, FrameSource {
    /// Opens the camera; called once at init and again after every loss.
    public typealias Opener = () throws(CameraError) -> Source

    /// What the session streams from (the device node), for logs and errors.
    public let name: String
    /// Consecutive capture timeouts after which the camera is treated as lost.
    public let stallTimeoutCountMax: Int
    /// The waits between re-open attempts.
    public let backoff: ReconnectBackoff
    /// How often the camera has come back.
    public private(set) var reconnectCount = 0

    private var source: Source?
    private let open: Opener
    private let onEvent: (CameraSessionEvent) -> Void
    private let shouldStop: () -> Bool
    private var timeoutStreak = 0
    /// Added to the source's sequence numbers, so they keep growing across re-opens.
    private var sequenceBase: UInt64 = 0
    /// The last sequence number handed out, after `sequenceBase`.
    private var lastSequence: UInt64?
    /// When the camera was lost, while it is.
    private var lostAt: ContinuousClock.Instant?
    /// The open source's details, kept because a noncopyable optional cannot be borrowed here.
    private var openDetails: String?

    /// Opens the source once with `open` and reports `.opened`; throws what that open throws.
    ///
    /// - Parameters:
    ///   - name: what the session streams from, usually the device node.
    ///   - stallTimeoutCountMax: timeouts in a row that count as the camera being lost.
    ///   - onEvent: told of every loss, failed re-open and return, on the calling thread.
    ///   - shouldStop: checked while waiting for the camera; true makes `next()` return nil.
    ///   - open: opens the camera, here and after every loss.
    public init(
        name: String, backoff: ReconnectBackoff = ReconnectBackoff(), stallTimeoutCountMax: Int = 3,
        onEvent: @escaping (CameraSessionEvent) -> Void = { _ in },
        shouldStop: @escaping () -> Bool = { false },
        open: @escaping Opener
    ) throws(CameraError) {
        precondition(stallTimeoutCountMax >= 1, "a stall is at least one timeout")
        let source = try open()
        let details = source.details
        onEvent(.opened(details: details))
        self.openDetails = details
        self.name = name
        self.backoff = backoff
        self.stallTimeoutCountMax = stallTimeoutCountMax
        self.source = .some(source)
        self.open = open
        self.onEvent = onEvent
        self.shouldStop = shouldStop
    }

    /// The open source's details, or that the camera is lost.
    public var details: String {
        openDetails ?? "\(name) (lost, re-opening)"
    }

    /// True while the camera is lost and being re-opened.
    public var isLost: Bool { source == nil }

    /// The next frame, waiting through unplugs and stalls. Nil when the source ends (a camera
    /// does not) or when `shouldStop` turned true while waiting. Throws any source error other
    /// than `.unplugged`, `.notFound` and `.timeout`.
    public mutating func next() throws(CameraError) -> CapturedFrame? {
        while true {
            if source == nil {
                guard reopen() else { return nil }
            }
            do throws(CameraError) {
                guard let frame = try source!.next() else { return nil }
                timeoutStreak = 0
                return renumbered(frame)
            } catch where error.code == .unplugged || error.code == .notFound {
                lose()
                onEvent(.unplugged(error))
            } catch where error.code == .timeout {
                timeoutStreak += 1
                if timeoutStreak >= stallTimeoutCountMax {
                    lose()
                    onEvent(.stalled(error, timeoutCount: timeoutStreak))
                    timeoutStreak = 0
                } else {
                    onEvent(.frameTimeout(error, streak: timeoutStreak))
                }
            }
            if shouldStop() { return nil }
        }
    }

    /// Closes the source now (a vivid device only comes back once its last user has closed it).
    private mutating func lose() {
        source = nil
        openDetails = nil
        lostAt = .now
    }

    /// Opens the source again, waiting `backoff` between attempts, until it opens (true) or
    /// `shouldStop` turns true (false). Every failure is retried: while a camera is being
    /// plugged back in, its node fails in many ways (missing, not yet readable by the video
    /// group, not yet answering ioctls), and a kiosk should keep trying and saying why.
    private mutating func reopen() -> Bool {
        var attempt = 0
        while !shouldStop() {
            attempt += 1
            do throws(CameraError) {
                let reopened = try open()
                let details = reopened.details
                source = .some(reopened)
                openDetails = details
                reconnectCount += 1
                timeoutStreak = 0
                sequenceBase = lastSequence.map { $0 + 1 } ?? 0
                let downtime = lostAt.map { ContinuousClock.now - $0 } ?? .zero
                lostAt = nil
                onEvent(.back(details: details, attempts: attempt, downtime: downtime))
                return true
            } catch {
                let delay = backoff.delay(afterAttempt: attempt)
                onEvent(.reopenFailed(error, attempt: attempt, retryAfter: delay))
                guard sleepUnlessStopped(delay, shouldStop: shouldStop) else { return false }
            }
        }
        return false
    }

    /// `frame` with its sequence number continued across re-opens.
    private mutating func renumbered(_ frame: CapturedFrame) -> CapturedFrame {
        let sequence = sequenceBase &+ frame.sequence
        lastSequence = max(lastSequence ?? 0, sequence)
        return CapturedFrame(frame: frame.frame, sequence: sequence, capturedAt: frame.capturedAt, source: frame.source)
    }
}

extension CameraSession where Source == V4L2Capture {
    /// A session on the V4L2 device at `path`, opened (and re-opened) with `settings`.
    public init(
        device path: String, settings: CaptureSettings = CaptureSettings(),
        backoff: ReconnectBackoff = ReconnectBackoff(), stallTimeoutCountMax: Int = 3,
        onEvent: @escaping (CameraSessionEvent) -> Void = { _ in },
        shouldStop: @escaping () -> Bool = { false }
    ) throws(CameraError) {
        try self.init(
            name: path, backoff: backoff, stallTimeoutCountMax: stallTimeoutCountMax, onEvent: onEvent,
            shouldStop: shouldStop, open: { () throws(CameraError) -> V4L2Capture in
                try V4L2Capture(path: path, settings: settings)
            })
    }
}

/// The slice a wait is cut into, so a stop request is noticed within it.
let stopCheckInterval = Duration.milliseconds(20)

/// Sleeps the calling thread for `duration`, checking `shouldStop` every `stopCheckInterval`;
/// false when it stopped early.
func sleepUnlessStopped(_ duration: Duration, shouldStop: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + duration
    while true {
        if shouldStop() { return false }
        let remaining = deadline - .now
        if remaining <= .zero { return true }
        sleepThread(min(remaining, stopCheckInterval))
    }
}

/// `nanosleep` for `duration`, resumed after a signal: blocks the calling thread, which is the
/// point on a capture thread, and never the cooperative pool's.
func sleepThread(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1, errno == EINTR {
        request = remaining
    }
}
