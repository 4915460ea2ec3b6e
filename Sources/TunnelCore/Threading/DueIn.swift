import Foundation

extension Duration {
  /// A timer's wait until something due in `seconds`: whole milliseconds rounded up, at least 1,
  /// so a wake-up never comes before the moment (and a past one still yields once).
  static func due(in seconds: TimeInterval) -> Duration {
    .milliseconds(Int64(max(1, (seconds * 1000).rounded(.up))))
  }
}
