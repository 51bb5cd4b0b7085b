import ArgumentParser
import Camera
import Foundation

/// `qrpos devices`: the video devices, their formats, sizes, frame rates and controls.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List video capture devices with their formats, sizes and frame rates.",
        discussion: """
            Describes every /dev/videoN node (or the nodes given): driver, card, capture formats with \
            their sizes and frame rates (formats marked "converted" are made by libv4l2 from another \
            one), and controls with their ranges and current values; the control names are what \
            `qrpos scan --control NAME=VALUE` takes. A node that cannot be opened is listed with the \
            reason. With --json, one object per device per line (snake_case keys); a node that failed \
            has "error" and "code" instead. No devices: a sentence (on stderr with --json) and exit 0. \
            Exits 1 when a node given on the command line cannot be described.
            """)
    @Argument(help: "Device nodes to describe (default: every /dev/videoN).") var paths: [String] = []
    @Flag(help: "Print JSON lines, one object per device.") var json = false

    func run() throws {
        let paths = self.paths.isEmpty ? VideoDevices.nodePaths() : self.paths
        if paths.isEmpty {
            let sentence = "No video devices: there is no /dev/video* node (is the camera plugged in, or its driver loaded?)."
            if json {
                FileHandle.standardError.write(Data((sentence + "\n").utf8))
            } else {
                print(sentence)
            }
            return
        }
        var failed = 0
        for path in paths {
            let info: VideoDeviceInfo
            do {
                info = try VideoDevices.info(path: path)
            } catch {
                failed += 1
                if json {
                    printJSON(["path": path, "error": error.message, "code": "\(error.code)"])
                } else {
                    print("\(path): \(error.message)")
                }
                continue
            }
            if json {
                print(try Self.jsonLine(info))
            } else {
                print(Self.text(info), terminator: "")
            }
        }
        if failed > 0, !self.paths.isEmpty { throw ExitCode.failure }
    }

    /// One device as a JSON line: the Codable description with snake_case keys, sorted.
    static func jsonLine(_ info: VideoDeviceInfo) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(info), as: UTF8.self)
    }

    /// One device as indented text: a heading line, formats with sizes and rates, controls.
    static func text(_ info: VideoDeviceInfo) -> String {
        var lines = ["\(info.path)  \(info.card) (\(info.driver), \(info.busInfo))"]
        guard info.canCapture else {
            lines.append("  no video capture (a metadata, output or other node)")
            return lines.joined(separator: "\n") + "\n"
        }
        if !info.canStream { lines.append("  no streaming I/O: qrpos cannot capture from it") }
        if info.formats.isEmpty { lines.append("  no capture formats listed") }
        for format in info.formats {
            lines.append("  \(format.fourcc)  \(format.description)\(format.isEmulated ? " (converted by libv4l2)" : "")")
            if format.isSizeRange, let smallest = format.sizes.first, let largest = format.sizes.last {
                lines.append("    any size from \(smallest.width)x\(smallest.height) to \(largest.width)x\(largest.height)"
                             + Self.rates(largest.framesPerSecond))
            } else {
                for size in format.sizes {
                    lines.append("    \(size.width)x\(size.height)" + Self.rates(size.framesPerSecond))
                }
            }
        }
        if !info.controls.isEmpty {
            lines.append("  controls:")
            let keyWidth = info.controls.map(\.key.count).max() ?? 0
            for control in info.controls {
                var line = "    " + control.key.padding(toLength: keyWidth, withPad: " ", startingAt: 0)
                    + "  \(control.type)"
                if control.type != "button" {
                    line += " \(control.minimum)..\(control.maximum)"
                    if control.step > 1 { line += " step \(control.step)" }
                    line += " default \(control.defaultValue)"
                }
                if let value = control.value { line += " = \(value)" }
                var flags: [String] = []
                if control.isReadOnly { flags.append("read-only") }
                if control.isInactive { flags.append("inactive") }
                if !flags.isEmpty { line += " (\(flags.joined(separator: ", ")))" }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "  30, 15 fps", or nothing when the driver lists no rates.
    static func rates(_ framesPerSecond: [Double]) -> String {
        framesPerSecond.isEmpty ? "" : "  " + framesPerSecond.map(rate).joined(separator: ", ") + " fps"
    }

    /// A frame rate without needless decimals: 30, 7.5, 29.97.
    static func rate(_ framesPerSecond: Double) -> String {
        String(format: "%g", (framesPerSecond * 100).rounded() / 100)
    }
}
