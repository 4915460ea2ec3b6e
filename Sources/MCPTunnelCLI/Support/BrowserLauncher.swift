import Foundation
import TunnelCore

/// Opens URLs with `xdg-open`, without a shell (AZ-12): argv is an array, so nothing in the URL is
/// ever interpreted. Returns false when xdg-open is missing or fails to start.
public enum BrowserLauncher {
  public static func open(_ url: URL) -> Bool {
    let candidates = ["/usr/bin/xdg-open", "/usr/local/bin/xdg-open", "/bin/xdg-open"]
    guard let tool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return false }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = [url.absoluteString]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
      try process.runWithNoSignalBlocked()
      return true
    } catch {
      return false
    }
  }
}
