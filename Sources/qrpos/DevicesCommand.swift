import ArgumentParser

/// `qrpos devices`: the video devices, their formats, sizes and frame rates (being written).
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List video capture devices with their formats, sizes and frame rates.")
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        throw Failure("devices is not written yet")
    }
}
