import ArgumentParser
import Barcodes
import Camera
import Foundation
import Logging

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
    do {
        let summary = try scanFrames(&capture, eventCountMax: count, decode: scanner.scan) { event in
            var object = scanJSON(event.code, source: event.source)
            object["latency_ms"] = Double(event.latency.components.attoseconds / 1_000_000_000_000) / 1000
                + Double(event.latency.components.seconds) * 1000
            printJSON(object)
            fflush(nil)   // a rig reads each line as it comes
        }
        log.notice("scan finished", metadata: ["frames": "\(summary.frameCount)", "codes": "\(summary.eventCount)"])
    } catch {
        throw Failure(error.message)
    }
}
