import Barcodes
import Camera
import Foundation
import Synchronization

/// A camera stand-in for the loop benchmark: a few pre-rendered frames delivered at a fixed
/// rate and stamped when "captured", as a sensor running at `framesPerSecond` would. A code is
/// held in view for half a second, then half a second of an empty counter, then the next code.
struct PacedFrameSource: FrameSource {
    let frames: [LumaFrame]
    let framesPerPresentation: Int
    let interval: Duration
    let frameCountMax: Int
    let clock = ContinuousClock()
    var sequence: UInt64 = 0
    var due: ContinuousClock.Instant

    var name: String { "paced-\(frames[0].width)x\(frames[0].height)" }

    init(width: Int, height: Int, framesPerSecond: Int, frameCountMax: Int) throws {
        var rendered: [LumaFrame] = []
        for payload in ["BENCH-LOOP-A", "281234567890123452", "BENCH-LOOP-C"] {
            var frame = LumaFrame(width: width, height: height, fill: 128)
            let code = payload.allSatisfy(\.isNumber)
                ? Render.raster(code128: try Code128.encode(payload), moduleWidth: 3, height: 120)
                : Render.raster(try QREncoder.encode(payload), moduleSize: 6)
            let x0 = (width - code.width) / 2, y0 = (height - code.height) / 2
            for y in 0..<code.height { for x in 0..<code.width { frame[x0 + x, y0 + y] = code[x, y] } }
            rendered += [frame, LumaFrame(width: width, height: height, fill: 128)]
        }
        frames = rendered
        framesPerPresentation = max(1, framesPerSecond / 2)
        interval = .seconds(1) / framesPerSecond
        self.frameCountMax = frameCountMax
        due = clock.now
    }

    mutating func next() throws(CameraError) -> CapturedFrame? {
        guard sequence < UInt64(frameCountMax) else { return nil }
        // This runs on the loop's capture thread: blocking until the next frame is its job.
        let wait = clock.now.duration(to: due)
        if wait > .zero {
            Thread.sleep(forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18)
        }
        due = due.advanced(by: interval)
        let index = Int(sequence / UInt64(framesPerPresentation)) % frames.count
        defer { sequence += 1 }
        return CapturedFrame(frame: frames[index], sequence: sequence, capturedAt: clock.now, source: name)
    }
}

/// Resident memory of this process in kilobytes (VmRSS and the peak VmHWM), from /proc.
func residentKilobytes() -> (current: Int, peak: Int) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") } ?? 0
    }
    return (field("VmRSS"), field("VmHWM"))
}

/// Runs the live scan loop (capture thread, latest-frame mailbox, decode thread) over a paced
/// source for `seconds`, and reports whether the decoder kept up: frames dropped, the sustained
/// decode rate, event latency, and resident memory sampled while it ran.
func benchScanLoop(width: Int, height: Int, framesPerSecond: Int, seconds: Int, decoder: String,
                   makeDecoder: @escaping @Sendable () -> FrameDecoder) throws -> [String: Any] {
    let frameCount = framesPerSecond * seconds
    let source = try PacedFrameSource(width: width, height: height, framesPerSecond: framesPerSecond, frameCountMax: frameCount)
    let latencies = Mutex<[Double]>([])
    let rssMax = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
    let sampler = Thread {
        while !done.load(ordering: .relaxed) {
            let rss = residentKilobytes().current
            if rss > rssMax.load(ordering: .relaxed) { rssMax.store(rss, ordering: .relaxed) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
    sampler.start()
    let loop = ScanLoop(options: ScanLoopOptions(dropsStaleFrames: true, forgetAfter: ScanDeduplicator.cameraWindow),
                        makeDecoder: makeDecoder)
    let start = ContinuousClock.now
    let stats = try loop.run(opening: { source }) { event in
        let ms = Double(event.latency.components.seconds) * 1000 + Double(event.latency.components.attoseconds) / 1e15
        latencies.withLock { $0.append(ms) }
    }
    let elapsed = ContinuousClock.now - start
    done.store(true, ordering: .relaxed)
    let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let sorted = latencies.withLock { $0 }.sorted()
    func percentile(_ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }
    let decodeMs = stats.framesDecoded == 0 ? 0
        : (Double(stats.decodeTime.components.seconds) * 1000 + Double(stats.decodeTime.components.attoseconds) / 1e15) / Double(stats.framesDecoded)
    return [
        "bench": "scan", "case": "loop-\(width)x\(height)-\(framesPerSecond)fps-\(decoder)",
        "n": stats.framesCaptured, "median_ms": percentile(0.5), "p99_ms": percentile(0.99),
        "per_second": (Double(stats.framesDecoded) / elapsedSeconds * 10).rounded() / 10,
        "frames_captured": stats.framesCaptured, "frames_decoded": stats.framesDecoded,
        "frames_dropped": stats.framesDropped, "events": stats.events,
        "decode_ms_mean": (decodeMs * 100).rounded() / 100,
        "keeps_up": stats.framesDropped * 100 <= stats.framesCaptured * 5,
        "rss_mb_max": (Double(rssMax.load(ordering: .relaxed)) / 102.4).rounded() / 10,
        "latency": "median_ms and p99_ms: capture to event",
    ]
}
