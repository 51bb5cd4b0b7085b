import ArgumentParser
import Barcodes
import Foundation

/// Scans a V4L2 camera; filled in once the Camera module lands.
func scanDevice(_ path: String, count: Int?, width: Int, height: Int) throws {
    throw Failure("camera scanning is not wired yet")
}
