import ArgumentParser
import Barcodes
import Camera
import Foundation
import Logging
import Synchronization

/// Set by SIGINT/SIGTERM: the scan loop finishes its frame, stops streaming and exits 0.
private let stopRequested = Atomic<Bool>(false)

/// `qrpos scan --device`: streams from a V4L2 camera and prints each code once per presentation.
/// Runs on the main thread, never on the cooperative pool: capture blocks in poll/DQBUF.
func scanDevice(_ path: String, count: Int?, width: Int, height: Int) throws {
    let log = Logger(label: "qrpos.scan")
    var capture: V4L2Capture
    do {
        capture = try V4L2Capture(path: path, width: width, height: height)
    } catch {
        throw Failure(error.message)
    }
    log.notice("camera open", metadata: [
        "device": "\(path)", "format": "\(capture.format.pixelFormat)", "width": "\(capture.format.width)",
        "height": "\(capture.format.height)", "converted": "\(capture.format.isEmulated)",
    ])
    let scanner = CodeScanner()
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { _ in stopRequested.store(true, ordering: .relaxed) }
    }
    do {
        let summary = try scanFrames(&capture, eventCountMax: count, decode: scanner.scan,
                                     onEvent: { event in
            var object = scanJSON(event.code, source: event.source)
            object["latency_ms"] = Double(event.latency.components.attoseconds / 1_000_000_000_000) / 1000
                + Double(event.latency.components.seconds) * 1000
            printJSON(object)
            fflush(nil)   // a rig reads each line as it comes
        }, shouldStop: { stopRequested.load(ordering: .relaxed) })
        log.notice("scan finished", metadata: ["frames": "\(summary.frameCount)", "codes": "\(summary.eventCount)"])
    } catch {
        throw Failure(error.message)
    }
}
