import ArgumentParser
import Barcodes
import Foundation

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode QR codes and Code 128 barcodes from image files (PGM, PNG; - for stdin) or a camera.",
        discussion: """
            Prints one JSON object per line per code found: {"data": …, "source": FILE, "symbology": "QR-Code"}. \
            Data that is not UTF-8 is given in base64 with "encoding": "base64". Nothing is printed for a \
            file without a code. Exits 0 unless a file could not be read (the others are still scanned).
            """)
    @Argument(help: "Image files to decode.") var files: [String] = []
    @Option(help: "A V4L2 capture device, e.g. /dev/video0: scan until stopped or --count codes.") var device: String?
    @Option(help: "With --device: stop after this many codes.") var count: Int?
    @Option(help: "With --device: frame width.") var width = 640
    @Option(help: "With --device: frame height.") var height = 480
    @Flag(help: "JSON lines (the default and only form; accepted for scripts that pass it).") var json = false

    func validate() throws {
        guard files.isEmpty != (device == nil) else { throw ValidationError("Give image files, or --device PATH.") }
        if let count, count < 1 { throw ValidationError("--count is at least 1") }
        guard (16...8192).contains(width), (16...8192).contains(height) else { throw ValidationError("--width and --height are 16 to 8192") }
    }

    func run() throws {
        if let device {
            try scanDevice(device, count: count, width: width, height: height)
            return
        }
        let scanner = CodeScanner()
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
            for code in scanner.scan(frame) { printJSON(scanJSON(code, source: file)) }
        }
        if unreadable > 0 { throw ExitCode.failure }
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
