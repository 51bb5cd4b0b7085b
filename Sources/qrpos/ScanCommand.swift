import ArgumentParser
import Barcodes
import Camera
import Foundation

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode QR codes and Code 128 barcodes from image files (PGM, PNG; - for stdin), recorded frames or a camera.",
        discussion: """
            Prints one JSON object per line per code found: {"data": …, "source": FILE, "symbology": "QR-Code"}. \
            Data that is not UTF-8 is given in base64 with "encoding": "base64". Nothing is printed for a \
            file without a code. Exits 0 unless a file could not be read (the others are still scanned).

            With --device or --frames, frames stream through the scan loop (capture and decoding on \
            threads of their own) and each code is printed once per presentation: a code held in view is \
            one line, and shown again after being out of view for a while (--forget-after, --forget-after-ms), \
            another. \
            These lines add "sequence" (the frame it was first seen in) and "latency_ms" (from capturing \
            that frame to printing the line). A camera runs until SIGINT/SIGTERM or --count codes, and \
            survives being unplugged (it is re-opened when it returns; logged on stderr, and with --events \
            also printed as {"event": …} lines). Recorded frames run to their end; every frame is decoded \
            unless --drop-stale is given, while a camera drops frames the decoder had no time for unless \
            --no-drop-stale is given.
            """)
    @Argument(help: "Image files to decode.") var files: [String] = []
    @Option(help: "A V4L2 capture device, e.g. /dev/video0: scan until stopped or --count codes.") var device: String?
    @Option(help: ArgumentHelp(
        "Recorded frames: a folder of PGM/PNG files, a .y4m file, - for a Y4M stream on stdin, or a text file listing image paths.",
        valueName: "path")) var frames: String?
    @Option(help: "With --device or --frames: stop after this many codes.") var count: Int?
    @Option(help: "With --device: frame width.") var width = 640
    @Option(help: "With --device: frame height.") var height = 480
    @Option(name: .customLong("control"), help: ArgumentHelp(
        "With --device: set a camera control, NAME=VALUE, in the order given (names as `qrpos devices` lists them, "
            + "or exposure_absolute, exposure_auto, focus_absolute, focus_auto, brightness, gain, …). Repeatable.",
        valueName: "name=value")) var controls: [String] = []
    @Flag(inversion: .prefixedNo, help: "Drop frames that arrive while the decoder is busy (default: on for --device, off for --frames).")
    var dropStale: Bool?
    @Option(help: ArgumentHelp(
        "A code must be missing from this many decoded frames in a row before showing it again is a new scan "
            + "(default: 2 with --device, 10 with --frames).", valueName: "frames")) var forgetAfter: Int?
    @Option(help: ArgumentHelp(
        "And missing for this long, by capture time (default: 500 with --device, not used with --frames).",
        valueName: "ms")) var forgetAfterMs: Int?
    @Flag(help: "With --device: also print camera events (open, unplugged, back, stalled) as JSON lines with an \"event\" key.")
    var events = false
    @Flag(help: "JSON lines (the default and only form; accepted for scripts that pass it).") var json = false

    func validate() throws {
        let inputs = (files.isEmpty ? 0 : 1) + (device == nil ? 0 : 1) + (frames == nil ? 0 : 1)
        guard inputs == 1 else { throw ValidationError("Give image files, --device PATH or --frames PATH (one of them).") }
        if let count, count < 1 { throw ValidationError("--count is at least 1") }
        if count != nil, !files.isEmpty { throw ValidationError("--count goes with --device or --frames") }
        guard (16...8192).contains(width), (16...8192).contains(height) else { throw ValidationError("--width and --height are 16 to 8192") }
        if device == nil, !controls.isEmpty { throw ValidationError("--control goes with --device") }
        for control in controls where ControlSetting(control) == nil {
            throw ValidationError("--control '\(control)' is not NAME=VALUE with an integer (or on/off) value")
        }
        if let forgetAfter, !(1...10_000).contains(forgetAfter) { throw ValidationError("--forget-after is 1 to 10000 frames") }
        if let forgetAfterMs, !(0...600_000).contains(forgetAfterMs) { throw ValidationError("--forget-after-ms is 0 to 600000") }
    }

    func run() throws {
        if let device {
            let settings = CaptureSettings(width: width, height: height, controls: controls.compactMap(ControlSetting.init))
            try scanStream(.device(path: device, settings: settings), options: loopOptions(live: true), printsCameraEvents: events)
            return
        }
        if let frames {
            let input: FrameInput
            do { input = try FrameInput(framesArgument: frames) } catch { throw Failure(error.message) }
            try scanStream(input, options: loopOptions(live: false), printsCameraEvents: events)
            return
        }
        let scanner = RobustScanner()   // every strategy: a still image has no next frame to try
        var unreadable = 0
        for file in files {
            let frame: LumaFrame
            do {
                if file == "-" {
                    frame = try ImageFile.read(bytes: Array(FileHandle.standardInput.readDataToEndOfFile()), name: "stdin")
                } else {
                    frame = try ImageFile.read(path: file)
                }
            } catch {
                FileHandle.standardError.write(Data("qrpos scan: \(file): \(error)\n".utf8))
                unreadable += 1
                continue
            }
            for code in scanner.scan(frame, budgetMillis: nil).codes { printJSON(scanJSON(code, source: file)) }
        }
        if unreadable > 0 { throw ExitCode.failure }
    }

    /// The loop's options: a camera drops stale frames and forgets codes by frames and time,
    /// recordings decode every frame and forget by frames only, unless the options say otherwise.
    private func loopOptions(live: Bool) -> ScanLoopOptions {
        var window = live ? ScanDeduplicator.cameraWindow : ScanDeduplicator.recordingWindow
        if forgetAfter != nil || forgetAfterMs != nil {
            let frames = forgetAfter ?? (live ? 2 : 10)
            let milliseconds = forgetAfterMs ?? (live ? 500 : 0)
            window = milliseconds == 0 ? .frames(frames) : .framesAndDuration(frames: frames, duration: .milliseconds(milliseconds))
        }
        return ScanLoopOptions(dropsStaleFrames: dropStale ?? live, eventCountMax: count, forgetAfter: window)
    }
}

/// The JSON line `qrpos scan` prints for one code.
func scanJSON(_ code: ScannedCode, source: String) -> [String: Any] {
    var object: [String: Any] = ["source": source, "symbology": code.symbology.rawValue]
    if let text = code.text {
        object["data"] = text
    } else {
        object["data"] = Data(code.data).base64EncodedString()
        object["encoding"] = "base64"
    }
    return object
}

/// The JSON line for one event of the scan loop: the code's line plus the frame's sequence
/// number and the latency from its capture, in milliseconds to the microsecond.
func scanJSON(_ event: ScanEvent) -> [String: Any] {
    var object = scanJSON(event.code, source: event.source)
    object["sequence"] = event.sequence
    object["latency_ms"] = milliseconds(event.latency)
    return object
}

/// `duration` in milliseconds, rounded to the microsecond.
func milliseconds(_ duration: Duration) -> Double {
    (Double(duration / .microseconds(1))).rounded() / 1000
}
