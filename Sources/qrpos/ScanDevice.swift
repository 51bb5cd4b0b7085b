import ArgumentParser
import Barcodes
import Camera
import Foundation
import Logging
import Synchronization

/// Set by SIGINT/SIGTERM: the scan loop finishes its frame, stops streaming and exits 0.
private let stopRequested = Atomic<Bool>(false)

/// Serialises stdout: codes are printed on the decode thread, camera events on the capture thread.
private let output = Mutex(())

/// Prints one JSON line and flushes it at once: a rig reads each line as it comes.
private func emit(_ object: [String: Any]) {
    output.withLock { _ in
        printJSON(object)
        // All streams: Swift 6 rejects naming the C global `stdout` from a nonisolated function.
        fflush(nil)
    }
}

/// The project's scanner, not bare zbar, made on the loop's decode thread: a camera (`live`)
/// spreads the retry strategies over consecutive frames (a cursor) within the frame budget;
/// recorded frames get every strategy.
func robustDecoder(live: Bool) -> @Sendable () -> FrameDecoder {
    {
        let robust = RobustScanner()
        if !live { return { robust.scan($0, budgetMillis: nil).codes } }
        var cursor = ScanCursor()
        return { robust.scan($0, cursor: &cursor).codes }
    }
}

/// `qrpos scan --device` and `qrpos scan --frames`: runs `input` through the scan loop and prints
/// each code once per presentation. The loop captures and decodes on threads of its own; this
/// (main) thread only waits, polling the signal flag.
func scanStream(_ input: FrameInput, options: ScanLoopOptions, printsCameraEvents: Bool) throws {
    let log = Logger(label: "qrpos.scan")
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { _ in stopRequested.store(true, ordering: .relaxed) }
    }
    let loop = ScanLoop(options: options, shouldStop: { stopRequested.load(ordering: .relaxed) }, makeDecoder: robustDecoder(live: input.isLive))
    let stats: ScanLoopStats
    do {
        stats = try loop.run(opening: { () throws(CameraError) -> AnyFrameSource in
            let source = try input.open(
                onCameraEvent: { report($0, device: input.name, log: log, printsJSON: printsCameraEvents) },
                shouldStop: { loop.isStopping })
            if !input.isLive { log.info("frames open", metadata: ["source": "\(source.details)"]) }
            return source
        }, onEvent: { emit(scanJSON($0)) })
    } catch {
        throw Failure(error.message)
    }
    log.notice("scan finished", metadata: [
        "frames": "\(stats.framesCaptured)", "decoded": "\(stats.framesDecoded)", "dropped": "\(stats.framesDropped)",
        "codes": "\(stats.events)",
    ])
}

/// Logs a camera event on stderr and, when asked, prints it as a JSON line too.
private func report(_ event: CameraSessionEvent, device: String, log: Logger, printsJSON: Bool) {
    var object: [String: Any] = ["source": device]
    switch event {
    case .opened(let details):
        log.notice("camera open", metadata: ["camera": "\(details)"])
        object["event"] = "camera_open"
        object["details"] = details
    case .unplugged(let error):
        log.warning("camera unplugged", metadata: ["device": "\(device)", "error": "\(error.message)"])
        object["event"] = "camera_unplugged"
        object["error"] = error.message
    case .frameTimeout(let error, let streak):
        log.warning("no frame from the camera", metadata: ["device": "\(device)", "error": "\(error.message)", "streak": "\(streak)"])
        object["event"] = "camera_timeout"
        object["error"] = error.message
        object["streak"] = streak
    case .stalled(let error, let timeoutCount):
        log.warning("camera stalled, re-opening it", metadata: [
            "device": "\(device)", "error": "\(error.message)", "timeouts": "\(timeoutCount)",
        ])
        object["event"] = "camera_stalled"
        object["error"] = error.message
    case .reopenFailed(let error, let attempt, let retryAfter):
        // Once a second or two while the camera is away: detail for those who ask for it.
        log.info("camera still away", metadata: [
            "device": "\(device)", "error": "\(error.message)", "attempt": "\(attempt)",
            "retry_ms": "\(milliseconds(retryAfter))",
        ])
        return
    case .back(let details, let attempts, let downtime):
        log.notice("camera back", metadata: [
            "camera": "\(details)", "attempts": "\(attempts)", "downtime_ms": "\(milliseconds(downtime))",
        ])
        object["event"] = "camera_back"
        object["details"] = details
        object["attempts"] = attempts
        object["downtime_ms"] = milliseconds(downtime)
    }
    if printsJSON { emit(object) }
}
