import Foundation

extension Process {
  /// `run()`, with the child starting with no signal blocked.
  ///
  /// Foundation's `Process` spawns the child with the calling thread's signal mask, and every thread
  /// this runs on blocks nearly all signals: libdispatch's pool threads, NIO's event loops and the
  /// threads started from them (`runOffPool`). A child started from there — `ssh -G`, `xdg-open` and
  /// the browser it may start — would begin with SIGINT, SIGTERM and SIGHUP blocked, so Ctrl-C in its
  /// terminal, a `terminate()` on a timeout, or closing the session would not end it. The calling
  /// thread's mask is emptied for the spawn and restored right after. In that window a signal to the
  /// process may be handled on this thread: the same as on the main thread, which blocks none
  /// (`MCPTunnelCommand.runProcess`).
  public func runWithNoSignalBlocked() throws {
    var nothingBlocked = sigset_t()
    var previous = sigset_t()
    sigemptyset(&nothingBlocked)
    pthread_sigmask(SIG_SETMASK, &nothingBlocked, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    try run()
  }
}
