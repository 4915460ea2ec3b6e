import Foundation
import TunnelCore

/// The live `OutputSink`: unbuffered writes to file descriptors 1 and 2.
struct StandardOutputSink: OutputSink {
  func writeResult(_ text: String) { write(1, text) }
  func writeDiagnostic(_ text: String) { write(2, text) }
  var resultIsTerminal: Bool { isatty(1) == 1 }
  var diagnosticIsTerminal: Bool { isatty(2) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb" }

  private func write(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeMutableBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
      if n < 0 {
        if errno == EINTR { continue }
        return  // stdout closed (e.g. `| head`): nothing useful left to do
      }
      offset += n
    }
    bytes.removeAll()
  }
}
